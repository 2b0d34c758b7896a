package datagram

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/netsim"
)

// The QUIC carrier through the public API: the same tests as for UDP where
// they apply, over netsim (virtual time) and once over real sockets.

// quicConfigs returns listener and client configs for QSMS or QSMD over
// QUIC (Config.Network "quic", for NewListener and DialPacketConn).
func quicConfigs(t testing.TB, duplex bool) (srv, cli *Config) {
	srv, cli = pairConfigs(t, duplex)
	srv.Network, cli.Network = "quic", "quic"
	return srv, cli
}

// quicNet is a 20 MB/s link with 10 ms delay, jitter, 5 % reordering, 2 %
// duplication and the given loss; its MTU takes QUIC's 1280-byte packets.
func quicNet(seed int64, loss float64) netsim.Config {
	return netsim.Config{
		Seed: seed, Loss: loss, Reorder: 0.05, Duplicate: 0.02,
		Delay: 10 * time.Millisecond, Jitter: 3 * time.Millisecond,
		Bandwidth: 20 << 20, QueueLimit: 8 << 20, MTU: 1452, RecvQueue: 1 << 14,
	}
}

// TestQUICLossyNetwork runs QSMS and QSMD over QUIC and 10,000 records each
// way at 0, 5 and 20 % loss with reordering and duplication: the handshake
// completes (QUIC retransmits it), records are datagrams (about 1 - loss
// of them arrive, none twice, none altered) and nothing that arrived is
// dropped on our side.
func TestQUICLossyNetwork(t *testing.T) {
	const records = 10000
	for _, duplex := range []bool{false, true} {
		for i, loss := range []float64{0, 0.05, 0.20} {
			t.Run(fmt.Sprintf("%s/loss%.0f", map[bool]string{false: "QSMS", true: "QSMD"}[duplex], loss*100), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					n := newNet(t, quicNet(int64(200+i), loss))
					srv, cli := quicConfigs(t, duplex)
					srv.ReceiveQueue, cli.ReceiveQueue = 2*records, 2*records
					start := time.Now()
					p := connectPair(t, n, srv, cli)
					defer p.close()
					c, s := p.client, p.server
					took := time.Since(start)
					if took >= DefaultHandshakeTimeout {
						t.Fatalf("handshake took %v", took)
					}
					sendRecords(t, c, records)
					sendRecords(t, s, records)
					time.Sleep(time.Second)
					gotS := readAll(t, s, records)
					gotC := readAll(t, c, records)
					for _, d := range []struct {
						dir string
						got map[uint32]bool
						st  Stats
					}{{"client->server", gotS, s.Stats()}, {"server->client", gotC, c.Stats()}} {
						want := float64(records) * (1 - loss)
						if float64(len(d.got)) < 0.9*want || len(d.got) > records {
							t.Errorf("%s: %d of %d records delivered, want about %.0f", d.dir, len(d.got), records, want)
						}
						if l := lostOnOurSide(d.st); l != 0 || d.st.RecordsIn != uint64(len(d.got)) {
							t.Errorf("%s: %d dropped on our side, %d counted in, %d read: %+v", d.dir, l, d.st.RecordsIn, len(d.got), d.st)
						}
					}
					cs := c.Stats()
					t.Logf("handshake in %v (RTT %v); delivered c->s %d, s->c %d of %d in %v; network %+v",
						took, cs.RTT, len(gotS), len(gotC), records, time.Since(start), n.Stats())
				})
			})
		}
	}
}

