package datagram

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestQuietWriteLeavesAtOnce: on a batched socket, a data record written
// after the socket was quiet for quietGap is sealed and sent before Write
// returns, on the writer's goroutine; one written while the socket is busy
// (it sent less than quietGap ago) queues for the sender goroutine, so that
// a fast writer's records still leave in batches. GOMAXPROCS is 1 so that
// no other goroutine runs between Write and the checks.
func TestQuietWriteLeavesAtOnce(t *testing.T) {
	srv, cli := pairConfigs(t, false)
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, s := dialLoopback(t, ctx, l, "udp4", cli)
	defer c.Close()
	sk := c.sock()
	if !sk.batched {
		t.Skip("no sendmmsg on this platform: every record leaves before Write returns")
	}
	queued := func() (busy bool, n int) {
		sk.tx.mu.Lock()
		defer sk.tx.mu.Unlock()
		return sk.tx.busy, len(sk.tx.q)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for i := range 3 {
		// Quiet: the socket sent nothing for a while.
		time.Sleep(2 * time.Millisecond)
		sk.tx.idleWait()
		if _, err := c.Write([]byte("after a quiet spell")); err != nil {
			t.Fatal(err)
		}
		if busy, n := queued(); busy || n != 0 {
			t.Fatalf("round %d: after a quiet spell the record waits (busy %v, %d queued)", i, busy, n)
		}
		deadlineRead(t, s, "after a quiet spell")
		// Busy: the socket has just sent (and will have, however slowly
		// this Write runs: under the race detector it may take more than
		// quietGap to reach the socket).
		sk.tx.idleWait()
		sk.tx.mu.Lock()
		sk.tx.lastAt = sk.ep.now() + mono(time.Minute)
		sk.tx.mu.Unlock()
		if _, err := c.Write([]byte("while busy")); err != nil {
			t.Fatal(err)
		}
		if busy, n := queued(); !busy || n != 1 {
			t.Fatalf("round %d: a record written while the socket is busy did not queue (busy %v, %d queued)", i, busy, n)
		}
		deadlineRead(t, s, "while busy")
	}
}

// TestWriteEndedErr: a Write whose session ends between its check and its
// sealing (the keys are gone: net.ErrClosed) reports why the session
// ended, as a Write after the end does; other errors pass unchanged.
func TestWriteEndedErr(t *testing.T) {
	c := &Conn{est: true}
	if err := c.endedErr(net.ErrClosed); err != net.ErrClosed {
		t.Fatalf("live session: %v", err)
	}
	for _, end := range []error{io.EOF, ErrPeerDead, ErrIdleTimeout} {
		c.endErr = end
		want := end
		if end == io.EOF {
			want = ErrPeerClosed
		}
		if err := c.endedErr(net.ErrClosed); !errors.Is(err, want) {
			t.Fatalf("ended with %v: %v, want %v", end, err, want)
		}
		if err := c.endedErr(ErrKeysExhausted); err != ErrKeysExhausted {
			t.Fatalf("other errors change: %v", err)
		}
	}
	c.endErr, c.closed = nil, true
	if err := c.endedErr(net.ErrClosed); err != net.ErrClosed {
		t.Fatalf("closed: %v", err)
	}
}
