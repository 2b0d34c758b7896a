package datagram

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/datagram/internal/cookie"
	"github.com/qsmp-go/qsmp/datagram/internal/transfer"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/keyfile"
)

// pendingKey names a listener's session before the client knows the
// listener's session id: the client's address and its session id.
type pendingKey struct {
	addr netip.AddrPort
	id   uint64
}

// endpoint is one or more sockets bound to one address and the sessions on
// them: a Listener's many, or a dialed Conn's one. One goroutine per socket
// (and its helpers, sock.help) reads it in batches and demultiplexes by
// receiver id (one session table
// for all); a session answers on the socket its handshake arrived on;
// timers drive handshakes; established sessions hold neither goroutine
// nor timer.
type endpoint struct {
	pc    net.PacketConn // the first socket
	socks []*sock
	cfg   *config
	// helpers counts the sockets' helper readers running (at most
	// GOMAXPROCS-1 in all; sock.help).
	helpers atomic.Int32
	server  bool
	base    time.Time // the origin of the sessions' clocks (mono)
	wall    atomic.Pointer[wallSample]

	mu       sync.RWMutex
	sessions map[uint64]*Conn
	pending  map[pendingKey]*Conn
	halfOpen int
	closed   bool

	// Listener only.
	jar      *cookie.Jar
	limiter  *cookie.PrefixLimiter
	budget   *transfer.Budget
	pool     *pool
	msg0Len  uint32 // the exact length of a connect request
	acceptQ  chan *Conn
	closing  chan struct{}
	readDone chan struct{}

	st epCounters
}

// epCounters are the endpoint's statistics.
type epCounters struct {
	datagrams, bytesIn, bytesOut, writeErrors                         atomic.Uint64
	malformed, unknownSession, wrongAddress, stale, duplicates        atomic.Uint64
	cookiesSent, cookieTooSmall, cookieBad                            atomic.Uint64
	halfOpenFull, rateLimited, budget, queueFull, expired, unknownKey atomic.Uint64
	connectRequests, rejected, conflicts, failed, established         atomic.Uint64
	acceptFull                                                        atomic.Uint64

	// With measure set (benchmarks), work sums the time spent handling
	// datagrams, running handshake steps and timers: the listener's CPU.
	measure atomic.Bool
	work    atomic.Int64
}

// cpuClock, if set (benchmarks), reads the calling thread's CPU time, so
// that timed measures CPU rather than wall time.
var cpuClock func() time.Duration

// timed runs f, adding its duration to the work counter when measuring.
func (s *epCounters) timed(f func()) {
	if !s.measure.Load() {
		f()
		return
	}
	if cpuClock != nil {
		runtime.LockOSThread()
		t0 := cpuClock()
		f()
		s.work.Add(int64(cpuClock() - t0))
		runtime.UnlockOSThread()
		return
	}
	t0 := time.Now()
	f()
	s.work.Add(int64(time.Since(t0)))
}

// newEndpoint makes an endpoint over one socket or more, all bound to the
// same address.
func newEndpoint(pc net.PacketConn, cfg *config, server bool, more ...net.PacketConn) *endpoint {
	ep := &endpoint{
		pc: pc, cfg: cfg, server: server,
		base:     time.Now().Add(-baseOffset),
		sessions: make(map[uint64]*Conn),
		readDone: make(chan struct{}),
		closing:  make(chan struct{}),
	}
	if server {
		ep.pending = make(map[pendingKey]*Conn)
		ep.budget = transfer.NewBudget(cfg.MaxReassemblyBytes)
		ep.pool = newPool(cfg.MaxConcurrentKeyGen)
		ep.acceptQ = make(chan *Conn, DefaultAcceptQueue)
		if cfg.PrefixRate > 0 {
			ep.limiter = cookie.NewPrefixLimiter(cfg.PrefixRate, cfg.PrefixBurst, maxTrackedPrefixes)
		}
	}
	batch, helpers, opts := clientBatch, clientSockHelpers, []batchio.Option{batchio.WithGROBuffers(clientGROBuffers)}
	if server {
		batch, helpers, opts = batchSize, maxSockHelpers, nil
	}
	for _, p := range append([]net.PacketConn{pc}, more...) {
		ep.socks = append(ep.socks, newSock(ep, p, batch, helpers, opts...))
	}
	return ep
}

// addrPortOf returns the normalized address of a datagram's source.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		if a == nil {
			return ap, false
		}
		ap = a.AddrPort()
	case nil:
		return ap, false
	default:
		var err error
		ap, err = netip.ParseAddrPort(a.String())
		if err != nil {
			return ap, false
		}
	}
	if !ap.Addr().IsValid() {
		return ap, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// newID returns a fresh random session id, never 0 and not in use. ep.mu
// must be held.
func (ep *endpoint) newIDLocked() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("datagram: crypto/rand failed: " + err.Error())
		}
		id := binary.LittleEndian.Uint64(b[:])
		if _, used := ep.sessions[id]; id != 0 && !used {
			return id
		}
	}
}

