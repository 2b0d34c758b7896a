package datagram

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// exchange writes msg on a and reads it on b within a (virtual) second.
func exchange(t *testing.T, a, b *Conn, msg string) {
	t.Helper()
	if _, err := a.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	deadlineRead(t, b, msg)
}

// TestRekeyBasic: each side in turn starts a symmetric ratchet; both move
// to the new epoch, records flow both ways after each, and the previous
// epoch's receive keys are retired after the grace period.
func TestRekeyBasic(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		t.Run(fmt.Sprintf("duplex=%v", duplex), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 31, Delay: 5 * time.Millisecond})
				srv, cli := pairConfigs(t, duplex)
				p := connectPair(t, n, srv, cli)
				defer p.close()
				c, s := p.client, p.server
				exchange(t, c, s, "epoch 0")
				ctx := context.Background()
				for i, who := range []*Conn{c, s, c, c, s} {
					if err := who.Rekey(ctx); err != nil {
						t.Fatalf("rekey %d: %v", i, err)
					}
					want := uint64(i + 1)
					exchange(t, c, s, fmt.Sprintf("c->s %d", i))
					exchange(t, s, c, fmt.Sprintf("s->c %d", i))
					if cs, ss := c.Stats(), s.Stats(); cs.Epoch != want || ss.Epoch != want || cs.RxEpoch != want || ss.RxEpoch != want {
						t.Fatalf("after rekey %d: client epoch %d/%d, server %d/%d, want %d", i, cs.Epoch, cs.RxEpoch, ss.Epoch, ss.RxEpoch, want)
					}
				}
				time.Sleep(3 * DefaultRekeyGrace)
				for _, x := range []*Conn{c, s} {
					x.keyMu.RLock()
					k := x.keys
					old := k.rx[(k.tx.epoch+1)&1]
					x.keyMu.RUnlock()
					if old != nil {
						t.Fatalf("previous epoch %d still held after the grace period", old.epoch)
					}
				}
				cs, ss := c.Stats(), s.Stats()
				t.Logf("client %+v", cs)
				if cs.Rekeys != 5 || ss.Rekeys != 5 || cs.ControlSent+ss.ControlSent != 5 || cs.ControlReceived+ss.ControlReceived != 5 {
					t.Fatalf("rekeys %d/%d, control sent %d/%d received %d/%d", cs.Rekeys, ss.Rekeys, cs.ControlSent, ss.ControlSent, cs.ControlReceived, ss.ControlReceived)
				}
				if cs.Drops.Total()+ss.Drops.Total()+cs.EpochDrops+ss.EpochDrops != 0 {
					t.Fatalf("drops on a clean link: %+v %+v", cs, ss)
				}
			})
		})
	}
}

