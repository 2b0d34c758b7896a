package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// ShortBufferError reports a Read buffer smaller than the record; the record
// is kept for the next Read.
type ShortBufferError struct{ Need int }

func (e *ShortBufferError) Error() string {
	return fmt.Sprintf("stream: read buffer too short: the record needs %d bytes", e.Need)
}

// TooLargeError reports a Write above the record limit.
type TooLargeError struct{ Size, Limit int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("stream: message of %d bytes exceeds the record limit of %d bytes", e.Size, e.Limit)
}

// PeerError reports that the peer closed the session with an error code.
// It unwraps to the code (a record.Code is an error, so
// errors.Is(err, record.CodeChannelDown) works, as for *handshake.Error) and
// to handshake.ErrPeer, the sentinel of an error packet from the peer.
type PeerError struct{ Code record.Code }

func (e *PeerError) Error() string {
	if e == nil {
		return "stream: peer closed the session: <nil>"
	}
	return "stream: peer closed the session: " + e.Code.String()
}

// Unwrap returns the code and handshake.ErrPeer.
func (e *PeerError) Unwrap() []error {
	if e == nil {
		return nil
	}
	return []error{e.Code, handshake.ErrPeer}
}

// Conn is an established QSMP session over a TCP connection. It satisfies
// net.Conn with message semantics: one Write is one record, one Read returns
// one record. Read and Write may be called concurrently.
type Conn struct {
	conn net.Conn
	sess *handshake.Session
	cfg  *Config
	log  *slog.Logger

	rmu     sync.Mutex // one reader at a time
	wmu     sync.Mutex // one writer at a time (records must leave in sequence order)
	smu     sync.Mutex // the record state: seal, open and re-key
	cond    *sync.Cond // on smu: pending asymmetric ratchet finished
	pending *handshake.AsymmetricRatchet
	held    []byte // a record that did not fit the last Read buffer
	rpart   []byte // the bytes of the next record read so far (kept across a read timeout)

	closeOnce sync.Once
	closed    bool      // guarded by smu
	wdeadline time.Time // guarded by smu: the write deadline, for writers waiting on cond
}

// errInvalidConn is the error of a method called on a Conn that this
// package did not make.
var errInvalidConn = fmt.Errorf("%w: Conn not made by Dial, Client, Server or Accept", ErrInvalid)

// ok reports whether c was made by newConn (net.Conn's methods check the
// same way and fail with an error).
func (c *Conn) ok() bool {
	return c != nil && c.conn != nil && c.cond != nil && c.cfg != nil && c.sess != nil && c.sess.Stream != nil
}

func newConn(c net.Conn, sess *handshake.Session, cfg *Config) *Conn {
	x := &Conn{conn: c, sess: sess, cfg: cfg, log: cfg.logger()}
	x.cond = sync.NewCond(&x.smu)
	return x
}

// Dial connects to addr ("tcp", "tcp4" or "tcp6") and runs the client side
// of the handshake within ctx.
func Dial(ctx context.Context, network, addr string, cfg *Config) (*Conn, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalid)
	}
	if cfg == nil {
		return nil, errNilConfig
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn, err := Client(ctx, c, cfg)
	if err != nil {
		c.Close()
		return nil, err
	}
	return conn, nil
}

// Client runs the client side of the handshake over an existing connection.
func Client(ctx context.Context, c net.Conn, cfg *Config) (*Conn, error) {
	if err := checkArgs(ctx, c, cfg); err != nil {
		return nil, err
	}
	m, err := cfg.clientMachine()
	if err != nil {
		return nil, err
	}
	if err := runHandshake(ctx, c, m, cfg.HandshakeTimeout); err != nil {
		return nil, err
	}
	return newConn(c, m.Session(), cfg), nil
}

