package stream

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// failNthWrite is a net.Conn whose n-th Write (1-based) fails.
type failNthWrite struct {
	net.Conn
	mu     sync.Mutex
	writes int
	n      int
}

var errInjected = errors.New("injected write failure")

func (c *failNthWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	fail := c.writes == c.n
	c.mu.Unlock()
	if fail {
		return 0, errInjected
	}
	return c.Conn.Write(p)
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// TestFinalWriteFailureClearsSession: a responder whose last handshake
// message cannot be sent holds an established session that its caller
// drops; runHandshake zeroes it (ciphers and datagram secret) rather than
// leave it to the garbage collector.
func TestFinalWriteFailureClearsSession(t *testing.T) {
	sk, ck := keys(t, testSuite)
	for _, duplex := range []bool{false, true} {
		srv, cli := pair(sk, ck, duplex)
		sm, err := srv.serverMachine()
		if err != nil {
			t.Fatal(err)
		}
		cm, err := cli.clientMachine()
		if err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			runHandshake(context.Background(), b, cm, 5*time.Second) // fails: no final answer
		}()
		// QSMS: connect response, exchange response (final). QSMD:
		// connect response, exchange response, establish response (final).
		final := 2
		if duplex {
			final = 3
		}
		err = runHandshake(context.Background(), &failNthWrite{Conn: a, n: final}, sm, 5*time.Second)
		a.Close()
		<-done
		b.Close()
		if !errors.Is(err, errInjected) {
			t.Fatalf("duplex %v: runHandshake: %v, want the injected failure", duplex, err)
		}
		if !sm.Done() {
			t.Fatalf("duplex %v: the responder is not established: the failure was not the final write", duplex)
		}
		s := sm.Session()
		if len(s.DatagramSecret) == 0 || !allZero(s.DatagramSecret) {
			t.Errorf("duplex %v: the dropped session's datagram secret was not zeroed", duplex)
		}
		if _, err := s.Stream.Seal([]byte("x"), 0); !errors.Is(err, record.ErrClosed) {
			t.Errorf("duplex %v: the dropped session's stream still seals: %v", duplex, err)
		}
	}
}

// TestCloseClearsSession: Close zeroes the session's datagram secret (the
// stream carrier never uses it) along with its ciphers.
func TestCloseClearsSession(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		c, s := session(t, duplex)
		for _, conn := range []*Conn{c, s} {
			ds := conn.Session().DatagramSecret
			if len(ds) == 0 || allZero(ds) {
				t.Fatal("no datagram secret before Close")
			}
			conn.Close()
			if !allZero(ds) {
				t.Errorf("duplex %v: the datagram secret survived Close", duplex)
			}
		}
	}
}