// pacedWriter writes n numbered 200-byte records (as sendRecords), k every
// 10 ms, and reports the first error.
func pacedWrite(c *Conn, n, k int) error {
	msg := make([]byte, 200)
	for i := range n {
		binary.LittleEndian.PutUint32(msg, uint32(i))
		for j := 4; j < len(msg); j++ {
			msg[j] = byte(i + j)
		}
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		if i%k == k-1 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// collect reads numbered records until quiet for a second of virtual time.
func collect(c *Conn, n int) (map[uint32]bool, error) {
	got := make(map[uint32]bool)
	buf := make([]byte, 2000)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := c.Read(buf)
		if err != nil {
			if isTimeout(err) {
				return got, nil
			}
			return got, err
		}
		i := binary.LittleEndian.Uint32(buf)
		if k != 200 || int(i) >= n || got[i] {
			return got, fmt.Errorf("record %d (%d bytes) unexpected or twice", i, k)
		}
		for j := 4; j < k; j++ {
			if buf[j] != byte(int(i)+j) {
				return got, fmt.Errorf("record %d corrupted", i)
			}
		}
		got[i] = true
	}
}

// lostOnOurSide sums the counters of records that reached a Conn and were
// not delivered for a reason other than being a network duplicate.
func lostOnOurSide(s Stats) uint64 {
	return s.Drops.TooOld + s.Drops.Time + s.Drops.Auth + s.EpochDrops + s.QueueDrops + s.EarlyRecords
}

// TestRekeyUnderLoad streams records both ways for 10 s of virtual time
// while both sides rekey automatically (every 500 records) and the
// listener also asks for rekeys of its own, so that requests cross. On a
// network that reorders and duplicates but loses nothing, every record
// arrives exactly once; at 5 % loss, no record that arrived is dropped on
// our side (only network duplicates are), across every epoch change.
func TestRekeyUnderLoad(t *testing.T) {
	for _, loss := range []float64{0, 0.05} {
		t.Run(fmt.Sprintf("loss=%.0f%%", loss*100), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ncfg := lossyNet(41, loss)
				ncfg.MTU = 0
				n := newNet(t, ncfg)
				srv, cli := pairConfigs(t, true)
				for _, cfg := range []*Config{srv, cli} {
					cfg.RekeyAfterRecords = 500
					cfg.RekeyGrace = 300 * time.Millisecond
					cfg.ReceiveQueue = 20000
				}
				p := connectPair(t, n, srv, cli)
				defer p.close()
				c, s := p.client, p.server
				const records = 5000
				var wg sync.WaitGroup
				var gotS, gotC map[uint32]bool
				var errs [5]error
				wg.Go(func() { errs[0] = pacedWrite(c, records, 5) })
				wg.Go(func() { errs[1] = pacedWrite(s, records, 5) })
				wg.Go(func() { gotS, errs[2] = collect(s, records) })
				wg.Go(func() { gotC, errs[3] = collect(c, records) })
				wg.Go(func() {
					for range 4 {
						time.Sleep(1500 * time.Millisecond)
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						err := s.Rekey(ctx)
						cancel()
						if err != nil {
							errs[4] = err
							return
						}
					}
				})
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				cs, ss := c.Stats(), s.Stats()
				ns := n.Stats()
				t.Logf("delivered c->s %d, s->c %d of %d; epochs %d/%d; rekeys %d/%d; control sent %d/%d declined %d/%d retransmitted %d/%d; network %+v",
					len(gotS), len(gotC), records, cs.Epoch, ss.Epoch, cs.Rekeys, ss.Rekeys, cs.ControlSent, ss.ControlSent,
					cs.ControlDeclined, ss.ControlDeclined, cs.ControlRetransmissions, ss.ControlRetransmissions, ns)
				if cs.Rekeys < 4 || ss.Rekeys < 4 || cs.Epoch != ss.Epoch {
					t.Fatalf("rekeys %d/%d, epochs %d/%d", cs.Rekeys, ss.Rekeys, cs.Epoch, ss.Epoch)
				}
				if l := lostOnOurSide(cs) + lostOnOurSide(ss); l != 0 {
					t.Fatalf("%d records that arrived were dropped: client %+v server %+v", l, cs, ss)
				}
				if d := cs.Drops.Duplicate + ss.Drops.Duplicate; d > ns.Duplicated {
					t.Fatalf("%d duplicate drops, the network duplicated %d", d, ns.Duplicated)
				}
				if loss == 0 && (len(gotS) != records || len(gotC) != records) {
					t.Fatalf("lossless network: delivered %d and %d of %d", len(gotS), len(gotC), records)
				}
				if float64(len(gotS)) < 0.9*records || float64(len(gotC)) < 0.9*records {
					t.Fatalf("delivered %d and %d of %d", len(gotS), len(gotC), records)
				}
				if ns.Lost == 0 && loss > 0 {
					t.Fatal("nothing was lost: the test shows nothing")
				}
			})
		})
	}
}

// TestRekeySimultaneous: both sides ask for a rekey at the same moment,
// over a link slow enough that the requests cross. The client's request
// wins (the listener abandons its own, the client declines the
// listener's), both calls return, and both sides agree on every epoch.
func TestRekeySimultaneous(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 32, Delay: 20 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		for round := range 5 {
			var wg sync.WaitGroup
			var errC, errS error
			wg.Go(func() { errC = c.Rekey(context.Background()) })
			wg.Go(func() { errS = s.Rekey(context.Background()) })
			wg.Wait()
			if errC != nil || errS != nil {
				t.Fatalf("round %d: %v, %v", round, errC, errS)
			}
			exchange(t, c, s, fmt.Sprintf("c %d", round))
			exchange(t, s, c, fmt.Sprintf("s %d", round))
			if ce, se := c.Stats().Epoch, s.Stats().Epoch; ce != se || ce < uint64(round+1) {
				t.Fatalf("round %d: epochs %d and %d", round, ce, se)
			}
		}
		cs, ss := c.Stats(), s.Stats()
		t.Logf("epochs %d; client declined %d of the listener's requests; listener sent %d, client %d", cs.Epoch, ss.ControlDeclined, ss.ControlSent, cs.ControlSent)
		if ss.ControlDeclined == 0 {
			t.Fatal("no request crossed: the test shows nothing")
		}
		if cs.ControlDeclined != 0 {
			t.Fatalf("the listener declined %d of the client's requests", cs.ControlDeclined)
		}
		if lostOnOurSide(cs)+lostOnOurSide(ss) != 0 {
			t.Fatalf("drops: %+v %+v", cs, ss)
		}
	})
}

