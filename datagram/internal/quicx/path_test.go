package quicx

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/netsim"
)

// exchangeBoth sends k records each way and checks that at least min of
// them arrive intact in each direction.
func exchangeBoth(t *testing.T, a, b *Conn, k, min int, tag uint64) {
	t.Helper()
	if err := exchange(a, b, k, min, tag); err != nil {
		t.Fatal(err)
	}
}

func exchange(a, b *Conn, k, min int, tag uint64) error {
	for _, dir := range [][2]*Conn{{a, b}, {b, a}} {
		from, to := dir[0], dir[1]
		got := make(chan error, 1)
		go func() {
			n := 0
			buf := make([]byte, 2000)
			to.SetReadDeadline(time.Now().Add(5 * time.Second))
			defer to.SetReadDeadline(time.Time{})
			for n < k {
				m, err := to.Read(buf)
				if err != nil {
					break
				}
				i, err := checkMessage(buf[:m])
				if err != nil || i/1_000_000 != tag {
					got <- fmt.Errorf("record %d: %v (tag %d)", i, err, tag)
					return
				}
				n++
			}
			if n < min {
				got <- fmt.Errorf("%d of %d records arrived, want at least %d", n, k, min)
				return
			}
			got <- nil
		}()
		for i := range k {
			idx := tag*1_000_000 + uint64(i)
			if _, err := from.Write(message(idx, sizeOf(idx))); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if err := <-got; err != nil {
			return err
		}
	}
	return nil
}

// TestNATRebinding: the client's NAT rebinds mid-session; QUIC validates
// the new path on the server and the session carries on in both
// directions with the same keys.
func TestNATRebinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		exchangeBoth(t, p.cli, p.srv, 500, 500, 1)
		before := p.srv.RemoteAddr().String()
		naddr, err := p.n.Rebind(p.cpc)
		if err != nil {
			t.Fatal(err)
		}
		// Some records sent right after the rebinding may be lost with the
		// server's packets to the old address; most must arrive.
		exchangeBoth(t, p.cli, p.srv, 500, 400, 2)
		exchangeBoth(t, p.cli, p.srv, 500, 500, 3)
		if got := p.srv.RemoteAddr().String(); got != naddr.String() || got == before {
			t.Fatalf("server sees the client at %s (before %s), want %s", got, before, naddr)
		}
		if e := p.srv.Stats().Epoch; e != 0 {
			t.Fatalf("epoch %d", e)
		}
		t.Logf("rebound %s -> %s; network %+v", before, naddr, p.n.Stats())
	})
}

// TestMigration: the client migrates its QUIC connection to a new socket
// (QUIC path probing and switch); the old path then drops everything and
// the session carries on.
func TestMigration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		exchangeBoth(t, p.cli, p.srv, 300, 300, 1)
		pc2, err := p.n.Listen("127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc2.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.srv.Migrate(ctx, pc2); err != ErrNotClient {
			t.Fatalf("server Migrate: %v, want ErrNotClient", err)
		}
		if err := p.cli.Migrate(ctx, pc2); err != nil {
			t.Fatal(err)
		}
		// The old path is dead from now on.
		dead := lossyNet(1)
		if err := p.n.SetLink(p.cpc, p.spc, dead); err != nil {
			t.Fatal(err)
		}
		if err := p.n.SetLink(p.spc, p.cpc, dead); err != nil {
			t.Fatal(err)
		}
		exchangeBoth(t, p.cli, p.srv, 300, 290, 2)
		exchangeBoth(t, p.cli, p.srv, 300, 300, 3)
		if got, want := p.srv.RemoteAddr().String(), pc2.LocalAddr().String(); got != want {
			t.Fatalf("server sees the client at %s, want %s", got, want)
		}
		if got, want := p.cli.LocalAddr().String(), pc2.LocalAddr().String(); got != want {
			t.Fatalf("client's local address %s, want %s", got, want)
		}
		if err := p.cli.Rekey(ctx); err != nil {
			t.Fatal(err)
		}
		exchangeBoth(t, p.cli, p.srv, 100, 100, 4)
	})
}

// TestManySessions runs six sessions on one listener (one socket): four
// dialed over one shared client quic.Transport, two over sockets of their
// own. Each session's records reach only its peer.
func TestManySessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		n, err := netsim.NewNetwork(lossyNet(0.02))
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		spc, _ := n.Listen("127.0.0.1:4433")
		shared, _ := n.Listen("127.0.0.1:0")
		l, err := ListenPacketConn(spc, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		tr := &quic.Transport{Conn: shared}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const sessions = 6
		var clients, servers []*Conn
		var own []net.PacketConn
		for i := range sessions {
			// One handshake at a time, so the i-th accepted session is the
			// i-th client's.
			var c *Conn
			if i < 4 {
				c, err = DialTransport(ctx, tr, spc.LocalAddr(), cliCfg)
			} else {
				pc, _ := n.Listen("127.0.0.1:0")
				own = append(own, pc)
				c, err = DialPacketConn(ctx, pc, spc.LocalAddr(), cliCfg)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.AcceptContext(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clients, servers = append(clients, c), append(servers, s)
		}
		if a, b := clients[0].LocalAddr().String(), clients[3].LocalAddr().String(); a != b {
			t.Fatalf("sessions 0 and 3 do not share a socket: %s, %s", a, b)
		}
		// All sessions at once, each with its own tag: exchangeBoth fails on
		// a record of another session.
		var wg sync.WaitGroup
		for i := range sessions {
			wg.Go(func() {
				if err := exchange(clients[i], servers[i], 300, 250, uint64(10+i)); err != nil {
					t.Errorf("session %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		for _, s := range servers {
			s.Close()
		}
		for _, c := range clients {
			c.Close()
		}
		l.Close()
		tr.Close()
		shared.Close()
		for _, pc := range own {
			pc.Close()
		}
		spc.Close()
	})
}
