package quicx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// gateRand is a random source that stops the caller of its n-th Read after
// arm(n) until release is closed (the other Reads go on meanwhile).
type gateRand struct {
	mu      sync.Mutex
	r       io.Reader
	left    int
	entered chan struct{}
	release chan struct{}
}

func newGateRand(seed string) *gateRand { return &gateRand{r: drbg(seed)} }

// arm makes the n-th Read from now block.
func (g *gateRand) arm(n int) {
	g.mu.Lock()
	g.left = n
	g.entered, g.release = make(chan struct{}), make(chan struct{})
	g.mu.Unlock()
}

func (g *gateRand) Read(p []byte) (int, error) {
	g.mu.Lock()
	var entered, release chan struct{}
	if g.left > 0 {
		if g.left--; g.left == 0 {
			entered, release = g.entered, g.release
		}
	}
	g.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.r.Read(p)
}

// TestReadPacketBadLength: a handshake packet whose header announces no
// body, or more than the state allows, is a protocol violation; a body cut
// short is io.ErrUnexpectedEOF.
func TestReadPacketBadLength(t *testing.T) {
	hdr := func(msglen uint32) []byte {
		h := make([]byte, record.HeaderSize)
		h[0] = byte(record.FlagConnectRequest)
		h[1], h[2], h[3], h[4] = byte(msglen), byte(msglen>>8), byte(msglen>>16), byte(msglen>>24)
		return h
	}
	if h, err := record.ParseHeader(hdr(77)); err != nil || h.MsgLen != 77 {
		t.Fatalf("test header: %+v, %v", h, err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"zero length", hdr(0), 100, ErrProtocol},
		{"zero length with bytes after", append(hdr(0), 1, 2, 3), 100, ErrProtocol},
		{"above the limit", append(hdr(101), make([]byte, 101)...), 100, ErrProtocol},
		{"truncated body", append(hdr(10), 1, 2, 3), 100, io.ErrUnexpectedEOF},
		{"truncated header", hdr(10)[:5], 100, io.ErrUnexpectedEOF},
	} {
		pkt, err := readPacket(bytes.NewReader(tc.in), tc.max)
		if !errors.Is(err, tc.want) || pkt != nil {
			t.Errorf("%s: %d bytes, %v; want %v", tc.name, len(pkt), err, tc.want)
		}
	}
	pkt, err := readPacket(bytes.NewReader(append(hdr(3), 7, 8, 9, 10)), 3)
	if err != nil || !bytes.Equal(pkt[record.HeaderSize:], []byte{7, 8, 9}) {
		t.Fatalf("good packet: %x, %v", pkt, err)
	}
}

