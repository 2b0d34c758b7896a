package transfer

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// Range is a half-open byte range [Start, End) of a message. It is the
// envelope's range type, so acks go from the wire to a Sender unchanged.
type Range = wire.Range

// Send-window and loss-detection parameters; windows count fragments.
const (
	// InitialWindow is the number of fragments sent before the first ack.
	InitialWindow = 8
	// MinWindow is the smallest window, after losses or timeouts.
	MinWindow = 4
	// MaxWindow caps the window (about 300 KB of 1,200-byte fragments).
	MaxWindow = 256
	// Beta is the factor applied to the window once per round trip with
	// losses (CUBIC's, RFC 9438, as quic-go uses for Reno too).
	Beta = 0.7
	// ReorderThreshold is how many later transmissions must be acked before
	// an unacked fragment is declared lost (QUIC's packet threshold, RFC
	// 9002 section 6.1.1). It doubles, up to MaxReorderThreshold, each time
	// a loss turns out to be spurious (the original arrived after all).
	ReorderThreshold = 3
	// MaxReorderThreshold caps the adaptive packet threshold.
	MaxReorderThreshold = 64
	// MaxProbes is the number of fragments resent when the timer expires:
	// the first unacked ones, never more.
	MaxProbes = 2
	// Jitter is the largest fraction by which a Sender with a random
	// source lengthens each retransmission timeout (uniformly from 0), so
	// that sessions that lost packets together do not retransmit together.
	// It never shortens the timeout: a timer below RTT.RTO would fire
	// before the ack of a fragment that was not lost.
	Jitter = 0.1
)

// Time threshold of loss detection, in eighths of an RTT: 9/8 as QUIC,
// raised by one eighth per spurious loss up to two RTTs.
const (
	timeThreshold    = 9
	maxTimeThreshold = 16
)

// Fragment is one piece of a message to send: bytes [Offset, Offset+len(Data))
// of the message. Data aliases the message given to NewSender.
type Fragment struct {
	Offset uint32
	Data   []byte
}

// SenderStats counts what a Sender did.
type SenderStats struct {
	// Sent counts every transmission, first and repeated.
	Sent int
	// Retransmitted counts transmissions of fragments sent before.
	Retransmitted int
	// Lost counts fragments declared lost from the gaps acks reveal.
	Lost int
	// Spurious counts losses that turned out not to be: the original
	// transmission was acked.
	Spurious int
	// Timeouts counts retransmission timer expiries.
	Timeouts int
}

// fragState is what a Sender knows of one fragment.
type fragState struct {
	sent     time.Time // last transmission
	seq      uint64    // transmission number of the last transmission
	count    uint32    // transmissions so far
	acked    bool
	inFlight bool   // sent, not acked, not declared lost
	lost     bool   // declared lost, waiting in the retransmission queue
	lossRetx bool   // the last transmission repairs a declared loss
	episode  uint64 // the loss episode that declared it lost, if any
}

// transmission records one transmission in send order, for loss detection.
type transmission struct {
	seq uint64
	idx int
}

// Sender sends one message reliably as fixed-size fragments over an
// unreliable path. It does no I/O, starts no goroutine and reads no clock:
// the caller passes the time to every method, calls Poll first and sends
// what it returns, feeds the peer's acks to OnAck, and calls Poll again after
// each OnAck and whenever NextDeadline passes.
//
// Loss recovery and congestion control follow QUIC (RFC 9002) in fragment
// units, with RACK's care for retransmissions (RFC 8985):
//   - The window starts at InitialWindow fragments, grows by one per acked
//     fragment in slow start and by one per window afterwards, up to
//     MaxWindow; it shrinks by Beta (not below MinWindow) once per round
//     trip with losses. The first loss of such a round trip is resent at
//     once, whatever the window (fast retransmit).
//   - A fragment in flight is lost when a transmission ReorderThreshold later
//     has been acked, or one sent later was acked and it is 9/8 RTT old. An
//     ack of a retransmitted fragment counts as evidence only if it comes at
//     least 3/4 of the minimum RTT after the retransmission. A loss that turns
//     out spurious makes both thresholds more tolerant of reordering; when
//     every loss of a round trip turns out spurious, its window reduction
//     is undone.
//   - The retransmission timer (RTT.RTO, backed off, plus up to Jitter)
//     resends the first MaxProbes unacked fragments only, never the whole
//     message; it halves the window, and a second expiry without progress
//     drops it to MinWindow. The acks of the probes then reveal what else
//     is missing.
//   - RTT samples come only from fragments sent once (Karn), and only when
//     such a fragment is the newest transmission an ack reveals: an older
//     one may have arrived long before, its own ack lost.
//
// A Sender is not safe for concurrent use.
type Sender struct {
	msg    []byte
	mp     int // payload per fragment
	frags  []fragState
	rtt    *RTT
	jitter *rand.Rand

	nextNew      int // first fragment never sent
	firstUnacked int // every fragment below is acked
	acked        int
	inFlight     int
	seq          uint64 // last transmission number used (the first is 1)

	flight []transmission // transmissions not yet settled, in send order
	lostQ  []int          // fragments to retransmit, in detection order
	probes []int          // fragments to resend at once after a timeout

	cwnd        float64
	ssthresh    float64
	recoveryEnd uint64 // losses of transmissions up to this don't shrink the window again
	episode     uint64 // current loss episode (window reduction), from 1
	undoable    bool   // the episode's reduction came from losses, not a timeout
	undoPending int    // losses of the episode not yet proven spurious
	undoCwnd    float64
	undoSsth    float64
	fastRetx    bool // the first loss of a round trip is resent at once

	pktThreshold  uint64
	timeThreshold int // in eighths of an RTT

	largestSeq uint64    // largest transmission known delivered
	lossTimer  time.Time // zero when not armed
	rtoAt      time.Time // zero when not armed
	lastNow    time.Time

	out   []Fragment
	stats SenderStats
}

