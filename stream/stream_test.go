package stream

import (
	"bytes"
	"context"
	"crypto/sha3"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func drbg(seed string) io.Reader {
	h := sha3.NewSHAKE256()
	h.Write([]byte(seed))
	return h
}

// keys makes a server (listener) and a client (sender) identity.
func keys(t testing.TB, config string) (server, client *keyfile.PrivateKey) {
	t.Helper()
	s, err := suite.Lookup(config)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	server, err = keyfile.Generate(s, keyfile.QSMS, drbg("server "+config), now)
	if err != nil {
		t.Fatal(err)
	}
	client, err = keyfile.Generate(s, keyfile.QSMD, drbg("client "+config), now)
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// pair returns the configs of both ends.
func pair(server, client *keyfile.PrivateKey, duplex bool) (srv, cli *Config) {
	srv = &Config{Identity: server, Duplex: duplex}
	cli = &Config{PeerKey: &server.PublicKey, Duplex: duplex}
	if duplex {
		srv.PeerKey = &client.PublicKey
		cli.Identity = client
	}
	return srv, cli
}

// connect runs a listener and a client over loopback TCP.
func connect(t *testing.T, srv, cli *Config) (client, server *Conn, l *Listener) {
	t.Helper()
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err = Dial(ctx, "tcp", l.Addr().String(), cli)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	server, err = l.AcceptContext(ctx)
	if err != nil {
		client.Close()
		l.Close()
		t.Fatal(err)
	}
	return client, server, l
}

func exchange(t *testing.T, from, to *Conn, msg string) {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 70000)
	n, err := to.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("read %q, %v; want %q", buf[:n], err, msg)
	}
}

// TestLoopbackAllConfigurations: a Go client and server interoperate over
// loopback TCP in QSMS and QSMD for every implemented configuration with a
// fast key generation (the McEliece sets have their own tests).
func TestLoopbackAllConfigurations(t *testing.T) {
	tested := 0
	for _, s := range suite.All() {
		if !s.Implemented() || strings.Contains(s.Name, "mceliece") {
			continue
		}
		for _, duplex := range []bool{false, true} {
			name := s.Name + map[bool]string{false: "/QSMS", true: "/QSMD"}[duplex]
			t.Run(name, func(t *testing.T) {
				server, client := keys(t, s.Name)
				srv, cli := pair(server, client, duplex)
				c, sc, l := connect(t, srv, cli)
				defer l.Close()
				exchange(t, c, sc, "hello from the client")
				exchange(t, sc, c, "ECHO: hello from the client")
				big := strings.Repeat("x", c.MaxMessage())
				exchange(t, c, sc, big)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := sc.Read(make([]byte, 10)); err != io.EOF {
					t.Fatalf("read after the peer's close: %v, want io.EOF", err)
				}
				sc.Close()
			})
			tested++
		}
	}
	if tested == 0 {
		t.Fatal("no configuration tested")
	}
}