// selfSigned makes a certificate for name signed by itself.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestCustomTLSAndQUICConfig: a caller's TLS configuration (a real
// certificate, verified by the client) and QUIC configuration are used,
// copied (the caller's are not modified), completed (ALPN, TLS 1.3,
// DATAGRAM support, the stream limits, the handshake bound) and a
// certificate the client does not trust fails the dial.
func TestCustomTLSAndQUICConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		cert, pool := selfSigned(t, "qsmp.test")
		_, otherPool := selfSigned(t, "qsmp.test")
		srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
		cliTLS := &tls.Config{RootCAs: pool, ServerName: "qsmp.test"}
		qcfg := &quic.Config{MaxIdleTimeout: 7 * time.Second, HandshakeIdleTimeout: time.Hour, MaxIncomingStreams: 50}
		srvCfg.TLSConfig, srvCfg.QUICConfig = srvTLS, qcfg
		cliCfg.TLSConfig, cliCfg.QUICConfig = cliTLS, qcfg
		srvCfg.HandshakeTimeout, cliCfg.HandshakeTimeout = 5*time.Second, 5*time.Second

		n, err := cliCfg.normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		for _, server := range []bool{false, true} {
			q := n.quicConfig(server)
			wantIn := int64(-1)
			if server {
				wantIn = 1
			}
			if !q.EnableDatagrams || q.MaxIdleTimeout != 7*time.Second || q.HandshakeIdleTimeout != 5*time.Second ||
				q.MaxIncomingStreams != wantIn || q.MaxIncomingUniStreams != -1 {
				t.Fatalf("server %v: QUIC config %+v", server, q)
			}
		}
		ct := n.clientTLS()
		if ct.RootCAs != pool || ct.InsecureSkipVerify || ct.ServerName != "qsmp.test" ||
			len(ct.NextProtos) != 1 || ct.NextProtos[0] != ALPN || ct.MinVersion != tls.VersionTLS13 {
			t.Fatalf("client TLS %+v", ct)
		}

		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		exchangeMsg(t, p.cli, p.srv, "custom")
		exchangeMsg(t, p.srv, p.cli, "custom")
		cs := p.cli.QUIC().ConnectionState()
		if len(cs.TLS.VerifiedChains) == 0 || cs.TLS.NegotiatedProtocol != ALPN || cs.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("client TLS state: %d verified chains, ALPN %q, version %x",
				len(cs.TLS.VerifiedChains), cs.TLS.NegotiatedProtocol, cs.TLS.Version)
		}
		if srvTLS.NextProtos != nil || srvTLS.MinVersion != 0 || cliTLS.NextProtos != nil || cliTLS.MinVersion != 0 ||
			qcfg.EnableDatagrams || qcfg.MaxIncomingStreams != 50 || qcfg.HandshakeIdleTimeout != time.Hour {
			t.Fatal("the caller's TLS or QUIC configuration was modified")
		}

		// A client that trusts another certificate does not connect.
		bad := *cliCfg
		bad.TLSConfig = &tls.Config{RootCAs: otherPool, ServerName: "qsmp.test"}
		pc, err := p.n.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ue x509.UnknownAuthorityError
		var te *quic.TransportError
		if c, err := DialPacketConn(ctx, pc, p.spc.LocalAddr(), &bad); err == nil {
			c.Close()
			t.Fatal("dial with an untrusted certificate succeeded")
		} else if !errors.As(err, &ue) && !errors.As(err, &te) {
			t.Fatalf("dial with an untrusted certificate: %v", err)
		}
	})
}

// TestDatagramsNotEnabled: a QUIC connection on which the client did not
// enable DATAGRAM frames is refused on both sides before the handshake:
// Client fails with ErrHandshake and ErrProtocol and ends the connection
// with CodeHandshake; the listener establishes nothing (it counts a failed
// handshake if it saw the connection before the close: a race).
func TestDatagramsNotEnabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		n, err := netsim.NewNetwork(cleanNet)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		spc, _ := n.Listen("127.0.0.1:4433")
		cpc, _ := n.Listen("127.0.0.1:0")
		defer spc.Close()
		defer cpc.Close()
		l, err := ListenPacketConn(spc, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctr := &quic.Transport{Conn: cpc}
		defer ctr.Close()
		cn, err := cliCfg.normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		qconf := cn.quicConfig(false)
		qconf.EnableDatagrams = false
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		qc, err := ctr.Dial(ctx, spc.LocalAddr(), cn.clientTLS(), qconf)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := Client(ctx, qc, cliCfg); !errors.Is(err, ErrHandshake) || !errors.Is(err, ErrProtocol) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("Client without datagrams: %v", err)
		}
		var ae *quic.ApplicationError
		if err := context.Cause(qc.Context()); !errors.As(err, &ae) || ae.ErrorCode != CodeHandshake || ae.Remote {
			t.Fatalf("connection ended with %v, want our CodeHandshake", err)
		}
		// The listener counts the failed handshake if quic-go handed it
		// the connection before the client's close ended it (a race it
		// may lose: then it never sees the connection at all); it never
		// establishes a session. Virtual time: the wait is bounded.
		for i := 0; i < 200 && l.Stats().Failed == 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if st := l.Stats(); st.Failed > 1 || st.Established != 0 {
			t.Fatalf("listener stats %+v", st)
		}
	})
}

