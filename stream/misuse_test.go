package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// TestInvalidConn calls every method of a nil and of a zero-value Conn:
// the calls that can fail fail with ErrInvalid, the others return zero
// values, and none panics.
func TestInvalidConn(t *testing.T) {
	for name, c := range map[string]*Conn{"nil": nil, "zero": {}, "no session": {conn: &net.TCPConn{}, cfg: &Config{}}} {
		t.Run(name, func(t *testing.T) {
			calls := map[string]error{
				"Close":             c.Close(),
				"Ratchet":           c.Ratchet(),
				"AsymmetricRatchet": c.AsymmetricRatchet(),
				"SetDeadline":       c.SetDeadline(time.Now()),
				"SetReadDeadline":   c.SetReadDeadline(time.Now()),
				"SetWriteDeadline":  c.SetWriteDeadline(time.Now()),
			}
			_, calls["Read"] = c.Read(make([]byte, 10))
			_, calls["Write"] = c.Write([]byte("x"))
			for call, err := range calls {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s: %v, want ErrInvalid", call, err)
				}
			}
			if c.LocalAddr() != nil || c.RemoteAddr() != nil || c.MaxMessage() != 0 {
				t.Error("addresses or size of an invalid Conn")
			}
			if name != "no session" && c.Session() != nil {
				t.Error("Session of an invalid Conn")
			}
		})
	}
}

// TestInvalidArguments covers nil contexts, connections and configs at
// every entry point, and nil or zero Listeners.
func TestInvalidArguments(t *testing.T) {
	sk, ck := keys(t, testSuite)
	srv, cli := pair(sk, ck, false)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	var nilCtx context.Context
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"Dial nil context", err2(Dial(nilCtx, "tcp", "127.0.0.1:1", cli)), ErrInvalid},
		{"Dial nil config", err2(Dial(ctx, "tcp", "127.0.0.1:1", nil)), ErrConfig},
		{"Client nil context", err2(Client(nilCtx, a, cli)), ErrInvalid},
		{"Client nil conn", err2(Client(ctx, nil, cli)), ErrInvalid},
		{"Client nil config", err2(Client(ctx, a, nil)), ErrConfig},
		{"Server nil context", err2(Server(nilCtx, b, srv)), ErrInvalid},
		{"Server nil conn", err2(Server(ctx, nil, srv)), ErrInvalid},
		{"Server nil config", err2(Server(ctx, b, nil)), ErrConfig},
		{"Client empty config", err2(Client(ctx, a, &Config{})), ErrConfig},
		{"Server empty config", err2(Server(ctx, b, &Config{})), ErrConfig},
		{"Listen nil config", err2(Listen("tcp", "127.0.0.1:0", nil)), ErrConfig},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}

	// Listeners this package did not make.
	for name, l := range map[string]*Listener{"nil": nil, "zero": {}} {
		done := make(chan error, 1)
		go func() { _, err := l.Accept(); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s Listener Accept: %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s Listener Accept hangs", name)
		}
		if err := l.Close(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s Listener Close: %v", name, err)
		}
		if l.Addr() != nil {
			t.Errorf("%s Listener Addr", name)
		}
	}

	// NewListener with a nil listener or config serves nothing.
	ln := NewListener(nil, srv)
	if _, err := ln.Accept(); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewListener(nil) Accept: %v", err)
	}
	if err := ln.Close(); err != nil || ln.Addr() != nil {
		t.Errorf("NewListener(nil) Close: %v", err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = NewListener(tl, nil)
	if _, err := ln.AcceptContext(ctx); !errors.Is(err, ErrConfig) {
		t.Errorf("NewListener(l, nil) Accept: %v", err)
	}
	if ln.Addr() == nil {
		t.Error("NewListener(l, nil) has no address")
	}
	if err := ln.Close(); err != nil {
		t.Errorf("NewListener(l, nil) Close: %v", err)
	}
	if _, err := tl.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("NewListener(l, nil) Close left l open: %v", err)
	}
	// A working listener refuses a nil context.
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.AcceptContext(nilCtx); !errors.Is(err, ErrInvalid) {
		t.Errorf("AcceptContext(nil): %v", err)
	}
}

func err2[T any](_ T, err error) error { return err }

// TestUseAfterClose calls every method after Close.
func TestUseAfterClose(t *testing.T) {
	c, sc := session(t, true)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"Write":             err2(c.Write([]byte("x"))),
		"Ratchet":           c.Ratchet(),
		"AsymmetricRatchet": c.AsymmetricRatchet(),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
	if _, err := c.Read(make([]byte, 10)); err == nil {
		t.Error("Read after Close succeeded")
	}
	// The peer sees a normal close.
	if _, err := readWithin(t, sc, make([]byte, 10)); err == nil {
		t.Error("the peer read a record after Close")
	}
}

