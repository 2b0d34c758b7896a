package quicx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// exchangeMsg writes msg on a until b reads it (the network may lose a
// datagram), at most ten times.
func exchangeMsg(t *testing.T, a, b *Conn, msg string) {
	t.Helper()
	buf := make([]byte, 1000)
	defer b.SetReadDeadline(time.Time{})
	for range 10 {
		if _, err := a.Write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		b.SetReadDeadline(time.Now().Add(time.Second))
		k, err := b.Read(buf)
		if isTimeout(err) {
			continue
		}
		if err != nil || string(buf[:k]) != msg {
			t.Fatalf("read %q, %v; want %q", buf[:k], err, msg)
		}
		return
	}
	t.Fatalf("%q lost ten times", msg)
}

// flow writes n records on c, paced (one per 200 µs), while collect reads.
func flow(c *Conn, n int) error {
	for i := range n {
		if _, err := c.Write(message(uint64(i), sizeOf(uint64(i)))); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// collect reads records until none has come for a second.
func collect(c *Conn, n int) (int, error) {
	seen := make([]bool, n)
	buf := make([]byte, 2000)
	got := 0
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := c.Read(buf)
		if err != nil {
			if isTimeout(err) {
				return got, nil
			}
			return got, err
		}
		i, err := checkMessage(buf[:k])
		if err != nil || i >= uint64(n) || seen[i] {
			return got, fmt.Errorf("record %d: duplicate, out of range or %v", i, err)
		}
		seen[i] = true
		got++
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// TestAsymmetricRatchetMidStream runs QSMD's asymmetric ratchet while
// records flow both ways at 5 % loss with reordering, started by the client
// and then by the server: both end on epoch 2 after two asymmetric
// ratchets, and no record that arrived is dropped for its epoch.
func TestAsymmetricRatchetMidStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		// A grace period shorter than the transfer, so that the second
		// ratchet may start while records still flow. It must cover the
		// time a record waits in quic-go's send queue, which congestion
		// control drains at the pace the loss allows.
		srvCfg.RekeyGrace, cliCfg.RekeyGrace = 500*time.Millisecond, 500*time.Millisecond
		p := newSimPair(t, lossyNet(0.05), srvCfg, cliCfg)
		defer p.close()
		const n = 3000
		var wg sync.WaitGroup
		var errs [5]error
		var gotS, gotC int
		var flowEnd, ratchetEnd time.Time
		start := time.Now()
		wg.Go(func() { errs[0] = flow(p.cli, n); flowEnd = time.Now() })
		wg.Go(func() { errs[1] = flow(p.srv, n) })
		wg.Go(func() { gotS, errs[2] = collect(p.srv, n) })
		wg.Go(func() { gotC, errs[3] = collect(p.cli, n) })
		wg.Go(func() {
			time.Sleep(100 * time.Millisecond)
			for _, who := range []*Conn{p.cli, p.srv} {
				// A call returns after any asymmetric ratchet completed
				// since, the peer's included: let the previous one finish
				// on both sides first (under loss the stream may take a
				// while to deliver its last message), or the next call
				// merges into it.
				time.Sleep(50 * time.Millisecond)
				for j := 0; j < 500; j++ {
					cs, ss := p.cli.Stats(), p.srv.Stats()
					if cs.Epoch == ss.Epoch && cs.RxEpoch == ss.RxEpoch && cs.AsymmetricRatchets == ss.AsymmetricRatchets {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				errs[4] = who.RatchetAsymmetric(ctx)
				cancel()
				if errs[4] != nil {
					return
				}
			}
			ratchetEnd = time.Now()
		})
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		cs, ss := p.cli.Stats(), p.srv.Stats()
		t.Logf("ratchets done at %v, records written until %v; delivered c->s %d, s->c %d of %d\nclient %+v\nserver %+v",
			ratchetEnd.Sub(start), flowEnd.Sub(start), gotS, gotC, n, cs, ss)
		if !ratchetEnd.Before(flowEnd) {
			t.Errorf("the ratchets ended %v after the records", ratchetEnd.Sub(flowEnd))
		}
		if cs.AsymmetricRatchets != 2 || ss.AsymmetricRatchets != 2 || cs.Epoch != 2 || ss.Epoch != 2 || cs.Rekeys != 2 {
			t.Fatalf("asymmetric ratchets %d/%d, epochs %d/%d", cs.AsymmetricRatchets, ss.AsymmetricRatchets, cs.Epoch, ss.Epoch)
		}
		for _, st := range []Stats{cs, ss} {
			if st.StaleEpoch != 0 || st.Drops.Auth != 0 || st.QueueDrops != 0 {
				t.Fatalf("records dropped on our side: %+v", st)
			}
		}
		if float64(gotS) < 0.9*n || float64(gotC) < 0.9*n {
			t.Fatalf("delivered %d and %d of %d", gotS, gotC, n)
		}
		exchangeMsg(t, p.cli, p.srv, "after")
		exchangeMsg(t, p.srv, p.cli, "after")
	})
}

// TestAsymmetricRatchetCrossing starts ratchets on both sides at the same
// instant: two asymmetric ones (the client's wins, both calls return after
// it), then a symmetric one of the client against an asymmetric one of the
// server (the client's goes first, the server's follows once the grace
// period has passed).
func TestAsymmetricRatchetCrossing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		ctx := context.Background()
		var wg sync.WaitGroup
		var ce, se error
		wg.Go(func() { ce = p.cli.RatchetAsymmetric(ctx) })
		wg.Go(func() { se = p.srv.RatchetAsymmetric(ctx) })
		wg.Wait()
		if ce != nil || se != nil {
			t.Fatalf("asymmetric ratchets: client %v, server %v", ce, se)
		}
		time.Sleep(100 * time.Millisecond) // the server's switch reaches the client
		cs, ss := p.cli.Stats(), p.srv.Stats()
		if cs.Epoch != 1 || ss.Epoch != 1 || cs.AsymmetricRatchets != 1 || ss.AsymmetricRatchets != 1 {
			t.Fatalf("epochs %d/%d, asymmetric ratchets %d/%d; want 1", cs.Epoch, ss.Epoch, cs.AsymmetricRatchets, ss.AsymmetricRatchets)
		}
		exchangeMsg(t, p.cli, p.srv, "epoch one")
		exchangeMsg(t, p.srv, p.cli, "epoch one")

		wg.Go(func() { ce = p.cli.Rekey(ctx) })
		wg.Go(func() { se = p.srv.RatchetAsymmetric(ctx) })
		wg.Wait()
		if ce != nil || se != nil {
			t.Fatalf("client rekey %v, server asymmetric ratchet %v", ce, se)
		}
		time.Sleep(100 * time.Millisecond)
		cs, ss = p.cli.Stats(), p.srv.Stats()
		if cs.Epoch != 3 || ss.Epoch != 3 || cs.AsymmetricRatchets != 2 || ss.AsymmetricRatchets != 2 {
			t.Fatalf("epochs %d/%d, asymmetric ratchets %d/%d; want 3 and 2", cs.Epoch, ss.Epoch, cs.AsymmetricRatchets, ss.AsymmetricRatchets)
		}
		exchangeMsg(t, p.cli, p.srv, "epoch three")
		exchangeMsg(t, p.srv, p.cli, "epoch three")
	})
}

