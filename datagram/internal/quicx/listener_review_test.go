package quicx

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"

	"github.com/qsmp-go/qsmp/netsim"
)

// Tests of the paths Dial, DialPacketConn, Listen and ListenPacketConn
// share (ownTransport, dial, listen): which error comes first, and that the
// transport (and the package's own socket) is released on every failure,
// after the handshake's context is cancelled, and never the caller's socket
// or transport.

// watchedConn is a caller's socket that records the closes of the
// quic.Transport running on it (quic-go's Transport.Close sets a read
// deadline in the past on a socket it did not open, and nothing else of
// ours sets one), whether the handshake context (captured by the QUIC
// tracer) was done at each, and its own closes.
type watchedConn struct {
	net.PacketConn
	mu           sync.Mutex
	hctx         context.Context
	releases     int
	ctxAtRelease []error
	closes       int
}

func (w *watchedConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		w.mu.Lock()
		w.releases++
		var err error = errors.New("no handshake context")
		if w.hctx != nil {
			err = w.hctx.Err()
		}
		w.ctxAtRelease = append(w.ctxAtRelease, err)
		w.mu.Unlock()
	}
	return w.PacketConn.SetReadDeadline(t)
}

func (w *watchedConn) Close() error {
	w.mu.Lock()
	w.closes++
	w.mu.Unlock()
	return w.PacketConn.Close()
}

func (w *watchedConn) counts() (releases, closes int, atRelease []error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.releases, w.closes, append([]error(nil), w.ctxAtRelease...)
}

// tracing returns a QUIC configuration whose tracer hands the dial's
// context to w.
func (w *watchedConn) tracing() *quic.Config {
	return &quic.Config{Tracer: func(ctx context.Context, _ bool, _ quic.ConnectionID) qlogwriter.Trace {
		w.mu.Lock()
		w.hctx = ctx
		w.mu.Unlock()
		return nil
	}}
}

// badVersions is a QUIC configuration quic-go refuses in Dial and Listen.
func badVersions() *quic.Config { return &quic.Config{Versions: []quic.Version{0x0a1a2a3a}} }

// TestDialPacketConnRelease: a DialPacketConn whose QSMP handshake fails
// closes the transport it ran on the caller's socket once, after the
// handshake's context was cancelled (not timed out), and leaves the socket
// open; one that succeeds keeps the transport until the Conn closes. A
// DialTransport that fails leaves the caller's transport alone.
func TestDialPacketConnRelease(t *testing.T) {
	_, _, other := testKeys(t)
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.NewNetwork(lossyNet(0))
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		spc, _ := n.Listen("127.0.0.1:4433")
		defer spc.Close()
		srvCfg, cliCfg := configs(t, false)
		l, err := ListenPacketConn(spc, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		// A QSMP failure: the client holds another listener key.
		raw, _ := n.Listen("127.0.0.1:0")
		w := &watchedConn{PacketConn: raw}
		bad := *cliCfg
		bad.PeerKey = &other.PublicKey
		bad.QUICConfig = w.tracing()
		if c, err := DialPacketConn(ctx, w, spc.LocalAddr(), &bad); err == nil {
			c.Close()
			t.Fatal("dial with the wrong listener key succeeded")
		} else if !errors.Is(err, ErrHandshake) {
			t.Fatalf("dial: %v, want ErrHandshake", err)
		}
		releases, closes, at := w.counts()
		if releases != 1 || closes != 0 {
			t.Fatalf("failed dial: transport closed %d times, socket closed %d times; want 1 and 0", releases, closes)
		}
		if !errors.Is(at[0], context.Canceled) {
			t.Fatalf("the transport was released with the handshake context at %v, want it cancelled first", at[0])
		}
		raw.Close()

		// Success: the Conn holds the transport until it closes.
		raw, _ = n.Listen("127.0.0.1:0")
		w = &watchedConn{PacketConn: raw}
		good := *cliCfg
		good.QUICConfig = w.tracing()
		var wg sync.WaitGroup
		var srv *Conn
		wg.Go(func() { srv, _ = l.AcceptContext(ctx) })
		c, err := DialPacketConn(ctx, w, spc.LocalAddr(), &good)
		wg.Wait()
		if err != nil || srv == nil {
			t.Fatalf("dial: %v (accepted %v)", err, srv != nil)
		}
		if releases, closes, _ := w.counts(); releases != 0 || closes != 0 {
			t.Fatalf("established: transport closed %d times, socket %d times", releases, closes)
		}
		c.Close()
		srv.Close()
		if releases, closes, _ := w.counts(); releases != 1 || closes != 0 {
			t.Fatalf("after Close: transport closed %d times, socket %d times; want 1 and 0", releases, closes)
		}
		raw.Close()

		// DialTransport: the caller's transport survives the failure.
		raw, _ = n.Listen("127.0.0.1:0")
		w = &watchedConn{PacketConn: raw}
		tr := &quic.Transport{Conn: w}
		bad.QUICConfig = w.tracing()
		if c, err := DialTransport(ctx, tr, spc.LocalAddr(), &bad); err == nil {
			c.Close()
			t.Fatal("DialTransport with the wrong listener key succeeded")
		}
		if releases, closes, _ := w.counts(); releases != 0 || closes != 0 {
			t.Fatalf("failed DialTransport: transport closed %d times, socket %d times; want none", releases, closes)
		}
		tr.Close()
		raw.Close()
	})
}

