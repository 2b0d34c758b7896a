package quicx

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// transportRef counts the users of a quic.Transport this package created:
// the last release closes it (and the socket, when the package opened it).
type transportRef struct {
	mu sync.Mutex
	n  int
	tr *quic.Transport
	pc net.PacketConn // nil when the caller owns the socket
}

func newRef(tr *quic.Transport, pc net.PacketConn) *transportRef {
	return &transportRef{n: 1, tr: tr, pc: pc}
}

func (r *transportRef) acquire() *transportRef {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	return r
}

func (r *transportRef) release() {
	r.mu.Lock()
	r.n--
	last := r.n == 0
	r.mu.Unlock()
	if last {
		r.tr.Close()
		if r.pc != nil {
			r.pc.Close()
		}
	}
}

// udpNetwork maps this package's network names to UDP ones.
func udpNetwork(network string) (string, error) {
	switch network {
	case "quic", "udp":
		return "udp", nil
	case "quic4", "udp4":
		return "udp4", nil
	case "quic6", "udp6":
		return "udp6", nil
	}
	return "", fmt.Errorf("%w: %q", ErrNetwork, network)
}

// ownTransport opens a UDP socket of this package's own and runs a counted
// quic.Transport on it, which closes the socket. addr is resolved on the UDP
// network of network; a listener (bind) binds the socket to it, a dialer to
// any port, addr being the peer's.
func ownTransport(network, addr string, bind bool) (*transportRef, *net.UDPAddr, error) {
	udp, err := udpNetwork(network)
	if err != nil {
		return nil, nil, err
	}
	ua, err := net.ResolveUDPAddr(udp, addr)
	if err != nil {
		return nil, nil, err
	}
	var laddr *net.UDPAddr
	if bind {
		laddr = ua
	}
	pc, err := net.ListenUDP(udp, laddr)
	if err != nil {
		return nil, nil, err
	}
	return newRef(&quic.Transport{Conn: pc}, pc), ua, nil
}

// Dial opens a UDP socket of its own, connects to addr over QUIC and runs
// the client side of QSMP within ctx (and Config.HandshakeTimeout). network
// is "quic", "quic4" or "quic6" ("udp", "udp4", "udp6" are accepted too).
// The socket is closed with the Conn.
func Dial(ctx context.Context, network, addr string, cfg *Config) (*Conn, error) {
	n, err := cfg.normalize(false)
	if err != nil {
		return nil, err
	}
	ref, raddr, err := ownTransport(network, addr, false)
	if err != nil {
		return nil, err
	}
	return dial(ctx, ref.tr, ref, raddr, n)
}

// DialPacketConn is Dial over a socket the caller owns (any
// net.PacketConn: a netsim endpoint, a shared UDP socket): the Conn runs a
// quic.Transport of its own on pc and closes it, but not pc, when it closes.
// A socket can carry only one quic.Transport; to dial several sessions from
// one socket, use DialTransport.
func DialPacketConn(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg *Config) (*Conn, error) {
	n, err := cfg.normalize(false)
	if err != nil {
		return nil, err
	}
	ref := newRef(&quic.Transport{Conn: pc}, nil)
	return dial(ctx, ref.tr, ref, raddr, n)
}

// DialTransport is Dial over a quic.Transport the caller owns and may share
// between many sessions (each its own QUIC connection). The caller closes
// tr after the Conns.
func DialTransport(ctx context.Context, tr *quic.Transport, raddr net.Addr, cfg *Config) (*Conn, error) {
	n, err := cfg.normalize(false)
	if err != nil {
		return nil, err
	}
	return dial(ctx, tr, nil, raddr, n)
}

// dial runs the client side over tr. ref, if not nil, is the counted
// transport tr belongs to: the Conn holds it, or dial releases it on
// failure.
func dial(ctx context.Context, tr *quic.Transport, ref *transportRef, raddr net.Addr, n *config) (*Conn, error) {
	c, err := dialOn(ctx, tr, raddr, n)
	if ref == nil {
		return c, err
	}
	if err != nil {
		ref.release()
		return nil, err
	}
	c.refs = append(c.refs, ref)
	return c, nil
}

// dialOn runs the QUIC and the QSMP handshakes within HandshakeTimeout.
func dialOn(ctx context.Context, tr *quic.Transport, raddr net.Addr, n *config) (*Conn, error) {
	hctx, cancel := context.WithTimeout(ctx, n.HandshakeTimeout)
	defer cancel()
	qc, err := tr.Dial(hctx, raddr, n.clientTLS(), n.quicConfig(false))
	if err != nil {
		return nil, err
	}
	return establish(hctx, qc, n, false)
}

// Migrate moves the client's QUIC connection to a new local socket (QUIC
// connection migration, RFC 9000 section 9): it probes the path from pc to
// the peer and switches to it once validated. The session's keys do not
// change. pc stays the caller's and must stay open until the Conn closes;
// the Conn closes the quic.Transport it runs on pc. Only the client can
// migrate (ErrNotClient). Migrate waits for the path's validation until ctx
// ends or the session does (then it reports why, as Write would: net.ErrClosed
// after Close, ErrConnectionLost, ...).
func (c *Conn) Migrate(ctx context.Context, pc net.PacketConn) error {
	if c.server {
		return ErrNotClient
	}
	if err := c.writable(); err != nil {
		return err
	}
	tr := &quic.Transport{Conn: pc}
	path, err := c.qc.AddPath(tr)
	if err != nil {
		tr.Close()
		return err
	}
	// From here the connection may be registered on tr: tr lives as long
	// as the Conn, unless Close has overtaken us (it releases the
	// transports once; one added later would never be closed).
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		path.Close()
		tr.Close()
		return net.ErrClosed
	}
	c.refs = append(c.refs, newRef(tr, nil))
	c.mu.Unlock()
	// The probe ends with the QUIC connection (Close, loss), not only
	// with ctx: a path that never validates must not hold Migrate.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.qc.Context(), cancel)
	defer stop()
	if err := path.Probe(pctx); err != nil {
		path.Close()
		if ctx.Err() == nil {
			if werr := c.writable(); werr != nil {
				return werr
			}
			if cause := context.Cause(c.qc.Context()); cause != nil {
				return fmt.Errorf("%w: %w", ErrConnectionLost, cause)
			}
		}
		return err
	}
	if err := path.Switch(); err != nil {
		path.Close()
		return err
	}
	c.probeLimit()
	return nil
}