// TestHandshakeWriteFailures: a handshake whose context ends while a side
// is computing its next message fails on the write of that message (the
// stream's deadline has passed): the client's first message, a later one,
// and the server's answers. The failing side ends the QUIC connection with
// CodeHandshake, and the error names the context's end.
func TestHandshakeWriteFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		duplex bool
		server bool
		read   int // the random read the side is stopped at
	}{
		{"QSMS/client", false, false, 1},
		{"QSMS/server", false, true, 1},
		{"QSMD/client first", true, false, 1},
		{"QSMD/client second", true, false, 2},
		{"QSMD/server", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srvCfg, cliCfg := configs(t, tc.duplex)
				g := newGateRand("gate")
				g.arm(tc.read)
				if tc.server {
					srvCfg.Rand = g
				} else {
					cliCfg.Rand = g
				}
				n, err := netsim.NewNetwork(cleanNet)
				if err != nil {
					t.Fatal(err)
				}
				defer n.Close()
				spc, _ := n.Listen("127.0.0.1:4433")
				cpc, _ := n.Listen("127.0.0.1:0")
				defer spc.Close()
				defer cpc.Close()
				str, ctr := &quic.Transport{Conn: spc}, &quic.Transport{Conn: cpc}
				defer ctr.Close()
				defer str.Close()
				sn, _ := srvCfg.normalize(true)
				tc2, err := sn.serverTLS()
				if err != nil {
					t.Fatal(err)
				}
				ql, err := str.Listen(tc2, sn.quicConfig(true))
				if err != nil {
					t.Fatal(err)
				}
				defer ql.Close()
				sctx, scancel := context.WithCancel(context.Background())
				defer scancel()
				cctx, ccancel := context.WithCancel(context.Background())
				defer ccancel()
				srvErr := make(chan error, 1)
				go func() {
					qc, err := ql.Accept(sctx)
					if err != nil {
						srvErr <- err
						return
					}
					c, err := Server(sctx, qc, srvCfg)
					if c != nil {
						c.Close()
					}
					srvErr <- err
				}()
				cliErr := make(chan error, 1)
				go func() {
					c, err := DialPacketConn(cctx, cpc, spc.LocalAddr(), cliCfg)
					if c != nil {
						c.Close()
					}
					cliErr <- err
				}()
				<-g.entered
				failing, other := cliErr, srvErr
				if tc.server {
					scancel()
					failing, other = srvErr, cliErr
				} else {
					ccancel()
				}
				close(g.release)
				err = <-failing
				if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.Canceled) || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("failing side: %v, want ErrHandshake, context.Canceled and the stream's deadline", err)
				}
				var ae *quic.ApplicationError
				if err := <-other; !errors.Is(err, ErrHandshake) || !errors.As(err, &ae) || ae.ErrorCode != CodeHandshake || !ae.Remote {
					t.Fatalf("other side: %v, want the peer's CodeHandshake", err)
				}
			})
		})
	}
}

var errNoSyscall = errors.New("test: no raw socket")

// rawFailPC is a socket whose raw access fails: quic-go cannot set up a
// transport on it.
type rawFailPC struct{ net.PacketConn }

func (rawFailPC) SyscallConn() (syscall.RawConn, error) { return nil, errNoSyscall }

// hookPC runs hook when quic-go sets up a transport on it (it sizes the
// socket's receive buffer first).
type hookPC struct {
	net.PacketConn
	hook func()
}

func (h *hookPC) SetReadBuffer(int) error {
	if h.hook != nil {
		h.hook()
	}
	return nil
}

