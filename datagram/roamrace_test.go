package datagram

import (
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// responseRacePC sends, while on, a copy of each path response the client
// sends from the attacker's socket first (the record's flag, byte 10 of
// the datagram, is in the clear): an attacker who races only the answers
// to the listener's challenges.
type responseRacePC struct {
	net.PacketConn
	attacker net.PacketConn
	on       atomic.Bool
	raced    atomic.Int64
}

func (p *responseRacePC) WriteTo(b []byte, to net.Addr) (int, error) {
	if p.on.Load() && len(b) > 10 && b[10] == byte(flagPathResponse) {
		if _, err := p.attacker.WriteTo(b, to); err == nil {
			p.raced.Add(1)
		}
	}
	return p.PacketConn.WriteTo(b, to)
}

// TestRoamingRacedResponses: the client's NAT rebinds, and an attacker
// races a copy of each of its path responses (only those) from its own
// address. The copy arrives first; it must not take the candidacy from
// the client's new address, whose own response, arriving second as a
// duplicate, answers the challenge sent there. (It did take it: the
// client's answer then matched nothing and the listener kept sending to
// the old address for as long as the attacker raced.)
func TestRoamingRacedResponses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 75, Delay: 20 * time.Millisecond})
		attacker := listenPC(t, n, "127.0.0.66:6666")
		srv, cli := pairConfigs(t, false)
		inner := listenPC(t, n, "127.0.0.1:0")
		rp := &responseRacePC{PacketConn: inner, attacker: attacker}
		p := wrappedPair(t, n, srv, cli, rp)
		defer p.close()
		c, s := p.client, p.server
		exchange(t, c, s, "before")
		newAddr, err := n.Rebind(inner)
		if err != nil {
			t.Fatal(err)
		}
		rp.on.Store(true)
		for i := range 5 {
			exchange(t, c, s, "after the move")
			time.Sleep(200 * time.Millisecond)
			if s.RemoteAddr().String() == newAddr.String() {
				break
			}
			_ = i
		}
		ss := s.Stats()
		t.Logf("listener: %d challenges, %d copies, %d failed candidates, %d migrations; %d responses raced", ss.PathChallenges, ss.PathCopies, ss.PathFailures, ss.Migrations, rp.raced.Load())
		if rp.raced.Load() == 0 {
			t.Fatal("no response raced: the test tests nothing")
		}
		if got := s.RemoteAddr().String(); got != newAddr.String() || ss.Migrations != 1 {
			t.Fatalf("listener sends to %s, want the client's new address %s", got, newAddr)
		}
		exchange(t, s, c, "found")
	})
}
