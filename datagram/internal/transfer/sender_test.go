package transfer

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// offsets returns the offsets of frags.
func offsets(frags []Fragment) []uint32 {
	var o []uint32
	for _, f := range frags {
		o = append(o, f.Offset)
	}
	return o
}

func equalU32(a []uint32, b ...uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// newTestSender returns a Sender of a 100-fragment message of 100-byte
// fragments, without jitter.
func newTestSender(t *testing.T, frags int) (*Sender, []byte, *RTT) {
	t.Helper()
	msg := testMessage(100*frags, uint64(frags))
	rtt := new(RTT)
	return NewSender(msg, 100, rtt, nil), msg, rtt
}

func TestSenderInitialWindow(t *testing.T) {
	s, msg, _ := newTestSender(t, 100)
	if s.Fragments() != 100 || s.Done() {
		t.Fatal("fresh sender")
	}
	out := s.Poll(t0)
	if !equalU32(offsets(out), 0, 100, 200, 300, 400, 500, 600, 700) {
		t.Fatalf("first flight %v", offsets(out))
	}
	for _, f := range out {
		if len(f.Data) != 100 || &f.Data[0] != &msg[f.Offset] {
			t.Fatalf("fragment at %d does not alias the message", f.Offset)
		}
	}
	if again := s.Poll(t0.Add(ms)); len(again) != 0 {
		t.Fatalf("window full, yet Poll sent %v", offsets(again))
	}
	if s.InFlight() != InitialWindow || s.NextDeadline() != t0.Add(InitialRTO) {
		t.Fatalf("in flight %d, deadline %v", s.InFlight(), s.NextDeadline().Sub(t0))
	}
}

func TestSenderLastFragmentShort(t *testing.T) {
	msg := testMessage(250, 1)
	s := NewSender(msg, 100, nil, nil)
	out := s.Poll(t0)
	if s.Fragments() != 3 || len(out) != 3 || len(out[2].Data) != 50 || out[2].Offset != 200 {
		t.Fatalf("fragments %v", offsets(out))
	}
	if cap(out[2].Data) != 50 {
		t.Fatal("fragment data can be appended into the message")
	}
}

func TestSenderSlowStart(t *testing.T) {
	s, _, rtt := newTestSender(t, 100)
	s.Poll(t0)
	now := t0.Add(100 * ms)
	if !s.OnAck([]Range{{Start: 0, End: 800}}, now) {
		t.Fatal("no progress")
	}
	if rtt.Samples() != 1 || rtt.Smoothed() != 100*ms {
		t.Fatalf("RTT sample: %d samples, srtt %v", rtt.Samples(), rtt.Smoothed())
	}
	if s.Window() != 2*InitialWindow {
		t.Fatalf("window %d after a full window of acks, want %d", s.Window(), 2*InitialWindow)
	}
	if out := s.Poll(now); len(out) != 2*InitialWindow || out[0].Offset != 800 {
		t.Fatalf("second flight %v", offsets(out))
	}
	if s.OnAck([]Range{{Start: 0, End: 800}}, now) {
		t.Fatal("a repeated ack made progress")
	}
}

func TestSenderWindowCap(t *testing.T) {
	s, _, _ := newTestSender(t, 2000)
	now := t0
	for range 20 {
		s.Poll(now)
		now = now.Add(50 * ms)
		s.OnAck([]Range{{Start: 0, End: uint32(s.nextNew) * 100}}, now)
	}
	if s.Window() != MaxWindow {
		t.Fatalf("window %d, want the cap %d", s.Window(), MaxWindow)
	}
	if out := s.Poll(now); len(out) > MaxWindow {
		t.Fatalf("sent %d in one flight", len(out))
	}
}

func TestSenderGapByPacketThreshold(t *testing.T) {
	s, msg, _ := newTestSender(t, 100)
	s.Poll(t0)
	now := t0.Add(100 * ms)
	// Fragments 1..3 arrive, 0 does not: three later transmissions acked.
	s.OnAck([]Range{{Start: 100, End: 400}}, now)
	if st := s.Stats(); st.Lost != 1 {
		t.Fatalf("lost %d, want 1", st.Lost)
	}
	out := s.Poll(now)
	if len(out) == 0 || out[0].Offset != 0 || !bytes.Equal(out[0].Data, msg[:100]) {
		t.Fatalf("retransmission first, got %v", offsets(out))
	}
	if st := s.Stats(); st.Retransmitted != 1 || st.Timeouts != 0 || st.LossRounds != 1 {
		t.Fatalf("stats %+v", st)
	}
	// One loss, no queue, a low loss rate: taken as random, the window
	// (8 + 3 acked) is kept.
	if w := s.Window(); w != 11 || s.Stats().Reductions != 0 {
		t.Fatalf("window %d, want 11 (%+v)", w, s.Stats())
	}
}

// queuedSender returns a Sender whose RTT has seen a 10 ms minimum, so that
// acks 100 ms after sending show a queue.
func queuedSender(t *testing.T, frags int) (*Sender, *RTT) {
	s, _, rtt := newTestSender(t, frags)
	rtt.Update(10 * ms)
	return s, rtt
}

// TestSenderReductionOnQueue: a loss while the RTT shows a queue shrinks
// the window by Beta, but not below the bandwidth-delay product.
func TestSenderReductionOnQueue(t *testing.T) {
	s, rtt := queuedSender(t, 100)
	s.Poll(t0)
	s.OnAck([]Range{{Start: 100, End: 400}}, t0.Add(100*ms))
	if rtt.Smoothed() <= rtt.Min()*5/4 {
		t.Fatalf("no queue: srtt %v, min %v", rtt.Smoothed(), rtt.Min())
	}
	// 11 × 0.7 = 7.7; the path delivered 3 fragments in 100 ms, a
	// bandwidth-delay product of 0.3 at the 10 ms minimum.
	if w := s.Window(); w != 7 || s.Stats().Reductions != 1 {
		t.Fatalf("window %d, want 7 (%+v)", w, s.Stats())
	}

	// With a measured product above Beta times the window, the window
	// stops there.
	s, _ = queuedSender(t, 100)
	s.Poll(t0)
	s.bw.update(s.round, 1000) // 1000 fragments/s × 10 ms = 10
	s.cwnd = 12
	s.OnAck([]Range{{Start: 100, End: 400}}, t0.Add(100*ms))
	if b := s.bdp(); b < 10 || b > 11 {
		t.Fatalf("bdp %.1f", b)
	}
	if w := s.Window(); w != 10 {
		t.Fatalf("window %d, want the product, 10", w)
	}
}

// TestSenderReductionOnLossRate: beyond MaxRandomLoss, losses are
// congestion even without a queue: the window shrinks by Beta.
func TestSenderReductionOnLossRate(t *testing.T) {
	s, _, _ := newTestSender(t, 100)
	s.Poll(t0)
	s.lossRate = MaxRandomLoss + 0.01
	s.OnAck([]Range{{Start: 100, End: 400}}, t0.Add(100*ms))
	if w := s.Window(); w != 7 || s.Stats().Reductions != 1 {
		t.Fatalf("window %d, want 7 (%+v)", w, s.Stats())
	}
	// Once per round trip: more losses of the same flight do not shrink
	// it again.
	s.OnAck([]Range{{Start: 100, End: 800}}, t0.Add(110*ms))
	if s.Stats().Reductions != 1 {
		t.Fatalf("second reduction in one round trip (%+v)", s.Stats())
	}
}

// TestSenderLossRate: the loss rate follows the outcomes, and a loss that
// proves spurious is taken back.
func TestSenderLossRate(t *testing.T) {
	s, _, _ := newTestSender(t, 100)
	for range 200 {
		s.outcome(true)
	}
	if s.lossRate < 0.95 {
		t.Fatalf("all lost: rate %.2f", s.lossRate)
	}
	for range 200 {
		s.outcome(false)
	}
	if s.lossRate > 0.05 {
		t.Fatalf("none lost: rate %.2f", s.lossRate)
	}
	for i := range 2000 {
		s.outcome(i%5 == 0)
	}
	if s.lossRate < 0.1 || s.lossRate > 0.3 {
		t.Fatalf("one in five lost: rate %.2f", s.lossRate)
	}
}

// TestSenderSlowStartExit: RTT samples that show a queue, queueSamples in
// a row, end slow start without shrinking the window; a single delayed
// sample does not.
func TestSenderSlowStartExit(t *testing.T) {
	s, _ := queuedSender(t, 100)
	s.Poll(t0)
	now := t0.Add(100 * ms)
	for i := range queueSamples {
		s.OnAck([]Range{{Start: 0, End: uint32(100 * (i + 1))}}, now)
		now = now.Add(ms)
		if i < queueSamples-1 && !math.IsInf(s.ssthresh, 1) {
			t.Fatalf("slow start ended after %d samples", i+1)
		}
	}
	if s.ssthresh != s.cwnd || s.Stats().SlowStartExits != 1 || s.Stats().Reductions != 0 {
		t.Fatalf("window %.1f, ssthresh %.1f, %+v", s.cwnd, s.ssthresh, s.Stats())
	}
	s.bw.update(s.round, 1e6) // lift the delivery cap
	w := s.cwnd
	s.OnAck([]Range{{Start: 0, End: 500}}, now)
	if s.cwnd != w+1/w {
		t.Fatalf("window %.3f after %.3f, want one per window", s.cwnd, w)
	}

	// Samples at the minimum and one late one: no queue.
	s, _, _ = newTestSender(t, 100)
	s.Poll(t0)
	for i, d := range []time.Duration{10 * ms, 10 * ms, 10 * ms, 40 * ms, 10 * ms} {
		s.OnAck([]Range{{Start: 0, End: uint32(100 * (i + 1))}}, t0.Add(d))
	}
	if !math.IsInf(s.ssthresh, 1) {
		t.Fatal("one late sample ended slow start")
	}
}

// TestSenderWindowCapByDelivery: the window grows no further than
// StartupGain times what the path delivers (never below InitialWindow).
func TestSenderWindowCapByDelivery(t *testing.T) {
	s, _, _ := newTestSender(t, 100)
	s.Poll(t0)
	// One fragment delivered in 100 ms, the minimum RTT: a product of 1.
	s.OnAck([]Range{{Start: 0, End: 100}}, t0.Add(100*ms))
	if b := s.bdp(); b < 0.99 || b > 1.01 {
		t.Fatalf("bdp %.2f, want 1", b)
	}
	// The first ack grew the window before the path was measured; the
	// next ones do not.
	if s.windowCap() != InitialWindow || s.Window() != InitialWindow+1 {
		t.Fatalf("cap %.1f, window %d", s.windowCap(), s.Window())
	}
	s.OnAck([]Range{{Start: 0, End: 300}}, t0.Add(200*ms))
	if s.Window() != InitialWindow+1 {
		t.Fatalf("window %d grew past the cap %.1f", s.Window(), s.windowCap())
	}
	// A path that delivers 50 fragments per 100 ms round trip lets it grow
	// to 2.89 × 50, then MaxWindow.
	s.bw.update(s.round, 500)
	if c := s.windowCap(); c != StartupGain*50 {
		t.Fatalf("cap %.1f, want %.1f", c, StartupGain*50)
	}
	s.ssthresh = s.cwnd
	if c := s.windowCap(); c != BDPGain*50 {
		t.Fatalf("cap out of slow start %.1f, want %.1f", c, BDPGain*50)
	}
}

// TestSenderRateSampleBound: a delivery-rate sample counts no more
// fragments than were in flight when its fragment was sent (an ack that
// fills a hole reports at once fragments delivered earlier), over no less
// than the minimum RTT (acks bunched on the way back).
func TestSenderRateSampleBound(t *testing.T) {
	s, _, rtt := newTestSender(t, 100)
	rtt.Update(100 * ms)
	s.acked = 50
	s.takeRateSample(&rateSample{seq: 1, sent: t0, delivered: 0, inFlightAt: 5}, t0.Add(100*ms))
	if r := s.bw.max(s.round); r != 50 {
		t.Fatalf("rate %.1f/s, want 5 fragments in 100 ms", r)
	}
	s.takeRateSample(&rateSample{seq: 2, sent: t0.Add(99 * ms), delivered: 40, inFlightAt: 20}, t0.Add(100*ms))
	if r := s.bw.max(s.round); r != 100 {
		t.Fatalf("rate %.1f/s, want 10 fragments in 100 ms", r)
	}
}

// TestSenderTruncatedAck: a fragment beyond the last range of an ack of
// wire.MaxAckRanges ranges is not declared lost but unknown: out of the
// window, a congestion signal, resent only once an ack reaches it.
func TestSenderTruncatedAck(t *testing.T) {
	s, _, _ := newTestSender(t, 100)
	s.Poll(t0)                 // 0..7, transmissions 1..8
	s.Poll(t0.Add(InitialRTO)) // timeout: probes 0 and 1, transmissions 9, 10
	now := t0.Add(InitialRTO + 100*ms)
	full := slices.Repeat([]Range{{Start: 0, End: 200}}, wire.MaxAckRanges)
	s.OnAck(full, now)
	if st := s.Stats(); st.Lost != 0 || s.unknown != 6 || s.InFlight() != 0 {
		t.Fatalf("lost %d, unknown %d, in flight %d", st.Lost, s.unknown, s.InFlight())
	}
	if s.lossRate == 0 {
		t.Fatal("unknown fragments did not count as losses for congestion control")
	}
	if s.NextDeadline().IsZero() {
		t.Fatal("no deadline with unknown fragments left")
	}
	// The next ack says everything up to fragment 2 and stops there: 3..7
	// are lost, 2 was not. (2 gives no RTT sample: it was beyond the last
	// ack's horizon, so it may have arrived long before.)
	before := s.lossRate
	s.OnAck([]Range{{Start: 0, End: 300}}, now.Add(ms))
	if st := s.Stats(); st.Lost != 5 || s.unknown != 0 || s.lossRate >= before || s.rtt.Samples() != 0 {
		t.Fatalf("lost %d, unknown %d, loss rate %.3f after %.3f", st.Lost, s.unknown, s.lossRate, before)
	}
	out := s.Poll(now.Add(ms))
	if len(out) == 0 || out[0].Offset != 300 {
		t.Fatalf("resent %v, want 300 first", offsets(out))
	}
}

// TestSenderProbe: Probe resends the first unacked fragments already sent,
// at once, whatever the window, without backoff or window cut.
func TestSenderProbe(t *testing.T) {
	s, _, rtt := newTestSender(t, 3)
	s.Poll(t0)
	now := t0.Add(100 * ms)
	s.OnAck([]Range{{Start: 100, End: 200}}, now)
	w, deadline := s.Window(), s.NextDeadline()
	out := s.Probe(now.Add(ms), 4)
	if !equalU32(offsets(out), 0, 200) {
		t.Fatalf("probes %v, want 0 and 200", offsets(out))
	}
	if st := s.Stats(); st.Probes != 2 || st.Retransmitted != 2 || st.Timeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s.Window() != w || rtt.Backoffs() != 0 || !s.NextDeadline().Equal(deadline) {
		t.Fatalf("window %d (was %d), backoffs %d, deadline %v (was %v)", s.Window(), w, rtt.Backoffs(), s.NextDeadline(), deadline)
	}
	if out := s.Probe(now.Add(2*ms), 1); !equalU32(offsets(out), 0) {
		t.Fatalf("Probe(1) %v", offsets(out))
	}
	if out := s.Probe(now.Add(2*ms), 0); len(out) != MaxProbes {
		t.Fatalf("Probe(0) sent %d, want MaxProbes", len(out))
	}
	s.OnAck([]Range{{Start: 0, End: 300}}, now.Add(50*ms))
	if !s.Done() || s.Probe(now.Add(60*ms), 4) != nil {
		t.Fatal("a done sender probed")
	}

	// Fragments never sent are left to the window.
	s, _, _ = newTestSender(t, 100)
	s.Poll(t0)
	if out := s.Probe(t0.Add(ms), 50); len(out) != InitialWindow {
		t.Fatalf("probed %d, want the %d sent", len(out), InitialWindow)
	}
	if s2, _, _ := newTestSender(t, 10); s2.Probe(t0, 4) != nil {
		t.Fatal("probe before anything was sent")
	}
}

// TestSenderCovers: Covers is true exactly when the ranges hold the whole
// message, in any order.
func TestSenderCovers(t *testing.T) {
	s, _, _ := newTestSender(t, 3) // 300 bytes
	cases := []struct {
		ranges []Range
		want   bool
	}{
		{[]Range{{Start: 0, End: 300}}, true},
		{[]Range{{Start: 0, End: 1 << 30}}, true},
		{[]Range{{Start: 0, End: 100}, {Start: 100, End: 300}}, true},
		{[]Range{{Start: 150, End: 300}, {Start: 0, End: 200}}, true},
		{[]Range{{Start: 200, End: 300}, {Start: 100, End: 200}, {Start: 0, End: 100}}, true},
		{[]Range{{Start: 0, End: 299}}, false},
		{[]Range{{Start: 1, End: 300}}, false},
		{[]Range{{Start: 0, End: 100}, {Start: 101, End: 300}}, false},
		{[]Range{{Start: 200, End: 300}, {Start: 0, End: 100}}, false},
		{[]Range{{Start: 50, End: 10}, {Start: 0, End: 300}}, true},
		{nil, false},
	}
	for _, c := range cases {
		if got := s.Covers(c.ranges); got != c.want {
			t.Errorf("Covers(%v) = %v, want %v", c.ranges, got, c.want)
		}
	}
	if !NewSender(nil, 100, nil, nil).Covers(nil) {
		t.Error("an empty message is covered by anything")
	}
	sorted := []Range{{Start: 0, End: 100}, {Start: 100, End: 300}}
	if a := testing.AllocsPerRun(10, func() { s.Covers(sorted) }); a != 0 {
		t.Errorf("Covers of sorted ranges allocates %.0f times", a)
	}
}

func TestSenderGapByTimeThreshold(t *testing.T) {
	s, _, rtt := newTestSender(t, 100)
	s.Poll(t0)
	now := t0.Add(100 * ms)
	// Only fragment 1 arrives: below the packet threshold, so fragment 0
	// waits for the time threshold.
	s.OnAck([]Range{{Start: 100, End: 200}}, now)
	if s.Stats().Lost != 0 {
		t.Fatal("lost before the time threshold")
	}
	// One fragment left the flight and the window grew by one.
	if out := s.Poll(now); !equalU32(offsets(out), 800, 900) {
		t.Fatalf("after one ack, want two new fragments, got %v", offsets(out))
	}
	deadline := s.NextDeadline()
	want := t0.Add(rtt.lossDelay(timeThreshold))
	if !deadline.Equal(want) {
		t.Fatalf("loss timer at %v, want %v", deadline.Sub(t0), want.Sub(t0))
	}
	if out := s.Poll(deadline.Add(-time.Nanosecond)); len(out) != 0 {
		t.Fatalf("early poll sent %v", offsets(out))
	}
	out := s.Poll(deadline)
	if len(out) == 0 || out[0].Offset != 0 || s.Stats().Lost != 1 {
		t.Fatalf("at the loss timer, want fragment 0 again, got %v (%+v)", offsets(out), s.Stats())
	}
}

func TestSenderTimeoutSendsOnlyProbes(t *testing.T) {
	s, _, rtt := newTestSender(t, 1000)
	s.Poll(t0)
	now := t0
	rto := InitialRTO
	for i := range 8 {
		now = s.NextDeadline()
		if got := now.Sub(t0); i == 0 && got != InitialRTO {
			t.Fatalf("first deadline %v", got)
		}
		out := s.Poll(now)
		if !equalU32(offsets(out), 0, 100) {
			t.Fatalf("timeout %d sent %v, want the first two fragments only", i+1, offsets(out))
		}
		if s.Stats().Timeouts != i+1 || rtt.Backoffs() != i+1 {
			t.Fatalf("timeouts %d, backoffs %d", s.Stats().Timeouts, rtt.Backoffs())
		}
		rto = min(2*rto, MaxRTO)
		if d := s.NextDeadline().Sub(now); d != rto {
			t.Fatalf("after timeout %d the timer is %v, want %v", i+1, d, rto)
		}
	}
	if s.Window() != MinWindow {
		t.Fatalf("window %d after repeated timeouts", s.Window())
	}
	if st := s.Stats(); st.Sent != InitialWindow+2*8 {
		t.Fatalf("sent %d", st.Sent)
	}
	// Progress resets the backoff.
	s.OnAck([]Range{{Start: 0, End: 100}}, now.Add(time.Second))
	if rtt.Backoffs() != 0 {
		t.Fatal("progress did not reset the backoff")
	}
}

func TestSenderSingleFragmentProbeTwice(t *testing.T) {
	s := NewSender(testMessage(71, 1), 1200, nil, nil)
	if out := s.Poll(t0); len(out) != 1 {
		t.Fatalf("first flight %d", len(out))
	}
	out := s.Poll(t0.Add(InitialRTO))
	if !equalU32(offsets(out), 0, 0) {
		t.Fatalf("probe %v, want the fragment twice", offsets(out))
	}
}

func TestSenderKarn(t *testing.T) {
	s, _, rtt := newTestSender(t, 100)
	s.Poll(t0)
	s.Poll(t0.Add(InitialRTO)) // timeout: fragments 0 and 1 resent
	s.OnAck([]Range{{Start: 0, End: 200}}, t0.Add(InitialRTO+80*ms))
	if rtt.Samples() != 0 {
		t.Fatal("RTT sampled from a retransmitted fragment")
	}
	// Now fragments 2 and 3 are revealed, both sent once: a sample.
	s.OnAck([]Range{{Start: 0, End: 400}}, t0.Add(InitialRTO+90*ms))
	if rtt.Samples() != 1 {
		t.Fatalf("samples %d", rtt.Samples())
	}
}

func TestSenderNoStaleSample(t *testing.T) {
	s, _, rtt := newTestSender(t, 100)
	s.Poll(t0)
	s.Poll(t0.Add(InitialRTO)) // probes 0, 1
	// The ack reveals fragments 0..4: 2..4 were sent once long ago, 0 and 1
	// were just resent: the newest transmission revealed is a probe, so no
	// sample, since 2..4 may have arrived long ago.
	s.OnAck([]Range{{Start: 0, End: 500}}, t0.Add(InitialRTO+60*ms))
	if rtt.Samples() != 0 {
		t.Fatalf("stale sample taken: srtt %v", rtt.Smoothed())
	}
}

func TestSenderSpuriousLossUndone(t *testing.T) {
	s, _ := queuedSender(t, 100) // so that the loss shrinks the window
	s.Poll(t0)
	now := t0.Add(100 * ms)
	s.OnAck([]Range{{Start: 100, End: 400}}, now) // fragment 0 declared lost
	reduced := s.Window()
	// Before it is resent, the original shows up.
	s.OnAck([]Range{{Start: 0, End: 400}}, now.Add(ms))
	st := s.Stats()
	if st.Spurious != 1 || s.Window() <= reduced {
		t.Fatalf("spurious %d, window %d (reduced %d)", st.Spurious, s.Window(), reduced)
	}
	if s.pktThreshold != 2*ReorderThreshold || s.timeThreshold != timeThreshold+1 {
		t.Fatalf("thresholds %d, %d not raised", s.pktThreshold, s.timeThreshold)
	}
	for _, f := range s.Poll(now.Add(ms)) {
		if f.Offset == 0 {
			t.Fatal("an acked fragment was resent")
		}
	}
}

func TestSenderAckClipping(t *testing.T) {
	s, _, _ := newTestSender(t, 3)
	s.Poll(t0)
	now := t0.Add(10 * ms)
	if s.OnAck([]Range{{Start: 50, End: 150}, {Start: 200, End: 100}, {Start: 5000, End: 6000}}, now) {
		t.Fatal("partial, inverted or foreign ranges made progress")
	}
	if !s.OnAck([]Range{{Start: 200, End: 1 << 31}}, now) || !s.frags[2].acked {
		t.Fatal("range past the end did not ack the last fragment")
	}
	if s.frags[1].acked {
		t.Fatal("a partly covered fragment was acked")
	}
	s.OnAck([]Range{{Start: 0, End: 300}}, now)
	if !s.Done() || !s.NextDeadline().IsZero() || s.Poll(now) != nil {
		t.Fatal("done sender")
	}
}

func TestSenderEmpty(t *testing.T) {
	s := NewSender(nil, 1200, nil, nil)
	if !s.Done() || s.Poll(t0) != nil || !s.NextDeadline().IsZero() || s.Fragments() != 0 {
		t.Fatal("empty message")
	}
	if s.OnAck([]Range{{Start: 0, End: 10}}, t0) {
		t.Fatal("progress on an empty message")
	}
	// maxPayload below 1 counts as 1.
	if s := NewSender([]byte("abc"), 0, nil, nil); s.Fragments() != 3 {
		t.Fatalf("fragments %d", s.Fragments())
	}
}

func TestSenderJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for seed := range uint64(20) {
		s := NewSender(testMessage(5000, 1), 1000, nil, rand.New(rand.NewPCG(seed, 2)))
		s.Poll(t0)
		d := s.NextDeadline().Sub(t0)
		if d < InitialRTO || d > InitialRTO+time.Duration(Jitter*float64(InitialRTO)) {
			t.Fatalf("jittered timeout %v outside [RTO, RTO·(1+Jitter)]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct timeouts over 20 seeds", len(seen))
	}
}

func TestSenderNextDeadlineWhenSendable(t *testing.T) {
	s, _, _ := newTestSender(t, 100)
	s.Poll(t0)
	now := t0.Add(100 * ms)
	s.OnAck([]Range{{Start: 0, End: 800}}, now)
	if d := s.NextDeadline(); !d.Equal(now) {
		t.Fatalf("with fragments ready, deadline %v, want now", d.Sub(t0))
	}
	s.Poll(now)
	if d := s.NextDeadline(); !d.After(now) {
		t.Fatalf("after Poll, deadline %v", d.Sub(t0))
	}
}