// TestMigrateFailures: a socket quic-go cannot use (AddPath fails), and a
// path that never validates (Probe fails at the context's end), leave the
// session on its old path, the caller's socket open, and nothing behind.
func TestMigrateFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		before := p.cli.LocalAddr().String()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		pc1, err := p.n.Listen("127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc1.Close()
		if err := p.cli.Migrate(ctx, rawFailPC{pc1}); !errors.Is(err, errNoSyscall) {
			t.Fatalf("Migrate onto an unusable socket: %v", err)
		}
		p.cli.mu.Lock()
		refs := len(p.cli.refs)
		p.cli.mu.Unlock()
		if refs != 1 {
			t.Fatalf("%d transports kept after a failed AddPath, want the dial's only", refs)
		}

		pc2, err := p.n.Listen("127.0.0.3:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc2.Close()
		dead := netsim.Config{Loss: 1}
		p.n.SetLink(pc2, p.spc, dead)
		p.n.SetLink(p.spc, pc2, dead)
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		if err := p.cli.Migrate(pctx, pc2); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Migrate onto a dead path: %v", err)
		}
		if got := p.cli.LocalAddr().String(); got != before {
			t.Fatalf("client moved to %s after failed migrations (was %s)", got, before)
		}
		exchangeMsg(t, p.cli, p.srv, "still here")
		exchangeMsg(t, p.srv, p.cli, "still here")
		for _, pc := range []net.PacketConn{pc1, pc2} {
			if err := pc.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
				t.Fatalf("caller's socket %s closed by Migrate: %v", pc.LocalAddr(), err)
			}
			if _, _, err := pc.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("caller's socket %s: %v", pc.LocalAddr(), err)
			}
		}
	})
}

// TestMigrateEndsWithSession: Close during a Migrate ends the migration
// (it does not wait for the path probe's context) with net.ErrClosed, and
// a Migrate that Close overtakes leaves no transport running on the new
// socket.
func TestMigrateEndsWithSession(t *testing.T) {
	t.Run("probing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, false)
			p := newSimPair(t, cleanNet, srvCfg, cliCfg)
			defer p.close()
			pc, err := p.n.Listen("127.0.0.2:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			dead := netsim.Config{Loss: 1}
			p.n.SetLink(pc, p.spc, dead)
			p.n.SetLink(p.spc, pc, dead)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			start := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- p.cli.Migrate(ctx, pc) }()
			time.Sleep(500 * time.Millisecond)
			p.cli.Close()
			err = <-errc
			if d := time.Since(start); d > 500*time.Millisecond+2*DefaultCloseTimeout {
				t.Fatalf("Migrate returned %v after its start, long after Close", d)
			}
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Migrate during Close: %v, want net.ErrClosed", err)
			}
		})
	})
	t.Run("overtaken", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, false)
			p := newSimPair(t, cleanNet, srvCfg, cliCfg)
			defer p.close()
			raw, err := p.n.Listen("127.0.0.2:0")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			// Close runs while quic-go sets the new socket up, after
			// Migrate's first check.
			pc := &hookPC{PacketConn: raw}
			pc.hook = func() { pc.hook = nil; p.cli.Close() }
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			start := time.Now()
			if err := p.cli.Migrate(ctx, pc); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Migrate overtaken by Close: %v, want net.ErrClosed", err)
			}
			if d := time.Since(start); d > 2*DefaultCloseTimeout {
				t.Fatalf("Migrate took %v", d)
			}
			p.cli.mu.Lock()
			refs := len(p.cli.refs)
			p.cli.mu.Unlock()
			if refs != 0 {
				t.Fatalf("%d transports left to a closed Conn (never closed)", refs)
			}
		})
	})
}

// TestPathShrankAfterWrite: a record Write accepted under a larger limit
// than the path takes when it leaves (the path shrank in between) is
// dropped and counted, and the next Write of that size fails naming the
// new limit; smaller records go on.
func TestPathShrankAfterWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		real := p.cli.MaxWrite()
		// The limit Write last saw, from a larger path.
		p.cli.limit.Store(int64(real + 200))
		big := message(1, real+100)
		if n, err := p.cli.Write(big); err != nil || n != len(big) {
			t.Fatalf("write under the old limit: %d, %v", n, err)
		}
		synctest.Wait()
		st := p.cli.Stats()
		if st.TooLarge != 1 || st.SendErrors != 0 {
			t.Fatalf("stats after the dropped record: %+v", st)
		}
		if got := int(p.cli.limit.Load()); got != real {
			t.Fatalf("limit %d after the drop, want %d", got, real)
		}
		var me *MessageTooLargeError
		if _, err := p.cli.Write(big); !errors.As(err, &me) || me.Limit != real || me.Size != len(big) {
			t.Fatalf("next write: %v, want a MessageTooLargeError naming %d", err, real)
		}
		exchangeMsg(t, p.cli, p.srv, "small")
		if st := p.srv.Stats(); st.RecordsIn != 1 || st.Drops.Total() != 0 {
			t.Fatalf("server stats %+v: the dropped record must not arrive", st)
		}
		p.cli.txMu.RLock()
		pending := p.cli.tx.pending.Load()
		p.cli.txMu.RUnlock()
		if pending != 0 {
			t.Fatalf("%d records still pending on the keys", pending)
		}
	})
}

