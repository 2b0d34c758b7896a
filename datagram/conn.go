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

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/datagram/internal/deadline"
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

// txKeys are the transmit keys of one epoch and what they have sealed.
type txKeys struct {
	epoch          uint64
	key            *rcs.Key
	sealer         *record.Sealer
	start          mono // when this side started sealing under them
	records, bytes atomic.Uint64
	asked          atomic.Bool // a soft limit was reported

	// queued and done count the data records queued on a socket to be
	// sealed under key by its sender goroutine (sock.flush) and those it
	// has sealed (or dropped); a retired key is zeroed once they are
	// equal. They are two counters, each written by one side and on its
	// own cache line, so that a Write and the sender goroutine do not
	// contend for one word on every record.
	_       cacheLinePad
	queued  atomic.Uint64 // Write side (under keyMu for reading)
	_       cacheLinePad
	done    atomic.Uint64 // sender side
	_       cacheLinePad
	retired atomic.Bool
	cleared atomic.Bool
}

// retire marks the keys replaced (c.keyMu held for writing, so no record
// is queued under them any more) and zeroes them at once, or when the last
// queued record is sealed.
func (t *txKeys) retire() {
	t.retired.Store(true)
	if t.done.Load() == t.queued.Load() {
		t.clearKey()
	}
}

// enqueued notes that a record was queued to be sealed under t (c.keyMu
// held for reading).
func (t *txKeys) enqueued() { t.queued.Add(1) }

// sealed notes that n queued records were sealed (or dropped). Either it
// or retire sees the other's write (both are sequentially consistent), so
// the last of the two zeroes the key.
func (t *txKeys) sealed(n int) {
	if d := t.done.Add(uint64(n)); t.retired.Load() && d == t.queued.Load() {
		t.clearKey()
	}
}

func (t *txKeys) clearKey() {
	if t.cleared.CompareAndSwap(false, true) {
		t.key.Clear()
	}
}

// rxKeys are the receive keys of one epoch.
type rxKeys struct {
	epoch  uint64
	key    *rcs.Key
	opener *record.Opener
	seen   atomic.Bool // a record of this epoch was accepted (set under Conn.mu, acceptRun)
}

// keySet is what the record paths use: the transmit keys of the current
// epoch and the receive keys by epoch parity (the envelope's epoch bit), so
// that two consecutive epochs overlap during a ratchet. It is changed only
// with both Conn.mu and Conn.keyMu (write) held, and read with either.
type keySet struct {
	peer uint64 // the peer's session id (the records' receiver id)
	tx   *txKeys
	rx   [2]*rxKeys
}

// peerPath is the peer's address. It changes when the peer roams.
type peerPath struct {
	ap netip.AddrPort
	ua *net.UDPAddr
}

// Conn is one QSMP session over UDP. It implements net.Conn with message
// semantics: one Write seals one record, one Read returns one record. A
// record larger than the path allows is refused by Write with a
// *MessageTooLargeError naming the limit (see MaxWrite); a Read buffer
// shorter than the next record gets a *ShortBufferError naming the size,
// and the record stays queued. Records are datagrams: they may be lost or
// arrive out of order, never twice and never altered.
//
// Behind the records runs an authenticated control channel: ratchets
// (Rekey, RatchetAsymmetric, and automatic rekeys after the limits of
// Config), keep-alives and dead-peer detection, and the validation of a
// peer's new address when it roams (docs/DATAGRAM.md section 7).
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
	path    atomic.Pointer[peerPath]
	pkey    pendingKey         // listener: the half-open key (address, client id)
	owner   bool               // the Conn owns its endpoint (Dial)
	q       *quicConn          // the QUIC carrier's session (quic.go); nil on UDP
	sk      *sock              // the socket the session uses (nil: the endpoint's first)
	hook    func(*Conn, Stats) // Config.StatsHook
	hooked  atomic.Bool        // the hook has run

	mu        sync.Mutex
	peerID    uint64
	hs        *hsState // nil once the handshake is over
	halfOpen  bool     // counted in the endpoint's half-open sessions
	session   *handshake.Session
	est       bool          // established: keys installed
	closed    bool          // Close was called
	endErr    error         // why the session ended before Close: io.EOF (the peer's close), ErrPeerDead, ErrIdleTimeout
	lastIn    int           // the peer's last handshake message completed (-1: none), re-acked on duplicates
	lastInLen uint32        // its length
	prevInLen uint32        // the length of the one before (restored when the last is rejected)
	early     []earlyRecord // a client's records that arrived before its keys (holdEarly)
	queue     recQueue
	rk        ratchet    // epochs and ratchets (rekey.go)
	ctl       *control   // the control channel while it has work (control.go)
	ctlIn     ctlLast    // the peer's last control message processed
	ctlTxID   uint64     // the id of our last control message
	live      liveness   // keep-alive, dead-peer and idle timers (liveness.go)
	cand      *candidate // an address the peer may have moved to (roam.go)
	// rxTop is the highest sequence number accepted so far (rxAny: one
	// was), in the order acceptRun accepts records: a record is the new
	// highest (roaming) only above every record accepted before it, even
	// if the socket readers opened a later run first.
	rxTop uint64
	rxAny bool
	// peerDups holds the sequence numbers of the last records from the
	// peer's address refused as duplicates (peerDupN counts them all): a
	// record accepted from another address with one of them is a copy
	// that was opened before the original (another socket reader), not
	// a new highest (roaming).
	peerDups [8]uint64
	peerDupN uint64
	changed  chan struct{}
	async    sync.WaitGroup // asymmetric ratchet work off the receive path

	keyMu sync.RWMutex
	keys  *keySet // nil until established and after the end
	gone  atomic.Bool
	txSeq atomic.Uint64
	limit int // MaxWrite
	rxWin *window.Sync
	drops window.Drops
	fc    flowCtl // flow credit (flow.go)

	readable chan struct{} // signalled when a record is queued or the session ends
	done     chan struct{} // closed by Close
	rdl, wdl deadline.Deadline

	st connCounters
}