// Server runs the server side of the handshake over an existing connection.
func Server(ctx context.Context, c net.Conn, cfg *Config) (*Conn, error) {
	if err := checkArgs(ctx, c, cfg); err != nil {
		return nil, err
	}
	m, err := cfg.serverMachine()
	if err != nil {
		return nil, err
	}
	if err := runHandshake(ctx, c, m, cfg.HandshakeTimeout); err != nil {
		return nil, err
	}
	return newConn(c, m.Session(), cfg), nil
}

// Session returns the handshake's result (nil for a Conn this package did
// not make). Close zeroes its secrets (Session.Clear): the stream state and
// the datagram secret; what a caller needs from them it copies before.
func (c *Conn) Session() *handshake.Session {
	if c == nil {
		return nil
	}
	return c.sess
}

// MaxMessage returns the largest message one Write accepts (64 KiB less the
// tag, the C limit), or 0 for a Conn this package did not make.
func (c *Conn) MaxMessage() int {
	if !c.ok() {
		return 0
	}
	return record.StreamMaxPlaintext(c.sess.Stream.TagSize())
}

func (c *Conn) now() uint64 { return record.UnixTime(c.cfg.now()()) }

// Write seals b as one record.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, errInvalidConn
	}
	if len(b) > c.MaxMessage() {
		return 0, &TooLargeError{Size: len(b), Limit: c.MaxMessage()}
	}
	if len(b) == 0 {
		return 0, record.ErrEmpty
	}
	if err := c.sealAndSend(func() ([]byte, error) { return c.sess.Stream.Seal(b, c.now()) }, true); err != nil {
		return 0, err
	}
	return len(b), nil
}

// sealAndSend seals under smu and writes under wmu, so records leave in the
// order of their sequence numbers. Data waits while an asymmetric ratchet is
// pending, because the C responder re-keys before our next records arrive;
// the wait ends at the write deadline with an error wrapping
// os.ErrDeadlineExceeded (nothing was sealed, so the connection stays up).
func (c *Conn) sealAndSend(seal func() ([]byte, error), isData bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.smu.Lock()
	for isData && c.pending != nil && !c.closed {
		if c.wdeadline.IsZero() {
			c.cond.Wait()
			continue
		}
		d := time.Until(c.wdeadline)
		if d <= 0 {
			c.smu.Unlock()
			return fmt.Errorf("stream: waiting for the asymmetric ratchet to finish: %w", os.ErrDeadlineExceeded)
		}
		t := time.AfterFunc(d, func() {
			c.smu.Lock()
			c.cond.Broadcast()
			c.smu.Unlock()
		})
		c.cond.Wait()
		t.Stop()
	}
	if c.closed {
		c.smu.Unlock()
		return net.ErrClosed
	}
	pkt, err := seal()
	c.smu.Unlock()
	if err != nil {
		return err
	}
	return c.send(pkt)
}

// send writes a sealed record. The record has used a sequence number and
// advanced the cipher, so it cannot be sent again: a failed write (a write
// deadline, a partial write) ends the connection rather than let the next
// record reach the peer out of sequence.
func (c *Conn) send(pkt []byte) error {
	if _, err := c.conn.Write(pkt); err != nil {
		c.fail()
		return err
	}
	return nil
}

// readRecord reads the next framed record. Bytes read before an error are
// kept for the next call, so a read deadline that expires in the middle of
// a record loses nothing. A msglen out of range ends the connection (the
// rest of the stream can no longer be framed).
func (c *Conn) readRecord() ([]byte, error) {
	if err := c.fill(record.HeaderSize); err != nil {
		return nil, err
	}
	size, err := recordSize(c.rpart, dataLimit)
	if err != nil {
		c.rpart = nil
		c.fail()
		return nil, err
	}
	if err := c.fill(size); err != nil {
		return nil, err
	}
	pkt := c.rpart
	c.rpart = nil
	return pkt, nil
}