// TestListenPacketConnRelease: a ListenPacketConn quic-go refuses closes
// the transport it made on the caller's socket once and leaves the socket
// open; a ListenTransport refused leaves the caller's transport usable.
func TestListenPacketConnRelease(t *testing.T) {
	srvCfg, _ := configs(t, false)
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.NewNetwork(netsim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		raw, _ := n.Listen("127.0.0.1:4433")
		defer raw.Close()
		w := &watchedConn{PacketConn: raw}
		cfg := *srvCfg
		cfg.QUICConfig = badVersions()
		if l, err := ListenPacketConn(w, &cfg); err == nil {
			l.Close()
			t.Fatal("ListenPacketConn with an invalid QUIC version succeeded")
		}
		if releases, closes, _ := w.counts(); releases != 1 || closes != 0 {
			t.Fatalf("failed ListenPacketConn: transport closed %d times, socket %d times; want 1 and 0", releases, closes)
		}

		raw2, _ := n.Listen("127.0.0.1:4434")
		defer raw2.Close()
		w = &watchedConn{PacketConn: raw2}
		tr := &quic.Transport{Conn: w}
		if l, err := ListenTransport(tr, &cfg); err == nil {
			l.Close()
			t.Fatal("ListenTransport with an invalid QUIC version succeeded")
		}
		l, err := ListenTransport(tr, srvCfg)
		if err != nil {
			t.Fatalf("the caller's transport after a refused ListenTransport: %v", err)
		}
		l.Close()
		if releases, closes, _ := w.counts(); releases != 0 || closes != 0 {
			t.Fatalf("ListenTransport closed the caller's transport %d times, socket %d times", releases, closes)
		}
		tr.Close()
	})
}

// TestListenFailureFreesAddress: a Listen that fails after opening its
// socket (quic-go refuses the configuration) closes it: the address can be
// bound again at once.
func TestListenFailureFreesAddress(t *testing.T) {
	srvCfg, _ := configs(t, false)
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.LocalAddr().String()
	probe.Close()
	cfg := *srvCfg
	cfg.QUICConfig = badVersions()
	for i := 0; i < 3; i++ {
		if l, err := Listen("quic", addr, &cfg); err == nil {
			l.Close()
			t.Fatal("Listen with an invalid QUIC version succeeded")
		}
	}
	pc, err := net.ListenUDP("udp", probe.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("%s after failed Listens: %v", addr, err)
	}
	pc.Close()
	l, err := Listen("quic", addr, srvCfg)
	if err != nil {
		t.Fatalf("Listen on %s after failed ones: %v", addr, err)
	}
	l.Close()
}

// TestOwnTransportCheckOrder: Dial and Listen check the configuration,
// then the network name, then resolve the address, before opening a
// socket; each failure is its own error.
func TestOwnTransportCheckOrder(t *testing.T) {
	srvCfg, cliCfg := configs(t, false)
	ctx := context.Background()
	badCfg := &Config{WindowSize: -1}
	var addrErr *net.AddrError
	for _, tc := range []struct {
		name   string
		dial   bool
		cfg    *Config
		net    string
		addr   string
		target error
	}{
		{"dial: configuration before network", true, badCfg, "tcp", "no port", ErrConfig},
		{"dial: network before address", true, cliCfg, "tcp", "no port", ErrNetwork},
		{"dial: address", true, cliCfg, "quic", "no port", nil},
		{"listen: configuration before network", false, badCfg, "tcp", "no port", ErrConfig},
		{"listen: network before address", false, srvCfg, "udp7", "no port", ErrNetwork},
		{"listen: address", false, srvCfg, "quic4", "no port", nil},
	} {
		var err error
		if tc.dial {
			var c *Conn
			if c, err = Dial(ctx, tc.net, tc.addr, tc.cfg); c != nil {
				c.Close()
			}
		} else {
			var l *Listener
			if l, err = Listen(tc.net, tc.addr, tc.cfg); l != nil {
				l.Close()
			}
		}
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.target != nil && !errors.Is(err, tc.target):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.target)
		case tc.target == nil && (!errors.As(err, &addrErr) || errors.Is(err, ErrNetwork) || errors.Is(err, ErrConfig)):
			t.Errorf("%s: %v, want the resolver's *net.AddrError", tc.name, err)
		case tc.target == ErrConfig && errors.Is(err, ErrNetwork):
			t.Errorf("%s: %v wraps ErrNetwork too", tc.name, err)
		}
	}
}