// TestQUICRatchetsMidStream streams records both ways at 5 % loss while
// the client and the listener rekey (by call and automatically every 2,000
// records) and run QSMD's asymmetric ratchet: every call returns, both
// sides end on the same epoch, and no record that arrived is dropped on our
// side across the epoch changes.
func TestQUICRatchetsMidStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, quicNet(61, 0.05))
		srv, cli := quicConfigs(t, true)
		for _, cfg := range []*Config{srv, cli} {
			cfg.RekeyAfterRecords = 2000
			cfg.RekeyGrace = 500 * time.Millisecond
			cfg.ReceiveQueue = 20000
		}
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		const records = 6000
		var wg sync.WaitGroup
		var gotS, gotC map[uint32]bool
		var errs [5]error
		var ratchetsDone, writesDone time.Time
		wg.Go(func() { errs[0] = pacedWrite(c, records, 10); writesDone = time.Now() })
		wg.Go(func() { errs[1] = pacedWrite(s, records, 10) })
		wg.Go(func() { gotS, errs[2] = collect(s, records) })
		wg.Go(func() { gotC, errs[3] = collect(c, records) })
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for i, step := range []func(context.Context) error{c.Rekey, s.Rekey, c.RatchetAsymmetric, s.RatchetAsymmetric} {
				time.Sleep(100 * time.Millisecond)
				// Let the previous ratchet finish on both sides first: a
				// ratchet call returns once any ratchet completes on its
				// side, the peer's included, so the next one would
				// otherwise merge into it when loss delays it.
				for j := 0; j < 500; j++ {
					cs, ss := c.Stats(), s.Stats()
					if cs.Epoch == ss.Epoch && cs.RxEpoch == ss.RxEpoch && cs.AsymmetricRatchets == ss.AsymmetricRatchets {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err := step(ctx); err != nil {
					errs[4] = fmt.Errorf("ratchet %d: %w", i, err)
					return
				}
			}
			ratchetsDone = time.Now()
		})
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		cs, ss := c.Stats(), s.Stats()
		t.Logf("ratchets done %v before the last write; delivered c->s %d, s->c %d of %d\nclient %+v\nserver %+v",
			writesDone.Sub(ratchetsDone), len(gotS), len(gotC), records, cs, ss)
		if !ratchetsDone.Before(writesDone) {
			t.Errorf("the ratchets ended after the records")
		}
		if cs.Epoch != ss.Epoch || cs.Epoch < 4 || cs.AsymmetricRatchets != 2 || ss.AsymmetricRatchets != 2 {
			t.Fatalf("epochs %d/%d, asymmetric ratchets %d/%d", cs.Epoch, ss.Epoch, cs.AsymmetricRatchets, ss.AsymmetricRatchets)
		}
		if l := lostOnOurSide(cs) + lostOnOurSide(ss); l != 0 {
			t.Fatalf("%d records that arrived were dropped", l)
		}
		if float64(len(gotS)) < 0.85*records || float64(len(gotC)) < 0.85*records {
			t.Fatalf("delivered %d and %d of %d", len(gotS), len(gotC), records)
		}
		exchangeRetry(t, c, s, "after")
		exchangeRetry(t, s, c, "after")
	})
}

// TestQUICAsymmetricRatchetMcEliece: a Classic McEliece asymmetric ratchet
// over QUIC (a 263 KB request in 17 control records on the stream) at 5 %
// loss, from each side.
func TestQUICAsymmetricRatchetMcEliece(t *testing.T) {
	server, client := suiteKeys(t, "dilithium-s1_mceliece-s1_sha3_rcs")
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, quicNet(62, 0.05))
		srv, cli := duplexConfigs(server, client)
		srv.Network, cli.Network = "quic", "quic"
		p := connectPair(t, n, srv, cli)
		defer p.close()
		for i, who := range []*Conn{p.client, p.server} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := who.RatchetAsymmetric(ctx)
			cancel()
			if err != nil {
				t.Fatalf("ratchet %d: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		cs, ss := p.client.Stats(), p.server.Stats()
		if cs.AsymmetricRatchets != 2 || ss.AsymmetricRatchets != 2 || cs.Epoch != 2 || ss.Epoch != 2 {
			t.Fatalf("asymmetric ratchets %d/%d, epochs %d/%d", cs.AsymmetricRatchets, ss.AsymmetricRatchets, cs.Epoch, ss.Epoch)
		}
		exchangeRetry(t, p.client, p.server, "after McEliece")
		exchangeRetry(t, p.server, p.client, "after McEliece")
	})
}

