package datagram

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/netsim"
)

// TestRatchetCrossings: both sides start a ratchet at the same moment, so
// the requests cross in flight, for each mix of the two ratchets. The
// client's request wins: the listener abandons its own (its prepared keys
// and pending key pair go) and answers, the client declines the
// listener's. Both calls return once the session moved, each side moved
// by exactly one epoch per ratchet, and records flow under the new keys.
func TestRatchetCrossings(t *testing.T) {
	server, client := suiteKeys(t, suite.Default)
	type call func(*Conn, context.Context) error
	rekey := func(c *Conn, ctx context.Context) error { return c.Rekey(ctx) }
	asym := func(c *Conn, ctx context.Context) error { return c.RatchetAsymmetric(ctx) }
	cases := []struct {
		name         string
		client, srv  call
		asymRatchets uint64 // completed on each side
		epoch        uint64 // after both calls returned
	}{
		{"asym-asym", asym, asym, 1, 1},
		{"asym-rekey", asym, rekey, 1, 1},
		// The listener's asymmetric ratchet is abandoned for the client's
		// rekey; its call goes on with a new one after the grace period.
		{"rekey-asym", rekey, asym, 1, 2},
		{"rekey-rekey", rekey, rekey, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 73, Delay: 20 * time.Millisecond})
				srv, cli := duplexConfigs(server, client)
				p := connectPair(t, n, srv, cli)
				defer p.close()
				c, s := p.client, p.server
				exchange(t, c, s, "epoch 0")
				exchange(t, s, c, "epoch 0 back")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				errs := make(chan error, 2)
				go func() { errs <- tc.client(c, ctx) }()
				go func() { errs <- tc.srv(s, ctx) }()
				for range 2 {
					if err := <-errs; err != nil {
						t.Fatalf("ratchet: %v", err)
					}
				}
				time.Sleep(time.Second) // the last ack and keep-alive settle
				cs, ss := c.Stats(), s.Stats()
				if cs.Epoch != tc.epoch || ss.Epoch != tc.epoch || cs.RxEpoch != tc.epoch || ss.RxEpoch != tc.epoch {
					t.Fatalf("epochs: client %d/%d, listener %d/%d, want %d", cs.Epoch, cs.RxEpoch, ss.Epoch, ss.RxEpoch, tc.epoch)
				}
				if cs.AsymmetricRatchets != tc.asymRatchets || ss.AsymmetricRatchets != tc.asymRatchets {
					t.Fatalf("asymmetric ratchets: client %d, listener %d, want %d", cs.AsymmetricRatchets, ss.AsymmetricRatchets, tc.asymRatchets)
				}
				// The listener's first request was declined by the client.
				if ss.ControlDeclined != 1 || cs.ControlDeclined != 0 {
					t.Fatalf("declines: client %d, listener %d", cs.ControlDeclined, ss.ControlDeclined)
				}
				for _, x := range []*Conn{c, s} {
					x.mu.Lock()
					st, pend, base := x.rk.state, x.rk.pend, x.rk.base
					x.mu.Unlock()
					if st != rkIdle || pend != nil || base != nil {
						t.Fatalf("ratchet state left: %d, pending %v, base %v", st, pend != nil, base != nil)
					}
				}
				exchange(t, c, s, "new epoch")
				exchange(t, s, c, "new epoch back")
			})
		})
	}
}
