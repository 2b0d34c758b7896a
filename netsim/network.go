package netsim

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Network is an in-memory datagram network. Its endpoints, made by Listen,
// implement net.PacketConn with *net.UDPAddr addresses; datagrams between them
// go through the faults of their directed link. Links are configured by a
// default Config and per-link overrides (SetLink). The zero value is not
// usable; call NewNetwork. All methods are safe for concurrent use.
type Network struct {
	mu       sync.Mutex
	seed     int64
	def      *Config
	over     map[pair]*Config
	links    map[pair]*link
	bound    map[netip.AddrPort]*memConn // routing: address peers send to -> endpoint
	local    map[netip.AddrPort]*memConn // local addresses of open endpoints (reserved)
	nextPort map[netip.Addr]int
	conns    map[*memConn]struct{}
	total    counters
	s        sched
	closed   bool
	nextDue  atomic.Int64 // UnixNano of the earliest scheduled datagram, MaxInt64 if none
}

// pair names a directed link; a nil end in an override means "any endpoint".
type pair struct{ from, to *memConn }

// link is the state of one directed link between two endpoints.
type link struct {
	linkState
	st counters
}

// NewNetwork returns an empty network whose links follow cfg until changed by
// SetDefault or SetLink. cfg.Seed seeds every link (see the package
// documentation on determinism). The error wraps ErrInvalidConfig.
func NewNetwork(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Network{
		seed:     cfg.Seed,
		def:      cfg.clone(),
		over:     make(map[pair]*Config),
		links:    make(map[pair]*link),
		bound:    make(map[netip.AddrPort]*memConn),
		local:    make(map[netip.AddrPort]*memConn),
		nextPort: make(map[netip.Addr]int),
		conns:    make(map[*memConn]struct{}),
	}
	n.s.fire = n.fire
	n.nextDue.Store(math.MaxInt64)
	return n, nil
}

// Listen creates an endpoint bound to address, "host:port" with an IP literal
// host. An empty or unspecified host (":4000", "0.0.0.0:4000") means
// 127.0.0.1 (::1 for "[::]:4000"); port 0 picks a free port, sequentially from
// 49152. Errors are *net.OpError values wrapping ErrInvalidAddr, ErrAddrInUse
// or net.ErrClosed (the Network was closed).
func (n *Network) Listen(address string) (net.PacketConn, error) {
	ap, err := parseListenAddr(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Err: err}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(ap), Err: net.ErrClosed}
	}
	if ap.Port() == 0 {
		if ap, err = n.freePort(ap.Addr()); err != nil {
			return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(ap), Err: err}
		}
	} else if n.inUse(ap) {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(ap), Err: ErrAddrInUse}
	}
	c := &memConn{n: n, local: ap, ext: ap, wake: make(chan struct{})}
	c.rq.max = n.def.recvQueue()
	n.bound[ap] = c
	n.local[ap] = c
	n.conns[c] = struct{}{}
	return c, nil
}

func (n *Network) inUse(ap netip.AddrPort) bool {
	return n.bound[ap] != nil || n.local[ap] != nil
}

func (n *Network) freePort(ip netip.Addr) (netip.AddrPort, error) {
	p := n.nextPort[ip]
	for range lastEphemeralPort - firstEphemeralPort + 1 {
		if p < firstEphemeralPort || p > lastEphemeralPort {
			p = firstEphemeralPort
		}
		ap := netip.AddrPortFrom(ip, uint16(p))
		p++
		if !n.inUse(ap) {
			n.nextPort[ip] = p
			return ap, nil
		}
	}
	return netip.AddrPortFrom(ip, 0), fmt.Errorf("%w: no free port on %v", ErrAddrInUse, ip)
}

// SetDefault replaces the configuration of every link without an override.
// Links keep their random source, Gilbert-Elliott state and queues; Seed is
// ignored. RecvQueue applies to endpoints created afterwards.
func (n *Network) SetDefault(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.def = cfg.clone()
	return nil
}