// NewSender returns a Sender for msg, cut into fragments of maxPayload bytes
// (the last one shorter; a maxPayload below 1 counts as 1). rtt is the
// session's estimator (a nil rtt gets a fresh one); jitter randomizes the
// retransmission timeout (nil: no jitter). msg must not change until the
// Sender is done, and must be shorter than 4 GiB, the envelope's limit:
// NewSender panics otherwise, as that is a programming error.
func NewSender(msg []byte, maxPayload int, rtt *RTT, jitter *rand.Rand) *Sender {
	if uint64(len(msg)) > math.MaxUint32 {
		panic("transfer: message longer than 4 GiB")
	}
	maxPayload = max(maxPayload, 1)
	if rtt == nil {
		rtt = new(RTT)
	}
	n := (len(msg) + maxPayload - 1) / maxPayload
	return &Sender{
		msg:           msg,
		mp:            maxPayload,
		frags:         make([]fragState, n),
		rtt:           rtt,
		jitter:        jitter,
		cwnd:          InitialWindow,
		ssthresh:      math.Inf(1),
		pktThreshold:  ReorderThreshold,
		timeThreshold: timeThreshold,
	}
}

// Fragments returns the number of fragments the message is cut into.
func (s *Sender) Fragments() int { return len(s.frags) }

// Done reports whether every byte has been acked.
func (s *Sender) Done() bool { return s.acked == len(s.frags) }

// Stats returns what the Sender did so far.
func (s *Sender) Stats() SenderStats { return s.stats }

// Window returns the current send window, in fragments.
func (s *Sender) Window() int { return int(s.cwnd) }

// InFlight returns the number of fragments sent and neither acked nor
// declared lost.
func (s *Sender) InFlight() int { return s.inFlight }

// fragment returns fragment i.
func (s *Sender) fragment(i int) Fragment {
	start := i * s.mp
	end := min(start+s.mp, len(s.msg))
	return Fragment{Offset: uint32(start), Data: s.msg[start:end:end]}
}

// Poll returns the fragments to send now: after a timer expiry the first
// unacked fragments (at most MaxProbes), then fragments declared lost, then
// new ones, as far as the window allows. The slice is reused by the next
// call to Poll.
func (s *Sender) Poll(now time.Time) []Fragment {
	s.lastNow = now
	s.out = s.out[:0]
	if s.Done() {
		return nil
	}
	if !s.lossTimer.IsZero() && !now.Before(s.lossTimer) {
		s.detectLosses(now)
	}
	if !s.rtoAt.IsZero() && !now.Before(s.rtoAt) {
		s.onTimeout()
	}
	for _, i := range s.probes {
		if !s.frags[i].acked {
			s.send(i, now)
		}
	}
	s.probes = s.probes[:0]
	for len(s.lostQ) > 0 && (s.fastRetx || float64(s.inFlight) < s.cwnd) {
		i := s.lostQ[0]
		s.lostQ = s.lostQ[1:]
		if f := &s.frags[i]; f.lost && !f.acked {
			s.send(i, now)
			s.fastRetx = false
		}
	}
	s.fastRetx = false
	if len(s.lostQ) == 0 {
		s.lostQ = nil // let the backing array go
	}
	for s.nextNew < len(s.frags) && float64(s.inFlight) < s.cwnd {
		s.send(s.nextNew, now)
		s.nextNew++
	}
	if s.rtoAt.IsZero() && s.inFlight > 0 {
		s.armRTO(now)
	}
	return s.out
}

