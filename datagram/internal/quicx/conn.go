package quicx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/datagram/internal/deadline"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// txEpoch is the transmit side of one epoch and what it has sealed.
type txEpoch struct {
	epoch          uint64
	key            *rcs.Key
	sealer         *record.Sealer
	start          time.Time // when this side started sealing under it
	records, bytes atomic.Uint64
	asked          atomic.Bool // a limit was reported (one automatic rekey per epoch)

	// pending counts data records framed under these keys and waiting in
	// the send queue to be sealed (sendLoop); retired keys are zeroed once
	// none is left.
	pending          atomic.Int64
	retired, cleared atomic.Bool
}

// retire marks the keys replaced (txMu held for writing, so no record is
// framed under them any more) and zeroes them now, or once the last queued
// record is sealed.
func (t *txEpoch) retire() {
	t.retired.Store(true)
	if t.pending.Load() == 0 {
		t.clearKey()
	}
}

// sealed notes that n queued records were sealed or dropped.
func (t *txEpoch) sealed(n int) {
	if t.pending.Add(-int64(n)) == 0 && t.retired.Load() {
		t.clearKey()
	}
}

func (t *txEpoch) clearKey() {
	if t.cleared.CompareAndSwap(false, true) {
		t.key.Clear()
	}
}

// rxEpoch is the receive side of one epoch: one opener with the datagram
// window and one with the stream's.
type rxEpoch struct {
	epoch  uint64
	key    *rcs.Key
	dgram  *record.Opener
	stream *record.Opener
	seen   atomic.Bool // a record of the peer opened under it

	// pending counts received datagrams waiting in the queue that were
	// stamped with these keys (they arrived while the keys were installed
	// and may open under them); retired keys are zeroed once none is left.
	pending          atomic.Int64
	retired, cleared atomic.Bool
}

// retire marks the keys removed from their slot (keyMu held for writing,
// so no datagram is stamped with them any more) and zeroes them now, or
// once the last datagram stamped with them is opened or dropped.
func (r *rxEpoch) retire() {
	r.retired.Store(true)
	if r.pending.Load() == 0 {
		r.clearKey()
	}
}

// release drops one stamp.
func (r *rxEpoch) release() {
	if r.pending.Add(-1) == 0 && r.retired.Load() {
		r.clearKey()
	}
}

func (r *rxEpoch) clearKey() {
	if r.cleared.CompareAndSwap(false, true) {
		r.key.Clear()
	}
}

// counters are a Conn's statistics.
type counters struct {
	recordsIn, recordsOut, bytesIn, bytesOut atomic.Uint64
	queueDrops, malformed, staleEpoch        atomic.Uint64
	otherFlags, tooLarge, refused            atomic.Uint64
	sendErrors                               atomic.Uint64
	rekeys, asym, ctlSent, ctlRecv           atomic.Uint64
}

// Stats is a snapshot of a Conn's counters.
type Stats struct {
	// RecordsIn and BytesIn count records returned by Read and their
	// plaintext bytes; RecordsOut and BytesOut those sent by Write.
	RecordsIn, RecordsOut uint64
	BytesIn, BytesOut     uint64
	// Drops counts received datagrams dropped by the acceptance window
	// (too old, duplicate), the time check or authentication.
	Drops window.DropCounts
	// QueueDrops counts datagrams dropped because the receive queue
	// (Config.ReceiveQueue) was full: the application read too slowly.
	QueueDrops uint64
	// Malformed counts datagrams without a valid prefix or header (they
	// are dropped before any key is tried).
	Malformed uint64
	// UnknownFlags counts authenticated datagrams with another flag than
	// encrypted_message (dropped).
	UnknownFlags uint64
	// StaleEpoch counts datagrams of an epoch whose keys are gone (past the
	// rekey grace period) or do not exist.
	StaleEpoch uint64
	// TooLarge counts Writes refused because the record would not fit one
	// DATAGRAM frame (and queued records dropped because the path shrank
	// before they left); WritesRefused those refused at a hard limit of the
	// keys (ErrKeysExhausted); SendErrors queued records quic-go did not
	// take (the connection was closing).
	TooLarge, WritesRefused, SendErrors uint64
	// Epoch is the current transmit epoch, RxEpoch the newest epoch this
	// side can receive (one ahead of Epoch during a ratchet). Rekeys counts
	// moves of the transmit keys to a new epoch, by either ratchet;
	// AsymmetricRatchets the completed asymmetric ratchets.
	Epoch, RxEpoch, Rekeys, AsymmetricRatchets uint64
	// ControlSent counts the ratchet messages this side wrote on the
	// stream, ControlReceived those of the peer it processed.
	ControlSent, ControlReceived uint64
	// RTT is QUIC's smoothed round-trip time.
	RTT time.Duration
}