// SetLink overrides the configuration of the directed link from -> to; a nil
// end matches every endpoint. The most specific override wins: (from, to),
// then (from, nil), then (nil, to), then the default. Set both directions for a
// symmetric link. The link keeps its random source and state; Seed and
// RecvQueue are ignored. Overrides are forgotten when an endpoint named in them
// is closed. The error wraps ErrInvalidConfig, ErrForeignConn or net.ErrClosed.
func (n *Network) SetLink(from, to net.PacketConn, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	k, err := n.pairOf(from, to)
	if err != nil {
		return err
	}
	n.over[k] = cfg.clone()
	return nil
}

// ClearLink removes the override SetLink(from, to, ...) made, if any.
func (n *Network) ClearLink(from, to net.PacketConn) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	k, err := n.pairOf(from, to)
	if err != nil {
		return err
	}
	delete(n.over, k)
	return nil
}

func (n *Network) pairOf(from, to net.PacketConn) (pair, error) {
	var k pair
	var err error
	if from != nil {
		if k.from, err = n.endpoint(from); err != nil {
			return k, err
		}
	}
	if to != nil {
		if k.to, err = n.endpoint(to); err != nil {
			return k, err
		}
	}
	return k, nil
}

// endpoint returns pc as an open endpoint of n; n.mu must be held.
func (n *Network) endpoint(pc net.PacketConn) (*memConn, error) {
	c, ok := pc.(*memConn)
	if !ok || c == nil || c.n != n {
		return nil, ErrForeignConn
	}
	if c.gone {
		return nil, net.ErrClosed
	}
	return c, nil
}

func (n *Network) config(from, to *memConn) *Config {
	if c := n.over[pair{from, to}]; c != nil {
		return c
	}
	if c := n.over[pair{from, nil}]; c != nil {
		return c
	}
	if c := n.over[pair{nil, to}]; c != nil {
		return c
	}
	return n.def
}

// Rebind gives pc a new address on the same IP, as a NAT that rebinds does:
// peers now receive pc's datagrams from the returned address and reach pc only
// there; datagrams sent to the old address (including those in flight) are
// dropped as Unreachable. pc.LocalAddr does not change (the socket does not see
// the NAT). The error wraps ErrForeignConn, ErrAddrInUse or net.ErrClosed.
func (n *Network) Rebind(pc net.PacketConn) (net.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, err := n.endpoint(pc)
	if err != nil {
		return nil, err
	}
	ap, err := n.freePort(c.ext.Addr())
	if err != nil {
		return nil, err
	}
	return n.move(c, ap), nil
}

// RebindTo is Rebind to a chosen address (parsed as in Listen; port 0 picks
// one). The address may be on another IP, and may be pc's own local address.
func (n *Network) RebindTo(pc net.PacketConn, address string) (net.Addr, error) {
	ap, err := parseListenAddr(address)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, err := n.endpoint(pc)
	if err != nil {
		return nil, err
	}
	switch {
	case ap.Port() == 0:
		if ap, err = n.freePort(ap.Addr()); err != nil {
			return nil, err
		}
	case ap == c.ext:
		return net.UDPAddrFromAddrPort(ap), nil
	case n.bound[ap] != nil || (n.local[ap] != nil && n.local[ap] != c):
		return nil, fmt.Errorf("%w: %v", ErrAddrInUse, ap)
	}
	return n.move(c, ap), nil
}

func (n *Network) move(c *memConn, ap netip.AddrPort) net.Addr {
	if n.bound[c.ext] == c {
		delete(n.bound, c.ext)
	}
	c.ext = ap
	n.bound[ap] = c
	return net.UDPAddrFromAddrPort(ap)
}

// Stats returns the totals over all links since the Network was created
// (including links of closed endpoints and datagrams sent to unbound addresses).
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.total.stats()
}

// LinkStats returns the counts of the directed link from -> to, zero if
// nothing was sent on it. Links are forgotten when an endpoint is closed.
func (n *Network) LinkStats(from, to net.PacketConn) Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok1 := from.(*memConn)
	t, ok2 := to.(*memConn)
	if !ok1 || !ok2 {
		return Stats{}
	}
	if l := n.links[pair{f, t}]; l != nil {
		return l.st.stats()
	}
	return Stats{}
}

