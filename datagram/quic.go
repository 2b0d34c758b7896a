package datagram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/datagram/internal/quicx"
	"github.com/qsmp-go/qsmp/handshake"
)

// The QUIC carrier: see the package documentation, "QUIC".

// Errors of the QUIC carrier.
var (
	// ErrConnectionLost reports that the QUIC connection under a session
	// ended without the peer's authenticated close: a QUIC error or close
	// (anyone on the path can send one), a stateless reset, or a control
	// record on the stream that broke the protocol.
	ErrConnectionLost = errors.New("datagram: QUIC connection lost")
	// ErrHandshakeFailed reports a QSMP handshake over QUIC that ended
	// without a session before its time ran out: refused by the listener
	// (the reason names the C code's error), a key the peer does not
	// accept, or keys not bound to the QUIC connection (a relayed
	// handshake). The error wraps the cause (a *handshake.Error, ...).
	ErrHandshakeFailed = errors.New("datagram: QSMP handshake over QUIC failed")
)

// quicNetwork reports whether network names the QUIC carrier.
func quicNetwork(network string) bool {
	switch network {
	case "quic", "quic4", "quic6":
		return true
	}
	return false
}

// usesQUIC reports whether cfg selects the QUIC carrier for DialPacketConn
// and NewListener: any Network other than "", "udp", "udp4" and "udp6"
// (the QUIC functions refuse one that is not "quic", "quic4" or "quic6").
func usesQUIC(cfg *Config) bool {
	if cfg == nil {
		return false
	}
	switch cfg.Network {
	case "", "udp", "udp4", "udp6":
		return false
	}
	return true
}

// quicConn is the QUIC side of a Conn.
type quicConn struct {
	c    *quicx.Conn
	idle bool           // Config.IdleTimeout set: QUIC's idle timeout is ErrIdleTimeout
	pc   net.PacketConn // the socket of DialPacketConn, closed after the session
	l    *quicListener  // the listener that accepted the session
	done atomic.Bool    // the socket is closed and the listener told
}

// quicListener is the QUIC side of a Listener.
type quicListener struct {
	l    *quicx.Listener
	idle bool
	hook func(*Conn, Stats) // Config.StatsHook
	pc   net.PacketConn     // the socket of NewListener, closed after the sessions

	mu     sync.Mutex
	conns  map[*Conn]struct{} // accepted and open
	closed bool
}

// quicConfig builds the QUIC carrier's configuration from a normalized
// Config; user is the Config as given (for the fields whose defaults
// differ).
func (n *config) quicConfig(user *Config) *quicx.Config {
	q := &quicx.Config{
		Identity: n.Identity, PeerKey: n.PeerKey, PeerKeys: n.PeerKeys, Duplex: n.Duplex,
		HandshakeTimeout: n.HandshakeTimeout, WindowSize: n.WindowSize, TimeThreshold: n.TimeThreshold,
		RekeyGrace:        n.RekeyGrace,
		RekeyAfterRecords: n.RekeyAfterRecords, RekeyAfterBytes: n.RekeyAfterBytes, RekeyAfterTime: n.RekeyAfterTime,
		RejectAfterRecords: n.RejectAfterRecords, RejectAfterBytes: n.RejectAfterBytes, RejectAfterTime: n.RejectAfterTime,
		Logger: n.Logger, Rand: n.Rand, Now: n.Now,
		QUICConfig: n.quicLiveness(),
	}
	if user != nil {
		q.ReceiveQueue = user.ReceiveQueue
		q.MaxHandshakes = user.MaxHalfOpen
	}
	return q
}

// quicIdleForever is QUIC's idle timeout when neither IdleTimeout nor
// DeadPeerTimeout is set.
const quicIdleForever = 365 * 24 * time.Hour

// quicLiveness maps the liveness fields onto QUIC's idle timeout and
// keep-alive (see the carrier's documentation above).
func (n *config) quicLiveness() *quic.Config {
	q := &quic.Config{KeepAlivePeriod: n.KeepAlive}
	switch {
	case n.IdleTimeout > 0:
		q.MaxIdleTimeout = n.IdleTimeout
	case n.DeadPeerTimeout > 0:
		q.MaxIdleTimeout = n.DeadPeerTimeout
		if q.KeepAlivePeriod == 0 {
			q.KeepAlivePeriod = n.DeadPeerTimeout / 3
		}
	default:
		q.MaxIdleTimeout = quicIdleForever
	}
	return q
}

// dialQUIC is Dial for the QUIC networks.
func dialQUIC(ctx context.Context, network, address string, cfg *Config) (*Conn, error) {
	n, err := cfg.normalize(false)
	if err != nil {
		return nil, err
	}
	qc, err := quicx.Dial(ctx, network, address, n.quicConfig(cfg))
	if err != nil {
		return nil, quicDialError(address, err, n.IdleTimeout > 0)
	}
	return &Conn{q: &quicConn{c: qc, idle: n.IdleTimeout > 0}, hook: cfg.StatsHook}, nil
}