// fill reads into rpart until it holds n bytes.
func (c *Conn) fill(n int) error {
	if cap(c.rpart) < n {
		c.rpart = append(make([]byte, 0, n), c.rpart...)
	}
	for len(c.rpart) < n {
		m, err := c.conn.Read(c.rpart[len(c.rpart):n])
		c.rpart = c.rpart[:len(c.rpart)+m]
		if len(c.rpart) == n {
			break
		}
		if err != nil {
			if err == io.EOF && len(c.rpart) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Read returns the next data record. Ratchet records are processed on the
// way; a close record from the peer gives io.EOF (code 0) or *PeerError.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, errInvalidConn
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.held != nil {
			if len(b) < len(c.held) {
				return 0, &ShortBufferError{Need: len(c.held)}
			}
			n := copy(b, c.held)
			clear(c.held)
			c.held = nil
			return n, nil
		}
		pkt, err := c.readRecord()
		if err != nil {
			return 0, err
		}
		h, _ := record.ParseHeader(pkt)
		switch h.Flag {
		case record.FlagEncryptedMessage, record.FlagErrorCondition, record.FlagSymmetricRatchetRequest,
			record.FlagAsymmetricRatchetRequest, record.FlagAsymmetricRatchetResponse:
		default:
			// The C loops skip other flags without touching the cipher state
			// (including the unauthenticated 0x03 terminate, which we do not
			// trust).
			c.log.Debug("skipping record", "flag", h.Flag)
			continue
		}
		c.smu.Lock()
		h, pt, err := c.sess.Stream.Open(pkt, c.now())
		c.smu.Unlock()
		if err != nil {
			c.fail()
			return 0, err
		}
		switch h.Flag {
		case record.FlagEncryptedMessage:
			if len(b) < len(pt) {
				c.held = pt
				return 0, &ShortBufferError{Need: len(pt)}
			}
			n := copy(b, pt)
			clear(pt)
			return n, nil
		case record.FlagErrorCondition:
			c.fail()
			if record.Code(pt[0]) == record.CodeNone {
				return 0, io.EOF
			}
			return 0, &PeerError{Code: record.Code(pt[0])}
		case record.FlagSymmetricRatchetRequest:
			if len(pt) != 32 {
				c.fail()
				return 0, fmt.Errorf("%w: symmetric ratchet token of %d bytes, want 32", record.ErrMessageSize, len(pt))
			}
			c.smu.Lock()
			err = c.sess.Stream.Rekey(pt)
			c.smu.Unlock()
			clear(pt) // the ratchet token
			if err != nil {
				return 0, err
			}
			c.log.Debug("symmetric ratchet from the peer")
		case record.FlagAsymmetricRatchetRequest:
			err := c.sealAndSend(func() ([]byte, error) {
				return c.sess.StreamAsymmetricRespond(c.cfg.rand(), pt)
			}, false)
			if err != nil {
				c.fail()
				return 0, err
			}
			c.log.Debug("asymmetric ratchet answered")
		case record.FlagAsymmetricRatchetResponse:
			c.smu.Lock()
			if c.pending == nil {
				c.smu.Unlock()
				c.fail()
				return 0, fmt.Errorf("%w: unexpected response", handshake.ErrRatchet)
			}
			err := c.sess.StreamAsymmetricFinish(c.pending, pt)
			c.pending.Clear() // erased by a success, kept by a failure: the connection ends either way
			c.pending = nil
			if err != nil {
				// Ended before the waiting writers are released, so that
				// none of them slips a record out under the old keys.
				c.closed = true
			}
			c.cond.Broadcast()
			c.smu.Unlock()
			if err != nil {
				c.fail()
				return 0, err
			}
			c.log.Debug("asymmetric ratchet finished")
		}
	}
}

// fail ends the connection after a record failure, as the C loops do.
func (c *Conn) fail() {
	c.smu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.smu.Unlock()
	c.conn.Close()
}

// Ratchet sends a symmetric ratchet request and re-keys (digest 8.2). On
// QSMS it needs Config.SymmetricRatchet.
func (c *Conn) Ratchet() error {
	if !c.ok() {
		return errInvalidConn
	}
	if !c.sess.Duplex && !c.cfg.SymmetricRatchet {
		return ErrRatchetDisabled
	}
	token := make([]byte, 32)
	if _, err := io.ReadFull(c.cfg.rand(), token); err != nil {
		return err
	}
	defer clear(token)
	return c.sealAndSend(func() ([]byte, error) { return c.sess.Stream.SealRatchetRequest(token, c.now()) }, true)
}

// AsymmetricRatchet sends a QSMD asymmetric ratchet request (digest 8.3). It
// completes when Read processes the peer's response; until then Write waits,
// so that no record is sealed under keys the peer has already replaced.
func (c *Conn) AsymmetricRatchet() error {
	if !c.ok() {
		return errInvalidConn
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.smu.Lock()
	if c.pending != nil {
		c.smu.Unlock()
		return ErrRatchetPending
	}
	if c.closed {
		c.smu.Unlock()
		return net.ErrClosed
	}
	pkt, pending, err := c.sess.StreamAsymmetricRequest(c.cfg.rand())
	if err == nil {
		c.pending = pending
	}
	c.smu.Unlock()
	if err != nil {
		return err
	}
	return c.send(pkt)
}

// closeGrace is how long Close lets a Write in progress finish its record
// before cutting it off.
const closeGrace = time.Second

// Close sends the encrypted close record (error code 0, digest 2.4) and
// closes the connection. A Write in progress gets a second to finish its
// record; one still blocked then (a peer that does not read) is cut off
// (it fails and ends the connection) rather than block Close.
func (c *Conn) Close() error {
	if !c.ok() {
		return errInvalidConn
	}
	var err error
	c.closeOnce.Do(func() {
		// Mark closed first, so a writer waiting for a ratchet gives up and
		// releases the write lock.
		c.smu.Lock()
		wasClosed := c.closed
		c.closed = true
		c.cond.Broadcast()
		c.smu.Unlock()

		if !c.wmu.TryLock() {
			// A writer holds the lock: waiting for the ratchet (woken
			// above), or in conn.Write, where a peer that stops reading
			// would block it, and Close, forever. It gets closeGrace to
			// finish its record (a peer that reads gets it whole, then
			// the close); after that the write fails and ends the
			// connection.
			c.conn.SetWriteDeadline(time.Now().Add(closeGrace))
			c.wmu.Lock()
		}
		c.smu.Lock()
		if !wasClosed {
			if pkt, serr := c.sess.Stream.SealClose(record.CodeNone, c.now()); serr == nil {
				c.conn.SetWriteDeadline(time.Now().Add(time.Second))
				c.conn.Write(pkt)
			}
		}
		if c.pending != nil {
			c.pending.Clear()
			c.pending = nil
		}
		c.sess.Clear() // the ciphers, the ratchet seed and the (unused) datagram secret
		c.smu.Unlock()
		c.wmu.Unlock()
		err = c.conn.Close()
	})
	return err
}

// LocalAddr returns the local network address (nil for a Conn this package
// did not make).
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.conn.LocalAddr()
}

// RemoteAddr returns the remote network address (nil for a Conn this
// package did not make).
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return c.conn.RemoteAddr()
}

