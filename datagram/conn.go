package datagram

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// envelopeSize is the envelope in front of a record: version, kind (with
// the epoch bit) and the receiver's session id.
const envelopeSize = wire.HeaderSize

// closeCopies is how many encrypted close records Close sends (each its own
// record, so that the window does not drop the later ones as replays).
const closeCopies = 3

// epochKeys are the record keys of one epoch: the sealer of the current
// transmit epoch and the openers by epoch parity (the envelope's epoch bit).
// Only epoch 0 exists until rekeying is implemented; the layout keeps the
// selection by parity so that epochs 0 and 1 can overlap during a rekey.
type epochKeys struct {
	epoch  uint64
	peer   uint64 // the peer's session id (the records' receiver id)
	sealer *record.Sealer
	open   [2]*record.Opener
	keys   [3]interface{ Clear() } // what to zero on close
}

// Conn is one QSMP session over UDP. It implements net.Conn with message
// semantics: one Write seals one record, one Read returns one record. A
// record larger than the path allows is refused by Write with a
// *MessageTooLargeError naming the limit (see MaxWrite); a Read buffer
// shorter than the next record gets a *ShortBufferError naming the size,
// and the record stays queued. Records are datagrams: they may be lost or
// arrive out of order, never twice and never altered.
//
// Deadlines work as in package net (errors wrap os.ErrDeadlineExceeded and
// report Timeout). Close sends an authenticated close to the peer; a Read
// after the peer's close returns the records still queued, then io.EOF.
// A Conn is safe for concurrent use.
type Conn struct {
	ep      *endpoint
	cfg     *config
	server  bool
	localID uint64
	peer    netip.AddrPort
	raddr   *net.UDPAddr
	pkey    pendingKey // listener: the half-open key (address, client id)
	owner   bool       // the Conn owns its endpoint (Dial)

	mu         sync.Mutex
	peerID     uint64
	hs         *hsState // nil once the handshake is over
	halfOpen   bool     // counted in the endpoint's half-open sessions
	session    *handshake.Session
	est        bool // established: keys installed
	closed     bool
	peerClosed bool
	lastIn     int    // the peer's last message completed (-1: none), re-acked on duplicates
	lastInLen  uint32 // its length
	queue      recQueue

	keyMu sync.RWMutex
	keys  *epochKeys // nil until established and after Close
	txSeq atomic.Uint64
	limit int // MaxWrite
	rxWin *window.Sync
	drops window.Drops

	readable chan struct{} // signalled when a record is queued
	done     chan struct{} // closed by Close
	peerDone chan struct{} // closed when the peer's close arrives
	rdl, wdl deadline

	st connCounters
}

// connCounters are a Conn's statistics.
type connCounters struct {
	recordsIn, recordsOut, bytesIn, bytesOut atomic.Uint64
	queueDrops, early, otherFlags            atomic.Uint64
	rejected, conflicts, retransmits         atomic.Uint64
	rtt                                      atomic.Int64
}

// Stats is a snapshot of a Conn's counters.
type Stats struct {
	// RecordsIn and BytesIn count records delivered to Read's queue and
	// their plaintext bytes; RecordsOut and BytesOut those sent by Write.
	RecordsIn, RecordsOut uint64
	BytesIn, BytesOut     uint64
	// Drops counts received records dropped by the window, the time check
	// or authentication, by reason.
	Drops window.DropCounts
	// QueueDrops counts authenticated records dropped because the receive
	// queue (Config.ReceiveQueue) was full.
	QueueDrops uint64
	// EarlyRecords counts records that arrived before the handshake ended
	// on this side (they cannot be opened yet).
	EarlyRecords uint64
	// HandshakeRejected counts whole handshake messages the handshake
	// machine rejected (dropped; the handshake went on), and
	// HandshakeConflicts fragments that contradicted bytes already held.
	HandshakeRejected, HandshakeConflicts uint64
	// HandshakeRetransmissions counts handshake fragments sent again.
	HandshakeRetransmissions uint64
	// RTT is the smoothed round-trip time measured by the handshake.
	RTT time.Duration
	// Epoch is the current transmit epoch.
	Epoch uint64
}

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	s := Stats{
		RecordsIn: c.st.recordsIn.Load(), RecordsOut: c.st.recordsOut.Load(),
		BytesIn: c.st.bytesIn.Load(), BytesOut: c.st.bytesOut.Load(),
		Drops:             c.drops.Snapshot(),
		QueueDrops:        c.st.queueDrops.Load(),
		EarlyRecords:      c.st.early.Load(),
		HandshakeRejected: c.st.rejected.Load(), HandshakeConflicts: c.st.conflicts.Load(),
		HandshakeRetransmissions: c.st.retransmits.Load(),
		RTT:                      time.Duration(c.st.rtt.Load()),
	}
	c.keyMu.RLock()
	if c.keys != nil {
		s.Epoch = c.keys.epoch
	}
	c.keyMu.RUnlock()
	return s
}