// write sends one handshake datagram (copied) on the first socket,
// counting it.
func (ep *endpoint) write(b []byte, to net.Addr) {
	ep.writeOn(ep.socks[0], b, to)
}

// writeOn sends one handshake datagram (copied) on s, counting it.
func (ep *endpoint) writeOn(s *sock, b []byte, to net.Addr) {
	ap, ok := addrPortOf(to)
	if !ok {
		ep.st.writeErrors.Add(1)
		return
	}
	bp := ep.getBuf()
	*bp = append(*bp, b...)
	s.send(bp, ap, true, nil, nil)
}

// readLoop reads every socket, one goroutine each (and the helpers they
// start), until they are closed.
func (ep *endpoint) readLoop() {
	defer close(ep.readDone)
	var wg sync.WaitGroup
	for _, s := range ep.socks[1:] {
		wg.Go(s.readLoop)
	}
	ep.socks[0].readLoop()
	wg.Wait()
	for _, s := range ep.socks {
		s.gate.wg.Wait() // the helpers, which end once the socket is closed
	}
}

// handle takes one received datagram: the demultiplexer. Every check that
// can drop a datagram comes before any work it could cause, and nothing
// larger than a datagram is ever sent to an address that has not proven it
// receives there.
func (ep *endpoint) handle(b []byte, from net.Addr) {
	ep.st.datagrams.Add(1)
	ep.st.bytesIn.Add(uint64(len(b)))
	ap, ok := addrPortOf(from)
	if !ok {
		ep.st.malformed.Add(1)
		return
	}
	var r reader
	ep.handleFrom(ep.socks[0], &r, b, ap)
	r.finish()
}

// handleFrom takes one datagram that arrived on s from ap (counted by the
// caller); rd caches the last session looked up.
func (ep *endpoint) handleFrom(s *sock, rd *reader, b []byte, ap netip.AddrPort) {
	if !ap.Addr().IsValid() {
		ep.st.malformed.Add(1)
		return
	}
	kind, recv, err := wire.Peek(b)
	if err != nil {
		ep.st.malformed.Add(1)
		return
	}
	if recv == 0 {
		rd.holdUnaddressed(s, kind, b, ap)
		return
	}
	c := rd.conn
	if recv != rd.id || c == nil {
		ep.mu.RLock()
		c = ep.sessions[recv]
		ep.mu.RUnlock()
		rd.id, rd.conn = recv, c
	}
	if c == nil {
		ep.st.unknownSession.Add(1)
		return
	}
	if kind == wire.KindRecord {
		// Records authenticate themselves: one from another address may
		// mean the peer moved (roaming), which the Conn validates.
		rec, err := wire.ParseRecord(b)
		if err != nil {
			ep.st.malformed.Add(1)
			return
		}
		if ap != c.peerAddr() && !c.established() {
			ep.st.wrongAddress.Add(1)
			return
		}
		rd.addRecord(c, rec, ap, len(b))
		rd.records++
		return
	}
	switch kind {
	case wire.KindFragment, wire.KindAck:
		// Taken in turn with the session's records (reader.finish).
		rd.hold(c, kind, b, ap)
	default:
		ep.st.malformed.Add(1)
	}
}

// onDatagram takes a fragment or acknowledgement datagram b for c, from
// ap, in its turn (reader.finish).
func (r *reader) onDatagram(c *Conn, kind wire.Kind, b []byte, ap netip.AddrPort) {
	ep := c.ep
	if ap != c.peerAddr() {
		// Only the validated address speaks for a handshake.
		ep.st.wrongAddress.Add(1)
		return
	}
	switch kind {
	case wire.KindFragment:
		f, err := wire.ParseFragment(b)
		if err != nil {
			ep.st.malformed.Add(1)
			return
		}
		c.mu.Lock()
		c.onFragmentLocked(f, time.Now())
		c.mu.Unlock()
	case wire.KindAck:
		a, err := wire.ParseAckInto(b, r.ackBuf)
		if err != nil {
			ep.st.malformed.Add(1)
			return
		}
		r.ackBuf = a.Ranges
		c.mu.Lock()
		c.onAckLocked(a, time.Now())
		c.mu.Unlock()
	}
}

