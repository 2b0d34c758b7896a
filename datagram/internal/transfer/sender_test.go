package transfer

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
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
	if st := s.Stats(); st.Retransmitted != 1 || st.Timeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The window shrank: 8 + 3 acked, times Beta (0.7): 7.7.
	if w := s.Window(); w != 7 {
		t.Fatalf("window %d, want 7", w)
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
	s, _, _ := newTestSender(t, 100)
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