// exchangeRetry writes msg on a until b reads it (the network may lose a
// datagram), at most ten times.
func exchangeRetry(t *testing.T, a, b *Conn, msg string) {
	t.Helper()
	buf := make([]byte, 2000)
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

// TestQUICMessageSemantics: one Write is one record is one Read, whatever
// its size up to MaxWrite; a short buffer names the size needed and keeps
// the record; a message above MaxWrite names the limit; deadlines work as
// in package net.
func TestQUICMessageSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 63, Delay: 5 * time.Millisecond})
		srv, cli := quicConfigs(t, true)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		limit := c.MaxWrite()
		if limit < 1100 || limit > 1500 {
			t.Fatalf("MaxWrite %d", limit)
		}
		sizes := []int{0, 1, 2, 100, 1000, limit - 1, limit}
		for _, size := range sizes {
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(size + j)
			}
			if k, err := c.Write(msg); err != nil || k != size {
				t.Fatalf("write %d bytes: %d, %v", size, k, err)
			}
		}
		buf := make([]byte, 2000)
		for _, size := range sizes {
			s.SetReadDeadline(time.Now().Add(time.Second))
			k, err := s.Read(buf)
			if err != nil || k != size {
				t.Fatalf("read %d bytes, %v; want %d", k, err, size)
			}
			for j := range k {
				if buf[j] != byte(size+j) {
					t.Fatalf("record of %d bytes altered", size)
				}
			}
		}
		// A short buffer.
		exchange(t, c, s, "warm")
		if _, err := c.Write(make([]byte, 300)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		_, err := s.Read(make([]byte, 10))
		var sb *ShortBufferError
		if !errors.As(err, &sb) || sb.Size != 300 || sb.Have != 10 || !errors.Is(err, io.ErrShortBuffer) || !errors.Is(err, ErrShortBuffer) {
			t.Fatalf("short read: %v", err)
		}
		if k, err := s.Read(buf); err != nil || k != 300 {
			t.Fatalf("read after the short buffer: %d, %v", k, err)
		}
		// Too large.
		_, err = c.Write(make([]byte, limit+1))
		var tl *MessageTooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit || tl.Size != limit+1 || !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("too large: %v (limit %d)", err, limit)
		}
		// Deadlines.
		s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		start := time.Now()
		_, err = s.Read(buf)
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) != 200*time.Millisecond {
			t.Fatalf("read past the deadline: %v after %v", err, time.Since(start))
		}
		s.SetReadDeadline(time.Time{})
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := c.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write past the deadline: %v", err)
		}
		c.SetDeadline(time.Time{})
		exchange(t, c, s, "after the deadlines")
		// The session's public facts, without the signing key.
		sess := c.Session()
		if sess == nil || !sess.Duplex || sess.Local != nil || sess.Stream != nil || sess.DatagramSecret != nil || len(sess.Transcript) == 0 {
			t.Fatalf("session %+v", sess)
		}
		if got, want := s.Session().Transcript, sess.Transcript; string(got) != string(want) {
			t.Fatal("the two sides disagree on the transcript")
		}
		if c.LocalAddr().String() != s.RemoteAddr().String() || s.LocalAddr().String() != p.l.Addr().String() {
			t.Fatalf("addresses: client %v->%v, server %v->%v, listener %v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr(), p.l.Addr())
		}
	})
}