// connCounters are a Conn's statistics.
type connCounters struct {
	recordsIn, recordsOut, bytesIn, bytesOut atomic.Uint64
	queueDrops, early, otherFlags            atomic.Uint64
	rejected, conflicts, retransmits         atomic.Uint64
	rtt                                      atomic.Int64
	epochDrops, refused, ctlMalformed        atomic.Uint64
	ctlSent, ctlRecv, ctlRetx, ctlDeclined   atomic.Uint64
	rekeys, asym                             atomic.Uint64
	kaOut, kaIn, probes                      atomic.Uint64
	challenges, migrations, pathFailed       atomic.Uint64
	copies                                   atomic.Uint64
	creditsOut, creditsIn                    atomic.Uint64
	writesBlocked, creditTimeouts            atomic.Uint64
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
	// EpochDrops counts records naming an epoch parity for which this side
	// holds no keys (retired after the grace period, or never installed).
	EpochDrops uint64
	// QueueDrops counts authenticated records dropped because the receive
	// queue (Config.ReceiveQueue) was full.
	QueueDrops uint64
	// EarlyRecords counts records that arrived before the handshake ended
	// on this side and were dropped: a dialing client keeps up to 16 to
	// open once its handshake is done, a listener none (it has its keys
	// before the client can send any).
	EarlyRecords uint64
	// UnknownFlags counts authenticated records with a flag this carrier
	// does not use; ControlMalformed authenticated control records that did
	// not parse. Both are dropped.
	UnknownFlags, ControlMalformed uint64
	// HandshakeRejected counts whole handshake messages the handshake
	// machine rejected (dropped; the handshake went on), and
	// HandshakeConflicts fragments that contradicted bytes already held.
	HandshakeRejected, HandshakeConflicts uint64
	// HandshakeRetransmissions counts handshake fragments sent again.
	HandshakeRetransmissions uint64
	// ControlSent counts this side's reliable control messages (ratchets)
	// the peer acknowledged whole, ControlDeclined those of them it
	// declined, ControlReceived the peer's messages processed (each once),
	// and ControlRetransmissions control fragments sent again.
	ControlSent, ControlDeclined, ControlReceived, ControlRetransmissions uint64
	// Rekeys counts moves of the transmit keys to a new epoch, by either
	// ratchet; AsymmetricRatchets counts completed asymmetric ratchets.
	Rekeys, AsymmetricRatchets uint64
	// WritesRefused counts writes refused at a hard limit of the keys
	// (ErrKeysExhausted).
	WritesRefused uint64
	// KeepAlivesSent and KeepAlivesReceived count keep-alive records
	// (probes and their answers included); Probes the dead-peer probes.
	KeepAlivesSent, KeepAlivesReceived, Probes uint64
	// PathChallenges counts challenges sent to a candidate address of the
	// peer, Migrations candidates that answered and became the peer's
	// address, PathFailures candidates that did not. PathCopies counts
	// authentic copies of accepted records that came from a third address
	// while a candidate was pending (a copy raced ahead of its original;
	// docs/DATAGRAM.md 7.5).
	PathChallenges, Migrations, PathFailures, PathCopies uint64
	// CreditsSent and CreditsReceived count flow credits (docs/DATAGRAM.md
	// section 7.9); WritesBlocked the Writes that waited at the peer's
	// limit, CreditTimeouts those of them that went ahead after a
	// retransmission timeout without a credit.
	CreditsSent, CreditsReceived, WritesBlocked, CreditTimeouts uint64
	// RTT is the smoothed round-trip time, measured by the handshake and
	// then by control messages.
	RTT time.Duration
	// Epoch is the current transmit epoch; RxEpoch the newest epoch this
	// side can receive (one ahead of Epoch during a ratchet).
	Epoch, RxEpoch uint64
}

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	if c.q != nil {
		return c.q.stats()
	}
	st := &c.st
	s := Stats{
		RecordsIn: st.recordsIn.Load(), RecordsOut: st.recordsOut.Load(),
		BytesIn: st.bytesIn.Load(), BytesOut: st.bytesOut.Load(),
		Drops:             c.drops.Snapshot(),
		EpochDrops:        st.epochDrops.Load(),
		QueueDrops:        st.queueDrops.Load(),
		EarlyRecords:      st.early.Load(),
		UnknownFlags:      st.otherFlags.Load(),
		ControlMalformed:  st.ctlMalformed.Load(),
		HandshakeRejected: st.rejected.Load(), HandshakeConflicts: st.conflicts.Load(),
		HandshakeRetransmissions: st.retransmits.Load(),
		ControlSent:              st.ctlSent.Load(), ControlDeclined: st.ctlDeclined.Load(),
		ControlReceived: st.ctlRecv.Load(), ControlRetransmissions: st.ctlRetx.Load(),
		Rekeys: st.rekeys.Load(), AsymmetricRatchets: st.asym.Load(),
		WritesRefused:  st.refused.Load(),
		KeepAlivesSent: st.kaOut.Load(), KeepAlivesReceived: st.kaIn.Load(), Probes: st.probes.Load(),
		PathChallenges: st.challenges.Load(), Migrations: st.migrations.Load(), PathFailures: st.pathFailed.Load(), PathCopies: st.copies.Load(),
		CreditsSent: st.creditsOut.Load(), CreditsReceived: st.creditsIn.Load(),
		WritesBlocked: st.writesBlocked.Load(), CreditTimeouts: st.creditTimeouts.Load(),
		RTT: time.Duration(st.rtt.Load()),
	}
	c.mu.Lock()
	s.Epoch, s.RxEpoch = c.rk.tx, c.rk.latest
	c.mu.Unlock()
	return s
}

