package transfer

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
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
	// congestion losses (CUBIC's, RFC 9438, as quic-go uses for Reno too).
	Beta = 0.7
	// MaxRandomLoss is the loss rate up to which losses count as random
	// (radio, a lossy link) rather than congestion, as long as the RTT
	// shows no queue: see Sender.
	MaxRandomLoss = 0.3
	// BDPGain bounds the window's growth by the measured bandwidth-delay
	// product out of slow start: at most BDPGain times the largest delivery
	// rate of the last BandwidthRounds round trips times the minimum RTT
	// (BBR's probing gain: a queue of a quarter of the path at most).
	BDPGain = 1.25
	// StartupGain replaces BDPGain in slow start, where the window doubles
	// per round trip and so runs ahead of the delivery rate it is measured
	// by (BBR's startup gain, 2/ln 2).
	StartupGain = 2.89
	// BandwidthRounds is how many round trips the delivery-rate maximum
	// covers.
	BandwidthRounds = 10
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
	// LossRounds counts round trips with losses.
	LossRounds int
	// Reductions counts round trips whose losses shrank the window, taken
	// as congestion; in the other loss rounds, losses were taken as random.
	Reductions int
	// SlowStartExits counts ends of slow start on a rising RTT.
	SlowStartExits int
	// Probes counts fragments resent by Probe.
	Probes int
}

// fragState is what a Sender knows of one fragment.
type fragState struct {
	sent     time.Time // last transmission
	seq      uint64    // transmission number of the last transmission
	count    uint32    // transmissions so far
	acked    bool
	inFlight bool // sent, not acked, not declared lost, not unknown
	lost     bool // declared lost, waiting in the retransmission queue
	// unknown: it would have been declared lost, but it lies beyond the
	// horizon of a truncated ack, so the peer may hold it. It no longer
	// counts against the window; a later ack settles it.
	unknown  bool
	lossRetx bool   // the last transmission repairs a declared loss
	episode  uint64 // the loss episode that declared it lost, if any
	// delivered and inFlightAt are the Sender's counts of acked fragments
	// and of fragments in flight when it was last sent, for delivery-rate
	// samples.
	delivered, inFlightAt uint32
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
// Loss recovery follows QUIC (RFC 9002) in fragment units, with RACK's care
// for retransmissions (RFC 8985); congestion control is Reno's window with
// BBR's measure of the path and a tolerance of random loss, as the links
// QSMP users have lose packets without being congested (radio, long
// paths):
//   - The window starts at InitialWindow fragments and grows by one per
//     acked fragment in slow start, by one per window afterwards, up to
//     MaxWindow. Once a delivery rate is measured, it grows no further than
//     StartupGain (slow start) or BDPGain times the bandwidth-delay product:
//     the largest delivery rate of the last BandwidthRounds round trips
//     times the minimum RTT. Slow start ends when the RTT shows a queue:
//     queueSamples samples in a row an eighth above the minimum (HyStart++'s
//     delay test).
//   - A loss alone does not shrink the window. Once per round trip, a loss
//     does when it comes with a sign of congestion: more than MaxRandomLoss
//     of the recent transmissions lost (a moving average over about 64)
//     shrinks the window by Beta; a smoothed RTT above the minimum by a
//     quarter (a standing queue) shrinks it by Beta but not below the
//     bandwidth-delay product. The first loss of a round trip is resent at
//     once, whatever the window (fast retransmit).
//   - A fragment in flight is lost when a transmission ReorderThreshold later
//     has been acked, or one sent later was acked and it is 9/8 RTT old. An
//     ack of a retransmitted fragment counts as evidence only if it comes at
//     least 3/4 of the minimum RTT after the retransmission. A loss that turns
//     out spurious makes both thresholds more tolerant of reordering; when
//     every loss of a window reduction turns out spurious, the reduction is
//     undone. An ack of wire.MaxAckRanges ranges may have left higher ones
//     out: a fragment beyond its last range that would be declared lost is
//     instead unknown, out of the window's count and a loss for congestion
//     control, but resent only when an ack reaches it (or by the timer).
//   - The retransmission timer (RTT.RTO, backed off up to RTT.SetMaxRTO's
//     cap, plus up to Jitter) resends the first MaxProbes unacked fragments
//     only, never the whole message; it halves the window, and a second
//     expiry without progress drops it to MinWindow. The acks of the probes
//     then reveal what else is missing. Probe does the same at once, for a
//     final flight the peer shows it has not received.
//   - RTT samples come only from fragments sent once (Karn), and only when
//     such a fragment is the newest transmission an ack reveals: an older
//     one may have arrived long before, its own ack lost. Nor from one
//     beyond the horizon of the previous ack.
//
// The window is bounded by MaxWindow in any case, and beyond slow start by
// BDPGain times what the path delivers: a queue of a quarter of the path at
// most. Losses up to MaxRandomLoss without a queue are the price of the
// tolerance: behind a bottleneck whose buffer holds less than a quarter of
// the path, the window stops at BDPGain times the bandwidth-delay product
// and overflows it by the difference.
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
	unknown      int    // fragments in the unknown state
	seq          uint64 // last transmission number used (the first is 1)

	flight []transmission // transmissions not yet settled, in send order
	lostQ  []int          // fragments to retransmit, in detection order
	probes []int          // fragments to resend at once after a timeout

	cwnd        float64
	ssthresh    float64
	recoveryEnd uint64 // losses of transmissions up to this don't start a new episode
	growFrom    uint64 // acks of transmissions up to this don't grow the window
	episode     uint64 // current loss episode (window reduction), from 1
	undoable    bool   // the episode's reduction came from losses, not a timeout
	undoPending int    // losses of the episode not yet proven spurious
	undoCwnd    float64
	undoSsth    float64
	fastRetx    bool // the first loss of a round trip is resent at once

	pktThreshold  uint64
	timeThreshold int // in eighths of an RTT

	lossRate float64  // moving average of transmission outcomes, 1 = lost
	round    uint64   // delivery round trips so far
	roundEnd uint32   // an ack of a transmission sent at this delivered count ends the round
	bw       bwFilter // largest delivery rates of the last rounds
	// The last RTT samples, for slow start's exit on delay.
	recentRTT [queueSamples]time.Duration
	nRecent   int

	largestSeq uint64    // largest transmission known delivered
	horizon    uint32    // the last ack said nothing of bytes from here on
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
		horizon:       uint32(len(msg)),
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
// declared lost, nor left out of the window as unknown (see Sender).
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
	if s.rtoAt.IsZero() && s.inFlight+s.unknown > 0 {
		s.armRTO(now)
	}
	return s.out
}