// TestWriteWaitingForRoomEnds: a Write waiting for room in the send queue
// returns when the session is lost (the peer reset the control stream),
// with ErrConnectionLost wrapping the cause; a record that reaches the
// queue after Close has closed it is refused (net.ErrClosed) and starts no
// sender.
func TestWriteWaitingForRoomEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		// Nothing of the client reaches the server any more; the server's
		// frames still reach the client.
		p.n.SetLink(p.cpc, p.spc, netsim.Config{Loss: 1})
		fillSendQueue(t, p.cli)
		errc := make(chan error, 1)
		go func() { _, err := p.cli.Write([]byte("waits")); errc <- err }()
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("write did not wait: %v", err)
		default:
		}
		p.srv.stream.CancelWrite(7)
		err := <-errc
		var se *quic.StreamError
		if !errors.Is(err, ErrConnectionLost) || !errors.As(err, &se) || se.ErrorCode != 7 {
			t.Fatalf("write when the session is lost: %v", err)
		}
		if _, err := p.cli.Write([]byte("after")); !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("write after the loss: %v", err)
		}

		p.cli.Close()
		if err := p.cli.enqueue(&sendItem{}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("enqueue after Close: %v", err)
		}
		p.cli.sq.mu.Lock()
		busy, queued := p.cli.sq.busy, len(p.cli.sq.items)
		p.cli.sq.mu.Unlock()
		if busy || queued != 0 {
			t.Fatalf("after Close: sender running %v, %d records queued", busy, queued)
		}
	})
}

// TestRekeyRetireWaitsForPeer: the previous epoch's receive keys stay
// until the peer has been seen on the new epoch, then RekeyGrace more: a
// record the peer sealed under the old epoch after our switch, arriving
// after RekeyGrace has passed since the switch but before the peer's
// confirmation, still opens.
func TestRekeyRetireWaitsForPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		const grace = 5 * time.Millisecond // well under cleanNet's 10 ms one-way delay
		srvCfg.RekeyGrace, cliCfg.RekeyGrace = grace, grace
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		if err := p.cli.Rekey(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The client sends under epoch 1 from now; its SWITCHED reaches the
		// server in 10 ms, the server's answer comes back 10 ms later.
		time.Sleep(grace - time.Millisecond)
		if e := p.srv.Stats().Epoch; e != 0 {
			t.Fatalf("server already on epoch %d", e)
		}
		if _, err := p.srv.Write([]byte("old epoch")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * grace) // the first retire timer fired: re-armed
		p.cli.keyMu.RLock()
		old := p.cli.rx[0]
		p.cli.keyMu.RUnlock()
		if old == nil || old.epoch != 0 {
			t.Fatal("epoch-0 receive keys retired before the server was seen on epoch 1")
		}
		p.cli.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 100)
		if k, err := p.cli.Read(buf); err != nil || string(buf[:k]) != "old epoch" {
			t.Fatalf("read %q, %v (stats %+v)", buf[:k], err, p.cli.Stats())
		}
		time.Sleep(100 * time.Millisecond)
		p.cli.keyMu.RLock()
		old = p.cli.rx[0]
		p.cli.keyMu.RUnlock()
		if old != nil {
			t.Fatal("epoch-0 receive keys kept after the grace period")
		}
		if st := p.cli.Stats(); st.Epoch != 1 || st.StaleEpoch != 0 {
			t.Fatalf("client stats %+v", st)
		}
	})
}