// send transmits fragment i.
func (s *Sender) send(i int, now time.Time) {
	f := &s.frags[i]
	if f.count > 0 {
		s.stats.Retransmitted++
	}
	if !f.inFlight {
		f.inFlight = true
		s.inFlight++
	}
	f.lossRetx = f.lost
	f.lost = false
	f.count++
	s.seq++
	f.seq = s.seq
	f.sent = now
	s.flight = append(s.flight, transmission{seq: s.seq, idx: i})
	s.stats.Sent++
	s.out = append(s.out, s.fragment(i))
}

// armRTO (re)starts the retransmission timer.
func (s *Sender) armRTO(now time.Time) {
	d := s.rtt.RTO()
	if s.jitter != nil {
		d += time.Duration(float64(d) * Jitter * s.jitter.Float64())
	}
	s.rtoAt = now.Add(d)
}

// onTimeout handles an expired retransmission timer: back off, shrink the
// window, and queue the first unacked fragments as probes.
func (s *Sender) onTimeout() {
	s.stats.Timeouts++
	s.rtoAt = time.Time{}
	if s.rtt.Backoffs() == 0 {
		s.ssthresh = max(s.cwnd*Beta, MinWindow)
		s.cwnd = max(s.cwnd/2, MinWindow)
	} else { // persistent: no progress across two timeouts
		s.ssthresh = max(s.ssthresh/2, MinWindow)
		s.cwnd = MinWindow
	}
	s.rtt.Backoff()
	s.episode++ // a timeout's reduction is never undone
	s.undoable, s.undoPending = false, 0
	s.recoveryEnd = s.seq
	s.probes = s.probes[:0]
	for i := s.firstUnacked; i < s.nextNew && len(s.probes) < MaxProbes; i++ {
		if f := &s.frags[i]; !f.acked && f.count > 0 {
			s.probes = append(s.probes, i)
		}
	}
	// With a single unacked fragment, send it twice (as QUIC sends two
	// probe packets), so that one loss does not cost another timeout.
	for len(s.probes) > 0 && len(s.probes) < MaxProbes {
		s.probes = append(s.probes, s.probes[0])
	}
}

// OnAck takes the byte ranges the peer holds and reports whether they
// acknowledged anything new. Ranges beyond the message are clipped; a
// fragment counts as acked when a range covers all of it.
func (s *Sender) OnAck(ranges []Range, now time.Time) (progress bool) {
	s.lastNow = now
	// The RTT sample comes from the newest transmission this ack reveals,
	// and only if that fragment was sent once (Karn): an older one may
	// have been delivered long ago, its own ack lost.
	var newest uint64
	var sampleOK bool
	var sampleSent time.Time
	size := uint32(len(s.msg))
	for _, r := range ranges {
		end := min(r.End, size)
		if r.Start >= end {
			continue
		}
		lo := (int(r.Start) + s.mp - 1) / s.mp
		hi := int(end) / s.mp
		if end == size {
			hi = len(s.frags)
		}
		for i := max(lo, s.firstUnacked); i < min(hi, s.nextNew); i++ {
			if f := &s.frags[i]; !f.acked && f.count > 0 {
				progress = true
				s.ackFragment(f, now, &newest, &sampleOK, &sampleSent)
			}
		}
	}
	for s.firstUnacked < len(s.frags) && s.frags[s.firstUnacked].acked {
		s.firstUnacked++
	}
	if !progress {
		return false
	}
	if sampleOK {
		s.rtt.Update(now.Sub(sampleSent))
	}
	s.rtt.ResetBackoff()
	if s.Done() {
		s.rtoAt, s.lossTimer = time.Time{}, time.Time{}
		s.flight, s.lostQ, s.probes = nil, nil, nil
		return true
	}
	s.detectLosses(now)
	if s.inFlight > 0 {
		s.armRTO(now)
	} else {
		s.rtoAt = time.Time{}
	}
	return true
}