// Probe resends at once the first fragments that were sent and are not yet
// acked, at most n of them (MaxProbes when n < 1), outside the window and
// without the backoff and the window cut of a timer expiry. It is for a
// cached final flight: when the peer's previous flight arrives again, the
// peer has not received this one, and waiting for the timer would cost a
// timeout. Fragments never sent are left to Poll and the window. Probe
// returns nil when the Sender is done; the slice is reused by the next call
// to Poll or Probe.
//
// Every call sends: the caller bounds how often it probes (the carrier: at
// most once per half round trip), since the peer's repeated flight may be
// replayed.
func (s *Sender) Probe(now time.Time, n int) []Fragment {
	s.lastNow = now
	s.out = s.out[:0]
	if s.Done() {
		return nil
	}
	if n < 1 {
		n = MaxProbes
	}
	for i := s.firstUnacked; i < s.nextNew && len(s.out) < n; i++ {
		if f := &s.frags[i]; !f.acked && f.count > 0 {
			s.send(i, now)
			s.stats.Probes++
		}
	}
	if len(s.out) == 0 {
		return nil
	}
	if s.rtoAt.IsZero() {
		s.armRTO(now)
	}
	return s.out
}

// Covers reports whether ranges, together, hold every byte of the message,
// in any order and overlapping or not (a range may run past the end). For a
// done Sender, an ack that does not cover the message means the peer lost
// what it had received and started over, or that the ack is older than the
// one that completed the message and was delayed on the way; telling the
// two apart is the caller's (the peer's sender id, for instance). Covers
// allocates only for ranges not sorted by Start.
func (s *Sender) Covers(ranges []Range) bool {
	size := uint32(len(s.msg))
	if !slices.IsSortedFunc(ranges, func(a, b Range) int { return cmp.Compare(a.Start, b.Start) }) {
		ranges = slices.Clone(ranges)
		slices.SortFunc(ranges, func(a, b Range) int { return cmp.Compare(a.Start, b.Start) })
	}
	var held uint32 // [0, held) is covered
	for _, r := range ranges {
		if held >= size {
			break
		}
		if r.Start > held {
			return false
		}
		held = max(held, r.End)
	}
	return held >= size
}