// TestQUICCloseSemantics: Close sends the authenticated close on the
// stream; the peer reads what was sent before it, then io.EOF, and its
// Write fails with ErrPeerClosed; the closed side gets net.ErrClosed; a
// Listener's Close closes the sessions it accepted; Accept after Close
// fails with ErrListenerClosed and net.ErrClosed.
func TestQUICCloseSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 64, Delay: 5 * time.Millisecond})
		srv, cli := quicConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		c, s := p.client, p.server
		for i := range 3 {
			if _, err := c.Write(fmt.Appendf(nil, "before close %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		buf := make([]byte, 100)
		for i := range 3 {
			if k, err := s.Read(buf); err != nil || string(buf[:k]) != fmt.Sprintf("before close %d", i) {
				t.Fatalf("read %q, %v", buf[:k], err)
			}
		}
		if _, err := s.Read(buf); err != io.EOF {
			t.Fatalf("read after the peer's close: %v", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("write after the peer's close: %v", err)
		}
		if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after Close: %v", err)
		}
		s.Close()

		// The listener's Close closes its accepted sessions.
		ctx := context.Background()
		c2, err := DialPacketConn(ctx, listenPC(t, n, "127.0.0.1:0"), p.l.Addr(), cli)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		s2, err := p.l.AcceptContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, c2, s2, "accepted")
		if st := p.l.Stats(); st.Sessions != 1 || st.Established != 2 {
			t.Fatalf("listener stats %+v", st)
		}
		if err := p.l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.Read(buf); err != io.EOF {
			t.Fatalf("client read after the listener's close: %v", err)
		}
		if _, err := s2.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accepted session after the listener's close: %v", err)
		}
		if _, err := p.l.Accept(); !errors.Is(err, ErrListenerClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v", err)
		}
		if _, err := p.l.AcceptContext(ctx); !errors.Is(err, ErrListenerClosed) {
			t.Fatalf("accept after close: %v", err)
		}
	})
}

