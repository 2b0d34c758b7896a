package datagram

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/record"
)

// batchSize is the most datagrams one system call reads or writes on a
// listener's socket; clientBatch on a dialed Conn's, which serves one
// session. With receive coalescing, batchio keeps 16 buffers of 64 KiB for
// a listener's socket (1 MiB) and clientGROBuffers for a client's (128 KiB:
// about 90 records of 1,400 bytes per read), so that a process dialing
// many sessions does not hold half a megabyte for each.
const (
	batchSize        = batchio.DefaultBatch
	clientBatch      = 8
	clientGROBuffers = 2
)

// readArena bounds the receive buffers of one socket: a batch of datagrams
// of MaxPayload+1 bytes, fewer when MaxPayload is large.
const readArena = 256 << 10

// txQueueMax is the number of datagrams waiting for a socket above which
// Write waits: the local send path is saturated. Other sends (handshake,
// control, acks) never wait.
const txQueueMax = 2 * batchSize

// socketBuffer is the kernel buffer size asked for on the sockets this
// package opens itself (the kernel may grant less).
const socketBuffer = 4 << 20

// listenSockets opens the sockets of Listen: GOMAXPROCS of them bound to
// address with SO_REUSEPORT, with large buffers. A port already in use,
// even by sockets that would share it (another Listen of this user), is an
// error, as without SO_REUSEPORT: it is first bound alone, then released
// for the group.
func listenSockets(network, address string) ([]net.PacketConn, error) {
	if _, port, err := net.SplitHostPort(address); err == nil && port != "0" && port != "" {
		probe, err := net.ListenPacket(network, address)
		if err != nil {
			return nil, err
		}
		probe.Close()
	}
	pcs, err := batchio.ListenReusePort(context.Background(), network, address, 0)
	if err != nil {
		return nil, err
	}
	for _, pc := range pcs {
		if u, ok := pc.(*net.UDPConn); ok {
			setSocketBuffers(u)
		}
	}
	return pcs, nil
}

// setSocketBuffers asks for socketBuffer bytes of receive and send buffer.
func setSocketBuffers(pc *net.UDPConn) {
	_ = pc.SetReadBuffer(socketBuffer)
	_ = pc.SetWriteBuffer(socketBuffer)
}

// sock is one UDP socket of an endpoint: its batched I/O, the goroutine
// that reads it, and the queue of datagrams waiting to be sent on it.
type sock struct {
	ep     *endpoint
	pc     net.PacketConn
	bc     *batchio.Conn
	batch  int // datagrams per read
	tx     txQueue
	spans  flowSpans // the sessions sending data here lately (flow credit)
	window uint64    // the socket's credit budget in records (0: by the Config)
	// batched: the socket sends many datagrams per system call, so data
	// records queue to leave in batches; on any other socket a record
	// goes out before Write returns, as every datagram does when the
	// socket is idle.
	batched bool
}

// txQueue holds the datagrams waiting for a socket. A sender goroutine,
// started when the first datagram is queued and gone once the queue is
// empty, sends them in batches (one sendmmsg, runs of equal-size datagrams
// to one address as one GSO send). A send finding the socket idle goes out
// at once on the caller's goroutine instead, unless it is data (Write) on
// a batched socket that sent something less than quietGap ago: that
// queues, so that a fast writer's records leave in batches, while a record
// after a quiet spell leaves before Write returns, without waiting for a
// goroutine to be scheduled. Datagrams leave in the order they were
// queued.
type txQueue struct {
	mu     sync.Mutex
	q      []txItem
	spare  []txItem
	lastAt mono          // when the socket last started sending (a direct send or a batch)
	busy   bool          // a sender goroutine runs, or a direct send is in progress
	wake   chan struct{} // closed when the queue shrinks or the socket turns idle; nil if nobody waits
	closed bool
	msgs   []batchio.Message // the sender goroutine's
}

// txItem is one queued datagram: a pooled buffer and its destination.
type txItem struct {
	bp       *[]byte
	addr     netip.AddrPort
	envelope bool    // not a record: counted in the endpoint's BytesOut
	job      sealJob // a data record still to be sealed in place
}