// send transmits fragment i.
func (s *Sender) send(i int, now time.Time) {
	f := &s.frags[i]
	if f.count > 0 {
		s.stats.Retransmitted++
	}
	if f.unknown {
		f.unknown = false
		s.unknown--
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
	f.delivered, f.inFlightAt = uint32(s.acked), uint32(s.inFlight)
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
	s.recoveryEnd, s.growFrom = s.seq, s.seq
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
	// and only if that fragment was sent once (Karn) and below the horizon
	// of the last ack: an older one may have been delivered long ago, its
	// own ack lost, and one beyond the horizon left out of truncated acks.
	var newest uint64
	var sampleOK bool
	var sampleSent time.Time
	var rs rateSample
	size := uint32(len(s.msg))
	// An ack of as many ranges as the envelope carries may have left out
	// higher ones: it says nothing beyond its last range.
	horizon := size
	if len(ranges) >= wire.MaxAckRanges {
		horizon = 0
		for _, r := range ranges {
			horizon = max(horizon, min(r.End, size))
		}
	}
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
				s.ackFragment(f, i, now, &newest, &sampleOK, &sampleSent, &rs)
			}
		}
	}
	s.horizon = horizon
	for s.firstUnacked < len(s.frags) && s.frags[s.firstUnacked].acked {
		s.firstUnacked++
	}
	if !progress {
		return false
	}
	s.takeRateSample(&rs, now)
	if sampleOK {
		d := now.Sub(sampleSent)
		s.rtt.Update(d)
		s.rttSample(d)
	}
	s.rtt.ResetBackoff()
	if s.Done() {
		s.rtoAt, s.lossTimer = time.Time{}, time.Time{}
		s.flight, s.lostQ, s.probes = nil, nil, nil
		return true
	}
	s.detectLosses(now)
	if s.inFlight+s.unknown > 0 {
		s.armRTO(now)
	} else {
		s.rtoAt = time.Time{}
	}
	return true
}

// rateSample is the newest transmission an ack shows delivered, for a
// delivery-rate sample.
type rateSample struct {
	seq                   uint64
	sent                  time.Time
	delivered, inFlightAt uint32
}

// takeRateSample turns the newest delivered transmission of an ack into a
// delivery-rate sample (fragments acked since it was sent, over the time
// since), counting round trips as BBR does: a round ends when a
// transmission sent after the previous round ended is acked.
func (s *Sender) takeRateSample(rs *rateSample, now time.Time) {
	if rs.seq == 0 {
		return
	}
	if rs.delivered >= s.roundEnd {
		s.round++
		s.roundEnd = uint32(s.acked)
	}
	// What the peer received since the fragment was sent was in flight
	// then: an ack that fills a hole may report more at once, delivered
	// over a longer time.
	n := min(uint32(s.acked)-rs.delivered, rs.inFlightAt)
	// Nor can a round trip be shorter than the minimum: a quicker ack
	// comes from ack compression, not from the path.
	if el := max(now.Sub(rs.sent), s.rtt.Min()); el > 0 {
		s.bw.update(s.round, float64(n)/el.Seconds())
	}
}

// rttSample takes an RTT sample for the queue test, and ends slow start
// when it shows a queue: the window has begun to fill one, and doubling it
// again would overflow it (the delay test of HyStart++, RFC 9406).
func (s *Sender) rttSample(d time.Duration) {
	s.recentRTT[s.nRecent%queueSamples] = d
	s.nRecent++
	if s.cwnd < s.ssthresh && s.queueing() {
		s.ssthresh = s.cwnd
		s.stats.SlowStartExits++
	}
}

