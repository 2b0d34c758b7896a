package transfer

import (
	"bytes"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// link is a tiny model of a lossy path in one direction: loss, duplication,
// reordering (a random extra delay), a fixed one-way delay and an optional
// bottleneck rate. It is deterministic from its seed.
type link struct {
	rng       *rand.Rand
	loss, dup float64
	reorder   float64       // probability of an extra random delay
	delay     time.Duration // one-way propagation delay
	spread    time.Duration // maximum extra delay of a reordered packet
	perByte   time.Duration // serialization time per byte (0: unlimited)
	free      time.Time     // when the bottleneck is free again
}

// arrivals returns when copies of a packet of n bytes sent at now arrive
// (none if it is lost).
func (l *link) arrivals(now time.Time, n int) []time.Time {
	if l.rng.Float64() < l.loss {
		return nil
	}
	depart := now
	if l.perByte > 0 {
		depart = maxTime(now, l.free).Add(time.Duration(n) * l.perByte)
		l.free = depart
	}
	copies := 1
	if l.rng.Float64() < l.dup {
		copies = 2
	}
	var out []time.Time
	for range copies {
		at := depart.Add(l.delay)
		if l.rng.Float64() < l.reorder {
			at = at.Add(time.Duration(l.rng.Int64N(int64(l.spread) + 1)))
		}
		out = append(out, at)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// event is a packet arriving at one end.
type event struct {
	at     time.Time
	order  int
	frag   *Fragment // to the receiver
	ranges []Range   // to the sender
}

type queue []event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].order < q[j].order
}
func (q queue) Swap(i, j int)   { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)     { *q = append(*q, x.(event)) }
func (q *queue) Pop() any       { old := *q; e := old[len(old)-1]; *q = old[:len(old)-1]; return e }
func (q queue) peek() time.Time { return q[0].at }

// path describes both directions of a simulated path.
type path struct {
	loss, dup, reorder float64
	delay              time.Duration
	bytesPerSecond     float64
}

// simResult is what one simulated transfer did.
type simResult struct {
	elapsed time.Duration
	rtts    float64
	stats   SenderStats
	rstats  ReassemblerStats
	acks    int
}

const simPayload = 1200

// simulate sends msg from a Sender to a Reassembler across p and returns what
// happened. The receiver acks every fragment with its lowest
// wire.MaxAckRanges ranges, as the carrier does.
func simulate(t testing.TB, msg []byte, p path, seed uint64) simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	mk := func(bw bool) *link {
		l := &link{rng: rng, loss: p.loss, dup: p.dup, reorder: p.reorder, delay: p.delay, spread: p.delay}
		if bw && p.bytesPerSecond > 0 {
			l.perByte = time.Duration(float64(time.Second) / p.bytesPerSecond)
		}
		return l
	}
	fwd, back := mk(true), mk(false)
	budget := NewBudget(4 << 20)
	r, err := NewReassembler(len(msg), budget)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		r.Release()
		if budget.Used() != 0 {
			t.Errorf("budget not returned: %d", budget.Used())
		}
	}()
	var rtt RTT
	s := NewSender(msg, simPayload, &rtt, rand.New(rand.NewPCG(seed, 1)))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var q queue
	order := 0
	push := func(e event) { order++; e.order = order; heap.Push(&q, e) }
	send := func(frags []Fragment) {
		for _, f := range frags {
			for _, at := range fwd.arrivals(now, len(f.Data)+wire.FragmentOverhead(false, false)) {
				fc := f
				push(event{at: at, frag: &fc})
			}
		}
	}
	send(s.Poll(now))
	acks := 0
	limit := start.Add(2 * time.Hour)
	for !s.Done() {
		next := s.NextDeadline()
		if q.Len() > 0 && (next.IsZero() || q.peek().Before(next)) {
			next = q.peek()
		}
		if next.IsZero() {
			t.Fatalf("stalled: nothing in flight, no deadline, %d of %d fragments acked", s.acked, s.Fragments())
		}
		if next.After(limit) {
			t.Fatalf("no completion after %v (stats %+v)", limit.Sub(start), s.Stats())
		}
		now = maxTime(now, next)
		for q.Len() > 0 && !q.peek().After(now) {
			e := heap.Pop(&q).(event)
			if e.frag != nil {
				if _, err := r.Add(e.frag.Offset, e.frag.Data); err != nil {
					t.Fatalf("Add: %v", err)
				}
				rs := r.Ranges(wire.MaxAckRanges)
				acks++
				for _, at := range back.arrivals(now, wire.AckSize(len(rs))) {
					push(event{at: at, ranges: rs})
				}
				continue
			}
			s.OnAck(e.ranges, now)
		}
		send(s.Poll(now))
	}
	if !r.Complete() || !bytes.Equal(r.Bytes(), msg) {
		t.Fatalf("sender done but message not reassembled (held %d of %d)", r.Held(), len(msg))
	}
	if !s.NextDeadline().IsZero() || s.Poll(now) != nil {
		t.Fatal("a done sender still has work")
	}
	el := now.Sub(start)
	return simResult{elapsed: el, rtts: float64(el) / float64(2*p.delay), stats: s.Stats(), rstats: r.Stats(), acks: acks}
}