// SetDeadline sets the read and write deadlines. As in package net, an
// expired deadline fails I/O with an error wrapping os.ErrDeadlineExceeded.
// A Read that times out may be retried (a partly received record is kept),
// but a Write that times out ends the connection: its record has used a
// sequence number and cannot be sent again.
// A Write waiting for an asymmetric ratchet to finish gives up at the write
// deadline without ending the connection (it has sealed nothing).
func (c *Conn) SetDeadline(t time.Time) error {
	if !c.ok() {
		return errInvalidConn
	}
	c.setWriteWait(t)
	return c.conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if !c.ok() {
		return errInvalidConn
	}
	return c.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline. A Write that times out ends
// the connection (see SetDeadline).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if !c.ok() {
		return errInvalidConn
	}
	c.setWriteWait(t)
	return c.conn.SetWriteDeadline(t)
}

// setWriteWait records the write deadline for writers waiting on cond and
// wakes them to look at it.
func (c *Conn) setWriteWait(t time.Time) {
	c.smu.Lock()
	c.wdeadline = t
	c.cond.Broadcast()
	c.smu.Unlock()
}

// Listener accepts QSMP sessions over TCP. Handshakes run concurrently in
// the background (at most Config.MaxHandshakes at once); Accept returns
// established sessions.
type Listener struct {
	l      net.Listener
	cfg    *Config
	conns  chan *Conn
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[net.Conn]struct{}
	err    error // set by NewListener for a nil net.Listener or Config: Accept fails with it
}

