package batchio

import "net/netip"

// segCount is the number of datagrams in a payload of total bytes that the
// kernel coalesced with segment size seg: all seg bytes long but the last,
// which may be shorter. A payload with no (or no smaller) segment size is
// one datagram, even an empty one.
func segCount(total, seg int) int {
	if seg <= 0 || total <= seg {
		return 1
	}
	n := total / seg
	if total%seg != 0 {
		n++
	}
	return n
}

// segBounds is where datagram k (0 <= k < segCount(total, seg)) lies in the
// payload.
func segBounds(total, seg, k int) (lo, hi int) {
	if seg <= 0 || total <= seg {
		return 0, total
	}
	lo = k * seg
	return lo, min(lo+seg, total)
}

// segments hands out the datagrams of one received (possibly coalesced)
// payload, a few at a time.
type segments struct {
	p      []byte
	seg    int
	addr   netip.AddrPort
	next   int // the next datagram to hand out
	ncount int // how many there are
}

// reset takes a new payload p cut every seg bytes, from addr.
func (s *segments) reset(p []byte, seg int, addr netip.AddrPort) {
	s.p, s.seg, s.addr = p, seg, addr
	s.next, s.ncount = 0, segCount(len(p), seg)
}

// done reports whether every datagram was handed out.
func (s *segments) done() bool { return s.next >= s.ncount }

// drain copies the next datagrams into msgs (each cut to its Buf), or with
// view points each Message's Buf at the datagram in the payload, and
// returns how many.
func (s *segments) drain(msgs []Message, view bool) int {
	n := 0
	for s.next < s.ncount && n < len(msgs) {
		lo, hi := segBounds(len(s.p), s.seg, s.next)
		m := &msgs[n]
		if view {
			m.Buf = s.p[lo:hi:hi]
			m.N = hi - lo
		} else {
			m.N = copy(m.Buf, s.p[lo:hi])
		}
		m.Addr = s.addr
		s.next++
		n++
	}
	return n
}