// TestQUICManySessions: one QSMD listener serves eight sessions at once,
// each its own QUIC connection on the listener's one socket.
func TestQUICManySessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, quicNet(65, 0))
		srv, cli := quicConfigs(t, true)
		l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		const sessions = 8
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, sessions)
		go func() {
			for {
				s, err := l.AcceptContext(ctx)
				if err != nil {
					return
				}
				go func() { // echo
					defer s.Close()
					buf := make([]byte, 2000)
					for {
						k, err := s.Read(buf)
						if err != nil {
							return
						}
						s.Write(buf[:k])
					}
				}()
			}
		}()
		conns := make([]*Conn, sessions)
		for i := range sessions {
			wg.Go(func() {
				c, err := DialPacketConn(ctx, listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
				if err != nil {
					errs[i] = err
					return
				}
				conns[i] = c
				buf := make([]byte, 2000)
				for j := range 50 {
					msg := fmt.Sprintf("session %d record %d", i, j)
					if _, err := c.Write([]byte(msg)); err != nil {
						errs[i] = err
						return
					}
					c.SetReadDeadline(time.Now().Add(time.Second))
					k, err := c.Read(buf)
					if err != nil || string(buf[:k]) != msg {
						errs[i] = fmt.Errorf("echo %q, %v; want %q", buf[:k], err, msg)
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
		if st := l.Stats(); st.Established != sessions || st.Sessions != sessions || st.Failed != 0 {
			t.Fatalf("listener stats %+v", st)
		}
		for _, c := range conns {
			c.Close()
		}
		time.Sleep(time.Second)
		if st := l.Stats(); st.Sessions != 0 {
			t.Fatalf("%d sessions left after the clients closed", st.Sessions)
		}
	})
}

// TestQUICErrors: the errors of the UDP carrier, over QUIC.
func TestQUICErrors(t *testing.T) {
	t.Run("network", func(t *testing.T) {
		_, cli := quicConfigs(t, false)
		bad := *cli
		bad.Network = "sctp"
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DialPacketConn(context.Background(), pc, pc.LocalAddr(), &bad); !errors.Is(err, ErrNetwork) {
			t.Fatalf("Config.Network sctp: %v", err)
		}
		if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("the socket was not closed: %v", err)
		}
		if _, err := Dial(context.Background(), "quic5", "127.0.0.1:1", cli); !errors.Is(err, ErrNetwork) {
			t.Fatalf("network quic5: %v", err)
		}
		if _, err := Listen("quic", "127.0.0.1:0", &Config{Network: "quic"}); !errors.Is(err, ErrConfig) {
			t.Fatalf("listener without a key: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 66, Delay: 5 * time.Millisecond})
			srv, cli := quicConfigs(t, true)
			_, _, other := testKeys(t)
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			stranger := *cli
			stranger.Identity = other
			start := time.Now()
			_, err = DialPacketConn(context.Background(), listenPC(t, n, "127.0.0.1:0"), l.Addr(), &stranger)
			if !errors.Is(err, ErrHandshakeFailed) || errors.Is(err, ErrHandshakeTimeout) || time.Since(start) > time.Second {
				t.Fatalf("unknown initiator: %v after %v", err, time.Since(start))
			}
			time.Sleep(100 * time.Millisecond)
			if st := l.Stats(); st.Failed != 1 || st.Established != 0 {
				t.Fatalf("listener stats %+v", st)
			}
		})
	})
	t.Run("timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 67})
			_, cli := quicConfigs(t, false)
			cli.HandshakeTimeout = 2 * time.Second
			silent := listenPC(t, n, "127.0.0.1:9")
			start := time.Now()
			_, err := DialPacketConn(context.Background(), listenPC(t, n, "127.0.0.1:0"), silent.LocalAddr(), cli)
			if !errors.Is(err, ErrHandshakeTimeout) || time.Since(start) > 3*time.Second {
				t.Fatalf("dial to a silent address: %v after %v", err, time.Since(start))
			}
		})
	})
	t.Run("ratchets", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 68, Delay: 5 * time.Millisecond})
			srv, cli := quicConfigs(t, false)
			cli.RekeyAfterRecords, cli.RejectAfterRecords = 10, 40
			cli.RekeyGrace = 5 * time.Second
			p := connectPair(t, n, srv, cli)
			defer p.close()
			if err := p.client.RatchetAsymmetric(context.Background()); !errors.Is(err, ErrNoAsymmetricRatchet) {
				t.Fatalf("QSMS asymmetric ratchet: %v", err)
			}
			// A rekey after 10 records (done within a round trip); the next
			// must wait for the grace period, so 40 records after the first
			// rekey the keys are exhausted.
			var err error
			sent := 0
			for ; sent < 100 && err == nil; sent++ {
				_, err = p.client.Write([]byte("r"))
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(err, ErrKeysExhausted) {
				t.Fatalf("after %d records: %v", sent, err)
			}
			if st := p.client.Stats(); st.WritesRefused != 1 || st.Epoch != 1 {
				t.Fatalf("stats %+v", st)
			}
			time.Sleep(6 * time.Second)
			if _, err := p.client.Write([]byte("new keys")); err != nil {
				t.Fatal(err)
			}
			for k, buf := 0, make([]byte, 100); string(buf[:k]) != "new keys"; {
				p.server.SetReadDeadline(time.Now().Add(time.Second))
				if k, err = p.server.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
			if st := p.client.Stats(); st.Epoch != 2 {
				t.Fatalf("epoch %d after the grace period", st.Epoch)
			}
		})
	})
}

