package main

import (
	"hash/maphash"
	"net"
	"sync"
)

// linkCount follows the data records of one direction through the
// simulator, so that the demo can tell exactly how many the simulator lost
// and how many the operating system lost. The demo stacks, on each end:
//
//	carrier → tap (above) → netsim.Wrap → tap (below) → UDP socket
//
// A record written above and never written below was dropped by the
// simulator (or is still held back by it); one written below and never read
// below on the receiving end was dropped by the operating system (or is
// still in the socket). Records are told apart by a 64-bit hash of their
// bytes: a record's bytes never repeat (unique sequence number and tag), and
// the copies the simulator makes hash the same, so they count once.
type linkCount struct {
	classify func([]byte) bool

	mu       sync.Mutex
	sim      map[uint64]struct{} // written above, not (yet) out of the simulator
	os       map[uint64]struct{} // out of the simulator, not (yet) read by the receiver
	written  int64               // distinct records written above
	received int64               // distinct records read by the receiver
}

// tapSeed is shared by every tap of the process, so that hashes compare.
var tapSeed = maphash.MakeSeed()

func newLinkCount(classify func([]byte) bool) *linkCount {
	return &linkCount{classify: classify, sim: map[uint64]struct{}{}, os: map[uint64]struct{}{}}
}

func (l *linkCount) hash(p []byte) (uint64, bool) {
	if l == nil || !l.classify(p) {
		return 0, false
	}
	return maphash.Bytes(tapSeed, p), true
}

func (l *linkCount) enterSim(p []byte) {
	if h, ok := l.hash(p); ok {
		l.mu.Lock()
		l.sim[h] = struct{}{}
		l.written++
		l.mu.Unlock()
	}
}

func (l *linkCount) leaveSim(p []byte) {
	if h, ok := l.hash(p); ok {
		l.mu.Lock()
		if _, ok := l.sim[h]; ok {
			delete(l.sim, h)
			l.os[h] = struct{}{}
		}
		l.mu.Unlock()
	}
}

func (l *linkCount) receive(p []byte) {
	if h, ok := l.hash(p); ok {
		l.mu.Lock()
		if _, ok := l.os[h]; ok {
			delete(l.os, h)
			l.received++
		}
		l.mu.Unlock()
	}
}

// linkSnapshot is a count of a linkCount.
type linkSnapshot struct {
	Written  int64 // distinct data records written into the simulator
	SimLost  int64 // dropped by the simulator, or still held by it
	OSLost   int64 // dropped by the OS, or still in a socket
	Received int64 // read by the receiving end
}

func (l *linkCount) snapshot() linkSnapshot {
	if l == nil {
		return linkSnapshot{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return linkSnapshot{Written: l.written, SimLost: int64(len(l.sim)), OSLost: int64(len(l.os)), Received: l.received}
}

// tap is a net.PacketConn that reports the datagrams going through it to
// the linkCounts of both directions: above the simulator it marks what is
// written as entering it; below it marks what is written as leaving the
// simulator, and what is read as received.
type tap struct {
	net.PacketConn
	above   bool
	out, in *linkCount
}

// WriteTo reports p, then writes it.
func (t *tap) WriteTo(p []byte, addr net.Addr) (int, error) {
	if t.above {
		t.out.enterSim(p)
	} else {
		t.out.leaveSim(p)
	}
	return t.PacketConn.WriteTo(p, addr)
}

// ReadFrom reads, and reports the datagram.
func (t *tap) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := t.PacketConn.ReadFrom(p)
	if err == nil && !t.above {
		t.in.receive(p[:n])
	}
	return n, addr, err
}

// SetReadBuffer forwards to the underlying conn if it has the method.
func (t *tap) SetReadBuffer(n int) error {
	if s, ok := t.PacketConn.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(n)
	}
	return nil
}

// SetWriteBuffer forwards to the underlying conn if it has the method.
func (t *tap) SetWriteBuffer(n int) error {
	if s, ok := t.PacketConn.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return nil
}