func testMessage(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

var simSizes = []int{1, 71, 1199, 1200, 1201, 9600, 65536, 300_000, 1_400_000}

// TestTransferNoLoss checks that on a clean path every size arrives with no
// retransmission and no timeout, in the round trips slow start needs.
func TestTransferNoLoss(t *testing.T) {
	for _, n := range simSizes {
		for _, bw := range []float64{0, 12.5e6} {
			p := path{delay: 25 * time.Millisecond, bytesPerSecond: bw}
			res := simulate(t, testMessage(n, uint64(n)), p, 1)
			if res.stats.Retransmitted != 0 || res.stats.Timeouts != 0 || res.stats.Lost != 0 {
				t.Errorf("size %d bw %v: retransmissions on a clean path: %+v", n, bw, res.stats)
			}
			frags := (n + simPayload - 1) / simPayload
			if res.stats.Sent != frags {
				t.Errorf("size %d: sent %d fragments, want %d", n, res.stats.Sent, frags)
			}
			// Slow start from 8 reaches the 256-fragment cap in 5 round
			// trips; a bottleneck adds its serialization time.
			bound := 6 + float64(frags)/MaxWindow
			if bw > 0 {
				bound += float64(n) / bw / (2 * p.delay.Seconds()) * 1.2
			}
			if res.rtts > bound {
				t.Errorf("size %d bw %v: %.1f round trips, want at most %.1f", n, bw, res.rtts, bound)
			}
			t.Logf("size %7d bw %5.1f MB/s: %5.1f RTTs, %d acks", n, bw/1e6, res.rtts, res.acks)
		}
	}
}

// TestTransferLossy sends every size across lossy, reordering and
// duplicating paths (acks lossy too) and checks byte-exact reassembly within
// a bounded number of round trips.
func TestTransferLossy(t *testing.T) {
	cases := []struct {
		name string
		p    path
	}{
		{"loss5", path{loss: 0.05, reorder: 0.1, dup: 0.05}},
		{"loss20", path{loss: 0.20, reorder: 0.1, dup: 0.05}},
		{"loss50", path{loss: 0.50, reorder: 0.1, dup: 0.05}},
		{"reorder30", path{reorder: 0.3}},
		{"dup20", path{dup: 0.2}},
		{"loss5+bottleneck", path{loss: 0.05, bytesPerSecond: 12.5e6}},
	}
	for _, c := range cases {
		c.p.delay = 25 * time.Millisecond
		for _, n := range simSizes {
			frags := (n + simPayload - 1) / simPayload
			bound := roundTripBound(c.p.loss, frags, 2*c.p.delay)
			for seed := range uint64(3) {
				res := simulate(t, testMessage(n, seed), c.p, seed*7919+uint64(n))
				if res.rtts > bound {
					t.Errorf("%s size %d seed %d: %.1f round trips, want at most %.1f (%+v)", c.name, n, seed, res.rtts, bound, res.stats)
				}
				if seed == 0 {
					t.Logf("%-17s size %7d: %6.1f RTTs (bound %6.0f), sent %4d, retransmitted %4d, lost %4d, spurious %2d, timeouts %3d",
						c.name, n, res.rtts, bound, res.stats.Sent, res.stats.Retransmitted, res.stats.Lost, res.stats.Spurious, res.stats.Timeouts)
				}
				if res.rstats.Conflicts != 0 {
					t.Errorf("%s size %d: conflicts on an honest path", c.name, n)
				}
			}
		}
	}
}

// roundTripBound bounds the round trips a transfer of frags fragments may
// take at a given loss rate (each way) on a path of round-trip time rtt: the
// time of k timeouts in a row from the initial RTO (a small message learns
// no RTT before its first ack, so k back-to-back losses cost 500 ms, 1 s,
// 2 s, ... up to MaxRTO each), plus a part per fragment for the window that
// losses keep small. The per-fragment constants are at least twice the worst
// of 100 seeds per size; at 50 % loss each way three in four transmissions
// go unanswered and the window sits at MinWindow.
func roundTripBound(loss float64, frags int, rtt time.Duration) float64 {
	var k int
	var perFrag float64
	switch {
	case loss == 0:
		k, perFrag = 0, 0.1
	case loss <= 0.05:
		k, perFrag = 3, 0.4
	case loss <= 0.20:
		k, perFrag = 5, 1.0
	default:
		k, perFrag = 20, 25
	}
	var timeouts time.Duration
	for i := range k {
		timeouts += min(InitialRTO<<i, MaxRTO)
	}
	return 20 + float64(timeouts)/float64(rtt) + perFrag*float64(frags)
}

func TestSimulationDeterministic(t *testing.T) {
	msg := testMessage(50_000, 3)
	p := path{loss: 0.2, reorder: 0.2, dup: 0.1, delay: 10 * time.Millisecond}
	a, b := simulate(t, msg, p, 9), simulate(t, msg, p, 9)
	if a != b {
		t.Fatalf("same seed, different runs: %+v vs %+v", a, b)
	}
	c := simulate(t, msg, p, 10)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("different seeds, identical runs: the channel is not random")
	}
}