// TestQUICLiveness: an idle session with a live peer stays up (QUIC pings
// it within DeadPeerTimeout); IdleTimeout ends an idle one with
// ErrIdleTimeout; a peer that stops answering ends it with ErrPeerDead;
// an on-path close of the QUIC connection is ErrConnectionLost, not io.EOF.
func TestQUICLiveness(t *testing.T) {
	t.Run("idle and alive", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 69, Delay: 5 * time.Millisecond})
			srv, cli := quicConfigs(t, false)
			p := connectPair(t, n, srv, cli)
			defer p.close()
			time.Sleep(5 * time.Minute)
			exchange(t, p.client, p.server, "still here")
			exchange(t, p.server, p.client, "still here")
		})
	})
	t.Run("idle timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 70, Delay: 5 * time.Millisecond})
			srv, cli := quicConfigs(t, false)
			srv.IdleTimeout, cli.IdleTimeout = 10*time.Second, 10*time.Second
			p := connectPair(t, n, srv, cli)
			defer p.close()
			start := time.Now()
			buf := make([]byte, 100)
			_, err := p.client.Read(buf)
			if !errors.Is(err, ErrIdleTimeout) || time.Since(start) < 10*time.Second || time.Since(start) > 11*time.Second {
				t.Fatalf("idle read: %v after %v", err, time.Since(start))
			}
			if _, err := p.server.Write([]byte("x")); !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("write on the idle session: %v", err)
			}
		})
	})
	t.Run("dead peer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 71, Delay: 5 * time.Millisecond})
			srv, cli := quicConfigs(t, false)
			cli.DeadPeerTimeout = 6 * time.Second
			cpc := listenPC(t, n, "127.0.0.1:0")
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				if s, err := l.AcceptContext(context.Background()); err == nil {
					defer s.Close()
					io.Copy(io.Discard, s)
				}
			}()
			c, err := DialPacketConn(context.Background(), cpc, l.Addr(), cli)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			n.SetDefault(netsim.Config{Loss: 1}) // the peer vanishes
			start := time.Now()
			c.Write([]byte("anyone?"))
			_, err = c.Read(make([]byte, 100))
			if !errors.Is(err, ErrPeerDead) || time.Since(start) > 7*time.Second {
				t.Fatalf("read from a dead peer: %v after %v", err, time.Since(start))
			}
		})
	})
	t.Run("connection lost", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 72, Delay: 5 * time.Millisecond})
			srv, cli := quicConfigs(t, false)
			p := connectPair(t, n, srv, cli)
			defer p.close()
			// Anyone with the QUIC keys (or on the path, with a reset) can
			// end the QUIC connection: that is not the peer's close.
			p.server.q.c.QUIC().CloseWithError(0x42, "on-path close")
			_, err := p.client.Read(make([]byte, 100))
			if !errors.Is(err, ErrConnectionLost) || err == io.EOF {
				t.Fatalf("read after an unauthenticated close: %v", err)
			}
			if _, err := p.client.Write([]byte("x")); !errors.Is(err, ErrConnectionLost) {
				t.Fatalf("write after an unauthenticated close: %v", err)
			}
		})
	})
}

// TestLoopbackQUICLeaks runs a QSMD session over QUIC on real sockets
// (Dial and Listen with network "quic"), moves records and ratchets, closes
// everything and checks that no goroutine is left.
func TestLoopbackQUICLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv, cli := pairConfigs(t, true)
	// Ratchets are at least RekeyGrace apart.
	srv.RekeyGrace, cli.RekeyGrace = 100*time.Millisecond, 100*time.Millisecond
	l, err := Listen("quic4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accepted := make(chan *Conn, 1)
	go func() {
		s, _ := l.AcceptContext(ctx)
		accepted <- s
	}()
	c, err := Dial(ctx, "quic", l.Addr().String(), cli)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		c.Close()
		l.Close()
		t.Fatal("no session accepted")
	}
	exchangeRetry(t, c, s, "hello")
	if err := c.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RatchetAsymmetric(ctx); err != nil {
		t.Fatal(err)
	}
	exchangeRetry(t, s, c, "after the ratchets")
	c.Close()
	l.Close() // closes s too
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accepted session after the listener's close: %v", err)
	}
}

