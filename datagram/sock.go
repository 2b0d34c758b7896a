package datagram

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
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
	ep    *endpoint
	pc    net.PacketConn
	bc    *batchio.Conn
	opts  []batchio.Option // bc's, for the helper readers' own
	batch int              // datagrams per read
	gate  readGate         // orders the goroutines that read the socket
	// helpers is the most helper readers the socket starts (maxSockHelpers
	// or clientSockHelpers); it keeps one read state more.
	helpers int
	tx      txQueue
	spans   flowSpans // the sessions sending data here lately (flow credit)
	window  uint64    // the socket's credit budget in records (0: by the Config)
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
func newSock(ep *endpoint, pc net.PacketConn, batch, helpers int, opts ...batchio.Option) *sock {
	batch = max(1, min(batch, readArena/(ep.cfg.MaxPayload+1)))
	bc := batchio.New(pc, batch, opts...)
	return &sock{ep: ep, pc: pc, bc: bc, opts: opts, batch: batch, helpers: helpers, batched: bc.Capabilities().MMsg,
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
// the endpoint: the socket's primary reader, the one that waits for
// datagrams. A read that brings in more than one batch, or finds more
// waiting than it takes, starts a helper reader (help), so that the
// records of a busy socket, even of one session, are opened on several
// cores.
func (s *sock) readLoop() {
	var r reader
	for s.work(&r, true) {
	}
}

// Helper readers: the most per socket of a listener (and the read states,
// receive buffers, it keeps), and per socket of a dialed Conn, so that a
// process dialing many busy sessions keeps at most two read states each.
const (
	maxSockHelpers    = 3
	maxReadStates     = maxSockHelpers + 1
	clientSockHelpers = 1
)

// readGate shares the reading of one socket among its primary reader and
// the helpers it starts. One goroutine at a time reads the socket, into a
// read state of its own (receive buffers); what it reads is cut into
// chunks of at most a batch, each with a ticket, queued in arrival order.
// Any reader takes the oldest chunk queued and opens (authenticates and
// decrypts) its records, in parallel with the other readers' chunks, but
// accepts them (queues them for Read, acts on them) only once every
// earlier ticket is done: a session's records reach it in the order they
// arrived, however many goroutines opened them. A read state is reused
// once its chunks are all done.
type readGate struct {
	mu      sync.Mutex
	turn    sync.Cond    // on mu: done moved, a chunk was queued, a state freed
	reading bool         // a reader is in a read
	chunks  []readChunk  // queued, oldest first
	next    uint64       // the ticket of the next chunk queued
	done    uint64       // the tickets below it are done
	states  int          // read states made
	free    []*readState // read states with no chunk outstanding
	helpers int          // helper readers running
	readers []*reader    // helpers' readers for the next ones
	wg      sync.WaitGroup
	helped  atomic.Uint64 // chunks helpers took (for tests)
}

// readChunk is up to a batch of datagrams of one read, and its ticket.
type readChunk struct {
	st     *readState
	lo, hi int // st.msgs[lo:hi]
	t      uint64
}

// readState is the receive buffers of one read: a batchio wrapper of the
// socket of its own, its messages and their arena.
type readState struct {
	bc    *batchio.Conn
	msgs  []batchio.Message
	arena []byte
	refs  int // chunks outstanding (readGate.mu)
}

// newReadState returns a read state (its own wrapper, but for the first,
// which uses s.bc).
func (s *sock) newReadState(first bool) *readState {
	bc := s.bc
	if !first {
		bc = batchio.New(s.pc, s.batch, s.opts...)
	}
	return &readState{bc: bc, msgs: make([]batchio.Message, max(s.batch, bc.MaxRead())),
		arena: make([]byte, s.batch*(s.ep.cfg.MaxPayload+1))}
}

// prepare sets the Bufs of a read afresh and returns the Messages.
func (st *readState) prepare(batch int) []batchio.Message {
	stride := len(st.arena) / batch
	for i := range batch {
		st.msgs[i].Buf = st.arena[i*stride : (i+1)*stride : (i+1)*stride]
	}
	for i := batch; i < len(st.msgs); i++ {
		st.msgs[i].Buf = nil // a view, or unused
	}
	return st.msgs
}

// work does one step of a reader: it handles the oldest chunk queued, or
// else reads the socket if nobody else does. The primary waits for
// datagrams (and for a read state, or its turn); a helper does not, and
// work reports false when a helper has nothing to do, or when the socket
// is closed.
func (s *sock) work(r *reader, primary bool) bool {
	g := &s.gate
	g.mu.Lock()
	for {
		if len(g.chunks) > 0 && g.mayOpen(g.chunks[0].t, s.batch, s.ep.cfg.WindowSize) {
			ch := g.chunks[0]
			g.chunks[0] = readChunk{}
			g.chunks = g.chunks[1:]
			g.mu.Unlock()
			if !primary {
				g.helped.Add(1)
			}
			s.serve(r, ch)
			return true
		}
		if !g.reading && (len(g.free) > 0 || g.states < s.helpers+1) {
			break
		}
		if !primary {
			g.mu.Unlock()
			return false
		}
		g.wait()
	}
	var st *readState
	if k := len(g.free); k > 0 {
		st, g.free = g.free[k-1], g.free[:k-1]
	} else {
		st = s.newReadState(g.states == 0)
		g.states++
	}
	g.reading = true
	g.mu.Unlock()

	var n int
	var err error
	if primary {
		n, err = st.bc.ReadBatchView(st.prepare(s.batch))
	} else {
		n, err = st.bc.TryReadBatchView(st.prepare(s.batch))
	}

	g.mu.Lock()
	g.reading = false
	if err != nil {
		g.free = append(g.free, st)
		g.turn.Broadcast()
		g.mu.Unlock()
		if !primary {
			return false
		}
		return s.readFailed(err)
	}
	// Cut the read into chunks of at most a batch, in order.
	for lo := 0; lo < n; lo += s.batch {
		g.chunks = append(g.chunks, readChunk{st: st, lo: lo, hi: min(n, lo+s.batch), t: g.next})
		g.next++
		st.refs++
	}
	// Read before st may be freed and read into again by another reader.
	more := len(g.chunks) > 1 || st.bc.Saturated()
	if n == 0 {
		g.free = append(g.free, st)
	}
	g.turn.Broadcast()
	g.mu.Unlock()
	if primary && more {
		// More than a batch came in, or more is waiting.
		s.help()
	}
	return true
}

// mayOpen reports whether the chunk of ticket t may be opened now (g.mu
// held): the chunks opened at once, from the oldest ticket not done to t,
// must hold no more datagrams than a session's replay window takes.
// Otherwise a later chunk, opened first, could move the window past the
// records of an earlier one, which would be dropped as too old although
// they arrived in order. (With the default window of 8192 this never
// holds a reader back.)
func (g *readGate) mayOpen(t uint64, batch, window int) bool {
	return t == g.done || (t-g.done+1)*uint64(batch) <= uint64(window)
}

// wait waits for the gate to change; g.mu is held.
func (g *readGate) wait() {
	if g.turn.L == nil {
		g.turn.L = &g.mu
	}
	g.turn.Wait()
}

// readFailed handles a failed read of the primary reader: false if the
// socket is closed.
func (s *sock) readFailed(err error) bool {
	ep := s.ep
	ep.mu.RLock()
	closed := ep.closed
	ep.mu.RUnlock()
	if closed || errors.Is(err, net.ErrClosed) {
		return false
	}
	// A transient socket error, or a read deadline the socket's owner set
	// (which fails every read until it moves): don't spin.
	time.Sleep(time.Millisecond)
	return true
}

// serve handles a chunk: opens its records, waits for the earlier
// tickets, accepts them, and frees the read state with its last chunk.
func (s *sock) serve(r *reader, ch readChunk) {
	if ep := s.ep; ep.st.measure.Load() {
		ep.st.timed(func() { s.handle(r, ch) })
	} else {
		s.handle(r, ch)
	}
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

// handle is serve's work.
func (s *sock) handle(r *reader, ch readChunk) {
	g := &s.gate
	r.take(s, ch.st.msgs[ch.lo:ch.hi])
	g.mu.Lock()
	for g.done != ch.t {
		g.wait()
	}
	g.mu.Unlock()
	r.finish()
	g.mu.Lock()
	g.done++
	if ch.st.refs--; ch.st.refs == 0 {
		g.free = append(g.free, ch.st)
	}
	g.turn.Broadcast()
	g.mu.Unlock()
}

// help starts a helper reader, unless the socket has its share of them,
// the endpoint GOMAXPROCS-1, or the socket cannot read without waiting.
// Called by the primary reader only (so that the helpers' WaitGroup never
// grows once the primary is gone).
func (s *sock) help() {
	if !s.batched {
		return
	}
	ep, g := s.ep, &s.gate
	g.mu.Lock()
	if g.helpers >= s.helpers || !ep.takeHelper() {
		g.mu.Unlock()
		return
	}
	g.helpers++
	var r *reader
	if k := len(g.readers); k > 0 {
		r, g.readers = g.readers[k-1], g.readers[:k-1]
	} else {
		r = new(reader)
	}
	g.mu.Unlock()
	g.wg.Add(1)
	go s.helper(r)
}

// takeHelper counts one more helper reader for the endpoint, unless it
// has GOMAXPROCS-1 of them already.
func (ep *endpoint) takeHelper() bool {
	limit := int32(runtime.GOMAXPROCS(0) - 1)
	for {
		n := ep.helpers.Load()
		if n >= limit {
			return false
		}
		if ep.helpers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// helper works while there are chunks to take or datagrams to read, then
// ends.
func (s *sock) helper(r *reader) {
	g := &s.gate
	defer g.wg.Done()
	for s.work(r, false) {
	}
	g.mu.Lock()
	g.readers = append(g.readers, r)
	g.helpers--
	s.ep.helpers.Add(-1)
	g.mu.Unlock()
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
	// (Conn.openRun). They point into the batch's buffers, so the batch
	// flushes them before it returns.
	pend     [maxPendingRecords]pendingRecord
	npend    int
	pendConn *Conn

	// todo is what the reader opened or took so far and accepts once its
	// turn comes (finish), in arrival order; runs holds the opened
	// records, runs[:nruns] in use.
	todo  []deferred
	runs  []*openedRun
	nruns int
}

// deferred is a step of a batch's acceptance (reader.finish): a run of a
// session's opened records to accept, or a fragment or acknowledgement
// datagram for it.
type deferred struct {
	c    *Conn
	run  *openedRun // nil: b is a datagram of kind kind
	kind wire.Kind
	b    []byte
	from netip.AddrPort
	sk   *sock // non-nil: b is addressed to no session (a handshake's first flight, a cookie reply)
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

// flush opens the held records, to be accepted by finish.
func (r *reader) flush() {
	if r.npend == 0 {
		return
	}
	c, n := r.pendConn, r.npend
	r.pendConn, r.npend = nil, 0
	if r.nruns == len(r.runs) {
		r.runs = append(r.runs, new(openedRun))
	}
	run := r.runs[r.nruns]
	if c.openRun(run, r.pend[:n]) {
		r.nruns++
		r.todo = append(r.todo, deferred{c: c, run: run})
	}
	clear(r.pend[:n])
}

// hold holds a fragment or acknowledgement datagram b for c until finish.
func (r *reader) hold(c *Conn, kind wire.Kind, b []byte, from netip.AddrPort) {
	r.flush() // the session's records held so far come before it
	r.todo = append(r.todo, deferred{c: c, kind: kind, b: b, from: from})
}

// holdUnaddressed holds a datagram addressed to no session (receiver id
// 0: a connect-request fragment, a cookie reply), that arrived on s, until
// finish: handled in arrival order with the rest, never by two readers at
// once (the fragments of one connect request would race to start its
// handshake).
func (r *reader) holdUnaddressed(s *sock, kind wire.Kind, b []byte, from netip.AddrPort) {
	r.flush() // the records held so far came before it
	r.todo = append(r.todo, deferred{kind: kind, b: b, from: from, sk: s})
}

// finish accepts what the reader opened and took since the last finish,
// in arrival order. What it holds points into the buffers of the reads, so
// it runs before the next read.
func (r *reader) finish() {
	r.flush()
	for i := range r.todo {
		d := &r.todo[i]
		switch {
		case d.run != nil:
			d.c.acceptRun(d.run)
		case d.sk != nil:
			d.sk.ep.handleUnaddressed(d.sk, d.kind, d.b, d.from)
		default:
			r.onDatagram(d.c, d.kind, d.b, d.from)
		}
	}
	clear(r.todo)
	r.todo = r.todo[:0]
	r.nruns = 0
}

// batch handles the datagrams of one read at once (tests; the socket
// readers take and finish in turns).
func (r *reader) batch(s *sock, msgs []batchio.Message) {
	r.take(s, msgs)
	r.finish()
	r.id, r.conn, r.records = 0, nil, 0
}

// take opens the datagrams of one read, to be accepted by finish.
func (r *reader) take(s *sock, msgs []batchio.Message) {
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
}