func newConn(ep *endpoint, server bool, localID uint64, peer netip.AddrPort) *Conn {
	return &Conn{
		ep: ep, cfg: ep.cfg, server: server, localID: localID,
		peer: peer, raddr: net.UDPAddrFromAddrPort(peer),
		lastIn:   -1,
		readable: make(chan struct{}, 1),
		done:     make(chan struct{}),
		peerDone: make(chan struct{}),
		limit:    ep.cfg.recordLimit(),
	}
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.ep.pc.LocalAddr() }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// MaxWrite returns the largest message one Write accepts: what one record
// carries within Config.MaxPayload, and at most record.DatagramMaxPlaintext.
func (c *Conn) MaxWrite() int { return c.limit }

// Session returns the established handshake's public facts: the suite, the
// variant, the peer's key and the transcript hash (its Stream and
// DatagramSecret are nil: the Conn zeroed them once its record keys were
// derived). It is nil before the handshake ends.
func (c *Conn) Session() *handshake.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write. UDP writes do not block
// for long; a passed deadline makes Write fail at once.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: c.raddr, Err: err}
}

// Read returns the next record's plaintext. It blocks until a record
// arrives, the read deadline passes, the Conn is closed (net.ErrClosed) or
// the peer closed the session and no record is left (io.EOF).
func (c *Conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, c.opErr("read", net.ErrClosed)
		}
		if rec, ok := c.queue.front(); ok {
			if len(b) < len(rec) {
				c.mu.Unlock()
				return 0, c.opErr("read", &ShortBufferError{Size: len(rec), Have: len(b)})
			}
			c.queue.pop()
			more := c.queue.len() > 0
			c.mu.Unlock()
			n := copy(b, rec)
			clear(rec)
			if more {
				c.signal()
			}
			return n, nil
		}
		peerClosed := c.peerClosed
		c.mu.Unlock()
		if peerClosed {
			return 0, io.EOF
		}
		if c.rdl.expired() {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.readable:
		case <-c.rdl.wait():
		case <-c.done:
		case <-c.peerDone:
		}
	}
}

// signal wakes one blocked Read.
func (c *Conn) signal() {
	select {
	case c.readable <- struct{}{}:
	default:
	}
}

// Write seals b as one record and sends it. It fails with a
// *MessageTooLargeError if b exceeds MaxWrite.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) > c.limit {
		return 0, c.opErr("write", &MessageTooLargeError{Size: len(b), Limit: c.limit})
	}
	if c.wdl.expired() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	c.mu.Lock()
	closed, peerClosed := c.closed, c.peerClosed
	c.mu.Unlock()
	switch {
	case closed:
		return 0, c.opErr("write", net.ErrClosed)
	case peerClosed:
		return 0, c.opErr("write", ErrPeerClosed)
	}
	if err := c.sendRecord(record.FlagEncryptedMessage, b); err != nil {
		return 0, c.opErr("write", err)
	}
	c.st.recordsOut.Add(1)
	c.st.bytesOut.Add(uint64(len(b)))
	return len(b), nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, DefaultMaxPayload+64); return &b }}

// sendRecord seals one record of the current epoch and sends it.
func (c *Conn) sendRecord(flag record.Flag, pt []byte) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	c.keyMu.RLock()
	k := c.keys
	if k == nil {
		c.keyMu.RUnlock()
		return net.ErrClosed
	}
	prefix := wire.RecordPrefix(k.peer, k.epoch&1 == 1)
	buf := append((*bp)[:0], prefix[:]...)
	buf, _, err := k.sealer.Seal(buf, prefix[:], flag, pt, record.UnixTime(c.cfg.Now()))
	c.keyMu.RUnlock()
	if err != nil {
		return err
	}
	*bp = buf
	_, err = c.ep.pc.WriteTo(buf, c.raddr)
	return err
}