// TestQUICConfigMapping: the liveness fields become QUIC's idle timeout
// and keep-alive period.
func TestQUICConfigMapping(t *testing.T) {
	srv, _ := quicConfigs(t, false)
	for _, tc := range []struct {
		idle, dead, keep      time.Duration
		wantIdle, wantKeep    time.Duration
		receiveQueue, wantRcv int
	}{
		{0, 0, 0, 30 * time.Second, 10 * time.Second, 0, 0},
		{time.Minute, 0, 0, time.Minute, 0, 10, 10},
		{0, -1, 0, quicIdleForever, 0, 0, 0},
		{0, -1, 25 * time.Second, quicIdleForever, 25 * time.Second, 0, 0},
		{0, 9 * time.Second, 2 * time.Second, 9 * time.Second, 2 * time.Second, 0, 0},
	} {
		cfg := *srv
		cfg.IdleTimeout, cfg.DeadPeerTimeout, cfg.KeepAlive, cfg.ReceiveQueue = tc.idle, tc.dead, tc.keep, tc.receiveQueue
		n, err := cfg.normalize(true)
		if err != nil {
			t.Fatal(err)
		}
		q := n.quicConfig(&cfg)
		if q.QUICConfig.MaxIdleTimeout != tc.wantIdle || q.QUICConfig.KeepAlivePeriod != tc.wantKeep || q.ReceiveQueue != tc.wantRcv {
			t.Errorf("%+v: idle %v, keep-alive %v, queue %d", tc, q.QUICConfig.MaxIdleTimeout, q.QUICConfig.KeepAlivePeriod, q.ReceiveQueue)
		}
		if q.RekeyAfterRecords != DefaultRekeyAfterRecords || q.RekeyGrace != DefaultRekeyGrace || q.Identity != srv.Identity {
			t.Errorf("limits and keys not carried over: %+v", q)
		}
	}
	if s, _ := suite.Lookup(suite.Default); s != srv.Identity.Suite {
		t.Fatal("test keys of another suite")
	}
}

// TestLoopbackQUIC runs QSMS and QSMD over QUIC on real UDP sockets on
// 127.0.0.1 through Dial and Listen, and exchanges records both ways.
func TestLoopbackQUIC(t *testing.T) {
	for _, network := range []string{"quic", "quic4"} {
		for _, duplex := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/duplex=%v", network, duplex), func(t *testing.T) {
				srv, cli := pairConfigs(t, duplex)
				l, err := Listen(network, "127.0.0.1:0", srv)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				type result struct {
					c   net.Conn
					err error
				}
				accepted := make(chan result, 1)
				go func() {
					c, err := l.Accept()
					accepted <- result{c, err}
				}()
				c, err := Dial(ctx, network, l.Addr().String(), cli)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				r := <-accepted
				if r.err != nil {
					t.Fatal(r.err)
				}
				s := r.c
				buf := make([]byte, 2000)
				for i := range 100 {
					msg := fmt.Sprintf("record %d", i)
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					s.SetReadDeadline(time.Now().Add(5 * time.Second))
					k, err := s.Read(buf)
					if err != nil || string(buf[:k]) != msg {
						t.Fatalf("read %q, %v; want %q", buf[:k], err, msg)
					}
					if _, err := s.Write(buf[:k]); err != nil {
						t.Fatal(err)
					}
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					k, err = c.Read(buf)
					if err != nil || string(buf[:k]) != msg {
						t.Fatalf("echo %q, %v; want %q", buf[:k], err, msg)
					}
				}
				if got := c.RemoteAddr().String(); got != l.Addr().String() {
					t.Errorf("RemoteAddr %s, listener at %s", got, l.Addr())
				}
				if m := c.MaxWrite(); m < 1100 {
					t.Errorf("MaxWrite %d", m)
				}
				if st := c.Stats(); st.RecordsOut != 100 || st.RecordsIn != 100 || st.RTT <= 0 {
					t.Errorf("client stats %+v", st)
				}
			})
		}
	}
}

// quicMeter counts what a receiver loop delivers.
type quicMeter struct {
	bytes, count, last atomic.Int64 // last: UnixNano of the latest arrival
}

func (m *quicMeter) add(n int) {
	m.bytes.Add(int64(n))
	m.count.Add(1)
	m.last.Store(time.Now().UnixNano())
}

