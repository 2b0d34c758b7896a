package netsim

import (
	"net"
	"os"
	"sync"
	"time"
)

// Conn wraps a net.PacketConn (a real socket, typically) and applies the
// faults of its Config to every datagram written through it: all destinations
// share one link, as if the host's uplink were faulty. Reads pass through
// unchanged; wrap the other end too to disturb both directions.
//
// Delayed datagrams are written to the underlying conn later, from a timer; an
// error from that write is counted in Stats.WriteErrors, not returned (WriteTo
// returns as soon as the datagram is scheduled, as UDP would). Conn implements
// SetReadBuffer and SetWriteBuffer (forwarded when the underlying conn has them,
// otherwise no-ops) but not SyscallConn, so quic-go treats it as a plain
// net.PacketConn.
type Conn struct {
	pc net.PacketConn

	mu       sync.Mutex
	cfg      *Config
	ls       linkState
	st       counters
	s        sched
	draining bool
	closed   bool
	wdl      time.Time
}

var _ net.PacketConn = (*Conn)(nil)

// Wrap returns pc with the faults of cfg applied to its writes, seeded from
// cfg.Seed. The error wraps ErrInvalidConfig. Closing the Conn closes pc.
func Wrap(pc net.PacketConn, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Conn{pc: pc, cfg: cfg.clone(), ls: newLinkState(cfg.Seed, "wrap")}
	c.s.fire = c.fire
	return c, nil
}

// SetConfig replaces the faults applied from now on. The random source,
// Gilbert-Elliott state and queue are kept; Seed is ignored.
func (c *Conn) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg = cfg.clone()
	return nil
}

// Stats returns the counts since Wrap.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.stats()
}

// ReadFrom reads from the underlying conn.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) { return c.pc.ReadFrom(p) }

// WriteTo runs a copy of p through the faults and returns len(p). It fails
// only if the Conn is closed, the write deadline has passed, p is longer than
// MaxDatagramSize or addr is nil.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if len(p) > MaxDatagramSize {
		return 0, c.opErr(addr, ErrMessageTooLong)
	}
	if addr == nil {
		return 0, c.opErr(addr, ErrInvalidAddr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, c.opErr(addr, net.ErrClosed)
	}
	now := time.Now()
	if !c.wdl.IsZero() && !now.Before(c.wdl) {
		return 0, c.opErr(addr, os.ErrDeadlineExceeded)
	}
	c.st[cSent]++
	v := c.ls.decide(c.cfg, now, len(p))
	if v.drop != cSent {
		c.st[v.drop]++
		return len(p), nil
	}
	data := append([]byte(nil), p...)
	if v.bit >= 0 {
		flipBit(data, v.bit)
		c.st[cCorrupted]++
	}
	if v.reordered {
		c.st[cReordered]++
	}
	c.schedule(&item{at: v.at, data: data, addr: addr})
	if v.duplicate {
		c.st[cDuplicated]++
		c.schedule(&item{at: v.at, data: data, addr: addr})
	}
	c.drain()
	return len(p), nil
}

func (c *Conn) schedule(it *item) {
	c.ls.inFlight++
	c.st[cInFlight]++
	c.s.push(it)
}

// drain writes every due datagram, in order, without holding the lock during
// the writes; only one goroutine drains at a time. c.mu must be held.
func (c *Conn) drain() {
	if c.draining {
		return // the running drain will pick up new items
	}
	c.draining = true
	for !c.closed {
		it := c.s.popDue(time.Now())
		if it == nil {
			break
		}
		c.mu.Unlock()
		_, err := c.pc.WriteTo(it.data, it.addr)
		c.mu.Lock()
		c.ls.inFlight--
		c.st[cInFlight]--
		switch {
		case err == nil:
			c.st[cDelivered]++
		case c.closed:
			c.st[cDiscarded]++
		default:
			c.st[cWriteErrors]++
		}
	}
	c.draining = false
	if !c.closed {
		c.s.rearm(time.Now())
	}
}

func (c *Conn) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.fired()
	c.drain()
}

// Close discards the datagrams still scheduled (counted as Discarded) and
// closes the underlying conn. It is idempotent: later calls return nil.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for range c.s.stop() {
		c.ls.inFlight--
		c.st[cInFlight]--
		c.st[cDiscarded]++
	}
	c.mu.Unlock()
	return c.pc.Close()
}

// LocalAddr returns the underlying conn's address.
func (c *Conn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline sets the underlying read deadline and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return c.pc.SetReadDeadline(t)
}

// SetReadDeadline sets the underlying conn's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for WriteTo. It is checked when WriteTo
// is called, not when a delayed datagram reaches the underlying conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	return nil
}

// SetReadBuffer forwards to the underlying conn if it has the method.
func (c *Conn) SetReadBuffer(bytes int) error {
	if b, ok := c.pc.(interface{ SetReadBuffer(int) error }); ok {
		return b.SetReadBuffer(bytes)
	}
	return nil
}

// SetWriteBuffer forwards to the underlying conn if it has the method.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if b, ok := c.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return b.SetWriteBuffer(bytes)
	}
	return nil
}

func (c *Conn) opErr(addr net.Addr, err error) error {
	network, local := "udp", c.pc.LocalAddr()
	if local != nil {
		network = local.Network()
	}
	return &net.OpError{Op: "write", Net: network, Source: local, Addr: addr, Err: err}
}
