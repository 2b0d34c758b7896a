package datagram

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestLargeHandshakeMessage moves a 1.4 MB handshake message (the size of a
// Classic McEliece public key) through fragmentation, selective acks and
// retransmission at 5 % loss with reordering and duplication.
func TestLargeHandshakeMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := lossyNet(7, 0.05)
		cfg.RecvQueue = 1 << 16
		n := newNet(t, cfg)
		sizes := []int{50, 1_400_000, 3000, 64}
		srv := &Config{newMachine: fakeFactory(sizes...)}
		cli := &Config{newMachine: fakeFactory(sizes...)}
		start := time.Now()
		p := connectPair(t, n, srv, cli)
		defer p.close()
		took := time.Since(start)
		cs := p.client.Stats()
		ss := p.server.Stats()
		t.Logf("1.4 MB message delivered; handshake %v, server retransmitted %d fragments, client RTT %v; network %+v",
			took, ss.HandshakeRetransmissions, cs.RTT, n.Stats())
		if took >= DefaultHandshakeTimeout {
			t.Fatalf("handshake took %v", took)
		}
		if n.Stats().Lost == 0 || ss.HandshakeRetransmissions == 0 {
			t.Fatalf("nothing was lost or retransmitted: the test shows nothing")
		}
		if n.Stats().TooBig != 0 {
			t.Fatalf("%d datagrams above the MTU", n.Stats().TooBig)
		}
		// Records work after it.
		if _, err := p.client.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		deadlineRead(t, p.server, "after")
	})
}

// deadlineRead reads one record within a (virtual) second and compares it.
func deadlineRead(t *testing.T, c *Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 2000)
	k, err := c.Read(buf)
	if err != nil || string(buf[:k]) != want {
		t.Fatalf("read %q, %v; want %q", buf[:k], err, want)
	}
}

// TestServerRestart: a listener closes (its sessions send authenticated
// closes), then crashes (nothing sent); each time the client sees what it
// can and reconnects to a new listener on the same address.
func TestServerRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 3, Delay: 5 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		if _, err := p.client.Write([]byte("one")); err != nil {
			t.Fatal(err)
		}
		deadlineRead(t, p.server, "one")
		// Orderly close: the client reads io.EOF and cannot write.
		p.l.Close()
		if _, err := p.l.Accept(); !errors.Is(err, ErrListenerClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		buf := make([]byte, 100)
		p.client.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := p.client.Read(buf); err != io.EOF {
			t.Fatalf("read after the listener closed: %v, want io.EOF", err)
		}
		if _, err := p.client.Write([]byte("x")); !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("write after the peer closed: %v", err)
		}
		p.client.Close()

		// A new listener on the same address; the client reconnects.
		p = connectPair(t, n, srv, cli)
		if _, err := p.client.Write([]byte("two")); err != nil {
			t.Fatal(err)
		}
		deadlineRead(t, p.server, "two")

		// A crash: the listener's closes are lost.
		serverPC := p.l.ep.pc
		clientPC := p.client.ep.pc
		if err := n.SetLink(serverPC, clientPC, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		p.l.Close()
		old := p.client
		p = connectPair(t, n, srv, cli)
		defer p.close()
		defer old.Close()
		// The old session is gone on the new listener: its records are
		// dropped as naming no session.
		before := p.l.Stats().UnknownSession
		if _, err := old.Write([]byte("lost")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if got := p.l.Stats().UnknownSession; got != before+1 {
			t.Fatalf("unknown-session drops %d -> %d, want one more", before, got)
		}
		if _, err := p.client.Write([]byte("three")); err != nil {
			t.Fatal(err)
		}
		deadlineRead(t, p.server, "three")
	})
}

// TestConnSemantics: message boundaries, short buffers, the write limit,
// deadlines, and close.
func TestConnSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 4, Delay: time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server

		limit := c.MaxWrite()
		if want := DefaultMaxPayload - 10 - 21 - 32; limit != want {
			t.Fatalf("MaxWrite %d, want %d", limit, want)
		}
		big := bytes.Repeat([]byte{7}, limit)
		if _, err := c.Write(big); err != nil {
			t.Fatalf("write at the limit: %v", err)
		}
		_, err := c.Write(append(big, 1))
		var tl *MessageTooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit || !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("write above the limit: %v", err)
		}
		// A short buffer names the size and keeps the record.
		time.Sleep(10 * time.Millisecond)
		_, err = s.Read(make([]byte, 10))
		var sb *ShortBufferError
		if !errors.As(err, &sb) || sb.Size != limit || !errors.Is(err, io.ErrShortBuffer) {
			t.Fatalf("short read: %v", err)
		}
		got := make([]byte, limit)
		if k, err := s.Read(got); err != nil || k != limit || !bytes.Equal(got, big) {
			t.Fatalf("read after a short read: %d, %v", k, err)
		}
		// Deadlines.
		s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		_, err = s.Read(got)
		if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			t.Fatalf("read past the deadline: %v", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("deadline fired after %v", d)
		}
		s.SetReadDeadline(time.Time{})
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := c.Write([]byte("x")); !isTimeout(err) {
			t.Fatalf("write past the deadline: %v", err)
		}
		c.SetWriteDeadline(time.Time{})
		// Message boundaries, including an empty record.
		for _, m := range []string{"a", "", "bcd"} {
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range []string{"a", "", "bcd"} {
			deadlineRead(t, s, m)
		}
		// A blocked Read returns when its Conn closes.
		done := make(chan error)
		go func() {
			_, err := c.Read(got)
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		c.Close()
		if err := <-done; err == nil {
			t.Fatal("read on a closed conn succeeded")
		}
		// The peer gets the authenticated close.
		s.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := s.Read(got); err != io.EOF {
			t.Fatalf("read after the peer's close: %v", err)
		}
	})
}

// TestListenerRestartMidHandshake: the listener restarts (new cookie
// secret) between its cookie reply and the client's connect request; the
// new listener refuses the old cookie with a new one, which the client
// adopts, and the handshake completes.
func TestListenerRestartMidHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 5, Delay: 50 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		l1, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			c   *Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, err := DialPacketConn(context.Background(), listenPC(t, n, "127.0.0.1:0"), l1.Addr(), cli)
			done <- result{c, err}
		}()
		time.Sleep(60 * time.Millisecond) // the cookie reply is on its way
		if st := l1.Stats(); st.CookiesSent != 1 {
			t.Fatalf("first listener: %+v", st)
		}
		l1.Close()
		l2, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		acceptAll(l2)
		r := <-done
		if r.err != nil {
			t.Fatalf("dial across the restart: %v", r.err)
		}
		r.c.Close()
		if st := l2.Stats(); st.CookieBad == 0 || st.Established != 1 {
			t.Fatalf("second listener: %+v", st)
		}
	})
}