// handleUnaddressed takes a datagram with receiver id 0: a client's
// connect-request fragment (listener) or a cookie reply (client).
func (ep *endpoint) handleUnaddressed(s *sock, kind wire.Kind, b []byte, ap netip.AddrPort) {
	switch {
	case kind == wire.KindCookie && !ep.server:
		cr, err := wire.ParseCookieReply(b)
		if err != nil {
			ep.st.malformed.Add(1)
			return
		}
		ep.mu.RLock()
		c := ep.sessions[cr.Echo]
		ep.mu.RUnlock()
		if c == nil || ap != c.peerAddr() {
			ep.st.wrongAddress.Add(1)
			return
		}
		c.mu.Lock()
		c.onCookieLocked(cr, time.Now())
		c.mu.Unlock()
	case kind == wire.KindFragment && ep.server:
		f, err := wire.ParseFragment(b)
		if err != nil {
			ep.st.malformed.Add(1)
			return
		}
		if f.Message != 0 || f.Sender == 0 {
			ep.st.malformed.Add(1)
			return
		}
		ep.mu.RLock()
		c := ep.pending[pendingKey{ap, f.Sender}]
		ep.mu.RUnlock()
		if c != nil {
			c.mu.Lock()
			c.onFragmentLocked(f, time.Now())
			c.mu.Unlock()
			return
		}
		ep.newHandshake(s, f, len(b), ap)
	default:
		ep.st.malformed.Add(1)
	}
}

// newHandshake answers a connect-request fragment from an address without
// a session: a cookie reply if it carries no valid cookie (no state, and
// never more bytes than received), otherwise, within the limits, a new
// half-open session.
func (ep *endpoint) newHandshake(s *sock, f wire.Fragment, size int, ap netip.AddrPort) {
	now := time.Now()
	if f.Cookie == nil || !ep.jar.Check(f.Cookie, ap, f.Sender, now) {
		if f.Cookie != nil {
			ep.st.cookieBad.Add(1)
		}
		if size < wire.CookieReplySize {
			ep.st.cookieTooSmall.Add(1)
			return
		}
		cr := wire.CookieReply{Echo: f.Sender, Cookie: ep.jar.Make(ap, f.Sender, now)}
		bp := ep.getBuf()
		*bp = cr.Append(*bp)
		s.send(bp, ap, true, nil, nil)
		ep.st.cookiesSent.Add(1)
		return
	}
	// The address is validated.
	if f.Length != ep.msg0Len {
		ep.st.malformed.Add(1)
		return
	}
	ep.mu.Lock()
	full := ep.halfOpen >= ep.cfg.MaxHalfOpen
	closed := ep.closed
	ep.mu.Unlock()
	if closed {
		return
	}
	if full {
		ep.st.halfOpenFull.Add(1)
		return
	}
	if ep.pool.queuedConnects() >= ep.cfg.MaxQueuedKeyGen {
		// Create nothing: the client retransmits and tries again later.
		ep.st.queueFull.Add(1)
		return
	}
	if ep.limiter != nil && !ep.limiter.Allow(ap.Addr(), now) {
		ep.st.rateLimited.Add(1)
		return
	}
	var peer *keyfile.PublicKey
	if ep.cfg.Duplex && ep.cfg.newMachine == nil {
		if f.InitiatorKeyID == nil {
			ep.st.unknownKey.Add(1)
			return
		}
		k, err := ep.cfg.PeerKeys(*f.InitiatorKeyID)
		if err != nil || k == nil || k.Suite != ep.cfg.suite || k.KeyID != *f.InitiatorKeyID {
			ep.st.unknownKey.Add(1)
			return
		}
		peer = k
	}
	m, err := ep.cfg.serverMachine(peer)
	if err != nil {
		ep.st.unknownKey.Add(1)
		return
	}
	key := pendingKey{ap, f.Sender}
	ep.mu.Lock()
	if ep.closed || ep.halfOpen >= ep.cfg.MaxHalfOpen || ep.pending[key] != nil {
		ep.mu.Unlock()
		m.Abort() // unused (it holds nothing yet)
		return
	}
	id := ep.newIDLocked()
	c := newConn(ep, true, id, ap)
	c.sk = s
	c.peerID = f.Sender
	c.pkey = key
	c.halfOpen = true
	c.hs = newHS(m, now.Add(ep.cfg.HandshakeTimeout), id, ep.budget)
	c.hs.inIdx, c.hs.inLen = 0, ep.msg0Len
	ep.sessions[id] = c
	ep.pending[key] = c
	ep.halfOpen++
	ep.mu.Unlock()
	c.mu.Lock()
	c.armLocked(now)
	c.onFragmentLocked(f, now)
	c.mu.Unlock()
}

// established counts a listener's session out of the half-open ones.
func (ep *endpoint) established(c *Conn) {
	ep.st.established.Add(1)
	ep.mu.Lock()
	if c.halfOpen {
		c.halfOpen = false
		ep.halfOpen--
	}
	ep.mu.Unlock()
}