// errInvalidListener is the error of a Listener this package did not make.
var errInvalidListener = fmt.Errorf("%w: Listener not made by Listen or NewListener", ErrInvalid)

// Listen listens on addr and accepts QSMP sessions.
func Listen(network, addr string, cfg *Config) (*Listener, error) {
	if cfg == nil {
		return nil, errNilConfig
	}
	if _, err := cfg.serverMachine(); err != nil {
		return nil, err
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return NewListener(l, cfg), nil
}

// NewListener serves QSMP on an existing listener. With a nil l or cfg it
// serves nothing: Accept fails with an error wrapping ErrInvalid or
// ErrConfig, and Close closes l.
func NewListener(l net.Listener, cfg *Config) *Listener {
	ln := &Listener{l: l, cfg: cfg, conns: make(chan *Conn), done: make(chan struct{}), active: map[net.Conn]struct{}{}}
	switch {
	case l == nil:
		ln.err = fmt.Errorf("%w: nil net.Listener", ErrInvalid)
	case cfg == nil:
		ln.err = errNilConfig
	}
	if ln.err != nil {
		return ln
	}
	ln.wg.Add(1)
	go ln.serve()
	return ln
}

func (l *Listener) serve() {
	defer l.wg.Done()
	max := l.cfg.MaxHandshakes
	if max <= 0 {
		max = 64
	}
	sem := make(chan struct{}, max)
	log := l.cfg.logger()
	for {
		c, err := l.l.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			log.Warn("accept failed", "err", err)
			return
		}
		select {
		case sem <- struct{}{}:
		case <-l.done:
			c.Close()
			return
		}
		l.mu.Lock()
		l.active[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-sem }()
			conn, err := Server(context.Background(), c, l.cfg)
			l.mu.Lock()
			delete(l.active, c)
			l.mu.Unlock()
			if err != nil {
				log.Info("handshake failed", "remote", c.RemoteAddr(), "err", err)
				c.Close()
				return
			}
			select {
			case l.conns <- conn:
			case <-l.done:
				conn.Close()
			}
		}()
	}
}

// Accept waits for the next established session.
func (l *Listener) Accept() (net.Conn, error) {
	return l.AcceptContext(context.Background())
}

// AcceptContext is Accept with a context.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	switch {
	case l == nil || l.done == nil:
		return nil, errInvalidListener
	case l.err != nil:
		return nil, l.err
	case ctx == nil:
		return nil, fmt.Errorf("%w: nil context", ErrInvalid)
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops listening, aborts handshakes in progress and waits for the
// background goroutines. Established connections are not closed.
func (l *Listener) Close() error {
	if l == nil || l.done == nil {
		return errInvalidListener
	}
	var err error
	l.once.Do(func() {
		close(l.done)
		if l.l != nil {
			err = l.l.Close()
		}
		l.mu.Lock()
		for c := range l.active {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

// Addr returns the listener's address (nil if it has no net.Listener).
func (l *Listener) Addr() net.Addr {
	if l == nil || l.l == nil {
		return nil
	}
	return l.l.Addr()
}
