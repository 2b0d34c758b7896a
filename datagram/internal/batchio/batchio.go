package batchio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// DefaultBatch is the batch size New uses when given zero or less.
const DefaultBatch = 64

// MaxBatch is the largest batch size: the kernel's limit on messages per
// recvmmsg or sendmmsg call (UIO_MAXIOV).
const MaxBatch = 1024

// Errors returned by this package, testable with errors.Is.
var (
	// ErrBadAddr reports a destination the socket cannot send to (invalid,
	// or IPv6 on an IPv4 socket), or a source that is not an IP address.
	ErrBadAddr = errors.New("batchio: address not usable on this socket")
	// ErrNetwork reports a network other than "udp", "udp4" or "udp6".
	ErrNetwork = errors.New("batchio: network must be udp, udp4 or udp6")
	// ErrCount reports a negative socket count.
	ErrCount = errors.New("batchio: negative socket count")
	// ErrWouldBlock reports that TryReadBatchView found nothing to read
	// (or that the Conn cannot read without blocking).
	ErrWouldBlock = errors.New("batchio: no datagram waiting")
)

// Message is one datagram.
type Message struct {
	// Buf holds the datagram. ReadBatch stores it in Buf[:N] and leaves Buf
	// itself alone; a datagram longer than Buf is cut to len(Buf), as with
	// ReadFrom. WriteBatch sends all of Buf.
	Buf []byte
	// N is the number of bytes ReadBatch stored in Buf. WriteBatch ignores
	// it.
	N int
	// Addr is the sender (ReadBatch; IPv4 senders on a dual-stack socket
	// are given as IPv4, not IPv4-mapped IPv6) or the destination
	// (WriteBatch).
	Addr netip.AddrPort
}

// Caps tells which kernel facilities a Conn uses.
type Caps struct {
	// MMsg: recvmmsg and sendmmsg (otherwise one datagram per system call).
	MMsg bool
	// GSO: UDP segmentation offload on send (UDP_SEGMENT).
	GSO bool
	// GRO: coalesced receive (UDP_GRO).
	GRO bool
}

// String lists the facilities in use, "mmsg+gso+gro" at most, "loop" for
// none.
func (c Caps) String() string {
	if !c.MMsg {
		return "loop"
	}
	s := "mmsg"
	if c.GSO {
		s += "+gso"
	}
	if c.GRO {
		s += "+gro"
	}
	return s
}

// Option changes how New sets up a Conn.
type Option func(*options)

type options struct {
	noMMsg, noGSO, noGRO bool
	groBuffers           int // 0: min(batch, 16)
}

// WithGROBuffers sets how many 64 KiB receive buffers a Conn with receive
// coalescing holds (default min(batch, 16); at least 1, at most batch and
// 16): each takes up to 64 KiB of datagrams the kernel coalesced, so a
// few serve a Conn that reads one flow.
func WithGROBuffers(n int) Option { return func(o *options) { o.groBuffers = n } }

// WithoutGSO keeps UDP segmentation offload off: one datagram per sendmmsg
// entry.
func WithoutGSO() Option { return func(o *options) { o.noGSO = true } }

// WithoutGRO keeps receive coalescing off (and turns UDP_GRO off on the
// socket if it was on).
func WithoutGRO() Option { return func(o *options) { o.noGRO = true } }

// WithoutMMsg uses plain ReadFrom/WriteTo loops, one datagram per system
// call, as on platforms without recvmmsg; it implies WithoutGSO and
// WithoutGRO.
func WithoutMMsg() Option { return func(o *options) { o.noMMsg = true } }

// Conn reads and writes batches of datagrams on a net.PacketConn. ReadBatch
// and WriteBatch may be called from any number of goroutines; calls of the
// same method are serialized, and a read and a write may run at once.
//
// Once wrapped (with GRO in use), the socket must be read only through the
// Conn: coalesced datagrams read with ReadFrom would not be cut apart.
// Deadlines set on the wrapped connection apply to ReadBatch and
// WriteBatch.
type Conn struct {
	pc    net.PacketConn
	udp   *net.UDPConn // pc, when it is one
	batch int
	sys   *sysConn // nil: plain loops

	rmu sync.Mutex
	wmu sync.Mutex
}

// New wraps pc for batched I/O of up to batch datagrams per system call
// (DefaultBatch when batch <= 0, at most MaxBatch). It uses the fastest
// facilities the platform and pc allow unless opts turn them off, and falls
// back to ReadFrom/WriteTo loops for anything else. With GRO in use a Conn
// holds min(batch, 16) receive buffers of 64 KiB (see WithGROBuffers).
func New(pc net.PacketConn, batch int, opts ...Option) *Conn {
	if batch <= 0 {
		batch = DefaultBatch
	}
	batch = min(batch, MaxBatch)
	var o options
	for _, f := range opts {
		f(&o)
	}
	c := &Conn{pc: pc, batch: batch}
	c.udp, _ = pc.(*net.UDPConn)
	if c.udp != nil && !o.noMMsg {
		c.sys = newSys(c.udp, batch, o)
	}
	return c
}