// queueing reports whether the RTT shows a queue on the path: the last
// queueSamples samples all exceed the minimum by an eighth of it (at least
// 4 ms, at most 16 ms, as HyStart++). A few fragments held up by reordering
// do not make a queue; and unlike HyStart++, which looks at the smallest
// sample of a round trip, this sees the queue that a window sent in bursts
// builds after the first fragments of each round trip.
func (s *Sender) queueing() bool {
	if s.nRecent < queueSamples {
		return false
	}
	low := s.recentRTT[0]
	for _, r := range s.recentRTT[1:] {
		low = min(low, r)
	}
	floor := s.rtt.Min()
	return low >= floor+min(max(floor/8, 4*time.Millisecond), 16*time.Millisecond)
}

// bdp returns the bandwidth-delay product in fragments: the largest
// delivery rate of the last BandwidthRounds round trips times the minimum
// RTT, or 0 before the first sample.
func (s *Sender) bdp() float64 {
	return s.bw.max(s.round) * s.rtt.Min().Seconds()
}

// congestionSignal takes a transmission of f that looks lost, whether
// declared lost or unknown, as a loss for congestion control.
func (s *Sender) congestionSignal(f *fragState) {
	s.outcome(true)
	if f.seq > s.growFrom {
		// No reduction yet for the round trip that sent it.
		s.reduce()
	}
}

// reduce shrinks the window after a loss if the losses look like
// congestion (see Sender): by Beta when more than MaxRandomLoss of the
// recent transmissions were lost; by Beta but not below the
// bandwidth-delay product when the smoothed RTT exceeds the minimum by a
// quarter plus the clock granularity (a standing queue), which drains the
// queue without starving the path. Otherwise the loss is taken as random
// and the window kept. The queue test is stricter than slow start's exit,
// which only stops the window doubling.
func (s *Sender) reduce() {
	target := s.cwnd * Beta
	switch r := s.rtt; {
	case s.lossRate > MaxRandomLoss:
	case r.Samples() > 0 && r.Smoothed() > r.Min()+r.Min()/4+granularity:
		target = min(max(target, s.bdp()), s.cwnd)
	default:
		return
	}
	s.stats.Reductions++
	s.episode++
	s.undoable, s.undoPending, s.undoCwnd, s.undoSsth = true, 0, s.cwnd, s.ssthresh
	s.ssthresh = max(target, MinWindow)
	s.cwnd = s.ssthresh
	s.growFrom = s.seq
}

// outcome feeds one transmission outcome to the loss-rate average.
func (s *Sender) outcome(lost bool) {
	s.lossRate -= s.lossRate * lossGain
	if lost {
		s.lossRate += lossGain
	}
}

// ackFragment settles a newly acked fragment.
func (s *Sender) ackFragment(f *fragState, i int, now time.Time, newest *uint64, sampleOK *bool, sampleSent *time.Time, rs *rateSample) {
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
	if f.unknown { // it was not lost after all
		f.unknown = false
		s.unknown--
		s.lossRate = max(s.lossRate-lossGain, 0)
	}
	f.lost = false
	if f.seq > *newest {
		// Sample only if the newest transmission revealed was the only one
		// of its fragment (any later one may be what triggered the ack),
		// and the last ack could have reported it.
		*newest, *sampleOK, *sampleSent = f.seq, f.count == 1 && uint32(i*s.mp) < s.horizon, f.sent
	}
	if lastArrived {
		s.largestSeq = max(s.largestSeq, f.seq)
		if f.seq > rs.seq {
			*rs = rateSample{seq: f.seq, sent: f.sent, delivered: f.delivered, inFlightAt: f.inFlightAt}
		}
	}
	s.outcome(false)
	if f.seq > s.growFrom && s.cwnd < s.windowCap() {
		if s.cwnd < s.ssthresh {
			s.cwnd++
		} else {
			s.cwnd += 1 / s.cwnd
		}
		s.cwnd = min(s.cwnd, MaxWindow)
	}
}