// sealJob is a data record queued before its cryptography (Sealer.Defer):
// the sender goroutine seals consecutive ones under the same keys together
// (Sealer.SealDeferred). The keys stay unzeroed while such records wait
// (txKeys.pending).
type sealJob struct {
	tx *txKeys // nil: the datagram is ready
	d  record.Deferred
}

// abandon gives up a job whose datagram is dropped unsent (nil: none).
func (j *sealJob) abandon() {
	if j != nil && j.tx != nil {
		j.tx.sealed(1)
		j.tx = nil
	}
}

// newSock wraps pc for ep, reading up to batch datagrams at a time.
func newSock(ep *endpoint, pc net.PacketConn, batch int, opts ...batchio.Option) *sock {
	batch = max(1, min(batch, readArena/(ep.cfg.MaxPayload+1)))
	bc := batchio.New(pc, batch, opts...)
	return &sock{ep: ep, pc: pc, bc: bc, batch: batch, batched: bc.Capabilities().MMsg,
		window: bufferWindow(receiveBuffer(pc), ep.cfg.MaxPayload)}
}

// wakeLocked wakes whoever waits for the queue; q.mu is held.
func (q *txQueue) wakeLocked() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

// waitLocked returns a channel closed at the next wakeLocked; q.mu is held.
func (q *txQueue) waitLocked() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// send sends or queues the datagram in *bp (which it takes over) to addr.
// Data (wait set) waits while the queue is full until there is room, the
// Conn is closed or its write deadline passes (it returns net.ErrClosed or
// os.ErrDeadlineExceeded: the record was dropped), and always queues on a
// batched socket. Anything else goes out at once when the socket is idle,
// and is queued otherwise, beyond the bound if need be.
func (s *sock) send(bp *[]byte, addr netip.AddrPort, envelope bool, wait *sendWait, job *sealJob) error {
	q := &s.tx
	it := txItem{bp: bp, addr: addr, envelope: envelope}
	q.mu.Lock()
	if wait != nil {
		for len(q.q) >= txQueueMax && !q.closed {
			ch := q.waitLocked()
			q.mu.Unlock()
			var err error
			select {
			case <-ch:
			case <-wait.c.done:
				err = net.ErrClosed
			case <-wait.c.wdl.Wait():
				err = os.ErrDeadlineExceeded
			}
			if err != nil {
				s.drop(bp, job)
				return err
			}
			q.mu.Lock()
		}
	}
	switch {
	case q.closed:
		q.mu.Unlock()
		s.drop(bp, job)
		return net.ErrClosed
	case !q.busy && (wait == nil || !s.batched || s.quietLocked()):
		// Idle: send now, holding the socket so that what is sent
		// meanwhile queues behind.
		q.busy = true
		q.lastAt = s.ep.now()
		q.mu.Unlock()
		if job != nil {
			it.job = *job
		}
		s.writeOne(it)
		q.mu.Lock()
		if len(q.q) > 0 {
			go s.flush()
		} else {
			q.busy = false
			q.wakeLocked()
		}
		q.mu.Unlock()
		return nil
	}
	q.q = append(q.q, it)
	if job != nil {
		q.q[len(q.q)-1].job = *job // in place: a Deferred is 120 bytes
	}
	if !q.busy {
		q.busy = true
		go s.flush()
	}
	q.mu.Unlock()
	return nil
}

// quietGap is how long a batched socket must have sent nothing for a data
// record to leave at once, on the writer's goroutine, rather than queue
// for a batch. A writer that keeps the socket busier than this gets its
// records sealed eight at a time and sent in batches; one that writes
// less often gained nothing from the queue (its records were sealed and
// sent one by one anyway) but a goroutine hand-off per record, a few
// microseconds on an idle machine and tens where waking a sleeping thread
// is slow.
const quietGap = 10 * time.Microsecond