// Listener accepts QSMP sessions over QUIC. QUIC and QSMP handshakes run
// in the background (at most Config.MaxHandshakes QSMP handshakes at once);
// Accept returns established sessions. Many sessions share the listener's
// one quic.Transport (one UDP socket).
type Listener struct {
	ql     *quic.Listener
	ref    *transportRef // nil when the caller owns the transport
	cfg    *config
	conns  chan *Conn
	sem    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	established, failed, busy, acceptFull atomic.Uint64
}

// ListenerStats counts what a Listener did with the QUIC connections it
// accepted.
type ListenerStats struct {
	// Established counts QSMP sessions set up, Failed handshakes that
	// ended without one (refused, broken, timed out).
	Established, Failed uint64
	// Busy counts connections refused because Config.MaxHandshakes
	// handshakes were in progress; AcceptFull sessions closed because
	// Accept fell behind (Config.AcceptQueue).
	Busy, AcceptFull uint64
	// Handshakes is the number of QSMP handshakes in progress.
	Handshakes int
}

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{
		Established: l.established.Load(), Failed: l.failed.Load(),
		Busy: l.busy.Load(), AcceptFull: l.acceptFull.Load(),
		Handshakes: len(l.sem),
	}
}

// Listen opens a UDP socket on addr and accepts QSMP sessions over QUIC on
// it. network is as for Dial. The socket closes when the Listener and every
// session it accepted are closed.
func Listen(network, addr string, cfg *Config) (*Listener, error) {
	n, err := cfg.normalize(true)
	if err != nil {
		return nil, err
	}
	ref, _, err := ownTransport(network, addr, true)
	if err != nil {
		return nil, err
	}
	return listen(ref.tr, ref, n)
}

// ListenPacketConn is Listen over a socket the caller owns (any
// net.PacketConn): the Listener runs a quic.Transport on pc and closes it,
// but not pc, once the Listener and every session it accepted are closed.
func ListenPacketConn(pc net.PacketConn, cfg *Config) (*Listener, error) {
	n, err := cfg.normalize(true)
	if err != nil {
		return nil, err
	}
	ref := newRef(&quic.Transport{Conn: pc}, nil)
	return listen(ref.tr, ref, n)
}

// ListenTransport accepts QSMP sessions on a quic.Transport the caller owns
// (and closes after the Listener and its sessions).
func ListenTransport(tr *quic.Transport, cfg *Config) (*Listener, error) {
	n, err := cfg.normalize(true)
	if err != nil {
		return nil, err
	}
	return listen(tr, nil, n)
}

// listen accepts sessions on tr. ref, if not nil, is the counted transport
// tr belongs to: the Listener holds it, or listen releases it on failure.
func listen(tr *quic.Transport, ref *transportRef, n *config) (*Listener, error) {
	l, err := listenOn(tr, ref, n)
	if err != nil && ref != nil {
		ref.release()
	}
	return l, err
}

// listenOn starts a Listener on tr.
func listenOn(tr *quic.Transport, ref *transportRef, n *config) (*Listener, error) {
	tc, err := n.serverTLS()
	if err != nil {
		return nil, err
	}
	ql, err := tr.Listen(tc, n.quicConfig(true))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{ql: ql, ref: ref, cfg: n, conns: make(chan *Conn, n.AcceptQueue),
		sem: make(chan struct{}, n.MaxHandshakes), ctx: ctx, cancel: cancel}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *Listener) serve() {
	defer l.wg.Done()
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			return
		}
		select {
		case l.sem <- struct{}{}:
		default:
			l.busy.Add(1)
			qc.CloseWithError(CodeRefused, "qsmp: too many handshakes")
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-l.sem }()
			c, err := establish(l.ctx, qc, l.cfg, true)
			if err != nil {
				l.failed.Add(1)
				l.cfg.Logger.Debug("quicx: handshake failed", "remote", qc.RemoteAddr(), "err", err)
				return
			}
			l.established.Add(1)
			if l.ref != nil {
				c.refs = append(c.refs, l.ref.acquire())
			}
			select {
			case l.conns <- c:
			default:
				l.acceptFull.Add(1)
				c.teardown(CodeRefused, "qsmp: accept queue full")
			}
		}()
	}
}

// Accept waits for the next established session.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext is Accept with a context.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, ErrListenerClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting, aborts handshakes in progress, closes sessions
// not yet accepted and waits for its goroutines. Accepted sessions stay
// open.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.cancel()
		l.ql.Close()
		l.wg.Wait()
		for {
			select {
			case c := <-l.conns:
				c.teardown(CodeRefused, "qsmp: listener closed")
				continue
			default:
			}
			break
		}
		if l.ref != nil {
			l.ref.release()
		}
	})
	return nil
}

// Addr returns the listener's local address.
func (l *Listener) Addr() net.Addr { return l.ql.Addr() }