// Capabilities tells which facilities the Conn uses now (GSO turns off for
// good when the kernel refuses it).
func (c *Conn) Capabilities() Caps {
	if c.sys == nil {
		return Caps{}
	}
	return c.sys.caps()
}

// Close closes the wrapped connection; blocked and later calls return an
// error wrapping net.ErrClosed.
func (c *Conn) Close() error { return c.pc.Close() }

// ReadBatch blocks until at least one datagram has arrived, then stores up
// to len(msgs) of them (fewer than the batch size per system call) in msgs
// and returns how many. Datagrams the kernel coalesced are returned one per
// Message, in order. An error (a deadline, a closed socket) comes with n ==
// 0.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	return c.readBatch(msgs, false)
}

// ReadBatchView is ReadBatch without the copy on sockets that read through
// the Conn's own receive buffers (GRO, Caps.GRO): there every datagram,
// coalesced or not, comes back with its Message's Buf set to the datagram
// inside that buffer (N its full length, even above the Buf the caller
// gave), valid until the next ReadBatch or ReadBatchView. On other sockets
// datagrams are read into the caller's Buf as by ReadBatch. A caller sets
// every Buf afresh before each call.
func (c *Conn) ReadBatchView(msgs []Message) (int, error) {
	return c.readBatch(msgs, true)
}

// TryReadBatchView is ReadBatchView that never waits: with nothing
// waiting on the socket (or left from the last read) it returns
// ErrWouldBlock at once, as it does on a Conn without the batched engine
// (Caps.MMsg false), which cannot read without blocking.
func (c *Conn) TryReadBatchView(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if c.sys == nil {
		return 0, ErrWouldBlock
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.sys.readBatch(msgs, true, true)
}

// Buffered reports whether datagrams of the last read are still to be
// handed out: the kernel coalesced more of them than the last call's msgs
// held. The next ReadBatch or ReadBatchView returns them without a system
// call.
func (c *Conn) Buffered() bool {
	if c.sys == nil {
		return false
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.sys.buffered()
}

// Saturated reports whether the last read system call filled every
// buffer it offered the kernel (Buffered datagrams aside): more was
// probably waiting.
func (c *Conn) Saturated() bool {
	if c.sys == nil {
		return false
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.sys.saturated
}

// MaxRead is the most datagrams one system call of the Conn's may bring
// in: its batch size, or with GRO its receive buffers times the most
// datagrams the kernel puts into one (128: a GSO send over loopback
// arrives whole, and kernels since 6.13 take 128 datagrams per send). A
// ReadBatch or ReadBatchView given that many Messages leaves nothing
// Buffered (but from a kernel that coalesced more than it is known to).
func (c *Conn) MaxRead() int {
	if c.sys == nil {
		return 1
	}
	return c.sys.maxRead()
}

func (c *Conn) readBatch(msgs []Message, view bool) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.sys != nil {
		return c.sys.readBatch(msgs, view, false)
	}
	return c.readLoop(msgs)
}

// WriteBatch sends msgs in order and returns how many were sent. On an error
// n < len(msgs) and msgs[n] is the datagram that could not be sent; the ones
// before it were sent. msgs is not modified.
func (c *Conn) WriteBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sys != nil {
		return c.sys.writeBatch(msgs)
	}
	return c.writeLoop(msgs)
}

// readLoop reads one datagram with ReadFrom.
func (c *Conn) readLoop(msgs []Message) (int, error) {
	m := &msgs[0]
	if c.udp != nil {
		n, ap, err := c.udp.ReadFromUDPAddrPort(m.Buf)
		if err != nil {
			return 0, err
		}
		m.N, m.Addr = n, unmap(ap)
		return 1, nil
	}
	n, from, err := c.pc.ReadFrom(m.Buf)
	if err != nil {
		return 0, err
	}
	ap, ok := addrPortOf(from)
	if !ok {
		return 0, fmt.Errorf("%w: sender %v", ErrBadAddr, from)
	}
	m.N, m.Addr = n, ap
	return 1, nil
}

// writeLoop sends the datagrams one WriteTo at a time.
func (c *Conn) writeLoop(msgs []Message) (int, error) {
	for i := range msgs {
		m := &msgs[i]
		if !m.Addr.IsValid() {
			return i, fmt.Errorf("%w: %v", ErrBadAddr, m.Addr)
		}
		var err error
		if c.udp != nil {
			_, err = c.udp.WriteToUDPAddrPort(m.Buf, m.Addr)
		} else {
			_, err = c.pc.WriteTo(m.Buf, net.UDPAddrFromAddrPort(m.Addr))
		}
		if err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

// unmap gives IPv4-mapped IPv6 addresses as IPv4.
func unmap(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}

// addrPortOf converts a net.Addr naming an IP address and port.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return ap, false
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	if !ap.Addr().IsValid() {
		return ap, false
	}
	return unmap(ap), true
}