func newConn(ep *endpoint, server bool, localID uint64, peer netip.AddrPort) *Conn {
	c := &Conn{
		ep: ep, cfg: ep.cfg, server: server, localID: localID,
		lastIn:   -1,
		readable: make(chan struct{}, 1),
		done:     make(chan struct{}),
		limit:    ep.cfg.recordLimit(),
		hook:     ep.cfg.StatsHook,
	}
	c.path.Store(&peerPath{ap: peer, ua: net.UDPAddrFromAddrPort(peer)})
	return c
}

// established reports whether the session has record keys.
func (c *Conn) established() bool {
	c.keyMu.RLock()
	defer c.keyMu.RUnlock()
	return c.keys != nil
}

// peerAddr returns the peer's current address.
func (c *Conn) peerAddr() netip.AddrPort { return c.path.Load().ap }

// remote returns the peer's current address as a net.Addr for WriteTo.
func (c *Conn) remote() *net.UDPAddr { return c.path.Load().ua }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr {
	if c.q != nil {
		return c.q.c.LocalAddr()
	}
	return c.ep.pc.LocalAddr()
}

// RemoteAddr returns the peer's address: the validated address records go
// to (it changes when the peer roams and answers a path challenge).
func (c *Conn) RemoteAddr() net.Addr {
	if c.q != nil {
		return c.q.c.RemoteAddr()
	}
	return c.remote()
}

// MaxWrite returns the largest message one Write accepts: what one record
// carries within Config.MaxPayload, and at most record.DatagramMaxPlaintext.
func (c *Conn) MaxWrite() int {
	if c.q != nil {
		return c.q.c.MaxWrite()
	}
	return c.limit
}

// Session returns the established handshake's public facts: the suite, the
// variant, the peer's key and the transcript hash (its Stream and
// DatagramSecret are nil: the Conn zeroed them once its record keys were
// derived). It is nil before the handshake ends.
func (c *Conn) Session() *handshake.Session {
	if c.q != nil {
		return c.q.session()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return nil
	}
	pub := *c.session
	pub.Local = nil // never hand out the signing key
	return &pub
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.q != nil {
		return c.q.c.SetDeadline(t)
	}
	c.rdl.Set(t)
	c.wdl.Set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.q != nil {
		return c.q.c.SetReadDeadline(t)
	}
	c.rdl.Set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write. UDP writes do not block
// for long; a passed deadline makes Write fail at once.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.q != nil {
		return c.q.c.SetWriteDeadline(t)
	}
	c.wdl.Set(t)
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: c.remote(), Err: err}
}

