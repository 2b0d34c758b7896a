package datagram

import (
	"context"
	"fmt"
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
