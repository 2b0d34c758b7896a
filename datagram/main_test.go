package datagram

import (
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSuite is the demo default configuration.
const testSuite = suite.Default

var (
	keysOnce sync.Once
	keys     struct {
		server, client, other *keyfile.PrivateKey
	}
)

// testKeys returns identity keys shared by the tests (generated once).
func testKeys(t testing.TB) (server, client, other *keyfile.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		s, err := suite.Lookup(testSuite)
		if err != nil {
			panic(err)
		}
		drbg := mrand.NewChaCha8([32]byte{'d', 'a', 't', 'a', 'g', 'r', 'a', 'm'})
		gen := func() *keyfile.PrivateKey {
			// Valid both in synctest bubbles (whose clock starts in 2000)
			// and in real time.
			born := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
			// Deterministic, so that the fuzz corpora name these keys.
			k, err := keyfile.GenerateWithLifetime(s, keyfile.QSMS, drbg, born, 60*365*24*time.Hour)
			if err != nil {
				panic(err)
			}
			return k
		}
		keys.server, keys.client, keys.other = gen(), gen(), gen()
	})
	return keys.server, keys.client, keys.other
}

// pairConfigs returns listener and client configs for QSMS or QSMD.
func pairConfigs(t testing.TB, duplex bool) (srv, cli *Config) {
	server, client, _ := testKeys(t)
	srv = &Config{Identity: server, Duplex: duplex}
	cli = &Config{PeerKey: &server.PublicKey, Duplex: duplex}
	if duplex {
		cli.Identity = client
		srv.PeerKeys = func(id [16]byte) (*keyfile.PublicKey, error) {
			if id == client.KeyID {
				return &client.PublicKey, nil
			}
			return nil, errUnknownTestKey
		}
	}
	return srv, cli
}

type testError string

func (e testError) Error() string { return string(e) }

const errUnknownTestKey = testError("unknown key")

// newNet returns an in-memory network closed at the end of the test.
func newNet(t testing.TB, cfg netsim.Config) *netsim.Network {
	t.Helper()
	n, err := netsim.NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func listenPC(t testing.TB, n *netsim.Network, addr string) net.PacketConn {
	t.Helper()
	pc, err := n.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// pair is a listener and a dialed Conn with the accepted Conn.
type pair struct {
	l              *Listener
	client, server *Conn
}

func (p *pair) close() {
	p.client.Close()
	p.l.Close()
}

// connectPair listens on n and dials it; it fails the test if the
// handshake does not complete.
func connectPair(t testing.TB, n *netsim.Network, srv, cli *Config) *pair {
	t.Helper()
	return connectPairAt(t, n, "127.0.0.1:4433", srv, cli)
}

// connectPairAt is connectPair with the listener at addr.
func connectPairAt(t testing.TB, n *netsim.Network, addr string, srv, cli *Config) *pair {
	t.Helper()
	l, err := NewListener(listenPC(t, n, addr), srv)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{l: l}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.AcceptContext(ctx)
		ch <- res{c, err}
	}()
	p.client, err = DialPacketConn(ctx, listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
	if err != nil {
		l.Close()
		<-ch
		t.Fatalf("dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		p.client.Close()
		l.Close()
		t.Fatalf("accept: %v", r.err)
	}
	p.server = r.c
	return p
}

func cryptoReader() io.Reader { return rand.Reader }

// dialLoopback dials a session from a new socket to l over real UDP
// (network "udp4" or "udp6") and returns both ends; the caller closes them.
func dialLoopback(tb testing.TB, ctx context.Context, l *Listener, network string, cli *Config) (c, s *Conn) {
	tb.Helper()
	accepted := make(chan *Conn, 1)
	go func() {
		s, _ := l.AcceptContext(ctx)
		accepted <- s
	}()
	c, err := Dial(ctx, network, l.Addr().String(), cli)
	if err != nil {
		tb.Fatal(err)
	}
	s = <-accepted
	if s == nil {
		c.Close()
		tb.Fatal("no session accepted")
	}
	return c, s
}