// windowCap is the window beyond which acks no longer grow it: MaxWindow,
// and BDPGain (StartupGain in slow start) times the bandwidth-delay product
// once measured, never below InitialWindow.
func (s *Sender) windowCap() float64 {
	b := s.bdp()
	if b == 0 {
		return MaxWindow
	}
	g := float64(BDPGain)
	if s.cwnd < s.ssthresh {
		g = StartupGain
	}
	return min(max(g*b, InitialWindow), MaxWindow)
}

// spurious handles a loss of f that was not one: tolerate more reordering
// from now on, and once every loss of the current episode has proven
// spurious, undo the episode's window reduction.
func (s *Sender) spurious(f *fragState) {
	s.stats.Spurious++
	s.lossRate = max(s.lossRate-lossGain, 0)
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
// Fragments at or beyond the horizon of a truncated ack are left alone: the
// peer may hold them without having said so.
func (s *Sender) detectLosses(now time.Time) {
	s.lossTimer = time.Time{}
	delay := s.rtt.lossDelay(s.timeThreshold)
	// Transmissions kept go to the front of s.flight, in order: the head
	// of those unsettled beyond the horizon, then the rest from i on.
	kept := 0
	i := 0
	for ; i < len(s.flight); i++ {
		t := s.flight[i]
		f := &s.frags[t.idx]
		if f.acked || !(f.inFlight || f.unknown) || f.seq != t.seq {
			continue // settled, or superseded by a later transmission
		}
		if t.seq >= s.largestSeq {
			break
		}
		lost := t.seq+s.pktThreshold <= s.largestSeq || !now.Before(f.sent.Add(delay))
		if uint32(t.idx*s.mp) >= s.horizon {
			// Not reported either way: stop counting it against the
			// window, and decide when an ack reaches it.
			if lost && f.inFlight {
				f.inFlight, f.unknown = false, true
				s.inFlight--
				s.unknown++
				s.congestionSignal(f)
			} else if !lost && s.lossTimer.IsZero() {
				s.lossTimer = f.sent.Add(delay)
			}
			s.flight[kept] = t
			kept++
			continue
		}
		if lost {
			s.markLost(t.idx)
			continue
		}
		if at := f.sent.Add(delay); s.lossTimer.IsZero() || at.Before(s.lossTimer) {
			s.lossTimer = at
		}
		break
	}
	if kept == 0 {
		s.flight = s.flight[i:] // append reallocates, dropping the settled front
		return
	}
	s.flight = append(s.flight[:kept], s.flight[i:]...)
}

// markLost declares fragment i lost and queues it for retransmission.
func (s *Sender) markLost(i int) {
	f := &s.frags[i]
	if f.inFlight {
		f.inFlight = false
		s.inFlight--
		s.congestionSignal(f)
	}
	if f.unknown { // counted as a signal when it became unknown
		f.unknown = false
		s.unknown--
	}
	f.lost = true
	if f.seq > s.recoveryEnd {
		// The first loss of a round trip is resent at once.
		s.fastRetx = true
		s.recoveryEnd = s.seq
		s.stats.LossRounds++
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

// queueSamples is how many RTT samples in a row must show a queue.
const queueSamples = 4

// lossGain is the weight of one transmission outcome in the loss-rate
// average (about the last 64 outcomes count).
const lossGain = 1.0 / 64

// bwFilter keeps the largest delivery rate (fragments per second) of each
// of the last BandwidthRounds round trips.
type bwFilter struct {
	rate  [BandwidthRounds]float64
	round [BandwidthRounds]uint64 // round of each slot, plus one (0: empty)
}

// update takes a sample of round r.
func (b *bwFilter) update(r uint64, rate float64) {
	i := r % BandwidthRounds
	if b.round[i] != r+1 {
		b.round[i], b.rate[i] = r+1, 0
	}
	b.rate[i] = max(b.rate[i], rate)
}

// max returns the largest sample of the last BandwidthRounds rounds up to r.
func (b *bwFilter) max(r uint64) float64 {
	var m float64
	for i, ri := range b.round {
		if ri != 0 && ri+BandwidthRounds > r+1 {
			m = max(m, b.rate[i])
		}
	}
	return m
}