// TestAsymmetricRequestCrossings: while RatchetAsymmetric generates its
// request (no lock held), the peer's request comes first: ours is dropped
// unsent and the call returns once the peer's ratchet completed (one
// ratchet, not two). A request whose write fails leaves the ratchet idle,
// its decapsulation key dropped, and the session usable.
func TestAsymmetricRequestCrossings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		g := newGateRand("crossing")
		cliCfg.Rand = g
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		idle := func(c *Conn) {
			t.Helper()
			c.rkMu.Lock()
			state, pend := c.rk.state, c.rk.pend
			c.rkMu.Unlock()
			if state != rekeyIdle || pend != nil {
				t.Fatalf("ratchet state %d, pending key kept %v", state, pend != nil)
			}
		}

		g.arm(1)
		cliErr := make(chan error, 1)
		go func() { cliErr <- p.cli.RatchetAsymmetric(ctx) }()
		<-g.entered // the client generates its request
		if err := p.srv.RatchetAsymmetric(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the client completes the server's ratchet", func() bool { return p.cli.Stats().AsymmetricRatchets != 0 })
		close(g.release)
		if err := <-cliErr; err != nil {
			t.Fatalf("client's ratchet overtaken by the server's: %v", err)
		}
		synctest.Wait()
		for _, c := range []*Conn{p.cli, p.srv} {
			if st := c.Stats(); st.AsymmetricRatchets != 1 || st.Epoch != 1 || st.ControlSent != 2 {
				t.Fatalf("server %v: stats %+v, want one ratchet to epoch 1 and two messages sent", c.server, st)
			}
			idle(c)
		}
		exchangeMsg(t, p.cli, p.srv, "epoch 1")

		time.Sleep(3 * DefaultRekeyGrace) // epoch 0's keys retire
		g.arm(1)
		go func() { cliErr <- p.cli.RatchetAsymmetric(ctx) }()
		<-g.entered
		p.cli.stream.SetWriteDeadline(time.Unix(1, 0)) // the request's write fails
		close(g.release)
		if err := <-cliErr; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ratchet whose request cannot be written: %v", err)
		}
		idle(p.cli)
		if st := p.cli.Stats(); st.Epoch != 1 || st.ControlSent != 2 {
			t.Fatalf("client stats after the failed request: %+v", st)
		}
		p.cli.stream.SetWriteDeadline(time.Time{})
		if err := p.cli.Rekey(ctx); err != nil {
			t.Fatalf("rekey after the failed request: %v", err)
		}
		exchangeMsg(t, p.cli, p.srv, "epoch 2")
		exchangeMsg(t, p.srv, p.cli, "epoch 2")
	})
}

// TestWriteDeadlineWhileRatchetBlocked: a Write that crosses the rekey
// limit while the reader holds the ratchet (its answer to the peer's
// asymmetric request is stuck on the stream: nothing leaves) still
// returns at its deadline, the automatic rekey waiting in the background;
// Close, which needs the stream, still returns within CloseTimeout.
func TestWriteDeadlineWhileRatchetBlocked(t *testing.T) {
	// Real time: the blocked calls wait on mutexes, which a synctest
	// bubble does not count as durably blocked (its clock would stop).
	const closeTimeout = 300 * time.Millisecond
	srvCfg, cliCfg := configs(t, true)
	srvCfg.CloseTimeout, cliCfg.CloseTimeout = closeTimeout, closeTimeout
	p := newSimPair(t, cleanNet, srvCfg, cliCfg)
	defer p.close()
	// Nothing of the server reaches the client any more.
	p.n.SetLink(p.spc, p.cpc, netsim.Config{Loss: 1})
	p.srv.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		if _, err := p.srv.Write(make([]byte, 1000)); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	cliErr := make(chan error, 1)
	go func() { cliErr <- p.cli.RatchetAsymmetric(ctx) }()
	waitUntil(t, "the server receives the control message", func() bool { return p.srv.Stats().ControlReceived != 0 })
	// The server's answer blocks on the stream, its reader holding the
	// ratchet (polled: a loaded machine under -race may take longer than
	// any fixed pause to get there).
	waitUntil(t, "the server's reader holds the ratchet", func() bool {
		if p.srv.rkMu.TryLock() {
			p.srv.rkMu.Unlock()
			return false
		}
		return true
	})
	// The next record crosses the rekey limit.
	p.srv.txMu.Lock()
	p.srv.cfg.RekeyAfterRecords = int64(p.srv.tx.records.Load()) + 1
	p.srv.txMu.Unlock()
	p.srv.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	errc := make(chan error, 1)
	go func() { _, err := p.srv.Write([]byte("due")); errc <- err }()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write: %v, want its deadline", err)
		}
	case <-time.After(time.Second):
		t.Fatal("write blocked past its deadline (on the ratchet)")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("write returned after %v, deadline 100ms", d)
	}
	// Rekey and RatchetAsymmetric waiting for the ratchet lock honour
	// their context.
	for name, ratchet := range map[string]func(context.Context) error{"Rekey": p.srv.Rekey, "RatchetAsymmetric": p.srv.RatchetAsymmetric} {
		rctx, rcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		rerr := make(chan error, 1)
		start := time.Now()
		go func() { rerr <- ratchet(rctx) }()
		select {
		case err := <-rerr:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v, want its context's deadline", name, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s blocked past its context (on the ratchet lock)", name)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("%s returned after %v, context 100ms", name, d)
		}
		rcancel()
	}
	start = time.Now()
	closed := make(chan struct{})
	go func() { p.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * closeTimeout):
		t.Fatal("Close blocked by the stuck ratchet answer")
	}
	if d := time.Since(start); d > 2*closeTimeout {
		t.Fatalf("Close took %v, CloseTimeout %v", d, closeTimeout)
	}
	<-closed
	if err := <-cliErr; err == nil {
		t.Fatal("client's ratchet completed without the server's answer")
	}
}