// TestRekeyLimits: the soft limits start rekeys on their own (records,
// bytes, age of the keys); at a hard limit Write refuses data until a
// rekey completes. The listener's answers are cut off so that the client's
// rekey cannot complete: the client then stops at the hard limit, and
// resumes once the link comes back.
func TestRekeyLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 33, Delay: 5 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		cli.RekeyAfterRecords, cli.RejectAfterRecords = 20, 40
		cli.RekeyAfterBytes = 3000
		cli.RekeyAfterTime, cli.RejectAfterTime = time.Minute, 2*time.Minute
		cli.RekeyGrace = 100 * time.Millisecond
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		// Records: 25 small writes make one rekey.
		for i := range 25 {
			exchange(t, c, s, fmt.Sprintf("r%d", i))
		}
		if e := c.Stats().Epoch; e != 1 {
			t.Fatalf("after 25 records: epoch %d, want 1", e)
		}
		time.Sleep(time.Second) // the grace period ends
		// Bytes: two 1,100-byte writes, then a third reaches 3,000.
		big := make([]byte, 1100)
		for range 3 {
			exchange(t, c, s, string(big))
		}
		time.Sleep(100 * time.Millisecond)
		if e := c.Stats().Epoch; e != 2 {
			t.Fatalf("after 3,300 bytes: epoch %d, want 2", e)
		}
		time.Sleep(time.Second)
		// Age: a write after a minute.
		time.Sleep(time.Minute)
		exchange(t, c, s, "old keys")
		time.Sleep(100 * time.Millisecond)
		if e := c.Stats().Epoch; e != 3 {
			t.Fatalf("after a minute: epoch %d, want 3", e)
		}
		time.Sleep(time.Second)

		// Hard limit: the listener's answers are lost, so the rekey the
		// soft limit starts cannot complete.
		if err := n.SetLink(p.l.ep.pc, c.ep.pc, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		out := c.Stats().RecordsOut
		var refused error
		wrote := 0
		for range 60 {
			if _, err := c.Write([]byte("x")); err != nil {
				refused = err
				break
			}
			wrote++
		}
		if !errors.Is(refused, ErrKeysExhausted) || c.Stats().WritesRefused != 1 {
			t.Fatalf("after %d writes: %v (refused %d)", wrote, refused, c.Stats().WritesRefused)
		}
		if wrote > 40 || wrote < 20 {
			t.Fatalf("%d writes under one epoch, want between the soft (20) and hard (40) limits", wrote)
		}
		if c.Stats().RecordsOut != out+uint64(wrote) {
			t.Fatal("a refused write was counted")
		}
		// The link comes back: the retransmitted request is acked again
		// and the client writes under the new epoch.
		if err := n.ClearLink(p.l.ep.pc, c.ep.pc); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if e := c.Stats().Epoch; e != 4 {
			t.Fatalf("after the link came back: epoch %d, want 4", e)
		}
		if k := drain(s); k != wrote {
			t.Fatalf("the listener read %d of the %d records written up to the limit", k, wrote)
		}
		exchange(t, c, s, "new keys")
	})
}

// drain reads what is queued on c and returns how many records it read.
func drain(c *Conn) int {
	buf := make([]byte, 70000)
	for k := 0; ; k++ {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			c.SetReadDeadline(time.Time{})
			return k
		}
	}
}

// TestControlExactlyOnce runs ratchets over a network that loses 20 % of
// datagrams, duplicates half of them and reorders a fifth: control
// fragments are retransmitted and arrive twice, yet each control message
// is processed exactly once (both sides end on the same epoch, one per
// ratchet, and the messages processed equal the messages sent).
func TestControlExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 34, Delay: 10 * time.Millisecond})
		srv, cli := pairConfigs(t, true)
		p := connectPair(t, n, srv, cli)
		bad := netsim.Config{Loss: 0.2, Duplicate: 0.5, Reorder: 0.2, Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond}
		if err := n.SetDefault(bad); err != nil {
			t.Fatal(err)
		}
		defer p.close()
		c, s := p.client, p.server
		const ratchets = 7
		for i := range ratchets {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			var err error
			if i == 3 {
				err = s.RatchetAsymmetric(ctx)
			} else {
				err = []*Conn{c, s}[i%2].Rekey(ctx)
			}
			cancel()
			if err != nil {
				t.Fatalf("ratchet %d: %v", i, err)
			}
			time.Sleep(time.Second)
		}
		cs, ss := c.Stats(), s.Stats()
		ns := n.Stats()
		t.Logf("epochs %d/%d; messages sent %d/%d, processed %d/%d, declined %d/%d; fragments retransmitted %d/%d; network %+v",
			cs.Epoch, ss.Epoch, cs.ControlSent, ss.ControlSent, cs.ControlReceived, ss.ControlReceived,
			cs.ControlDeclined, ss.ControlDeclined, cs.ControlRetransmissions, ss.ControlRetransmissions, ns)
		if cs.Epoch != ratchets || ss.Epoch != ratchets || cs.Rekeys != ratchets || ss.Rekeys != ratchets {
			t.Fatalf("epochs %d/%d, rekeys %d/%d, want %d", cs.Epoch, ss.Epoch, cs.Rekeys, ss.Rekeys, ratchets)
		}
		if cs.ControlReceived != ss.ControlSent || ss.ControlReceived != cs.ControlSent || cs.ControlSent+ss.ControlSent != ratchets+1 {
			t.Fatalf("sent %d/%d, processed %d/%d", cs.ControlSent, ss.ControlSent, cs.ControlReceived, ss.ControlReceived)
		}
		if cs.ControlRetransmissions+ss.ControlRetransmissions == 0 || ns.Duplicated == 0 {
			t.Fatal("nothing retransmitted or duplicated: the test shows nothing")
		}
		if err := n.SetDefault(netsim.Config{Delay: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		exchange(t, c, s, "same keys")
		exchange(t, s, c, "same keys")
	})
}