// Conn is one QSMP session over one QUIC connection. It implements net.Conn
// with message semantics: one Write seals one record and sends it in one
// QUIC DATAGRAM frame; one Read returns one record. A record larger than a
// DATAGRAM frame can carry is refused by Write with a *MessageTooLargeError
// naming the limit (see MaxWrite); a Read buffer shorter than the next
// record gets a *ShortBufferError naming the size, and the record stays
// queued. Records are datagrams: they may be lost or arrive out of order,
// never twice and never altered.
//
// Deadlines work as in package net (errors wrap os.ErrDeadlineExceeded and
// report Timeout). Close sends the authenticated close record on the
// stream; a Read after the peer's close returns the records still queued,
// then io.EOF. A Conn is safe for concurrent use.
type Conn struct {
	qc     *quic.Conn
	stream *quic.Stream
	cfg    *config
	server bool
	sess   *handshake.Session
	wide   bool
	// overhead is what a record adds to its plaintext: prefix, header, tag.
	overhead int

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Keys. Lock order: rkMu, swmu, keyMu, txMu. Sealing takes only txMu and
	// opening only keyMu, so the two directions do not share a lock. The
	// ratchet (rekey.go) is guarded by rkMu.
	txMu        sync.RWMutex
	tx          *txEpoch
	nextTx      *txEpoch // responder: the next epoch's, until the initiator switches
	keyMu       sync.RWMutex
	exporter    []byte
	rx          [2]*rxEpoch
	retireTimer *time.Timer
	keysGone    bool
	txSeq       atomic.Uint64
	rxWin       *window.Sync // datagrams
	streamWin   *window.Sync // control records
	streamLast  uint64       // last control record accepted (reader only)
	drops       window.Drops

	rkMu ctxMutex // a Rekey or RatchetAsymmetric waiting for it honours its context
	rk   ratchet
	asm  assembly // the peer's asymmetric ratchet message (reader only)

	swmu sync.Mutex // stream writes

	mu          sync.Mutex
	queue       ring
	held        [][]byte // authenticated plaintexts that did not fit a Read buffer
	closed      bool
	peerClosed  bool
	peerCode    uint8
	lostErr     error
	readable    chan struct{}
	done        chan struct{} // closed by Close
	lost        chan struct{} // closed when the QUIC connection ended
	peerFin     chan struct{} // closed when the peer's stream ended
	peerLinger  chan struct{} // closed CloseTimeout after the peer's close record
	lingerTimer *time.Timer

	stopped  atomic.Bool   // closed, peerClosed or lostErr is set (Write's fast check)
	closing  atomic.Bool   // Close has begun
	closedCh chan struct{} // closed when Close has finished
	lostOnce sync.Once
	finOnce  sync.Once
	rdl, wdl deadline.Deadline
	sq       sendQueue       // data records waiting to be sealed and sent
	limit    atomic.Int64    // last known MaxWrite
	refs     []*transportRef // guarded by mu once the Conn is returned
	st       counters
}

func newConn(qc *quic.Conn, stream *quic.Stream, cfg *config, server bool, sess *handshake.Session, exporter []byte) (*Conn, error) {
	rxWin, err := window.NewSync(cfg.WindowSize)
	if err != nil {
		return nil, err
	}
	streamWin, _ := window.NewSync(window.DefaultSize)
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		qc: qc, stream: stream, cfg: cfg, server: server, sess: sess,
		wide: sess.Duplex, overhead: 1 + record.HeaderSize + cfg.tagSize,
		ctx: ctx, cancel: cancel,
		exporter: exporter, rxWin: rxWin, streamWin: streamWin,
		readable:   make(chan struct{}, 1),
		done:       make(chan struct{}),
		lost:       make(chan struct{}),
		peerFin:    make(chan struct{}),
		peerLinger: make(chan struct{}),
		closedCh:   make(chan struct{}),
	}
	c.queue.init(cfg.ReceiveQueue)
	// The ratchet state (seed and datagram secret of epoch 0) is all that
	// later epochs need: the handshake's stream-profile ciphers and its
	// copy of the datagram secret go.
	rs := sess.Stream.RatchetState()
	tx, rx, err := c.deriveEpoch(rs.Secret, 0)
	if err != nil {
		rs.Clear()
		cancel()
		return nil, err
	}
	sess.Stream.Clear()
	clear(sess.DatagramSecret)
	sess.Stream, sess.DatagramSecret = nil, nil
	c.rk.rs = rs
	c.tx, c.rx[0] = tx, rx
	c.limit.Store(int64(record.DatagramMaxPlaintext))
	c.probeLimit()
	return c, nil
}

