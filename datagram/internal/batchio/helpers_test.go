package batchio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// loopbacks are the networks and addresses the tests use.
var loopbacks = []struct{ network, addr string }{
	{"udp4", "127.0.0.1:0"},
	{"udp6", "[::1]:0"},
}

// configs are the ways a Conn can be set up; all must behave the same.
var configs = []struct {
	name string
	opts []Option
}{
	{"default", nil},
	{"nogso", []Option{WithoutGSO()}},
	{"nogro", []Option{WithoutGRO()}},
	{"mmsg", []Option{WithoutGSO(), WithoutGRO()}},
	{"loop", []Option{WithoutMMsg()}},
}

// listen opens a loopback UDP socket with large buffers, closed at the end
// of the test.
func listen(t testing.TB, network, addr string) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	uc := pc.(*net.UDPConn)
	bigBuffers(t, uc)
	t.Cleanup(func() { _ = uc.Close() })
	return uc
}

// addrOf is a socket's address.
func addrOf(c net.PacketConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// payload is datagram seq of sender id, n bytes: a pattern that differs for
// every (id, seq) when n >= 4.
func payload(id, seq, n int) []byte {
	b := make([]byte, n)
	x := uint32(id*1_000_003 + seq*7919 + n)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	if n >= 4 {
		b[0], b[1], b[2], b[3] = byte(id), byte(seq>>16), byte(seq>>8), byte(seq)
	}
	return b
}

// key identifies a datagram by sender and contents.
type key struct {
	from netip.AddrPort
	data string
}

// expect counts the datagrams a receiver should get.
type expect struct {
	mu   sync.Mutex
	want map[key]int
	left int
}

func newExpect() *expect { return &expect{want: make(map[key]int)} }

func (e *expect) add(from netip.AddrPort, b []byte) {
	e.mu.Lock()
	e.want[key{from, string(b)}]++
	e.left++
	e.mu.Unlock()
}

// take checks one received datagram off; it fails on one not expected.
func (e *expect) take(from netip.AddrPort, b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := key{from, string(b)}
	if e.want[k] == 0 {
		return fmt.Errorf("unexpected datagram of %d bytes from %v", len(b), from)
	}
	e.want[k]--
	e.left--
	return nil
}

func (e *expect) remaining() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.left
}

// receive reads c until e has everything or the time runs out, using
// batches of bufs buffers of size bytes.
func receive(c *Conn, uc *net.UDPConn, e *expect, bufs, size int, timeout time.Duration) error {
	msgs := make([]Message, bufs)
	for i := range msgs {
		msgs[i].Buf = make([]byte, size)
	}
	end := time.Now().Add(timeout)
	for e.remaining() > 0 {
		if err := uc.SetReadDeadline(end); err != nil {
			return err
		}
		n, err := c.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("timed out with %d datagrams missing", e.remaining())
			}
			return err
		}
		if n < 1 || n > len(msgs) {
			return fmt.Errorf("ReadBatch returned %d for %d messages", n, len(msgs))
		}
		for _, m := range msgs[:n] {
			if m.N < 0 || m.N > len(m.Buf) {
				return fmt.Errorf("N = %d for a %d-byte buffer", m.N, len(m.Buf))
			}
			if err := e.take(m.Addr, m.Buf[:m.N]); err != nil {
				return err
			}
		}
	}
	return nil
}

// plan is a batch of datagrams exercising every way WriteBatch groups them:
// runs of equal sizes with and without a shorter last one, runs longer
// than a GSO send may hold (in count and in bytes), size changes, empty
// datagrams, and destinations alternating.
func plan(id int, to []netip.AddrPort) []Message {
	var msgs []Message
	seq := 0
	add := func(n int, size int, dst netip.AddrPort) {
		for range n {
			msgs = append(msgs, Message{Buf: payload(id, seq, size), Addr: dst})
			seq++
		}
	}
	a, b := to[0], to[len(to)-1]
	add(12, 1000, a)
	add(1, 333, a) // a short last segment
	add(5, 1, b)
	add(1, 0, a)    // empty
	add(70, 900, b) // more segments than one GSO send holds
	for range 3 {
		add(1, 500, a)
		add(1, 600, a) // larger than the one before: a new run
	}
	add(3, 1400, a)
	add(1, 1400, b)  // same size, other destination
	add(50, 1400, a) // more bytes than one GSO send holds
	add(2, 1200, b)
	add(1, 1200, a)
	add(2, 1200, b)
	add(1, 65000, a) // one large datagram
	add(2, 7, a)
	return msgs
}

// opaque hides the concrete type of a net.PacketConn.
type opaque struct{ net.PacketConn }