// dialQUICPacketConn is DialPacketConn for Config.Network "quic": the Conn
// owns pc and closes it after the session (or at once if the dial fails).
func dialQUICPacketConn(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg *Config) (*Conn, error) {
	if !quicNetwork(cfg.Network) {
		pc.Close()
		return nil, fmt.Errorf("%w: Config.Network %q", ErrNetwork, cfg.Network)
	}
	n, err := cfg.normalize(false)
	if err != nil {
		pc.Close()
		return nil, err
	}
	qc, err := quicx.DialPacketConn(ctx, pc, raddr, n.quicConfig(cfg))
	if err != nil {
		pc.Close()
		return nil, quicDialError(raddr.String(), err, n.IdleTimeout > 0)
	}
	return &Conn{q: &quicConn{c: qc, idle: n.IdleTimeout > 0, pc: pc}, hook: cfg.StatsHook}, nil
}

// quicDialError maps a failed QUIC dial.
func quicDialError(address string, err error, idle bool) error {
	err = mapQUICError(err, idle)
	if !errors.Is(err, ErrHandshakeTimeout) && !errors.Is(err, ErrHandshakeFailed) {
		// The QUIC handshake itself failed.
		var ae *quic.ApplicationError
		var te *quic.TransportError
		switch {
		case quicTimeout(err):
			err = &quicError{is: ErrHandshakeTimeout, msg: ErrHandshakeTimeout.Error() + ": " + err.Error(), causes: []error{err}}
		case errors.As(err, &ae) || errors.As(err, &te):
			err = &quicError{is: ErrHandshakeFailed, msg: ErrHandshakeFailed.Error() + ": " + err.Error(), causes: []error{err}}
		}
	}
	return &net.OpError{Op: "dial", Net: "quic", Addr: quicAddr(address), Err: err}
}

// quicAddr is an address for net.OpError.
type quicAddr string

func (a quicAddr) Network() string { return "quic" }
func (a quicAddr) String() string  { return string(a) }

// listenQUIC is Listen for the QUIC networks.
func listenQUIC(network, address string, cfg *Config) (*Listener, error) {
	n, err := cfg.normalize(true)
	if err != nil {
		return nil, err
	}
	ql, err := quicx.Listen(network, address, n.quicConfig(cfg))
	if err != nil {
		return nil, mapQUICError(err, false)
	}
	return &Listener{q: &quicListener{l: ql, idle: n.IdleTimeout > 0, hook: cfg.StatsHook, conns: make(map[*Conn]struct{})}}, nil
}

// newQUICListener is NewListener for Config.Network "quic": the Listener
// owns pc and closes it after its sessions (or at once if it fails).
func newQUICListener(pc net.PacketConn, cfg *Config) (*Listener, error) {
	if !quicNetwork(cfg.Network) {
		pc.Close()
		return nil, fmt.Errorf("%w: Config.Network %q", ErrNetwork, cfg.Network)
	}
	n, err := cfg.normalize(true)
	if err != nil {
		pc.Close()
		return nil, err
	}
	ql, err := quicx.ListenPacketConn(pc, n.quicConfig(cfg))
	if err != nil {
		pc.Close()
		return nil, mapQUICError(err, false)
	}
	return &Listener{q: &quicListener{l: ql, idle: n.IdleTimeout > 0, hook: cfg.StatsHook, pc: pc, conns: make(map[*Conn]struct{})}}, nil
}

// accept waits for the next session.
func (l *quicListener) accept(ctx context.Context) (*Conn, error) {
	qc, err := l.l.AcceptContext(ctx)
	if err != nil {
		if errors.Is(err, quicx.ErrListenerClosed) {
			return nil, &net.OpError{Op: "accept", Net: "quic", Addr: l.l.Addr(), Err: errAcceptClosed}
		}
		return nil, err
	}
	c := &Conn{q: &quicConn{c: qc, idle: l.idle, l: l}, hook: l.hook}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		qc.Close()
		return nil, &net.OpError{Op: "accept", Net: "quic", Addr: l.l.Addr(), Err: errAcceptClosed}
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// close stops accepting, closes every session accepted (each sends its
// close record) and then the socket it owns.
func (l *quicListener) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	err := l.l.Close()
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	if l.pc != nil {
		l.pc.Close()
	}
	return err
}