// deriveEpoch binds an epoch's datagram secret to the connection and
// derives both directions' keys.
func (c *Conn) deriveEpoch(ds []byte, epoch uint64) (*txEpoch, *rxEpoch, error) {
	bound, err := BindSecret(c.wide, ds, c.exporter)
	if err != nil {
		return nil, nil, err
	}
	defer clear(bound)
	txDir, rxDir := record.ClientToServer, record.ServerToClient
	if c.server {
		txDir, rxDir = rxDir, txDir
	}
	tk, tb, err := record.DatagramKeys(c.wide, bound, txDir, epoch)
	if err != nil {
		return nil, nil, err
	}
	rk, rb, err := record.DatagramKeys(c.wide, bound, rxDir, epoch)
	if err != nil {
		tk.Clear()
		return nil, nil, err
	}
	thr := c.cfg.threshold()
	tx := &txEpoch{epoch: epoch, key: tk, sealer: record.NewSealer(tk, tb, &c.txSeq), start: time.Now()}
	rx := &rxEpoch{epoch: epoch, key: rk,
		dgram:  record.NewOpener(rk, rb, c.rxWin, &c.drops, thr),
		stream: record.NewOpener(rk, rb, c.streamWin, nil, thr)}
	clear(tb[:])
	clear(rb[:])
	return tx, rx, nil
}

func (c *Conn) now() uint64 { return record.UnixTime(c.cfg.Now()) }

// LocalAddr returns the local address of the QUIC connection's active path.
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr returns the peer's address on the active path; it changes when
// the peer migrates or its NAT rebinds.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// Session returns the established handshake's public facts: the suite, the
// variant, the peer's verification key and the transcript hash (its Stream
// and DatagramSecret are nil: the Conn keeps only the ratchet state). Its
// Local identity holds this host's signing key, which the asymmetric
// ratchet uses; callers must not change it.
func (c *Conn) Session() *handshake.Session { return c.sess }

// QUIC returns the underlying QUIC connection, for inspection (connection
// state, statistics). Streams and datagrams on it belong to the Conn.
func (c *Conn) QUIC() *quic.Conn { return c.qc }

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	s := Stats{
		RecordsIn: c.st.recordsIn.Load(), RecordsOut: c.st.recordsOut.Load(),
		BytesIn: c.st.bytesIn.Load(), BytesOut: c.st.bytesOut.Load(),
		Drops:      c.drops.Snapshot(),
		QueueDrops: c.st.queueDrops.Load(), Malformed: c.st.malformed.Load(),
		UnknownFlags: c.st.otherFlags.Load(),
		StaleEpoch:   c.st.staleEpoch.Load(), TooLarge: c.st.tooLarge.Load(),
		WritesRefused: c.st.refused.Load(), SendErrors: c.st.sendErrors.Load(),
		Rekeys: c.st.rekeys.Load(), AsymmetricRatchets: c.st.asym.Load(),
		ControlSent: c.st.ctlSent.Load(), ControlReceived: c.st.ctlRecv.Load(),
		RTT: c.qc.ConnectionStats().SmoothedRTT,
	}
	c.keyMu.RLock()
	for _, r := range c.rx {
		if r != nil {
			s.RxEpoch = max(s.RxEpoch, r.epoch)
		}
	}
	c.keyMu.RUnlock()
	c.txMu.RLock()
	if c.tx != nil {
		s.Epoch = c.tx.epoch
	}
	c.txMu.RUnlock()
	return s
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.Set(t)
	c.wdl.Set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.Set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write. A Write blocks only while