// Close closes every endpoint, discards the datagrams in flight (counted as
// Discarded) and makes Listen fail. It is idempotent and returns nil.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, it := range n.s.stop() {
		n.unschedule(it, cDiscarded)
	}
	n.publishDue()
	conns := make([]*memConn, 0, len(n.conns))
	for c := range n.conns {
		n.closeLocked(c)
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.closeLocal()
	}
	return nil
}

func (n *Network) count(l *link, c counter) {
	l.st[c]++
	n.total[c]++
}

func (n *Network) linkOf(from, to *memConn) *link {
	k := pair{from, to}
	l := n.links[k]
	if l == nil {
		l = &link{linkState: newLinkState(n.seed, from.local.String()+">"+to.local.String())}
		n.links[k] = l
	}
	return l
}

// send runs a datagram through its link; the caller has checked its length.
func (n *Network) send(c *memConn, p []byte, dst netip.AddrPort) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.gone {
		return net.ErrClosed
	}
	now := time.Now()
	to := n.bound[dst]
	if to == nil {
		n.total[cSent]++
		n.total[cUnreachable]++
		return nil
	}
	l := n.linkOf(c, to)
	n.count(l, cSent)
	v := l.decide(n.config(c, to), now, len(p))
	if v.drop != cSent {
		n.count(l, v.drop)
		return nil
	}
	data := append([]byte(nil), p...)
	if v.bit >= 0 {
		flipBit(data, v.bit)
		n.count(l, cCorrupted)
	}
	if v.reordered {
		n.count(l, cReordered)
	}
	n.schedule(&item{at: v.at, data: data, l: l, src: c.ext, dst: dst, to: to})
	if v.duplicate {
		n.count(l, cDuplicated)
		n.schedule(&item{at: v.at, data: data, l: l, src: c.ext, dst: dst, to: to})
	}
	n.drain(now)
	return nil
}

func (n *Network) schedule(it *item) {
	it.l.inFlight++
	n.count(it.l, cInFlight)
	n.s.push(it)
}

// unschedule ends an item taken out of the queue with outcome c.
func (n *Network) unschedule(it *item, c counter) {
	it.l.inFlight--
	it.l.st[cInFlight]--
	n.total[cInFlight]--
	n.count(it.l, c)
}

// drain delivers every item due at now, in order, and rearms the timer.
func (n *Network) drain(now time.Time) {
	for it := n.s.popDue(now); it != nil; it = n.s.popDue(now) {
		switch {
		case it.to.gone || n.bound[it.dst] != it.to:
			n.unschedule(it, cUnreachable)
		case it.to.enqueue(it.data, it.src):
			n.unschedule(it, cDelivered)
		default:
			n.unschedule(it, cRecvDropped)
		}
	}
	n.s.rearm(now)
	n.publishDue()
}

// publishDue records when the earliest scheduled datagram is due; n.mu held.
func (n *Network) publishDue() {
	if len(n.s.h) == 0 {
		n.nextDue.Store(math.MaxInt64)
	} else {
		n.nextDue.Store(n.s.h[0].at.UnixNano())
	}
}

// catchUp delivers the datagrams already due. Readers call it so that a
// datagram due at t is visible to every read at t or later, whether or not the
// timer's goroutine has run yet (at equal virtual times under synctest the
// order of goroutines is not fixed; this keeps outcomes reproducible).
func (n *Network) catchUp() {
	if time.Now().UnixNano() < n.nextDue.Load() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.drain(time.Now())
	}
}

func (n *Network) fire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.s.fired()
	if !n.closed {
		n.drain(time.Now())
	}
}

// closeLocked detaches c from the network: its addresses are released, its
// links and overrides forgotten, and datagrams in flight to it dropped.
func (n *Network) closeLocked(c *memConn) {
	c.gone = true
	if n.bound[c.ext] == c {
		delete(n.bound, c.ext)
	}
	if n.local[c.local] == c {
		delete(n.local, c.local)
	}
	delete(n.conns, c)
	for k := range n.links {
		if k.from == c || k.to == c {
			delete(n.links, k)
		}
	}
	for k := range n.over {
		if k.from == c || k.to == c {
			delete(n.over, k)
		}
	}
	for _, it := range n.s.remove(func(it *item) bool { return it.to == c }) {
		n.unschedule(it, cUnreachable)
	}
	n.s.rearm(time.Now())
	n.publishDue()
}