func TestRatchetsOverTCP(t *testing.T) {
	server, client := keys(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	for _, duplex := range []bool{false, true} {
		srv, cli := pair(server, client, duplex)
		cli.SymmetricRatchet, srv.SymmetricRatchet = true, true
		c, sc, l := connect(t, srv, cli)
		// Symmetric ratchet from each side, data both ways after each.
		for _, pr := range [][2]*Conn{{c, sc}, {sc, c}} {
			if err := pr[0].Ratchet(); err != nil {
				t.Fatal(err)
			}
			exchange(t, pr[0], pr[1], "after ratchet")
			exchange(t, pr[1], pr[0], "reply after ratchet")
		}
		if duplex {
			// Asymmetric ratchet: the responder processes it inside Read,
			// the initiator completes it inside its own Read.
			if err := c.AsymmetricRatchet(); err != nil {
				t.Fatal(err)
			}
			if err := c.AsymmetricRatchet(); !errors.Is(err, ErrRatchetPending) {
				t.Fatalf("second ratchet: %v", err)
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				// Waits until the ratchet completes, then goes out under the new keys.
				if _, err := c.Write([]byte("written during the ratchet")); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				// The client's Read processes the response, then returns the reply.
				buf := make([]byte, 100)
				n, err := c.Read(buf)
				if err != nil || string(buf[:n]) != "reply under the new keys" {
					t.Errorf("client read %q, %v", buf[:n], err)
				}
			}()
			// The server's Read answers the request, then returns the held write.
			buf := make([]byte, 100)
			n, err := sc.Read(buf)
			if err != nil || string(buf[:n]) != "written during the ratchet" {
				t.Fatalf("%q, %v", buf[:n], err)
			}
			if _, err := sc.Write([]byte("reply under the new keys")); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
		} else if err := c.AsymmetricRatchet(); !errors.Is(err, handshake.ErrRatchet) {
			t.Fatalf("QSMS asymmetric ratchet: %v", err)
		}
		c.Close()
		sc.Close()
		l.Close()
	}
}

func TestQSMSRatchetOffByDefault(t *testing.T) {
	server, client := keys(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	srv, cli := pair(server, client, false)
	c, sc, l := connect(t, srv, cli)
	defer l.Close()
	defer sc.Close()
	defer c.Close()
	if err := c.Ratchet(); !errors.Is(err, ErrRatchetDisabled) {
		t.Fatalf("QSMS ratchet: %v", err)
	}
}

func TestMessageSemantics(t *testing.T) {
	server, client := keys(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	srv, cli := pair(server, client, false)
	c, sc, l := connect(t, srv, cli)
	defer l.Close()
	defer sc.Close()
	defer c.Close()
	if _, err := c.Write(make([]byte, c.MaxMessage()+1)); err == nil {
		t.Fatal("oversized write accepted")
	} else {
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Limit != 65504 {
			t.Fatalf("oversized write: %v", err)
		}
	}
	c.Write([]byte("twelve bytes"))
	var sb *ShortBufferError
	if _, err := sc.Read(make([]byte, 5)); !errors.As(err, &sb) || sb.Need != 12 {
		t.Fatalf("short buffer: %v", err)
	}
	buf := make([]byte, 12)
	if n, err := sc.Read(buf); err != nil || string(buf[:n]) != "twelve bytes" {
		t.Fatalf("record lost after a short read: %v", err)
	}
	// Deadlines are real.
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := sc.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read deadline: %v", err)
	}
}

// TestTamperedRecordEndsSession: a flipped byte in a record on the wire is
// an authentication failure and ends the connection, as in the C code.
func TestTamperedRecordEndsSession(t *testing.T) {
	server, client := keys(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	srv, _ := pair(server, client, false)
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	flip := &flipConn{Conn: raw}
	c, err := Client(context.Background(), flip, &Config{PeerKey: &server.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := l.AcceptContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	flip.armed = true
	c.Write([]byte("this record is tampered with on the way"))
	if _, err := sc.Read(make([]byte, 100)); !errors.Is(err, record.ErrAuth) {
		t.Fatalf("tampered record: %v", err)
	}
}

// flipConn flips one byte of the next write once armed.
type flipConn struct {
	net.Conn
	armed bool
}

func (f *flipConn) Write(b []byte) (int, error) {
	if f.armed {
		b = bytes.Clone(b)
		b[len(b)-5] ^= 0x80
		f.armed = false
	}
	return f.Conn.Write(b)
}

func TestHandshakeFailures(t *testing.T) {
	server, client := keys(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	other, _ := keys(t, "dilithium-s3_kyber-s3_sha3_rcs256")
	srv, _ := pair(server, client, false)
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()

	// A client holding another server's key (another id and configuration).
	_, err = Dial(ctx, "tcp", l.Addr().String(), &Config{PeerKey: &other.PublicKey})
	var he *handshake.Error
	if err == nil || !(errors.As(err, &he) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		t.Fatalf("wrong server key: %v", err)
	}

	// An expired server key: the client refuses before sending.
	expired := server.PublicKey
	expired.Expiration = 1
	if _, err := Dial(ctx, "tcp", l.Addr().String(), &Config{PeerKey: &expired}); !errors.Is(err, handshake.ErrKeyExpired) {
		t.Fatalf("expired key: %v", err)
	}

	// A silent server: the handshake ends at the context deadline.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		c, err := silent.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Dial(tctx, "tcp", silent.Addr().String(), &Config{PeerKey: &server.PublicKey}); err == nil {
		t.Fatal("handshake with a silent server succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the deadline was not honoured")
	}

	// Missing keys are configuration errors.
	if _, err := Dial(ctx, "tcp", l.Addr().String(), &Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := Listen("tcp", "127.0.0.1:0", &Config{Identity: server, Duplex: true}); !errors.Is(err, ErrConfig) {
		t.Fatalf("QSMD listener without a peer key: %v", err)
	}
}

// TestListenerServesManyClients runs several handshakes at once.
func TestListenerServesManyClients(t *testing.T) {
	server, client := keys(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	srv, cli := pair(server, client, false)
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 8
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(context.Background(), "tcp", l.Addr().String(), cli)
			if err != nil {
				t.Error(err)
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}()
	}
	for i := 0; i < n; i++ {
		sc, err := l.AcceptContext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if n, err := sc.Read(buf); err != nil || string(buf[:n]) != "hi" {
			t.Fatalf("%q %v", buf[:n], err)
		}
		sc.Close()
	}
	wg.Wait()
}