// Read returns the next record's plaintext. It blocks until a record
// arrives, the read deadline passes, the Conn is closed (net.ErrClosed),
// the peer closed the session and no record is left (io.EOF), or the
// session ended otherwise (ErrPeerDead, ErrIdleTimeout).
func (c *Conn) Read(b []byte) (int, error) {
	if c.q != nil {
		return c.q.read(b)
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, c.opErr("read", net.ErrClosed)
		}
		if bp, ok := c.queue.front(); ok {
			rec := *bp
			if len(b) < len(rec) {
				c.mu.Unlock()
				c.signal() // the record stays for a Read with room: wake the next one
				return 0, c.opErr("read", &ShortBufferError{Size: len(rec), Have: len(b)})
			}
			c.queue.pop()
			more := c.queue.len() > 0
			c.mu.Unlock()
			n := copy(b, rec)
			clear(rec)
			c.ep.putBuf(bp)
			if more {
				c.signal()
			}
			return n, nil
		}
		endErr := c.endErr
		c.mu.Unlock()
		if endErr != nil {
			c.signal() // pass the news on to the next blocked Read
			if endErr == io.EOF {
				return 0, io.EOF
			}
			return 0, c.opErr("read", endErr)
		}
		if c.rdl.Expired() {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.readable:
		case <-c.rdl.Wait():
		case <-c.done:
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

// endedErr returns why the session ended if err is the net.ErrClosed of
// keys already gone (the session ended after Write checked it), and err
// otherwise.
func (c *Conn) endedErr(err error) error {
	if !errors.Is(err, net.ErrClosed) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if why := c.writableLocked(); why != nil {
		return why
	}
	return err
}

// writableLocked returns why nothing can be sent, or nil.
func (c *Conn) writableLocked() error {
	switch {
	case c.closed:
		return net.ErrClosed
	case c.endErr == io.EOF:
		return ErrPeerClosed
	case c.endErr != nil:
		return c.endErr
	case !c.est:
		return net.ErrClosed
	}
	return nil
}

// Write seals b as one record and sends it. It fails with a
// *MessageTooLargeError if b exceeds MaxWrite, and with ErrKeysExhausted
// while the transmit keys are past a hard limit and no ratchet has replaced
// them yet.
func (c *Conn) Write(b []byte) (int, error) {
	if c.q != nil {
		return c.q.write(b)
	}
	if len(b) > c.limit {
		return 0, c.opErr("write", &MessageTooLargeError{Size: len(b), Limit: c.limit})
	}
	if c.wdl.Expired() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	c.mu.Lock()
	if err := c.writableLocked(); err != nil {
		c.mu.Unlock()
		return 0, c.opErr("write", err)
	}
	now := c.noteSendLocked(true)
	c.mu.Unlock()
	if err := c.awaitCredit(); err != nil {
		return 0, c.opErr("write", err)
	}
	_, due, err := c.seal(flagData, b, nil, true, now)
	if due {
		c.wantRekey()
	}
	if err != nil {
		if errors.Is(err, ErrKeysExhausted) {
			c.st.refused.Add(1)
		}
		return 0, c.opErr("write", c.endedErr(err))
	}
	c.st.recordsOut.Add(1)
	c.st.bytesOut.Add(uint64(len(b)))
	return len(b), nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, DefaultMaxPayload+64); return &b }}

// sendRecord seals one control record of the current epoch and sends it to
// the peer's address (to nil) or to another one; it returns the datagram's
// size.
func (c *Conn) sendRecord(flag record.Flag, pt []byte, to *net.UDPAddr) (int, error) {
	n, _, err := c.seal(flag, pt, to, false, c.ep.now())
	return n, err
}

