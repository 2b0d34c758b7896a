package quicx

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestRekeyLimits: the soft limits start a symmetric ratchet by themselves
// (records, bytes, age), the hard limit refuses data with ErrKeysExhausted
// until a ratchet has moved the keys, and nothing that arrived is dropped.
func TestRekeyLimits(t *testing.T) {
	t.Run("records", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, false)
			cliCfg.RekeyAfterRecords = 1000
			cliCfg.RekeyGrace = 50 * time.Millisecond
			srvCfg.RekeyGrace = 50 * time.Millisecond
			p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
			defer p.close()
			const n = 5000
			done := make(chan error, 1)
			var got int
			go func() {
				var err error
				got, err = collect(p.srv, n)
				done <- err
			}()
			if err := flow(p.cli, n); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			cs, ss := p.cli.Stats(), p.srv.Stats()
			t.Logf("client %+v\nserver %+v", cs, ss)
			// 5000 records at 1000 per epoch: a rekey after each thousand
			// (the last one possibly still under way).
			if cs.Epoch < 3 || cs.Epoch > 5 || ss.Epoch < 3 {
				t.Fatalf("epochs %d/%d after %d records with a rekey every 1000", cs.Epoch, ss.Epoch, n)
			}
			if got != n || ss.StaleEpoch != 0 || ss.Drops.Total() != 0 || cs.WritesRefused != 0 {
				t.Fatalf("delivered %d of %d; server %+v", got, n, ss)
			}
		})
	})
	t.Run("bytes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, false)
			srvCfg.RekeyAfterBytes = 100_000
			p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
			defer p.close()
			for i := range 99 {
				if _, err := p.srv.Write(make([]byte, 1000)); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			time.Sleep(100 * time.Millisecond)
			if e := p.srv.Stats().Epoch; e != 0 {
				t.Fatalf("epoch %d below the byte limit", e)
			}
			p.srv.Write(make([]byte, 1000))
			time.Sleep(100 * time.Millisecond)
			if e, ce := p.srv.Stats().Epoch, p.cli.Stats().Epoch; e != 1 || ce != 1 {
				t.Fatalf("epochs %d/%d at the byte limit, want 1", e, ce)
			}
		})
	})
	t.Run("time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, false)
			cliCfg.RekeyAfterTime = 10 * time.Second
			p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
			defer p.close()
			exchangeMsg(t, p.cli, p.srv, "young keys")
			time.Sleep(20 * time.Second)
			if e := p.cli.Stats().Epoch; e != 0 {
				t.Fatalf("epoch %d without a write (the age is checked when writing)", e)
			}
			exchangeMsg(t, p.cli, p.srv, "old keys")
			time.Sleep(100 * time.Millisecond)
			if e := p.cli.Stats().Epoch; e != 1 {
				t.Fatalf("epoch %d after writing under keys older than the limit", e)
			}
			exchangeMsg(t, p.cli, p.srv, "new keys")
		})
	})
	t.Run("reject", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, false)
			cliCfg.RekeyAfterRecords = 100
			cliCfg.RejectAfterRecords = 150
			cliCfg.RekeyGrace = 3 * time.Second
			srvCfg.RekeyGrace = 3 * time.Second
			p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
			defer p.close()
			// Epoch 1 after 100 records; the next rekey must wait for the
			// grace period of epoch 0, so the hard limit of epoch 1 is hit.
			var refused error
			sent := 0
			for sent < 300 && refused == nil {
				_, refused = p.cli.Write([]byte("record"))
				if refused == nil {
					sent++
				}
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(refused, ErrKeysExhausted) {
				t.Fatalf("after %d records: %v", sent, refused)
			}
			p.cli.txMu.RLock()
			sealed := p.cli.tx.records.Load()
			p.cli.txMu.RUnlock()
			if sealed != 150 {
				t.Fatalf("refused after %d records under epoch 1, want 150", sealed)
			}
			st := p.cli.Stats()
			if st.WritesRefused != 1 || st.Epoch != 1 {
				t.Fatalf("stats %+v", st)
			}
			// Once the grace period is over the ratchet runs, and writes
			// succeed again.
			time.Sleep(4 * time.Second)
			if _, err := p.cli.Write([]byte("after")); err != nil {
				t.Fatalf("write after the ratchet: %v", err)
			}
			if st := p.cli.Stats(); st.Epoch != 2 {
				t.Fatalf("epoch %d after the grace period, want 2", st.Epoch)
			}
			p.srv.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 100)
			var last string
			for {
				k, err := p.srv.Read(buf)
				if err != nil {
					break
				}
				last = string(buf[:k])
			}
			if last != "after" {
				t.Fatalf("last record %q", last)
			}
		})
	})
}

// TestLimitConfig: a hard limit must exceed its rekey limit.
func TestLimitConfig(t *testing.T) {
	_, cliCfg := configs(t, false)
	for _, bad := range []Config{
		{RekeyAfterRecords: 10, RejectAfterRecords: 10},
		{RekeyAfterBytes: 10, RejectAfterBytes: 5},
		{RekeyAfterTime: time.Second, RejectAfterTime: time.Second},
	} {
		c := *cliCfg
		c.RekeyAfterRecords, c.RejectAfterRecords = bad.RekeyAfterRecords, bad.RejectAfterRecords
		c.RekeyAfterBytes, c.RejectAfterBytes = bad.RekeyAfterBytes, bad.RejectAfterBytes
		c.RekeyAfterTime, c.RejectAfterTime = bad.RekeyAfterTime, bad.RejectAfterTime
		if _, err := Dial(context.Background(), "quic", "127.0.0.1:1", &c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	ok := *cliCfg
	ok.RekeyAfterRecords, ok.RejectAfterRecords = -1, -1
	n, err := ok.normalize(false)
	if err != nil || n.RekeyAfterRecords != noLimit || n.RejectAfterRecords != noLimit || n.RejectAfterTime != noLimit {
		t.Fatalf("disabled limits: %+v, %v", n, err)
	}
}
