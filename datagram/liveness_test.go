package datagram

import (
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestKeepAliveAndIdleTimeout: a listener with a 60 s idle timeout keeps a
// quiet session whose client sends keep-alives every 25 s (for 5 minutes),
// and ends one whose client sends nothing, after exactly 60 s: its Read
// and Write then fail with ErrIdleTimeout, and the client gets the close.
func TestKeepAliveAndIdleTimeout(t *testing.T) {
	for _, keepAlive := range []time.Duration{25 * time.Second, 0} {
		t.Run("keepalive="+keepAlive.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 61, Delay: 5 * time.Millisecond})
				srv, cli := pairConfigs(t, false)
				srv.IdleTimeout = time.Minute
				cli.KeepAlive = keepAlive
				p := connectPair(t, n, srv, cli)
				defer p.close()
				c, s := p.client, p.server
				start := time.Now()
				s.SetReadDeadline(start.Add(5 * time.Minute))
				_, err := s.Read(make([]byte, 10))
				took := time.Since(start)
				if keepAlive > 0 {
					if !isTimeout(err) {
						t.Fatalf("read on a kept-alive session: %v after %v", err, took)
					}
					ka := s.Stats().KeepAlivesReceived
					if want := uint64(5 * time.Minute / keepAlive); ka < want-1 || ka > want+1 {
						t.Fatalf("%d keep-alives in 5 minutes, want about %d", ka, want)
					}
					if s.Stats().KeepAlivesSent != 0 {
						t.Fatal("keep-alives were answered with keep-alives")
					}
					exchange(t, c, s, "still here")
					return
				}
				// The clock runs from the last record received, the end
				// of the handshake.
				if !errors.Is(err, ErrIdleTimeout) || took < time.Minute-time.Second || took > time.Minute {
					t.Fatalf("read on an idle session: %v after %v, want ErrIdleTimeout after 1m", err, took)
				}
				if _, err := s.Write([]byte("x")); !errors.Is(err, ErrIdleTimeout) {
					t.Fatalf("write after the idle timeout: %v", err)
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(make([]byte, 10)); err != io.EOF {
					t.Fatalf("client read after the listener's idle close: %v", err)
				}
				if st := p.l.Stats(); st.Sessions != 0 {
					t.Fatalf("%d sessions left on the listener", st.Sessions)
				}
			})
		})
	}
}

// TestDeadPeer: a client sends data to a listener that went silent: it
// probes from half the dead-peer timeout on and ends the session at the
// timeout, failing a blocked Read and later Writes with ErrPeerDead.
// Positive control: a listener that only reads (never writes) for two
// minutes is not declared dead, thanks to its passive keep-alives.
func TestDeadPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 62, Delay: 5 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		// One-way traffic for two minutes: alive.
		for i := range 120 {
			if _, err := c.Write([]byte("tick")); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			deadlineRead(t, s, "tick")
			time.Sleep(time.Second - 10*time.Millisecond)
		}
		cs := c.Stats()
		if cs.Probes != 0 || cs.KeepAlivesReceived < 10 {
			t.Fatalf("one-way traffic: %d probes, %d passive keep-alives received", cs.Probes, cs.KeepAlivesReceived)
		}
		// The listener goes silent (its datagrams are lost).
		if err := n.SetLink(p.l.ep.pc, c.ep.pc, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Write([]byte("anyone?")); err != nil {
			t.Fatal(err)
		}
		_, err := c.Read(make([]byte, 10))
		took := time.Since(start)
		// The clock started with the first tick after the listener's last
		// passive keep-alive, at most 10 s before the cut.
		if !errors.Is(err, ErrPeerDead) || took < DefaultDeadPeerTimeout-DefaultPassiveKeepAlive || took > DefaultDeadPeerTimeout {
			t.Fatalf("read: %v after %v, want ErrPeerDead after 20 to 30 s", err, took)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, ErrPeerDead) {
			t.Fatalf("write after the peer died: %v", err)
		}
		probes := c.Stats().Probes
		t.Logf("dead after %v, %d probes", took, probes)
		if probes < 3 {
			t.Fatalf("%d probes before giving up", probes)
		}
	})
}

// TestIdleSessionTimers: with the default Config an established, idle
// session holds no timer, also after a ratchet once its grace period is
// over; data received arms the passive keep-alive, data sent the
// dead-peer clock, and both go once answered.
func TestIdleSessionTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 63, Delay: 5 * time.Millisecond})
		srv, cli := pairConfigs(t, true)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		timer := func(x *Conn) bool {
			x.mu.Lock()
			defer x.mu.Unlock()
			return x.live.timer != nil
		}
		time.Sleep(time.Second)
		if timer(c) || timer(s) {
			t.Fatal("an idle session holds a timer")
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if !timer(c) {
			t.Fatal("no dead-peer timer after a write")
		}
		deadlineRead(t, s, "x")
		if !timer(s) {
			t.Fatal("no passive keep-alive timer after a read")
		}
		time.Sleep(DefaultPassiveKeepAlive + time.Second)
		if timer(c) || timer(s) {
			t.Fatal("timers left once the data was answered")
		}
		if err := c.Rekey(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * DefaultRekeyGrace)
		if timer(c) || timer(s) {
			t.Fatal("timers left after a rekey and its grace period")
		}
	})
}

// TestDeadPeerDuringRekey: a rekey toward a listener that went silent is
// retransmitted until dead-peer detection ends the session; Rekey then
// fails with ErrPeerDead instead of waiting for ever.
func TestDeadPeerDuringRekey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 64, Delay: 5 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c := p.client
		if err := n.SetLink(p.l.ep.pc, c.ep.pc, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := c.Rekey(t.Context())
		took := time.Since(start)
		if !errors.Is(err, ErrPeerDead) || took > DefaultDeadPeerTimeout+time.Second {
			t.Fatalf("rekey toward a silent peer: %v after %v", err, took)
		}
		if st := c.Stats(); st.ControlRetransmissions == 0 || st.Epoch != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}