// pipeSession runs a handshake over net.Pipe, whose writes block until the
// other end reads, so a peer that does not read can be simulated.
func pipeSession(t *testing.T, duplex bool) (client, server *Conn) {
	t.Helper()
	sk, ck := keys(t, testSuite)
	srv, cli := pair(sk, ck, duplex)
	a, b := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var err error
		server, err = Server(ctx, b, srv)
		done <- err
	}()
	client, err := Client(ctx, a, cli)
	if serr := <-done; err != nil || serr != nil {
		a.Close()
		b.Close()
		t.Fatalf("handshake: %v / %v", err, serr)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// TestCloseCutsBlockedWrite: Close returns even while a Write is blocked on
// a peer that does not read (it used to wait for the write lock forever),
// and the blocked Write fails.
func TestCloseCutsBlockedWrite(t *testing.T) {
	c, _ := pipeSession(t, false)
	wrote := make(chan error, 1)
	go func() { _, err := c.Write([]byte("nobody reads this")); wrote <- err }()
	select {
	case err := <-wrote:
		t.Fatalf("Write to a peer that does not read returned: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs behind a blocked Write")
	}
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("the cut-off Write reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked Write was not released")
	}
}

// TestRatchetWaitHonoursWriteDeadline: a Write waiting for an unanswered
// asymmetric ratchet gives up at the write deadline, including one set
// while it waits, with os.ErrDeadlineExceeded, and the connection stays
// usable: once the ratchet completes, records flow both ways.
func TestRatchetWaitHonoursWriteDeadline(t *testing.T) {
	c, sc := session(t, true)
	if err := c.AsymmetricRatchet(); err != nil {
		t.Fatal(err)
	}
	// A deadline set before the Write.
	c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Write([]byte("waits"))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Write past the deadline while a ratchet is pending: %v", err)
	}
	// A deadline set while the Write waits wakes it.
	c.SetWriteDeadline(time.Time{})
	wrote := make(chan error, 1)
	go func() { _, err := c.Write([]byte("waits")); wrote <- err }()
	select {
	case err := <-wrote:
		t.Fatalf("Write did not wait for the ratchet: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	c.SetDeadline(time.Now().Add(-time.Second))
	select {
	case err := <-wrote:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write woken by SetDeadline: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SetDeadline did not wake the waiting Write")
	}
	c.SetDeadline(time.Time{})

	// The ratchet completes when both ends read; the connection is intact.
	srvRead := make(chan string, 1)
	go func() {
		buf := make([]byte, 100)
		n, _ := readWithin(t, sc, buf)
		srvRead <- string(buf[:n])
	}()
	cliRead := make(chan string, 1)
	go func() {
		buf := make([]byte, 100)
		n, _ := readWithin(t, c, buf)
		cliRead <- string(buf[:n])
	}()
	if _, err := c.Write([]byte("after the ratchet")); err != nil {
		t.Fatal(err)
	}
	if got := <-srvRead; got != "after the ratchet" {
		t.Fatalf("server read %q", got)
	}
	if _, err := sc.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	if got := <-cliRead; got != "back" {
		t.Fatalf("client read %q", got)
	}
}

// TestPeerErrorUnwrap: a *PeerError matches its code and handshake.ErrPeer
// with errors.Is, end to end.
func TestPeerErrorUnwrap(t *testing.T) {
	pe := &PeerError{Code: record.CodeChannelDown}
	if !errors.Is(pe, record.CodeChannelDown) || !errors.Is(pe, handshake.ErrPeer) || errors.Is(pe, record.CodeVerifyFailure) {
		t.Error("PeerError does not unwrap to its code and handshake.ErrPeer")
	}
	var code record.Code
	if !errors.As(pe, &code) || code != record.CodeChannelDown {
		t.Errorf("errors.As code = %v", code)
	}
	var nilPE *PeerError
	if nilPE.Error() == "" || nilPE.Unwrap() != nil {
		t.Error("nil *PeerError")
	}

	c, sc := session(t, false)
	pkt, err := sc.sess.Stream.SealClose(record.CodeKeyExpired, sc.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_, err = readWithin(t, c, make([]byte, 100))
	if !errors.Is(err, record.CodeKeyExpired) || !errors.Is(err, handshake.ErrPeer) {
		t.Fatalf("peer close with key_expired: %v", err)
	}
}

// TestCloseLetsWriteFinish: a Write still moving its record when Close
// runs (the peer reads, only late) finishes it: the peer reads the whole
// record, then the close (io.EOF), not a record cut short. Control:
// TestCloseCutsBlockedWrite (a peer that never reads).
func TestCloseLetsWriteFinish(t *testing.T) {
	c, s := pipeSession(t, false)
	msg := bytes.Repeat([]byte{0x5a}, 60000)
	wrote := make(chan error, 1)
	go func() { _, err := c.Write(msg); wrote <- err }()
	time.Sleep(30 * time.Millisecond) // the Write waits for the peer
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	time.Sleep(30 * time.Millisecond) // Close waits for the Write
	buf := make([]byte, 70000)
	n, err := s.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], msg) {
		t.Fatalf("peer read %d bytes, %v; want the whole record", n, err)
	}
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("after the record: %v, want io.EOF (the close)", err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the Write in progress failed: %v", err)
	}
	<-closed
}