// Close sends the authenticated close record (flag 0x14, code 0) a few
// times, unless the peer closed first, and releases the session. It is
// idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	hs := c.hs
	c.hs = nil
	peerClosed := c.peerClosed
	c.queue.reset()
	c.mu.Unlock()
	if hs != nil {
		hs.release()
	}
	if !peerClosed {
		for range closeCopies {
			if c.sendRecord(record.FlagErrorCondition, []byte{byte(record.CodeNone)}) != nil {
				break
			}
		}
	}
	c.keyMu.Lock()
	if k := c.keys; k != nil {
		for _, x := range k.keys {
			if x != nil {
				x.Clear()
			}
		}
		c.keys = nil
	}
	c.keyMu.Unlock()
	close(c.done)
	c.rdl.stop()
	c.wdl.stop()
	c.ep.remove(c)
	if c.owner {
		c.ep.close()
	}
	return nil
}

// onRecord opens a record datagram from the peer (on the receive path).
func (c *Conn) onRecord(r wire.Record) {
	c.keyMu.RLock()
	k := c.keys
	if k == nil {
		c.keyMu.RUnlock()
		c.st.early.Add(1)
		return
	}
	idx := 0
	if r.EpochBit {
		idx = 1
	}
	o := k.open[idx]
	if o == nil {
		c.keyMu.RUnlock()
		c.drops.Add(window.ReasonAuth) // no key for that epoch
		return
	}
	h, pt, err := o.Open(nil, r.Prefix, r.Packet, record.UnixTime(c.cfg.Now()))
	c.keyMu.RUnlock()
	if err != nil {
		// The opener counts window, time and tag failures; a packet too
		// malformed to reach them (wrong length fields, shorter than a
		// tag: a plaintext close or error packet) counts as
		// unauthenticated.
		if errors.Is(err, record.ErrShortPacket) || errors.Is(err, record.ErrLongPacket) || errors.Is(err, record.ErrMessageSize) {
			c.drops.Add(window.ReasonAuth)
		}
		return
	}
	c.mu.Lock()
	if hs := c.hs; hs != nil && hs.final {
		// The first authenticated record ends the handshake.
		c.finishHandshakeLocked()
	}
	switch h.Flag {
	case record.FlagEncryptedMessage:
		if c.closed || c.peerClosed {
			c.mu.Unlock()
			return
		}
		if c.queue.len() >= c.cfg.ReceiveQueue {
			c.mu.Unlock()
			c.st.queueDrops.Add(1)
			clear(pt)
			return
		}
		c.queue.push(pt)
		c.mu.Unlock()
		c.st.recordsIn.Add(1)
		c.st.bytesIn.Add(uint64(len(pt)))
		c.signal()
	case record.FlagErrorCondition:
		first := !c.peerClosed
		c.peerClosed = true
		c.mu.Unlock()
		if first {
			// Nothing more can come: leave the demultiplexer (the records
			// still queued stay readable).
			c.ep.remove(c)
			close(c.peerDone)
			c.cfg.Logger.Debug("datagram: peer closed", "local", c.localID, "code", codeOf(pt))
		}
	default:
		c.mu.Unlock()
		c.st.otherFlags.Add(1)
	}
}

func codeOf(pt []byte) record.Code {
	if len(pt) == 0 {
		return 0
	}
	return record.Code(pt[0])
}

// recQueue is a FIFO of records, grown on demand and shrunk when drained,
// so an idle Conn holds no buffer.
type recQueue struct {
	items [][]byte
	head  int
}

func (q *recQueue) len() int { return len(q.items) - q.head }

func (q *recQueue) front() ([]byte, bool) {
	if q.len() == 0 {
		return nil, false
	}
	return q.items[q.head], true
}

func (q *recQueue) push(b []byte) {
	if q.head > 0 && len(q.items) == cap(q.items) && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, b)
}

func (q *recQueue) pop() {
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = nil, 0
	}
}

func (q *recQueue) reset() {
	for i := q.head; i < len(q.items); i++ {
		clear(q.items[i])
	}
	q.items, q.head = nil, 0
}