// quietLocked reports whether the socket has sent nothing for quietGap
// (q.mu held, the socket idle).
func (s *sock) quietLocked() bool {
	return s.ep.now()-s.tx.lastAt >= mono(quietGap)
}

// drop gives up a datagram that will not be sent: its job, if any, and
// its buffer, cleared first (a deferred record still holds its plaintext).
func (s *sock) drop(bp *[]byte, job *sealJob) {
	job.abandon()
	clear(*bp)
	s.ep.putBuf(bp)
}

// sendWait is the Conn whose data record may wait: for its Close or its
// write deadline.
type sendWait struct{ c *Conn }

// sendSealed sends a sealed record (taking over bp) on the session's
// socket, to the peer's address (to nil) or to another. Data waits while
// the socket's queue is full, until Close or the write deadline.
func (c *Conn) sendSealed(bp *[]byte, to *net.UDPAddr, data bool) error {
	var ap netip.AddrPort
	if to == nil {
		ap = c.peerAddr()
	} else {
		a := to.AddrPort()
		ap = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	s := c.sk
	if s == nil {
		s = c.ep.socks[0]
	}
	if !data {
		return s.send(bp, ap, false, nil, nil)
	}
	return s.send(bp, ap, false, &sendWait{c}, nil)
}

// writeOne sends one datagram directly.
func (s *sock) writeOne(it txItem) {
	if it.job.tx != nil {
		s.sealJobs([]txItem{it})
	}
	msg := [1]batchio.Message{{Buf: *it.bp, Addr: it.addr}}
	_, err := s.bc.WriteBatch(msg[:])
	s.sent(it, err)
	s.ep.putBuf(it.bp)
}

// sent counts one datagram's fate.
func (s *sock) sent(it txItem, err error) {
	switch {
	case err != nil:
		s.ep.st.writeErrors.Add(1)
	case it.envelope:
		s.ep.st.bytesOut.Add(uint64(len(*it.bp)))
	}
}

// flush is the sender goroutine: it sends what is queued, batch after
// batch, and exits once the queue is empty.
func (s *sock) flush() {
	q := &s.tx
	for {
		q.mu.Lock()
		if len(q.q) == 0 {
			q.busy = false
			q.wakeLocked()
			q.mu.Unlock()
			return
		}
		items := q.q
		q.q, q.spare = q.spare[:0], nil
		q.lastAt = s.ep.now()
		q.wakeLocked()
		msgs := q.msgs[:0]
		q.msgs = nil
		q.mu.Unlock()

		s.sealJobs(items)
		for _, it := range items {
			msgs = append(msgs, batchio.Message{Buf: *it.bp, Addr: it.addr})
		}
		for done := 0; done < len(msgs); {
			n, err := s.bc.WriteBatch(msgs[done:])
			for _, it := range items[done : done+n] {
				s.sent(it, nil)
			}
			done += n
			if err != nil {
				// The datagram at done failed: count it, go on with
				// the next (a closed socket fails them all quickly).
				s.sent(items[done], err)
				done++
			}
		}
		for i, it := range items {
			s.ep.putBuf(it.bp)
			items[i] = txItem{}
		}
		clear(msgs)
		q.mu.Lock()
		q.spare, q.msgs = items[:0], msgs[:0]
		q.mu.Unlock()
	}
}

// sealJobs seals the items' queued data records in place, the consecutive
// ones under the same keys together.
func (s *sock) sealJobs(items []txItem) {
	var bufs [maxSealRun][]byte
	var ds [maxSealRun]*record.Deferred
	for i := 0; i < len(items); {
		tx := items[i].job.tx
		if tx == nil {
			i++
			continue
		}
		n := 0
		for i+n < len(items) && n < maxSealRun && items[i+n].job.tx == tx {
			bufs[n], ds[n] = *items[i+n].bp, &items[i+n].job.d
			items[i+n].job.tx = nil
			n++
		}
		tx.sealer.SealDeferred(bufs[:n], ds[:n])
		tx.sealed(n)
		clear(bufs[:n])
		clear(ds[:n])
		i += n
	}
}

// maxSealRun is how many queued records sealJobs seals in one call.
const maxSealRun = 16

// idleWait waits until nothing is queued or being sent.
func (q *txQueue) idleWait() {
	q.mu.Lock()
	for q.busy {
		ch := q.waitLocked()
		q.mu.Unlock()
		<-ch
		q.mu.Lock()
	}
	q.mu.Unlock()
}

// shut makes later sends fail and waits for the sender goroutine.
func (q *txQueue) shut() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.idleWait()
}