// seal seals one record under the current transmit keys and sends it. For
// data it enforces the hard limits (ErrKeysExhausted) and reports whether a
// soft limit has just been reached (due).
func (c *Conn) seal(flag record.Flag, pt []byte, to *net.UDPAddr, data bool, now mono) (size int, due bool, err error) {
	c.keyMu.RLock()
	k := c.keys
	if k == nil {
		c.keyMu.RUnlock()
		return 0, false, net.ErrClosed
	}
	tx := k.tx
	var age time.Duration
	if data {
		cfg := c.cfg
		age = time.Duration(now - tx.start)
		if tx.records.Load() >= uint64(cfg.RejectAfterRecords) || tx.bytes.Load() >= uint64(cfg.RejectAfterBytes) || age >= cfg.RejectAfterTime {
			c.keyMu.RUnlock()
			return 0, !tx.asked.Swap(true), ErrKeysExhausted
		}
	}
	prefix := wire.RecordPrefix(k.peer, tx.epoch&1 == 1)
	bp := c.ep.getBuf()
	buf := append(*bp, prefix[:]...)
	var job sealJob
	s := c.sock()
	if data && s.batched {
		// The socket's sender goroutine seals it, together with the
		// records queued with it (sock.flush).
		buf, _, err = tx.sealer.Defer(&job.d, buf, prefix[:], flag, pt, c.ep.unixNow(now))
		if err == nil {
			job.tx = tx
			tx.enqueued()
		}
	} else {
		buf, _, err = tx.sealer.Seal(buf, prefix[:], flag, pt, c.ep.unixNow(now))
	}
	if err == nil {
		recs, bytes := tx.records.Add(1), tx.bytes.Add(uint64(len(pt)))
		if data && !tx.asked.Load() {
			cfg := c.cfg
			if recs >= uint64(cfg.RekeyAfterRecords) || bytes >= uint64(cfg.RekeyAfterBytes) || age >= cfg.RekeyAfterTime {
				due = !tx.asked.Swap(true)
			}
		}
	}
	c.keyMu.RUnlock()
	if err != nil {
		c.ep.putBuf(bp)
		return 0, due, err
	}
	*bp = buf
	if job.tx != nil {
		return len(buf), due, s.send(bp, c.peerAddr(), false, &sendWait{c}, &job)
	}
	return len(buf), due, c.sendSealed(bp, to, data)
}

// sock returns the socket the session uses.
func (c *Conn) sock() *sock {
	if c.sk != nil {
		return c.sk
	}
	return c.ep.socks[0]
}

// Close sends the authenticated close record (flag 0x14, code 0) a few
// times, unless the session ended already, and releases the session. It is
// idempotent. The first Close hands the final statistics to
// Config.StatsHook, if set.
func (c *Conn) Close() error {
	err := c.close()
	if c.hook != nil && c.wasEstablished() && c.hooked.CompareAndSwap(false, true) {
		c.hook(c, c.Stats())
	}
	return err
}

// wasEstablished reports whether the session completed its handshake (a
// QUIC session always did).
func (c *Conn) wasEstablished() bool {
	if c.q != nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.est
}