// enqueueAccept hands an established session to Accept, or closes it if
// the accept queue is full.
func (ep *endpoint) enqueueAccept(c *Conn) {
	select {
	case ep.acceptQ <- c:
	default:
		ep.st.acceptFull.Add(1)
		c.Close()
	}
}

// remove forgets a session.
func (ep *endpoint) remove(c *Conn) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.sessions[c.localID] == c {
		delete(ep.sessions, c.localID)
	}
	if ep.pending != nil && ep.pending[c.pkey] == c {
		delete(ep.pending, c.pkey)
	}
	if c.halfOpen {
		c.halfOpen = false
		ep.halfOpen--
	}
}

// close closes every session, stops the workers, lets the datagrams queued
// (the sessions' close records among them) leave, closes the sockets, and
// waits for the receive and send goroutines.
func (ep *endpoint) close() {
	ep.mu.Lock()
	if ep.closed {
		ep.mu.Unlock()
		<-ep.readDone
		return
	}
	ep.closed = true
	close(ep.closing)
	conns := make([]*Conn, 0, len(ep.sessions))
	for _, c := range ep.sessions {
		conns = append(conns, c)
	}
	ep.mu.Unlock()
	for _, c := range conns {
		if !c.owner {
			c.Close()
		}
	}
	if ep.pool != nil {
		ep.pool.close()
	}
	for _, s := range ep.socks {
		s.tx.idleWait()
	}
	for _, s := range ep.socks {
		s.pc.Close()
	}
	for _, s := range ep.socks {
		s.tx.shut()
	}
	<-ep.readDone
	if ep.jar != nil {
		ep.jar.Clear() // the receive goroutine, its only user, has ended
	}
}

// job is one handshake step for a worker.
type job struct {
	c       *Conn
	hs      *hsState
	msg     []byte
	connect bool // a connect request (counted against MaxQueuedKeyGen)
}

// workerLinger is how long an idle worker waits for another job before it
// exits: a warm worker keeps its grown stack and its cache.
const workerLinger = time.Second

// pool runs handshake steps (key generation, signing, decapsulation) on at
// most max goroutines, started on demand and gone after workerLinger idle,
// never on the receive path.
type pool struct {
	mu       sync.Mutex
	jobs     []job
	connects int // connect requests queued
	running  int
	idle     int
	max      int
	closed   bool
	wake     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newPool(max int) *pool {
	return &pool{max: max, wake: make(chan struct{}, max), stop: make(chan struct{})}
}

// submit queues j; it refuses a connect request when maxConnects are
// queued already (later steps of handshakes in progress always queue: they
// are bounded by the half-open limit).
func (p *pool) submit(j job, maxConnects int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || (j.connect && p.connects >= maxConnects) {
		return false
	}
	p.jobs = append(p.jobs, j)
	if j.connect {
		p.connects++
	}
	if p.idle > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	if len(p.jobs) > p.idle && p.running < p.max {
		p.running++
		p.wg.Add(1)
		go p.work()
	}
	return true
}

func (p *pool) queuedConnects() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connects
}

func (p *pool) work() {
	defer p.wg.Done()
	var idle *time.Timer
	for {
		p.mu.Lock()
		if !p.closed && len(p.jobs) == 0 {
			p.idle++
			p.mu.Unlock()
			if idle == nil {
				idle = time.NewTimer(workerLinger)
			} else {
				idle.Reset(workerLinger)
			}
			expired := false
			select {
			case <-p.wake:
			case <-p.stop:
			case <-idle.C:
				expired = true
			}
			p.mu.Lock()
			p.idle--
			if len(p.jobs) == 0 && expired {
				p.exitLocked()
				return
			}
		}
		if p.closed {
			p.exitLocked()
			if idle != nil {
				idle.Stop()
			}
			return
		}
		if len(p.jobs) == 0 {
			p.mu.Unlock()
			continue
		}
		j := p.jobs[0]
		p.jobs[0] = job{}
		p.jobs = p.jobs[1:]
		if len(p.jobs) == 0 {
			p.jobs = nil
		}
		if j.connect {
			p.connects--
		}
		p.mu.Unlock()
		j.c.ep.st.timed(func() { j.c.runJob(j) })
	}
}

// exitLocked counts a worker out; p.mu is held and released.
func (p *pool) exitLocked() {
	p.running--
	p.mu.Unlock()
}

// close drops the queued jobs and waits for the running ones.
func (p *pool) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	for _, j := range p.jobs {
		clear(j.msg)
	}
	p.jobs, p.connects = nil, 0
	p.mu.Unlock()
	p.wg.Wait()
}