// quic-go's datagram send queue is full (congestion control); one that
// times out may still leave.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.Set(t)
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "quic", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// probeBuf is larger than any DATAGRAM frame: SendDatagram refuses it at
// once with the current limit, without reading it.
var probeBuf [record.DatagramMaxPlaintext + 2048]byte

// probeLimit asks quic-go for the current DATAGRAM payload limit and
// returns (and remembers) the record limit it allows.
func (c *Conn) probeLimit() int {
	var tl *quic.DatagramTooLargeError
	if err := c.qc.SendDatagram(probeBuf[:]); errors.As(err, &tl) {
		return c.setLimit(tl.MaxDatagramPayloadSize)
	}
	return int(c.limit.Load())
}

func (c *Conn) setLimit(payload int64) int {
	l := min(max(payload-int64(c.overhead), 0), record.DatagramMaxPlaintext)
	c.limit.Store(l)
	return int(l)
}

// MaxWrite returns the largest message one Write accepts now: what one
// QUIC DATAGRAM frame carries on the current path less the record overhead
// (1 prefix byte, the 21-byte header and the tag), at most
// record.DatagramMaxPlaintext. It grows when QUIC's path MTU discovery
// raises the packet size and shrinks after a migration.
func (c *Conn) MaxWrite() int { return c.probeLimit() }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1600); return &b }}

// Write seals b as one record and sends it in one DATAGRAM frame. It fails
// with a *MessageTooLargeError if b does not fit (see MaxWrite).
func (c *Conn) Write(b []byte) (int, error) {
	if l := int(c.limit.Load()); len(b) > l {
		if l = c.probeLimit(); len(b) > l {
			c.st.tooLarge.Add(1)
			return 0, c.opErr("write", &MessageTooLargeError{Size: len(b), Limit: l})
		}
	}
	if err := c.writable(); err != nil {
		return 0, c.opErr("write", err)
	}
	_, passed := c.wdl.State()
	if passed {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	bp := bufPool.Get().(*[]byte)
	var it sendItem
	due, err := c.frameData(&it, (*bp)[:0], b)
	if due {
		c.wantRekeyAsync()
	}
	if err != nil {
		clear((*bp)[:cap(*bp)]) // whatever was framed of the plaintext
		bufPool.Put(bp)
		if errors.Is(err, ErrKeysExhausted) {
			c.st.refused.Add(1)
		}
		return 0, c.opErr("write", err)
	}
	*bp = it.buf
	it.bp = bp
	if err := c.enqueue(&it); err != nil {
		it.tx.sealed(1)
		clear(*bp) // framed, never sealed: it holds the plaintext
		bufPool.Put(bp)
		return 0, c.opErr("write", err)
	}
	c.st.recordsOut.Add(1)
	c.st.bytesOut.Add(uint64(len(b)))
	return len(b), nil
}

// writable reports why the session cannot send, or nil.
func (c *Conn) writable() error {
	if !c.stopped.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return net.ErrClosed
	case c.peerClosed:
		return ErrPeerClosed
	case c.lostErr != nil:
		return c.lostErr
	}
	return nil
}

// seal appends prefix ‖ record to dst under the current transmit epoch and
// counts it against the keys' limits (control records; data records are
// framed by frameData and sealed by the sender goroutine).
func (c *Conn) seal(dst []byte, kind byte, flag record.Flag, pt []byte) ([]byte, error) {
	c.txMu.RLock()
	defer c.txMu.RUnlock()
	tx := c.tx
	if tx == nil {
		return dst, net.ErrClosed
	}
	start := len(dst)
	dst = append(dst, prefixFor(kind, tx.epoch))
	out, _, err := tx.sealer.Seal(dst, dst[start:start+1], flag, pt, c.now())
	if err != nil {
		return out, err
	}
	tx.records.Add(1)
	tx.bytes.Add(uint64(len(pt)))
	return out, nil
}