// close is Close without the statistics hook.
func (c *Conn) close() error {
	if c.q != nil {
		return c.q.close(c)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	hs := c.hs
	c.hs = nil
	if hs != nil {
		hs.abandonLocked() // an unfinished handshake's secrets (no-op once established)
	}
	if c.endErr == nil {
		for range closeCopies {
			if _, err := c.sendRecord(flagClose, []byte{byte(record.CodeNone)}, nil); err != nil {
				break
			}
		}
	}
	c.queue.reset()
	c.stopSessionLocked()
	c.mu.Unlock()
	if hs != nil {
		hs.release()
	}
	close(c.done)
	c.rdl.Stop()
	c.wdl.Stop()
	c.ep.remove(c)
	c.async.Wait()
	if c.owner {
		c.ep.close()
	}
	return nil
}

// endLocked ends the session before Close: the peer closed (io.EOF), or
// dead-peer detection or the idle timeout gave up. The records already
// queued stay readable; nothing more can be sent.
func (c *Conn) endLocked(err error, sendClose bool) {
	if c.closed || c.endErr != nil {
		return
	}
	if sendClose {
		for range closeCopies {
			if _, err := c.sendRecord(flagClose, []byte{byte(record.CodeNone)}, nil); err != nil {
				break
			}
		}
	}
	c.endErr = err
	c.stopSessionLocked()
	c.signal() // a blocked Read sees the end
	c.ep.remove(c)
	c.cfg.Logger.Debug("datagram: session ended", "local", c.localID, "err", err)
}

// stopSessionLocked releases what runs the session: timers, the control
// channel, ratchet secrets, the candidate path, and the keys (zeroed). It
// wakes Rekey and RatchetAsymmetric callers.
func (c *Conn) stopSessionLocked() {
	c.stopTimerLocked()
	c.releaseControlLocked()
	c.rk.clear()
	c.cand = nil
	c.notifyLocked()
	c.wakeWriterLocked()
	c.keyMu.Lock()
	if k := c.keys; k != nil {
		if k.tx != nil {
			k.tx.retire()
		}
		for _, r := range k.rx {
			if r != nil {
				r.key.Clear()
			}
		}
		c.keys = nil
	}
	c.gone.Store(true)
	c.keyMu.Unlock()
}

// onRecord opens and accepts one record datagram at once (the records
// held while the handshake ran; the socket readers open runs of records
// and accept them in turn, reader.finish).
func (c *Conn) onRecord(r wire.Record, from netip.AddrPort, size int) {
	run := new(openedRun)
	if c.openRun(run, []pendingRecord{{rec: r, from: from, size: size}}) {
		c.acceptRun(run)
	}
}

// maxEarlyRecords is how many record datagrams a dialing client keeps
// while its handshake is still running, to open once it is done.
const maxEarlyRecords = 16

// earlyRecord is a copy of a record datagram that arrived before the keys
// to open it.
type earlyRecord struct {
	dgram []byte // envelope ‖ packet
	from  netip.AddrPort
	size  int
}

// holdEarly keeps a copy of a record datagram that arrived before this
// side's handshake ended. The listener's first records, its close among
// them, leave right behind its final flight and may overtake it (a
// reordering path, or a final message that needed a retransmission): a
// client keeps up to maxEarlyRecords of them and opens them once it is
// established (replayEarly). A listener has its keys before any record of
// the client's can exist, so it only counts them.
func (c *Conn) holdEarly(r wire.Record, from netip.AddrPort, size int) {
	c.mu.Lock()
	if c.est && !c.server && !c.closed {
		// The handshake ended since the keys were looked up.
		c.mu.Unlock()
		c.onRecord(r, from, size)
		return
	}
	defer c.mu.Unlock()
	if c.server || c.closed || c.hs == nil || len(c.early) >= maxEarlyRecords {
		c.st.early.Add(1)
		return
	}
	d := make([]byte, 0, len(r.Prefix)+len(r.Packet))
	d = append(append(d, r.Prefix...), r.Packet...)
	c.early = append(c.early, earlyRecord{dgram: d, from: from, size: size})
}

// replayEarly opens the records held while the handshake ran, now that
// the keys are there (the dialing goroutine, no lock held).
func (c *Conn) replayEarly() {
	c.mu.Lock()
	early := c.early
	c.early = nil
	c.mu.Unlock()
	for _, e := range early {
		if rec, err := wire.ParseRecord(e.dgram); err == nil {
			c.onRecord(rec, e.from, e.size)
		}
	}
}

// pendingRecord is a record datagram the socket reader holds until it can
// open it together with the session's next ones (reader.addRecord).
type pendingRecord struct {
	rec  wire.Record
	from netip.AddrPort
	size int
}

// maxPendingRecords is how many records of one session the socket reader
// opens at once: the records' tags are verified together
// (record.Opener.OpenBatch), and the Conn's locks are taken once.
const maxPendingRecords = 16

// openedRun is a run of one session's record datagrams opened together
// (openRun) and waiting to be accepted (acceptRun): the opening of a
// socket reader's batch may run in parallel with other readers', the
// acceptance runs in the order the datagrams arrived.
type openedRun struct {
	recs   [maxPendingRecords]pendingRecord
	n      int
	group  [maxPendingRecords]record.OpenItem // slot 0's in arrival order, then slot 1's
	bufs   [maxPendingRecords]*[]byte         // group's pooled Dst buffers
	pos    [maxPendingRecords]int8            // recs[i]'s place in group, -1: none
	ng     [2]int
	epochs [2]uint64
	rx     [2]*rxKeys // the keys that opened each slot's records
	now    mono
}

// openRun opens recs (at most maxPendingRecords, all c's) into run: the
// records of each key slot (epoch parity) together, their tags verified
// together. It reports whether run holds anything for acceptRun (not if
// the keys are not there yet: the records are then held, holdEarly).
func (c *Conn) openRun(run *openedRun, recs []pendingRecord) bool {
	run.n = copy(run.recs[:], recs)
	recs = run.recs[:run.n]
	c.keyMu.RLock()
	k := c.keys
	if k == nil {
		c.keyMu.RUnlock()
		if !c.gone.Load() {
			for _, r := range recs {
				c.holdEarly(r.rec, r.from, r.size)
			}
		}
		run.reset()
		return false
	}
	run.now = c.ep.now()
	unixNow := c.ep.unixNow(run.now)
	run.ng = [2]int{}
	for i, r := range recs {
		idx := 0
		if r.rec.EpochBit {
			idx = 1
		}
		if k.rx[idx] == nil {
			run.pos[i] = -1
			c.st.epochDrops.Add(1)
			continue
		}
		run.pos[i] = int8(idx)
		run.ng[idx]++
	}
	next := [2]int{0, run.ng[0]}
	for i, r := range recs {
		if run.pos[i] < 0 {
			continue
		}
		p := next[run.pos[i]]
		next[run.pos[i]]++
		run.pos[i] = int8(p)
		bp := c.ep.getBuf()
		run.bufs[p] = bp
		run.group[p] = record.OpenItem{Dst: *bp, Prefix: r.rec.Prefix, Pkt: r.rec.Packet}
	}
	slots := [2][]record.OpenItem{run.group[:run.ng[0]], run.group[run.ng[0] : run.ng[0]+run.ng[1]]}
	run.rx = [2]*rxKeys{}
	for idx, g := range slots {
		if len(g) == 0 {
			continue
		}
		rx := k.rx[idx]
		if len(g) == 1 {
			it := &g[0]
			it.Header, it.Out, it.Err = rx.opener.Open(it.Dst, it.Prefix, it.Pkt, unixNow)
		} else {
			rx.opener.OpenBatch(g, unixNow)
		}
		run.epochs[idx], run.rx[idx] = rx.epoch, rx
	}
	c.keyMu.RUnlock()
	return true
}

// reset forgets what run held (its buffers are handed on or back).
func (run *openedRun) reset() {
	n := run.n
	clear(run.recs[:n])
	clear(run.group[:n])
	clear(run.bufs[:n])
	run.rx = [2]*rxKeys{}
	run.n = 0
}

// acceptRun accepts the records of run that opened, in arrival order,
// and counts the others.
func (c *Conn) acceptRun(run *openedRun) {
	defer run.reset()
	now := run.now
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range run.recs[:run.n] {
		p := int(run.pos[i])
		if p < 0 {
			continue
		}
		idx := 0
		if p >= run.ng[0] {
			idx = 1
		}
		it, bp := &run.group[p], run.bufs[p]
		if it.Err != nil {
			// The opener counts window, time and tag failures; a packet
			// too malformed to reach them (wrong length fields, shorter
			// than a tag: a plaintext close or error packet) counts as
			// unauthenticated.
			if errors.Is(it.Err, record.ErrShortPacket) || errors.Is(it.Err, record.ErrLongPacket) || errors.Is(it.Err, record.ErrMessageSize) {
				c.drops.Add(window.ReasonAuth)
			}
			c.ep.putBuf(bp)
			if errors.Is(it.Err, window.ErrDuplicate) {
				if r.from == c.peerAddr() {
					c.peerDups[c.peerDupN%uint64(len(c.peerDups))] = it.Header.Sequence
					c.peerDupN++
				}
				if c.cand != nil {
					c.onCopyLocked(idx, r.rec, r.from, r.size, now)
				}
			}
			continue
		}
		*bp = it.Out
		if hs := c.hs; hs != nil && hs.final {
			// The first authenticated record ends the handshake.
			c.finishHandshakeLocked()
		}
		seq := it.Header.Sequence
		// The first record of the epoch accepted, in arrival order (not
		// the first opened: another reader may have opened a later run
		// of the session's records first).
		isFirst := !run.rx[idx].seen.Load()
		if isFirst {
			run.rx[idx].seen.Store(true)
		}
		// Above every record accepted before, not merely above the
		// window's highest when the run was opened: another reader may
		// have opened a later run of the session's records in between.
		newHighest := !c.rxAny || seq > c.rxTop
		if newHighest {
			c.rxTop, c.rxAny = seq, true
			if r.from != c.peerAddr() && c.peerDupLocked(seq) {
				// A copy from elsewhere that another reader opened
				// before the peer's original, refused in an earlier
				// run: it arrived after the original, and is no new
				// highest from its address.
				newHighest = false
			}
		}
		c.acceptLocked(authRecord{flag: it.Header.Flag, buf: bp, from: r.from, size: r.size, seq: seq,
			newHighest: newHighest, epoch: run.epochs[idx], first: isFirst}, now)
	}
}

// peerDupLocked reports whether a record with sequence number seq from the
// peer's address was lately refused as a duplicate (peerDups).
func (c *Conn) peerDupLocked(seq uint64) bool {
	for i := range min(c.peerDupN, uint64(len(c.peerDups))) {
		if c.peerDups[i] == seq {
			return true
		}
	}
	return false
}

// authRecord is an authenticated record and what the receive path learned
// opening it.
type authRecord struct {
	flag       record.Flag
	buf        *[]byte // the plaintext, in a pooled buffer (getBuf)
	from       netip.AddrPort
	size       int    // the datagram's size
	seq        uint64 // its sequence number
	newHighest bool   // its sequence number is above every one accepted before
	epoch      uint64 // the epoch of the keys that opened it
	first      bool   // the first record of that epoch
}

// acceptLocked acts on an authenticated record that arrived at now.
//
// A data record's buffer goes to the receive queue, and back to its pool
// once Read has copied it out. Any other record is handled here and now
// (what its handler keeps, it copies: the control channel's reassembly,
// for one), so its plaintext, a rekey token say, is cleared and its buffer
// pooled when the handler returns.
func (c *Conn) acceptLocked(r authRecord, now mono) {
	pt, from := *r.buf, r.from
	if c.closed || c.endErr != nil {
		clear(pt)
		c.ep.putBuf(r.buf)
		return
	}
	if r.flag != flagData {
		defer func() {
			clear(pt)
			c.ep.putBuf(r.buf)
		}()
	}
	c.noteRecvLocked(now, r.flag == flagData)
	if r.first {
		c.onEpochSeenLocked(r.epoch, now)
	}
	responded := false
	if from != c.peerAddr() {
		if r.flag == flagPathResponse {
			// Before the address counts as a new one: the response may
			// validate it (an answer from another address than the
			// candidate's, see onCopyLocked).
			c.onPathResponseLocked(pt, from)
			responded = true
		}
		if from != c.peerAddr() {
			// A path response answers a challenge sent to the candidate
			// or to another address: one from elsewhere is a copy raced
			// ahead of the original, and must not take the candidacy
			// (and its challenge) from the address that answers.
			c.onOtherAddressLocked(from, r.size, r.newHighest && r.flag != flagPathResponse, now)
		}
	}
	switch r.flag {
	case flagData:
		c.creditLocked(r.seq, now)
		if c.queue.len() >= c.cfg.ReceiveQueue {
			c.st.queueDrops.Add(1)
			clear(pt)
			break
		}
		c.queue.push(r.buf)
		c.st.recordsIn.Add(1)
		c.st.bytesIn.Add(uint64(len(pt)))
		if c.queue.len() == 1 {
			// Only a queue that was empty can have Reads waiting: a
			// Read that leaves records behind wakes the next one.
			c.signal()
		}
	case flagClose:
		c.cfg.Logger.Debug("datagram: peer closed", "local", c.localID, "code", codeOf(pt))
		c.endLocked(io.EOF, false)
		return
	case flagRekey, flagAsymRequest, flagAsymResponse:
		c.onControlFragmentLocked(r.flag, pt, now)
	case flagControlAck:
		c.onControlAckLocked(pt, now)
	case flagKeepAlive:
		c.onKeepAliveLocked(pt, now)
	case flagPathChallenge:
		c.onPathChallengeLocked(pt, from)
	case flagPathResponse:
		if !responded {
			c.onPathResponseLocked(pt, from)
		}
	case flagCredit:
		c.onCreditLocked(pt)
	case flagBlocked:
		c.onBlockedLocked(pt)
	default:
		c.st.otherFlags.Add(1)
	}
	if !c.closed && c.endErr == nil {
		c.scheduleLocked()
	}
}

func codeOf(pt []byte) record.Code {
	if len(pt) == 0 {
		return 0
	}
	return record.Code(pt[0])
}

// notifyLocked wakes whoever waits for a change of the session (Rekey,
// RatchetAsymmetric).
func (c *Conn) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// changedLocked returns a channel closed at the next notifyLocked.
func (c *Conn) changedLocked() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// recQueue is a FIFO of records, grown on demand and dropped when drained
// beyond keptQueue entries, so an idle Conn holds little (the room for
// keptQueue is kept so that a reader keeping up with the records does not
// allocate as the queue refills).
type recQueue struct {
	items []*[]byte // pooled buffers (getBuf) holding the plaintexts
	head  int
}

func (q *recQueue) len() int { return len(q.items) - q.head }

func (q *recQueue) front() (*[]byte, bool) {
	if q.len() == 0 {
		return nil, false
	}
	return q.items[q.head], true
}

func (q *recQueue) push(b *[]byte) {
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
		if cap(q.items) > keptQueue {
			q.items = nil
		}
		q.items, q.head = q.items[:0], 0
	}
}

// keptQueue is the most entries a drained recQueue keeps room for (512
// bytes of pointers): a busy session's queue drains and refills all the
// time, and would otherwise grow anew, allocating, each time; a queue that
// grew larger is dropped when drained, so an idle session holds little.
const keptQueue = 64

func (q *recQueue) reset() {
	for i := q.head; i < len(q.items); i++ {
		clear(*q.items[i])
	}
	q.items, q.head = nil, 0
}

// cacheLinePad keeps the fields around it on separate cache lines.
type cacheLinePad [64]byte