// run sends k messages of size bytes with send, as fast as send takes
// them, and returns the goodput in MB/s (bytes delivered over the time
// from the first send to the last arrival) and the fraction delivered.
func (m *quicMeter) run(k, size int, send func([]byte) error) (float64, float64, error) {
	m.bytes.Store(0)
	m.count.Store(0)
	m.last.Store(0)
	msg := make([]byte, size)
	start := time.Now()
	for i := range k {
		msg[0] = byte(i)
		if err := send(msg); err != nil {
			return 0, 0, err
		}
	}
	for m.count.Load() < int64(k) { // the tail: all, or 50 ms without an arrival
		last := m.last.Load()
		if (last != 0 && time.Since(time.Unix(0, last)) > 50*time.Millisecond) || (last == 0 && time.Since(start) > 2*time.Second) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	last := m.last.Load()
	if last == 0 {
		return 0, 0, nil
	}
	return float64(m.bytes.Load()) / time.Unix(0, last).Sub(start).Seconds() / 1e6, float64(m.count.Load()) / float64(k), nil
}

// rawQUIC connects two quic-go endpoints over loopback UDP with DATAGRAM
// frames enabled and TLS 1.3 with a throwaway certificate: the baseline
// without QSMP.
func rawQUIC(b *testing.B) (cli, srv *quic.Conn, closeAll func()) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	spc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	cpc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	qconf := &quic.Config{EnableDatagrams: true}
	str, ctr := &quic.Transport{Conn: spc}, &quic.Transport{Conn: cpc}
	ln, err := str.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"bench"}}, qconf)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cli, err = ctr.Dial(ctx, spc.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"bench"}}, qconf)
	if err != nil {
		b.Fatal(err)
	}
	if srv, err = ln.Accept(ctx); err != nil {
		b.Fatal(err)
	}
	return cli, srv, func() {
		cli.CloseWithError(0, "")
		srv.CloseWithError(0, "")
		ln.Close()
		ctr.Close()
		str.Close()
		cpc.Close()
		spc.Close()
	}
}

// BenchmarkGoodputQUIC measures the goodput of 1100-byte records over QUIC
// on loopback through the public API (Dial and Listen with network
// "quic", QSMS), next to quic-go's own DATAGRAM frames without QSMP in the
// same run: each iteration sends 2,000 messages of each as fast as the
// sender takes them. It reports both in MB/s, their ratio and the fraction
// delivered (neither retransmits; quic-go's receive queue of 128 frames
// drops what a receiver does not take in time).
func BenchmarkGoodputQUIC(b *testing.B) {
	const k, size = 2000, 1100
	rc, rs, closeRaw := rawQUIC(b)
	defer closeRaw()
	srv, cli := pairConfigs(b, false)
	l, err := Listen("quic4", "127.0.0.1:0", srv)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	accepted := make(chan *Conn, 1)
	go func() {
		s, _ := l.AcceptContext(ctx)
		accepted <- s
	}()
	qc, err := Dial(ctx, "quic4", l.Addr().String(), cli)
	if err != nil {
		b.Fatal(err)
	}
	defer qc.Close()
	qs := <-accepted
	if qs == nil {
		b.Fatal("no session accepted")
	}
	if m := qc.MaxWrite(); m < size {
		b.Fatalf("MaxWrite %d below %d", m, size)
	}
	var raw, sec quicMeter
	go func() {
		for {
			d, err := rs.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			raw.add(len(d))
		}
	}()
	go func() {
		buf := make([]byte, 2000)
		for {
			n, err := qs.Read(buf)
			if err != nil {
				return
			}
			sec.add(n)
		}
	}()
	var rawSum, secSum, rawDel, secDel float64
	b.SetBytes(2 * k * size)
	for b.Loop() {
		r, rd, err := raw.run(k, size, rc.SendDatagram)
		if err != nil {
			b.Fatal(err)
		}
		s, sd, err := sec.run(k, size, func(m []byte) error { _, err := qc.Write(m); return err })
		if err != nil {
			b.Fatal(err)
		}
		rawSum, secSum, rawDel, secDel = rawSum+r, secSum+s, rawDel+rd, secDel+sd
	}
	n := float64(b.N)
	b.ReportMetric(rawSum/n, "quic-MB/s")
	b.ReportMetric(secSum/n, "qsmp-MB/s")
	b.ReportMetric(secSum/rawSum, "ratio")
	b.ReportMetric(rawDel/n, "quic-delivered")
	b.ReportMetric(secDel/n, "qsmp-delivered")
}