// TestAsymmetricRatchetQSMS: a QSMS session has no asymmetric ratchet, and
// a peer that sends a ratchet fragment on one breaks the protocol.
func TestAsymmetricRatchetQSMS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		if err := p.cli.RatchetAsymmetric(context.Background()); !errors.Is(err, ErrNoAsymmetricRatchet) {
			t.Fatalf("QSMS asymmetric ratchet: %v", err)
		}
		exchangeMsg(t, p.cli, p.srv, "still fine")
		if err := p.cli.writeControl(record.FlagAsymmetricRatchetRequest, appendFragment(nil, 0, []byte("x"))); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if _, err := p.srv.Read(buf); !errors.Is(err, ErrProtocol) {
			t.Fatalf("server read after a ratchet fragment on QSMS: %v", err)
		}
		if _, err := p.cli.Read(buf); !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("client read after the violation: %v", err)
		}
	})
}

// TestForgedAsymmetricRequest: a request whose signature does not verify
// against the initiator's long-term key ends the session, and no epoch
// moves.
func TestForgedAsymmetricRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		payload, pend, err := p.cli.sess.NewAsymmetricRequest(drbg("forge"))
		if err != nil {
			t.Fatal(err)
		}
		pend.Clear()
		payload[10] ^= 1 // inside the signature
		p.cli.swmu.Lock()
		err = p.cli.writeMessageLocked(record.FlagAsymmetricRatchetRequest, ratchetBody(1, payload))
		p.cli.swmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if _, err := p.srv.Read(buf); !errors.Is(err, ErrProtocol) {
			t.Fatalf("server read after a forged request: %v", err)
		}
		if st := p.srv.Stats(); st.Epoch != 0 || st.RxEpoch != 0 || st.AsymmetricRatchets != 0 {
			t.Fatalf("server moved: %+v", st)
		}
	})
}