// logRecorder keeps the messages of the log records it handles.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

// TestCloseRacingPeerRekeyConnectionGone: as TestCloseRacingPeerRekey, but
// the peer's QUIC connection ends instead of its stream (no FIN will come):
// the reader, whose answer cannot be written during Close, stops waiting
// for the FIN at the connection's end, without reporting a protocol
// violation, and Close returns at once.
func TestCloseRacingPeerRekeyConnectionGone(t *testing.T) {
	// Real time: the reader is held on a mutex, which a synctest bubble
	// does not count as durably blocked.
	srvCfg, cliCfg := configs(t, false)
	rec := &logRecorder{}
	srvCfg.Logger = slog.New(rec)
	p := newSimPair(t, cleanNet, srvCfg, cliCfg)
	defer p.close()
	p.srv.rkMu.Lock() // the server's reader stops at the request
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rekeyErr := make(chan error, 1)
	go func() { rekeyErr <- p.cli.Rekey(ctx) }()
	waitUntil(t, "the server receives the control message", func() bool { return p.srv.Stats().ControlReceived != 0 })
	p.cli.qc.CloseWithError(5, "gone")
	<-p.srv.lost
	closed := make(chan struct{})
	go func() { p.srv.Close(); close(closed) }()
	waitUntil(t, "the server starts closing", p.srv.closing.Load)
	start := time.Now()
	p.srv.rkMu.Unlock()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("Close did not return after the reader went on")
	}
	if d := time.Since(start); d > DefaultCloseTimeout/2 {
		t.Fatalf("Close returned %v after the reader went on", d)
	}
	if !rec.has("quicx: control message during close") || rec.has("quicx: session failed") {
		t.Fatalf("server log %q: want the answer dropped during close, no session failure", rec.msgs)
	}
	p.srv.mu.Lock()
	lostErr := p.srv.lostErr
	p.srv.mu.Unlock()
	var ae *quic.ApplicationError
	if !errors.Is(lostErr, ErrConnectionLost) || !errors.As(lostErr, &ae) || ae.ErrorCode != 5 || !ae.Remote {
		t.Fatalf("server's session ended with %v, want the peer's QUIC close", lostErr)
	}
	if err := <-rekeyErr; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("client rekey: %v", err)
	}
}

// waitUntil polls cond every millisecond and fails the test if it does not
// hold within five seconds (virtual ones in a synctest bubble), so that a
// test waiting for an event that never comes fails instead of hanging until
// the binary's timeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
