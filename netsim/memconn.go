package netsim

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// memConn is an endpoint of a Network. It implements net.PacketConn plus
// SetReadBuffer and SetWriteBuffer (no-ops, so that quic-go does not warn),
// and deliberately not SyscallConn: there is no socket.
type memConn struct {
	n     *Network
	local netip.AddrPort // immutable

	// Guarded by n.mu.
	ext  netip.AddrPort // the address peers see and send to
	gone bool           // closed, as far as the network is concerned

	mu      sync.Mutex
	closed  bool
	rq      recvQueue
	waiters int
	wake    chan struct{} // closed and replaced to wake blocked readers
	rdl     time.Time
	wdl     time.Time
}

var _ net.PacketConn = (*memConn)(nil)

// ReadFrom reads one datagram into p, truncating it if p is too short (the
// rest is discarded, as with UDP). It blocks until a datagram arrives, the read
// deadline passes (error wrapping os.ErrDeadlineExceeded) or the conn is closed
// (error wrapping net.ErrClosed). As with sockets, a passed deadline wins over
// queued datagrams.
func (c *memConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.n.catchUp()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		}
		var expired <-chan time.Time
		if !c.rdl.IsZero() {
			wait := time.Until(c.rdl)
			if wait <= 0 {
				c.mu.Unlock()
				return 0, nil, c.opErr("read", nil, os.ErrDeadlineExceeded)
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expired = timer.C
		}
		if x, ok := c.rq.pop(); ok {
			c.mu.Unlock()
			return copy(p, x.data), net.UDPAddrFromAddrPort(x.from), nil
		}
		wake := c.wake
		c.waiters++
		c.mu.Unlock()
		select {
		case <-wake:
		case <-expired:
		}
		c.mu.Lock()
		c.waiters--
		c.mu.Unlock()
	}
}

// WriteTo sends a copy of p to addr and returns len(p), whatever the network
// then does with it (as UDP). It fails only if the conn is closed, the write
// deadline has passed, p is longer than MaxDatagramSize or addr is not an IP
// address and port. Writing to an address nobody listens on is not an error.
func (c *memConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	closed, wdl := c.closed, c.wdl
	c.mu.Unlock()
	if closed {
		return 0, c.opErr("write", addr, net.ErrClosed)
	}
	if !wdl.IsZero() && !time.Now().Before(wdl) {
		return 0, c.opErr("write", addr, os.ErrDeadlineExceeded)
	}
	if len(p) > MaxDatagramSize {
		return 0, c.opErr("write", addr, ErrMessageTooLong)
	}
	dst, ok := addrKey(addr)
	if !ok {
		return 0, c.opErr("write", addr, ErrInvalidAddr)
	}
	if err := c.n.send(c, p, dst); err != nil {
		return 0, c.opErr("write", addr, err)
	}
	return len(p), nil
}

// Close closes the endpoint: blocked reads return, its address is released
// and datagrams in flight to it are dropped. Datagrams it sent before stay in
// flight. Close is idempotent and returns nil.
func (c *memConn) Close() error {
	c.n.mu.Lock()
	if !c.gone {
		c.n.closeLocked(c)
	}
	c.n.mu.Unlock()
	c.closeLocal()
	return nil
}

func (c *memConn) closeLocal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.rq.reset()
	c.broadcast()
}

// LocalAddr returns the address the endpoint was bound to (unchanged by Rebind).
func (c *memConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// SetDeadline sets both deadlines.
func (c *memConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl, c.wdl = t, t
	c.broadcast()
	return nil
}

// SetReadDeadline sets the read deadline; blocked reads see the change.
func (c *memConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	c.broadcast()
	return nil
}

// SetWriteDeadline sets the write deadline (writes never block; a passed
// deadline makes them fail).
func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	return nil
}

// SetReadBuffer does nothing and returns nil (the queue length is RecvQueue).
func (c *memConn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer does nothing and returns nil.
func (c *memConn) SetWriteBuffer(int) error { return nil }

// enqueue appends a datagram to the receive queue; false if it is full or the
// conn closed. Called with n.mu held.
func (c *memConn) enqueue(data []byte, from netip.AddrPort) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.rq.push(rx{data: data, from: from}) {
		return false
	}
	c.broadcast()
	return true
}

// broadcast wakes blocked readers; c.mu must be held.
func (c *memConn) broadcast() {
	if c.waiters > 0 {
		close(c.wake)
		c.wake = make(chan struct{})
	}
}

func (c *memConn) opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
}

// rx is a received datagram.
type rx struct {
	data []byte
	from netip.AddrPort
}

// recvQueue is a FIFO ring of at most max datagrams, grown on demand.
type recvQueue struct {
	buf        []rx
	head, size int
	max        int
}

func (q *recvQueue) push(x rx) bool {
	if q.size >= q.max {
		return false
	}
	if q.size == len(q.buf) {
		nb := make([]rx, min(max(16, 2*len(q.buf)), q.max))
		for i := range q.size {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = x
	q.size++
	return true
}

func (q *recvQueue) pop() (rx, bool) {
	if q.size == 0 {
		return rx{}, false
	}
	x := q.buf[q.head]
	q.buf[q.head] = rx{}
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return x, true
}

func (q *recvQueue) reset() {
	q.buf, q.head, q.size = nil, 0, 0
}

// queued returns how many datagrams wait in the receive queue.
func (c *memConn) queued() int {
	c.n.catchUp()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rq.size
}
