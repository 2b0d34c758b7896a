package netsim

import (
	"net"
	"net/netip"
	"time"
)

// item is one scheduled datagram.
type item struct {
	at   time.Time
	seq  uint64 // tie-break: equal times are delivered in scheduling order
	data []byte // never modified once scheduled (duplicates share it)

	// Network fields.
	l   *link
	src netip.AddrPort // the sender's address as the receiver sees it
	dst netip.AddrPort
	to  *memConn

	// Wrap field.
	addr net.Addr
}

func (a *item) before(b *item) bool {
	if a.at.Equal(b.at) {
		return a.seq < b.seq
	}
	return a.at.Before(b.at)
}

// sched is a time-ordered queue of datagrams driven by one AfterFunc timer.
// The owner's mutex guards it; fire runs in the timer's goroutine and must take
// that mutex.
type sched struct {
	h       []*item // binary min-heap
	seq     uint64
	timer   *time.Timer
	armed   bool
	armedAt time.Time
	fire    func()
}

func (s *sched) push(it *item) {
	s.seq++
	it.seq = s.seq
	s.h = append(s.h, it)
	i := len(s.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.h[i].before(s.h[p]) {
			break
		}
		s.h[i], s.h[p] = s.h[p], s.h[i]
		i = p
	}
}

// popDue removes and returns the earliest item if it is due at now.
func (s *sched) popDue(now time.Time) *item {
	if len(s.h) == 0 || s.h[0].at.After(now) {
		return nil
	}
	top := s.h[0]
	last := len(s.h) - 1
	s.h[0] = s.h[last]
	s.h[last] = nil
	s.h = s.h[:last]
	s.down(0)
	return top
}

func (s *sched) down(i int) {
	n := len(s.h)
	for {
		m := i
		if l := 2*i + 1; l < n && s.h[l].before(s.h[m]) {
			m = l
		}
		if r := 2*i + 2; r < n && s.h[r].before(s.h[m]) {
			m = r
		}
		if m == i {
			return
		}
		s.h[i], s.h[m] = s.h[m], s.h[i]
		i = m
	}
}

// remove deletes the items for which drop returns true and returns them.
func (s *sched) remove(drop func(*item) bool) []*item {
	var gone []*item
	kept := s.h[:0]
	for _, it := range s.h {
		if drop(it) {
			gone = append(gone, it)
		} else {
			kept = append(kept, it)
		}
	}
	clear(s.h[len(kept):])
	s.h = kept
	for i := len(s.h)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
	return gone
}

// rearm makes the timer fire when the earliest item is due, or stops it when
// nothing is scheduled.
func (s *sched) rearm(now time.Time) {
	if len(s.h) == 0 {
		if s.armed {
			s.timer.Stop()
			s.armed = false
		}
		return
	}
	next := s.h[0].at
	if s.armed && !next.Before(s.armedAt) {
		return
	}
	d := next.Sub(now)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
	} else {
		s.timer.Reset(d)
	}
	s.armed, s.armedAt = true, next
}

// fired records that the timer went off; call it from fire with the lock held.
func (s *sched) fired() { s.armed = false }

// stop stops the timer and empties the queue, returning what was in it.
func (s *sched) stop() []*item {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.armed = false
	h := s.h
	s.h = nil
	return h
}
