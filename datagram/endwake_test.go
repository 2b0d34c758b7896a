package datagram

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestWriteBlockedAtCreditSeesEnd: a Write waiting for the peer's credit
// when the session ends (here the idle timeout, as nothing comes back)
// returns at once with the reason the session ended, as a Write after the
// end does, not net.ErrClosed one retransmission timeout later.
func TestWriteBlockedAtCreditSeesEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 71, Delay: 20 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		cli.IdleTimeout = 1500 * time.Millisecond
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c := p.client
		// Nothing from the listener reaches the client any more: no credit,
		// no keep-alive.
		if err := n.SetLink(p.l.ep.pc, c.ep.pc, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		var err error
		writes := 0
		for writes < 10000 {
			if _, err = c.Write([]byte("x")); err != nil {
				break
			}
			writes++
		}
		returned := time.Now()
		if writes <= initialCredit || writes >= 10000 {
			t.Fatalf("%d writes went before the error", writes)
		}
		if !errors.Is(err, ErrIdleTimeout) || errors.Is(err, net.ErrClosed) {
			t.Fatalf("write when the session ended: %v, want ErrIdleTimeout", err)
		}
		c.mu.Lock()
		end := c.ep.clock(c.live.lastRecv).Add(cli.IdleTimeout)
		c.mu.Unlock()
		if late := returned.Sub(end); late < 0 || late > time.Millisecond {
			t.Fatalf("the blocked write returned %v after the end", late)
		}
		if st := c.Stats(); st.WritesBlocked == 0 {
			t.Fatalf("no write waited: %+v", st)
		}
	})
}