// forget removes a closed session.
func (l *quicListener) forget(c *Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// stats maps the QUIC listener's counters.
func (l *quicListener) stats() ListenerStats {
	s := l.l.Stats()
	l.mu.Lock()
	sessions := len(l.conns)
	l.mu.Unlock()
	return ListenerStats{
		Established: s.Established, Failed: s.Failed,
		HalfOpenFull: s.Busy, AcceptFull: s.AcceptFull,
		HalfOpen: s.Handshakes, Sessions: sessions,
	}
}

// The Conn methods of the QUIC carrier.

func (q *quicConn) read(b []byte) (int, error) {
	n, err := q.c.Read(b)
	return n, q.err(err)
}

func (q *quicConn) write(b []byte) (int, error) {
	n, err := q.c.Write(b)
	return n, q.err(err)
}

// close closes the session; a concurrent Close waits for the first (on
// a channel, inside quicx).
func (q *quicConn) close(c *Conn) error {
	q.c.Close()
	if q.done.CompareAndSwap(false, true) {
		if q.pc != nil {
			q.pc.Close()
		}
		if q.l != nil {
			q.l.forget(c)
		}
	}
	return nil
}

func (q *quicConn) rekey(ctx context.Context) error { return q.err(q.c.Rekey(ctx)) }

func (q *quicConn) ratchetAsymmetric(ctx context.Context) error {
	return q.err(q.c.RatchetAsymmetric(ctx))
}

// session returns the handshake's public facts, without this host's
// signing key.
func (q *quicConn) session() *handshake.Session {
	s := q.c.Session()
	if s == nil {
		return nil
	}
	pub := *s
	pub.Local, pub.Stream, pub.DatagramSecret = nil, nil, nil
	return &pub
}

func (q *quicConn) stats() Stats {
	s := q.c.Stats()
	drops := s.Drops
	drops.Auth += s.Malformed
	return Stats{
		RecordsIn: s.RecordsIn, RecordsOut: s.RecordsOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut,
		Drops: drops, EpochDrops: s.StaleEpoch, QueueDrops: s.QueueDrops, UnknownFlags: s.UnknownFlags,
		ControlSent: s.ControlSent, ControlReceived: s.ControlReceived,
		Rekeys: s.Rekeys, AsymmetricRatchets: s.AsymmetricRatchets, WritesRefused: s.WritesRefused,
		RTT: s.RTT, Epoch: s.Epoch, RxEpoch: s.RxEpoch,
	}
}

// err maps an error of the QUIC carrier onto this package's.
func (q *quicConn) err(err error) error { return mapQUICError(err, q.idle) }

// mapQUICError maps quicx's errors onto this package's, inside a
// *net.OpError too; others (io.EOF, net.ErrClosed, deadlines, contexts)
// pass unchanged.
func mapQUICError(err error, idle bool) error {
	if err == nil || err == io.EOF {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe == err {
		e := *oe
		e.Err = mapQUICError(oe.Err, idle)
		return &e
	}
	var tl *quicx.MessageTooLargeError
	var sb *quicx.ShortBufferError
	var pe *quicx.PeerError
	switch {
	case errors.As(err, &tl):
		return &MessageTooLargeError{Size: tl.Size, Limit: tl.Limit}
	case errors.As(err, &sb):
		return &ShortBufferError{Size: sb.Size, Have: sb.Have}
	case errors.As(err, &pe):
		return io.EOF // the peer's authenticated close, with an error code
	case errors.Is(err, quicx.ErrHandshake):
		if quicTimeout(err) {
			return remap(err, quicx.ErrHandshake, ErrHandshakeTimeout)
		}
		return remap(err, quicx.ErrHandshake, ErrHandshakeFailed)
	case errors.Is(err, quicx.ErrConnectionLost):
		var it *quic.IdleTimeoutError
		switch {
		case !errors.As(err, &it):
			return remap(err, quicx.ErrConnectionLost, ErrConnectionLost)
		case idle:
			return remap(err, quicx.ErrConnectionLost, ErrIdleTimeout)
		}
		return remap(err, quicx.ErrConnectionLost, ErrPeerDead)
	}
	for _, m := range quicErrors {
		if errors.Is(err, m.from) {
			return remap(err, m.from, m.to)
		}
	}
	return err
}

// quicErrors pairs quicx's sentinels with this package's.
var quicErrors = []struct{ from, to error }{
	{quicx.ErrPeerClosed, ErrPeerClosed},
	{quicx.ErrKeysExhausted, ErrKeysExhausted},
	{quicx.ErrNoAsymmetricRatchet, ErrNoAsymmetricRatchet},
	{quicx.ErrConfig, ErrConfig},
	{quicx.ErrNetwork, ErrNetwork},
	{quicx.ErrListenerClosed, errAcceptClosed},
	{quicx.ErrProtocol, ErrConnectionLost},
}

// quicTimeout reports a handshake that ran out of time: the context's
// deadline, or QUIC's handshake or idle timeout.
func quicTimeout(err error) bool {
	var ht *quic.HandshakeTimeoutError
	var it *quic.IdleTimeoutError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ht) || errors.As(err, &it)
}

// quicError is a quicx error named by one of this package's sentinels:
// its message replaces quicx's sentinel by this package's, and it still
// unwraps to the causes (a *handshake.Error, a QUIC error, ...).
type quicError struct {
	is     error
	msg    string
	causes []error
}

func (e *quicError) Error() string { return e.msg }

// Unwrap returns the sentinel and the causes.
func (e *quicError) Unwrap() []error { return append([]error{e.is}, e.causes...) }

// remap names err, which matches quicx's sentinel from, by to.
func remap(err, from, to error) error {
	if err == from {
		return to
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, from.Error()); ok {
		msg = to.Error() + rest
	} else {
		msg = to.Error() + ": " + msg
	}
	var causes []error
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if e != from {
				causes = append(causes, e)
			}
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != from {
			causes = append(causes, e)
		}
	}
	return &quicError{is: to, msg: msg, causes: causes}
}
