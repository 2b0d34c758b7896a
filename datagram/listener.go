package datagram

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"net"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/cookie"
	"github.com/qsmp-go/qsmp/keyfile"
)

// Listener accepts QSMP sessions on one UDP socket, many sessions per
// socket. It implements net.Listener.
type Listener struct {
	ep *endpoint
	q  *quicListener // the QUIC carrier's (quic.go); nil on UDP
}

// Listen listens on the UDP address (network "udp", "udp4" or "udp6")
// with one socket per GOMAXPROCS, all bound to it with SO_REUSEPORT (one
// on platforms that do not balance them), so that the kernel spreads the
// sessions, by address and port, over one receiving goroutine each. A port
// already in use is an error, as without SO_REUSEPORT.
func Listen(network, address string, cfg *Config) (*Listener, error) {
	if quicNetwork(network) {
		return listenQUIC(network, address, cfg)
	}
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	pcs, err := listenSockets(network, address)
	if err != nil {
		return nil, err
	}
	l, err := newListener(pcs[0], cfg, pcs[1:]...)
	if err != nil {
		for _, pc := range pcs {
			pc.Close()
		}
		return nil, err
	}
	return l, nil
}

// NewListener listens on pc, which the Listener owns from then on: it reads
// every datagram and closes pc on Close (or at once if NewListener fails).
// cfg must hold Identity (and PeerKeys for QSMD).
func NewListener(pc net.PacketConn, cfg *Config) (*Listener, error) {
	if usesQUIC(cfg) {
		return newQUICListener(pc, cfg)
	}
	l, err := newListener(pc, cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return l, nil
}

func newListener(pc net.PacketConn, cfg *Config, more ...net.PacketConn) (*Listener, error) {
	n, err := cfg.normalize(true)
	if err != nil {
		return nil, err
	}
	ep := newEndpoint(pc, n, true, more...)
	jar, err := cookie.NewJar(crand.Reader) // never Config.Rand
	if err != nil {
		return nil, err
	}
	ep.jar = jar
	// The exact size of a connect request: ask a machine.
	var own *keyfile.PublicKey // none with a test's machines
	if n.Identity != nil {
		own = &n.Identity.PublicKey
	}
	probe, err := n.serverMachine(own)
	if err != nil {
		return nil, err
	}
	l0, ok := expectLen(probe)
	probe.Abort() // only asked for the connect request's size
	if !ok {
		return nil, fmt.Errorf("%w: the handshake machine expects no connect request", ErrConfig)
	}
	ep.msg0Len = l0
	go ep.readLoop()
	return &Listener{ep: ep}, nil
}

// Accept waits for the next established session. It implements
// net.Listener; the net.Conn is a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext waits for the next established session, the end of ctx, or
// Close (an error matching ErrListenerClosed and net.ErrClosed).
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	if l.q != nil {
		return l.q.accept(ctx)
	}
	select {
	case c := <-l.ep.acceptQ:
		return c, nil
	default:
	}
	select {
	case c := <-l.ep.acceptQ:
		return c, nil
	case <-l.ep.closing:
		return nil, &net.OpError{Op: "accept", Net: "udp", Addr: l.Addr(), Err: errAcceptClosed}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errAcceptClosed matches both ErrListenerClosed and net.ErrClosed (what
// servers built on net.Listener test for).
var errAcceptClosed = fmt.Errorf("%w (%w)", ErrListenerClosed, net.ErrClosed)

// Close closes the listener, every session on it (accepted or not; each
// established one sends its authenticated close) and the socket.
func (l *Listener) Close() error {
	if l.q != nil {
		return l.q.close()
	}
	l.ep.close()
	for {
		select {
		case c := <-l.ep.acceptQ:
			c.Close()
		default:
			return nil
		}
	}
}

// Addr returns the listener's local address.
func (l *Listener) Addr() net.Addr {
	if l.q != nil {
		return l.q.l.Addr()
	}
	return l.ep.pc.LocalAddr()
}

// ListenerStats counts what a listener did with the datagrams it received.
type ListenerStats struct {
	// Datagrams and BytesIn count what arrived; BytesOut what was sent
	// outside the record path (cookie replies, fragments, acks, records
	// are counted by their Conns).
	Datagrams, BytesIn, BytesOut uint64
	// Malformed, UnknownSession and WrongAddress count datagrams dropped
	// by the demultiplexer: unparsable, naming no session, or from an
	// address other than the session's validated one.
	Malformed, UnknownSession, WrongAddress uint64
	// Stale counts handshake datagrams for a message not expected now;
	// Duplicates handshake fragments of messages already complete (acked
	// again, never given to the machine).
	Stale, Duplicates uint64
	// CookiesSent counts cookie replies; CookieTooSmall requests too small
	// to be answered without amplification; CookieBad cookies that failed.
	CookiesSent, CookieTooSmall, CookieBad uint64
	// Handshakes refused: the half-open limit, the per-prefix rate, the
	// reassembly budget, the key-generation queue, unknown QSMD initiator
	// keys, and steps whose deadline passed while queued.
	HalfOpenFull, RateLimited, BudgetFull, QueueFull, UnknownKey, Expired uint64
	// ConnectRequests counts connect requests given to the handshake
	// machine (each costs a key generation and a signature).
	ConnectRequests uint64
	// Rejected counts handshake messages the machine rejected; Conflicts
	// fragments contradicting bytes already held; Failed handshakes that
	// ended without a session; Established sessions.
	Rejected, Conflicts, Failed, Established uint64
	// AcceptFull counts sessions closed because Accept fell behind.
	AcceptFull uint64
	// HalfOpen is the number of handshakes in progress, Sessions the
	// number of sessions.
	HalfOpen, Sessions int
}

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats {
	if l.q != nil {
		return l.q.stats()
	}
	return l.ep.stats()
}

func (ep *endpoint) stats() ListenerStats {
	s := &ep.st
	out := ListenerStats{
		Datagrams: s.datagrams.Load(), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
		Malformed: s.malformed.Load(), UnknownSession: s.unknownSession.Load(), WrongAddress: s.wrongAddress.Load(),
		Stale: s.stale.Load(), Duplicates: s.duplicates.Load(),
		CookiesSent: s.cookiesSent.Load(), CookieTooSmall: s.cookieTooSmall.Load(), CookieBad: s.cookieBad.Load(),
		HalfOpenFull: s.halfOpenFull.Load(), RateLimited: s.rateLimited.Load(), BudgetFull: s.budget.Load(),
		QueueFull: s.queueFull.Load(), UnknownKey: s.unknownKey.Load(), Expired: s.expired.Load(),
		ConnectRequests: s.connectRequests.Load(),
		Rejected:        s.rejected.Load(), Conflicts: s.conflicts.Load(), Failed: s.failed.Load(),
		Established: s.established.Load(), AcceptFull: s.acceptFull.Load(),
	}
	ep.mu.Lock()
	out.HalfOpen, out.Sessions = ep.halfOpen, len(ep.sessions)
	ep.mu.Unlock()
	return out
}

// checkNetwork accepts the UDP networks.
func checkNetwork(network string) error {
	switch network {
	case "udp", "udp4", "udp6":
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNetwork, network)
}

// Dial connects to the listener at address over UDP (network "udp",
// "udp4" or "udp6") from a new socket, and runs the handshake. The
// handshake ends with ctx, or after Config.HandshakeTimeout.
func Dial(ctx context.Context, network, address string, cfg *Config) (*Conn, error) {
	if quicNetwork(network) {
		return dialQUIC(ctx, network, address, cfg)
	}
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	raddr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	lnet := "udp6"
	if raddr.IP.To4() != nil {
		lnet = "udp4"
	}
	pc, err := net.ListenUDP(lnet, nil)
	if err != nil {
		return nil, err
	}
	setSocketBuffers(pc)
	return DialPacketConn(ctx, pc, raddr, cfg)
}

// DialPacketConn runs the handshake with the listener at raddr over pc,
// which the Conn owns from then on: it reads every datagram from pc and
// closes it on Close (and when the handshake fails).
func DialPacketConn(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg *Config) (*Conn, error) {
	if usesQUIC(cfg) {
		return dialQUICPacketConn(ctx, pc, raddr, cfg)
	}
	c, err := newClient(pc, raddr, cfg, ctx)
	if err != nil {
		pc.Close()
		return nil, err
	}
	ctx, cancel := context.WithDeadline(ctx, c.hsDeadline())
	defer cancel()
	if err := c.clientHandshake(ctx); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "udp", Source: pc.LocalAddr(), Addr: raddr, Err: err}
	}
	return c, nil
}

// newClient sets up a client session on pc (its receive goroutine running)
// ready for clientHandshake.
func newClient(pc net.PacketConn, raddr net.Addr, cfg *Config, ctx context.Context) (*Conn, error) {
	n, err := cfg.normalize(false)
	if err != nil {
		return nil, err
	}
	ap, ok := addrPortOf(raddr)
	if !ok {
		return nil, fmt.Errorf("%w: bad remote address %v", ErrConfig, raddr)
	}
	m, err := n.clientMachine()
	if err != nil {
		return nil, err
	}
	ep := newEndpoint(pc, n, false)
	deadline := time.Now().Add(n.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ep.mu.Lock()
	id := ep.newIDLocked()
	c := newConn(ep, false, id, ap)
	c.owner = true
	hs := newHS(m, deadline, id, nil)
	hs.inbox = make(chan []byte, 1)
	hs.result = make(chan error, 1)
	if n.Duplex && n.Identity != nil && n.newMachine == nil {
		kid := n.Identity.KeyID
		hs.keyID = &kid
	}
	c.hs = hs
	ep.sessions[id] = c
	ep.mu.Unlock()
	go ep.readLoop()
	return c, nil
}

// hsDeadline returns the handshake's deadline.
func (c *Conn) hsDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hs == nil {
		return time.Now()
	}
	return c.hs.deadline
}