// Read returns the next record's plaintext. It blocks until a record
// arrives, the read deadline passes, the Conn is closed (net.ErrClosed),
// the peer closed the session and no record is left (io.EOF, or a
// *PeerError for a non-zero code), or the QUIC connection is lost
// (ErrConnectionLost).
func (c *Conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, c.opErr("read", net.ErrClosed)
		}
		if len(c.held) > 0 {
			h := c.held[0]
			if len(b) < len(h) {
				c.mu.Unlock()
				c.signal() // the record stays for a Read with room: wake the next one
				return 0, c.opErr("read", &ShortBufferError{Size: len(h), Have: len(b)})
			}
			c.held[0] = nil
			c.held = c.held[1:]
			c.mu.Unlock()
			n := copy(b, h)
			clear(h)
			c.delivered(n)
			return n, nil
		}
		if c.queue.len() > 0 {
			// Open what waits, up to eight records together (their tags
			// verified at once): the first into b when it fits, the
			// others in place for the next Reads.
			var ents [maxOpenBatch]queued
			k := 0
			for k < len(ents) {
				e, ok := c.queue.pop()
				if !ok {
					break
				}
				ents[k] = e
				k++
			}
			more := c.queue.len() > 0
			c.mu.Unlock()
			if more {
				c.signal()
			}
			n, ok, short := c.openBatch(b, ents[:k])
			if ok {
				c.delivered(n)
				return n, nil
			}
			if short > 0 {
				c.signal() // the records stay held: wake the next Read
				return 0, c.opErr("read", &ShortBufferError{Size: short, Have: len(b)})
			}
			continue // all dropped (counted)
		}
		peerClosed, code, lostErr := c.peerClosed, c.peerCode, c.lostErr
		c.mu.Unlock()
		if peerClosed && (lostErr != nil || isClosed(c.peerLinger)) {
			if code != 0 {
				return 0, &PeerError{Code: code}
			}
			return 0, io.EOF
		}
		if lostErr != nil && !peerClosed {
			return 0, c.opErr("read", lostErr)
		}
		if _, passed := c.rdl.State(); passed {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.readable:
		case <-c.rdl.Wait():
		case <-c.done:
		case <-c.lost:
		case <-c.peerLinger:
		}
	}
}