// readLoop reads the socket until it is closed, handing each datagram to
// the endpoint.
func (s *sock) readLoop() {
	ep := s.ep
	max := ep.cfg.MaxPayload
	msgs := make([]batchio.Message, s.batch)
	arena := make([]byte, len(msgs)*(max+1))
	var r reader
	for {
		// Datagrams the kernel coalesced are handled where they lie, in
		// the socket's receive buffer (a view replaces the Message's
		// Buf); the others are read into the arena.
		for i := range msgs {
			msgs[i].Buf = arena[i*(max+1) : (i+1)*(max+1) : (i+1)*(max+1)]
		}
		n, err := s.bc.ReadBatchView(msgs)
		if err != nil {
			ep.mu.RLock()
			closed := ep.closed
			ep.mu.RUnlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(time.Millisecond) // a transient socket error: don't spin
			continue
		}
		if ep.st.measure.Load() {
			ep.st.timed(func() { r.batch(s, msgs[:n]) })
			continue
		}
		r.batch(s, msgs[:n])
	}
}

// filling reports whether c's receive queue is more than half full.
func (c *Conn) filling() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue.len() > c.cfg.ReceiveQueue/2
}

// reader is a socket reader's state across the datagrams of one batch.
type reader struct {
	id      uint64 // the last receiver id looked up, and its session
	conn    *Conn
	records int          // record datagrams handed to sessions
	ackBuf  []wire.Range // the ranges of the last ack parsed

	// pend holds record datagrams of session pendConn not opened yet: a
	// session's consecutive records in one batch are opened together
	// (Conn.onRecords). They point into the batch's buffers, so the batch
	// flushes them before it returns.
	pend     [maxPendingRecords]pendingRecord
	npend    int
	pendConn *Conn
}

// addRecord holds a record datagram for c, opening what is held first if
// it belongs to another session or the hold is full.
func (r *reader) addRecord(c *Conn, rec wire.Record, from netip.AddrPort, size int) {
	if r.pendConn != c || r.npend == len(r.pend) {
		r.flush()
	}
	r.pendConn = c
	r.pend[r.npend] = pendingRecord{rec: rec, from: from, size: size}
	r.npend++
}

// flush opens the held records.
func (r *reader) flush() {
	if r.npend == 0 {
		return
	}
	c, n := r.pendConn, r.npend
	r.pendConn, r.npend = nil, 0
	c.onRecords(r.pend[:n])
	clear(r.pend[:n])
}

// batch handles the datagrams of one read.
func (r *reader) batch(s *sock, msgs []batchio.Message) {
	ep := s.ep
	var bytes uint64
	for i := range msgs {
		m := &msgs[i]
		bytes += uint64(m.N)
		if m.N > ep.cfg.MaxPayload {
			// Larger than any datagram this side takes: dropped.
			ep.st.malformed.Add(1)
			continue
		}
		ep.handleFrom(s, r, m.Buf[:m.N], m.Addr)
	}
	r.flush()
	ep.st.datagrams.Add(uint64(len(msgs)))
	ep.st.bytesIn.Add(bytes)
	if r.records > 0 && (s.batched || r.conn.filling()) {
		// Let the readers the records woke run before the next batch:
		// with data waiting on the socket this goroutine would otherwise
		// keep its core until preempted, and their queues overflow. (A
		// socket read one datagram at a time yields only when a queue
		// is half full.)
		runtime.Gosched()
	}
	r.id, r.conn, r.records = 0, nil, 0 // look sessions up afresh in the next batch
}