// ackFragment settles a newly acked fragment.
func (s *Sender) ackFragment(f *fragState, now time.Time, newest *uint64, sampleOK *bool, sampleSent *time.Time) {
	// Was the last transmission the one that arrived? Certain if it was the
	// only one; for a retransmission, not if the ack came sooner than a
	// round trip plausibly could (3/4 of the smallest seen, which is itself
	// an upper bound of the path's).
	lastArrived := f.count == 1 || now.Sub(f.sent) >= s.rtt.Min()*3/4
	if f.lost || (f.lossRetx && !lastArrived) {
		s.spurious(f)
	}
	f.acked = true
	s.acked++
	if f.inFlight {
		f.inFlight = false
		s.inFlight--
	}
	f.lost = false
	if f.seq > *newest {
		// Sample only if the newest transmission revealed was the only one
		// of its fragment: any later one may be what triggered the ack.
		*newest, *sampleOK, *sampleSent = f.seq, f.count == 1, f.sent
	}
	if lastArrived {
		s.largestSeq = max(s.largestSeq, f.seq)
	}
	if f.seq > s.recoveryEnd {
		if s.cwnd < s.ssthresh {
			s.cwnd++
		} else {
			s.cwnd += 1 / s.cwnd
		}
		s.cwnd = min(s.cwnd, MaxWindow)
	}
}

// spurious handles a loss of f that was not one: tolerate more reordering
// from now on, and once every loss of the current episode has proven
// spurious, undo the episode's window reduction.
func (s *Sender) spurious(f *fragState) {
	s.stats.Spurious++
	s.pktThreshold = min(2*s.pktThreshold, MaxReorderThreshold)
	s.timeThreshold = min(s.timeThreshold+1, maxTimeThreshold)
	if s.undoable && f.episode == s.episode && s.undoPending > 0 {
		s.undoPending--
		if s.undoPending == 0 {
			s.cwnd = max(s.cwnd, s.undoCwnd)
			s.ssthresh = max(s.ssthresh, s.undoSsth)
		}
	}
	f.episode = 0
}

// detectLosses declares lost every fragment in flight whose transmission is
// the packet threshold or more before the largest delivered one, or was sent
// more than the time threshold ago while a later one was delivered; it arms
// the loss timer for the first one not yet past the time threshold.
func (s *Sender) detectLosses(now time.Time) {
	s.lossTimer = time.Time{}
	delay := s.rtt.lossDelay(s.timeThreshold)
	head := 0
	for ; head < len(s.flight); head++ {
		t := s.flight[head]
		f := &s.frags[t.idx]
		if f.acked || !f.inFlight || f.seq != t.seq {
			continue // settled, or superseded by a later transmission
		}
		if t.seq >= s.largestSeq {
			break
		}
		if t.seq+s.pktThreshold <= s.largestSeq || !now.Before(f.sent.Add(delay)) {
			s.markLost(t.idx)
			continue
		}
		s.lossTimer = f.sent.Add(delay)
		break
	}
	s.flight = s.flight[head:] // append reallocates, dropping the settled front
}

// markLost declares fragment i lost and queues it for retransmission.
func (s *Sender) markLost(i int) {
	f := &s.frags[i]
	f.inFlight = false
	s.inFlight--
	f.lost = true
	if f.seq > s.recoveryEnd {
		s.fastRetx = true
		s.episode++
		s.undoable, s.undoPending, s.undoCwnd, s.undoSsth = true, 0, s.cwnd, s.ssthresh
		s.ssthresh = max(s.cwnd*Beta, MinWindow)
		s.cwnd = s.ssthresh
		s.recoveryEnd = s.seq
	}
	f.episode = 0
	if s.undoable {
		f.episode = s.episode
		s.undoPending++
	}
	s.lostQ = append(s.lostQ, i)
	s.stats.Lost++
}

// sendable reports whether Poll would send something now.
func (s *Sender) sendable() bool {
	if len(s.probes) > 0 || (s.fastRetx && len(s.lostQ) > 0) {
		return true
	}
	if float64(s.inFlight) >= s.cwnd {
		return false
	}
	return len(s.lostQ) > 0 || s.nextNew < len(s.frags)
}

// NextDeadline returns when Poll must be called next if no ack arrives: the
// earlier of the retransmission and loss timers. It returns the time of the
// last call if Poll has something to send already, and the zero time when
// the Sender is done.
func (s *Sender) NextDeadline() time.Time {
	if s.Done() {
		return time.Time{}
	}
	if s.sendable() {
		return s.lastNow
	}
	d := s.rtoAt
	if !s.lossTimer.IsZero() && (d.IsZero() || s.lossTimer.Before(d)) {
		d = s.lossTimer
	}
	return d
}