func (c *Conn) delivered(n int) {
	c.st.recordsIn.Add(1)
	c.st.bytesIn.Add(uint64(n))
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// signal wakes one blocked Read.
func (c *Conn) signal() {
	select {
	case c.readable <- struct{}{}:
	default:
	}
}

// maxOpenBatch is how many queued datagrams a Read opens at once.
const maxOpenBatch = 8

// queued is a received datagram waiting for Read, stamped with the
// receive keys installed when it arrived (one per epoch parity, nil where
// none): it opens under those, even if a ratchet has replaced them since,
// and holds them unzeroed until it is opened or dropped.
type queued struct {
	pkt []byte
	rx  [2]*rxEpoch
}

// release drops the datagram's stamps.
func (q *queued) release() {
	for _, r := range q.rx {
		if r != nil {
			r.release()
		}
	}
	q.rx = [2]*rxEpoch{}
}

// openBatch verifies queued datagrams together (their tags eight at a
// time, record.Opener.OpenBatch) under the keys they were stamped with,
// in order. The first authenticated data record goes into b when it fits
// (ok, n); if it does not fit, it is held and short is its size; the
// other plaintexts (opened in place, in their datagrams) are appended to
// c.held for the next Reads. What it drops it counts: malformed, stale
// epoch, window, time and tag failures, other flags.
func (c *Conn) openBatch(b []byte, ents []queued) (n int, ok bool, short int) {
	var (
		items [2][maxOpenBatch]record.OpenItem
		rxs   [2]*rxEpoch // the keys of each group
		ng    [2]int
		slot  [maxOpenBatch]int8 // -1: dropped before opening
		grp   [maxOpenBatch]int8 // the group of items (slot, or 2+slot for a second key)
		pos   [maxOpenBatch]int  // index in items[grp]
		extra [2][maxOpenBatch]record.OpenItem
		exrx  [2]*rxEpoch
		nx    [2]int
	)
	for i := range ents {
		e := &ents[i]
		pkt := e.pkt
		slot[i] = -1
		if len(pkt) < 1+record.HeaderSize {
			c.st.malformed.Add(1)
			continue
		}
		odd, err := splitPrefix(pkt[0], prefixDatagram)
		if err != nil {
			c.st.malformed.Add(1)
			continue
		}
		sl := 0
		if odd {
			sl = 1
		}
		rx := e.rx[sl]
		if rx == nil {
			c.st.staleEpoch.Add(1)
			continue
		}
		it := record.OpenItem{Dst: pkt[1+record.HeaderSize : 1+record.HeaderSize], Prefix: pkt[:1], Pkt: pkt[1:]} // in place
		slot[i] = int8(sl)
		switch {
		case rxs[sl] == nil || rxs[sl] == rx:
			rxs[sl] = rx
			grp[i], pos[i] = int8(sl), ng[sl]
			items[sl][ng[sl]] = it
			ng[sl]++
		default: // stamped before a ratchet replaced the slot's keys
			exrx[sl] = rx
			grp[i], pos[i] = int8(2+sl), nx[sl]
			extra[sl][nx[sl]] = it
			nx[sl]++
		}
	}
	now := c.now()
	open := func(rx *rxEpoch, its []record.OpenItem) {
		if len(its) == 0 {
			return
		}
		rx.dgram.OpenBatch(its, now)
		for _, it := range its {
			if it.Err == nil {
				if !rx.seen.Load() {
					rx.seen.Store(true)
				}
				break
			}
		}
	}
	for sl := range 2 {
		if rxs[sl] != nil {
			open(rxs[sl], items[sl][:ng[sl]])
		}
		if exrx[sl] != nil {
			// A third set of keys in one batch (two ratchets between
			// arrivals a few records apart) opens one by one.
			for j := range nx[sl] {
				open(exrx[sl], extra[sl][j:j+1])
			}
		}
	}
	for i := range ents {
		ents[i].release()
	}
	var held [maxOpenBatch][]byte
	nh := 0
	for i := range ents {
		if slot[i] < 0 {
			continue
		}
		var it *record.OpenItem
		if g := grp[i]; g < 2 {
			it = &items[g][pos[i]]
		} else {
			it = &extra[g-2][pos[i]]
		}
		if it.Err != nil {
			if _, isWin := window.ReasonOf(it.Err); !isWin && !errors.Is(it.Err, record.ErrAuth) && !errors.Is(it.Err, record.ErrTime) {
				c.st.malformed.Add(1) // not counted by the opener
			}
			continue
		}
		if it.Header.Flag != record.FlagEncryptedMessage {
			clear(it.Out)
			c.st.otherFlags.Add(1)
			continue
		}
		if !ok && short == 0 && nh == 0 && len(it.Out) <= len(b) {
			n, ok = copy(b, it.Out), true
			clear(it.Out)
			continue
		}
		if !ok && short == 0 && nh == 0 {
			short = len(it.Out)
		}
		held[nh] = it.Out
		nh++
	}
	if nh > 0 {
		c.mu.Lock()
		if c.closed {
			// Close ran while these were opened and zeroed what was
			// held; nothing would zero these later, and no Read takes
			// them.
			for _, h := range held[:nh] {
				clear(h)
			}
			short = 0
		} else {
			c.held = append(c.held, held[:nh]...)
		}
		c.mu.Unlock()
	}
	return n, ok, short
}

// drain moves DATAGRAM frames from quic-go's receive queue (128 frames,
// dropped silently beyond) into the Conn's bounded queue as fast as they
// come, each stamped with the receive keys installed at its arrival; Read
// verifies them. It ends with the QUIC connection.
func (c *Conn) drain() {
	defer c.wg.Done()
	for {
		d, err := c.qc.ReceiveDatagram(c.ctx)
		if err != nil {
			c.setLost(err)
			return
		}
		e := queued{pkt: d}
		c.keyMu.RLock()
		for i, r := range c.rx {
			if r != nil {
				r.pending.Add(1)
				e.rx[i] = r
			}
		}
		c.keyMu.RUnlock()
		c.mu.Lock()
		if c.closed || !c.queue.push(e) {
			c.mu.Unlock()
			e.release()
			c.st.queueDrops.Add(1)
			continue
		}
		c.mu.Unlock()
		c.signal()
	}
}

// setLost records that the QUIC connection (or the local context) ended.
func (c *Conn) setLost(err error) {
	c.lostOnce.Do(func() {
		c.mu.Lock()
		if c.lostErr == nil {
			c.lostErr = fmt.Errorf("%w: %w", ErrConnectionLost, err)
		}
		c.stopped.Store(true)
		c.mu.Unlock()
		close(c.lost)
	})
}

// fail ends the session after a protocol violation on the stream.
func (c *Conn) fail(err error) {
	c.cfg.Logger.Debug("quicx: session failed", "err", err)
	c.mu.Lock()
	if c.lostErr == nil {
		c.lostErr = err
	}
	c.stopped.Store(true)
	c.mu.Unlock()
	c.qc.CloseWithError(CodeProtocol, "qsmp: protocol violation")
	c.setLost(err)
}

// writeControl seals a control record and writes it on the stream.
func (c *Conn) writeControl(flag record.Flag, pt []byte) error {
	c.swmu.Lock()
	defer c.swmu.Unlock()
	return c.writeControlLocked(flag, pt)
}

func (c *Conn) writeControlLocked(flag record.Flag, pt []byte) error {
	frame, err := c.seal(make([]byte, 0, c.overhead+len(pt)), prefixStream, flag, pt)
	if err != nil {
		return err
	}
	_, err = c.stream.Write(frame)
	return err
}

// readControl reads and opens the next control record on the stream.
func (c *Conn) readControl() (control, error) {
	prefix, pkt, err := readFrame(c.stream)
	if err != nil {
		return control{}, err
	}
	odd, err := splitPrefix(prefix, prefixStream)
	if err != nil {
		return control{}, err
	}
	h, _ := record.ParseHeader(pkt)
	if h.Sequence <= c.streamLast {
		return control{}, fmt.Errorf("%w: control record %d after %d", ErrProtocol, h.Sequence, c.streamLast)
	}
	slot := 0
	if odd {
		slot = 1
	}
	c.keyMu.RLock()
	rx := c.rx[slot]
	if rx == nil {
		c.keyMu.RUnlock()
		return control{}, fmt.Errorf("%w: control record for an epoch without keys", ErrProtocol)
	}
	h, pt, err := rx.stream.Open(nil, []byte{prefix}, pkt, c.now())
	c.keyMu.RUnlock()
	if err != nil {
		return control{}, fmt.Errorf("%w: control record: %w", ErrProtocol, err)
	}
	defer clear(pt)
	c.streamLast = h.Sequence
	rx.seen.Store(true)
	return parseControl(h.Flag, pt)
}

// readStream processes the peer's control records until its stream ends.
func (c *Conn) readStream() {
	defer c.wg.Done()
	for {
		ctl, err := c.readControl()
		if err != nil {
			if err == io.EOF {
				c.finOnce.Do(func() { close(c.peerFin) })
				return
			}
			if errors.Is(err, ErrProtocol) {
				c.fail(err)
			} else {
				c.setLost(err)
			}
			return
		}
		if err := c.handleControl(ctl); err != nil {
			if c.closing.Load() {
				// Close has finished our side of the stream, so an answer
				// could not be written: that is the end of a session we
				// are closing, not a violation to report with
				// CodeProtocol. Wait for the peer's FIN, which Close
				// waits for.
				c.cfg.Logger.Debug("quicx: control message during close", "err", err)
				c.awaitFin()
				return
			}
			c.fail(err)
			return
		}
	}
}

// awaitFin discards the rest of the peer's stream until it ends.
func (c *Conn) awaitFin() {
	if _, err := io.Copy(io.Discard, c.stream); err != nil {
		c.setLost(err)
		return
	}
	c.finOnce.Do(func() { close(c.peerFin) })
}

// handleControl acts on one control message from the peer.
func (c *Conn) handleControl(ctl control) error {
	if c.asm.busy() && ctl.flag != c.asm.flag {
		clear(ctl.token) // a rekey request's, handleRekey's to zero otherwise
		return fmt.Errorf("%w: %v inside a ratchet message", ErrProtocol, ctl.flag)
	}
	switch ctl.flag {
	case record.FlagErrorCondition:
		c.mu.Lock()
		first := !c.peerClosed
		c.peerClosed, c.peerCode = true, ctl.code
		c.stopped.Store(true)
		if first {
			c.lingerTimer = time.AfterFunc(c.cfg.CloseTimeout, func() { close(c.peerLinger); c.signal() })
		}
		c.mu.Unlock()
		if first {
			c.cfg.Logger.Debug("quicx: peer closed", "code", ctl.code)
			c.signal()
			// Our FIN tells the closing peer that its close record arrived.
			c.swmu.Lock()
			c.stream.Close()
			c.swmu.Unlock()
		}
		return nil
	case record.FlagSymmetricRatchetRequest:
		c.st.ctlRecv.Add(1)
		return c.handleRekey(ctl)
	case record.FlagAsymmetricRatchetRequest, record.FlagAsymmetricRatchetResponse:
		need := c.cfg.asymReq
		if ctl.flag == record.FlagAsymmetricRatchetResponse {
			need = c.cfg.asymResp
		}
		msg, err := c.asm.add(ctl, need)
		if err != nil || msg == nil {
			return err
		}
		defer clear(msg)
		c.st.ctlRecv.Add(1)
		return c.handleAsymmetric(ctl.flag, msg)
	}
	return fmt.Errorf("%w: unexpected %v", ErrProtocol, ctl.flag)
}

// Close sends the authenticated close record (flag 0x14, code 0) on the
// stream, unless the peer closed first, waits up to Config.CloseTimeout for
// the peer to acknowledge it, closes the QUIC connection with CodeClosed and
// releases the session's keys. It is idempotent.
func (c *Conn) Close() error {
	if !c.closing.CompareAndSwap(false, true) {
		// Another Close is under way: wait for it on a channel (not a
		// mutex, which testing/synctest does not count as durably
		// blocked, so that the first one's timer could never fire).
		<-c.closedCh
		return nil
	}
	defer close(c.closedCh)
	c.mu.Lock()
	c.closed = true
	c.stopped.Store(true)
	peerClosed, lost := c.peerClosed, c.lostErr != nil
	c.queue.releaseAll()
	for _, h := range c.held {
		clear(h)
	}
	c.held = nil
	c.mu.Unlock()
	close(c.done)
	// One bound for the whole wait: the queued records, the close record
	// and the peer's answer share CloseTimeout.
	end := time.Now().Add(c.cfg.CloseTimeout)
	// What Write accepted leaves before the close record.
	c.drainSends(time.Until(end))
	if !peerClosed && !lost {
		// The deadline first: a ratchet message stuck on the stream (the
		// path is dead) holds swmu until it fails.
		c.stream.SetWriteDeadline(end)
		c.swmu.Lock()
		err := c.writeControlLocked(record.FlagErrorCondition, []byte{byte(record.CodeNone)})
		c.stream.Close()
		c.swmu.Unlock()
		if err == nil {
			t := time.NewTimer(time.Until(end))
			select {
			case <-c.peerFin:
			case <-c.lost:
			case <-t.C:
			}
			t.Stop()
		}
	}
	c.teardown(CodeClosed, "qsmp: session closed")
	return nil
}

// teardown closes the QUIC connection, waits for the Conn's goroutines and
// zeroes every key.
func (c *Conn) teardown(code quic.ApplicationErrorCode, reason string) {
	c.qc.CloseWithError(code, reason)
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	if c.lingerTimer != nil {
		c.lingerTimer.Stop()
	}
	c.mu.Unlock()
	c.rkMu.Lock()
	c.rk.clear()
	c.asm.reset()
	c.rkMu.Unlock()
	c.keyMu.Lock()
	c.txMu.Lock()
	c.keysGone = true
	if c.retireTimer != nil {
		c.retireTimer.Stop()
	}
	for _, t := range []*txEpoch{c.tx, c.nextTx} {
		if t != nil {
			t.retire()
		}
	}
	for _, r := range c.rx {
		if r != nil {
			r.retire()
		}
	}
	c.tx, c.nextTx, c.rx = nil, nil, [2]*rxEpoch{}
	clear(c.exporter)
	c.txMu.Unlock()
	c.keyMu.Unlock()
	if c.sess != nil {
		if c.sess.Stream != nil {
			c.sess.Stream.Clear()
		}
		clear(c.sess.DatagramSecret)
	}
	c.rdl.Stop()
	c.wdl.Stop()
	c.mu.Lock()
	refs := c.refs
	c.refs = nil
	c.mu.Unlock()
	for _, r := range refs {
		r.release()
	}
}

// ring is a bounded FIFO of received datagrams.
type ring struct {
	buf        []queued
	head, size int
}

func (r *ring) init(n int) { r.buf = make([]queued, n) }

func (r *ring) len() int { return r.size }

func (r *ring) push(e queued) bool {
	if r.size == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.size)%len(r.buf)] = e
	r.size++
	return true
}

func (r *ring) pop() (queued, bool) {
	if r.size == 0 {
		return queued{}, false
	}
	e := r.buf[r.head]
	r.buf[r.head] = queued{}
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return e, true
}

// releaseAll drops every queued datagram and its stamps.
func (r *ring) releaseAll() {
	for i := range r.size {
		r.buf[(r.head+i)%len(r.buf)].release()
	}
	clear(r.buf)
	r.head, r.size = 0, 0
}
