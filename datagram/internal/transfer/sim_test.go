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
// bottleneck rate with a drop-tail queue. It is deterministic from its seed.
type link struct {
	rng       *rand.Rand
	loss, dup float64
	reorder   float64       // probability of an extra random delay
	delay     time.Duration // one-way propagation delay
	spread    time.Duration // maximum extra delay of a reordered packet
	perByte   time.Duration // serialization time per byte (0: unlimited)
	free      time.Time     // when the bottleneck is free again
	limit     int           // bottleneck queue in bytes (0: unlimited)
	drops     int           // packets the full queue dropped
	maxQueue  time.Duration // longest wait in the queue
}

// arrivals returns when copies of a packet of n bytes sent at now arrive
// (none if it is lost).
func (l *link) arrivals(now time.Time, n int) []time.Time {
	if l.rng.Float64() < l.loss {
		return nil
	}
	depart := now
	if l.perByte > 0 {
		wait := max(l.free.Sub(now), 0)
		if l.limit > 0 && int(wait/l.perByte)+n > l.limit {
			l.drops++
			return nil
		}
		l.maxQueue = max(l.maxQueue, wait)
		depart = now.Add(wait + time.Duration(n)*l.perByte)
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
	flow   int       // index of the transfer
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
	queueBytes         int // drop-tail queue of the bottleneck (0: unlimited)
}

// simResult is what one simulated transfer did.
type simResult struct {
	elapsed  time.Duration
	rtts     float64
	stats    SenderStats
	rstats   ReassemblerStats
	acks     int
	drops    int           // packets the bottleneck queue dropped
	maxQueue time.Duration // longest wait in the bottleneck queue
}

const simPayload = 1200

// simulate sends msg from a Sender to a Reassembler across p and returns what
// happened. The receiver acks every fragment with its lowest
// wire.MaxAckRanges ranges, as the carrier does.
func simulate(t testing.TB, msg []byte, p path, seed uint64) simResult {
	t.Helper()
	return simulateFlows(t, []flowSpec{{msg: msg}}, p, seed)[0]
}

// flowSpec is one transfer of simulateFlows: a message and when its sender
// starts.
type flowSpec struct {
	msg   []byte
	start time.Duration
}

// simFlow is the state of one transfer in simulateFlows.
type simFlow struct {
	spec flowSpec
	s    *Sender
	r    *Reassembler
	rtt  RTT
	acks int
	on   bool
	end  time.Time
}

// simulateFlows runs transfers that share the path p (and its bottleneck
// queue) from their start times until all are done, and returns what each
// did; elapsed counts from each one's start. Drops and the longest queue
// wait are the path's, shared.
func simulateFlows(t testing.TB, specs []flowSpec, p path, seed uint64) []simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	mk := func(bw bool) *link {
		l := &link{rng: rng, loss: p.loss, dup: p.dup, reorder: p.reorder, delay: p.delay, spread: p.delay}
		if bw && p.bytesPerSecond > 0 {
			l.perByte = time.Duration(float64(time.Second) / p.bytesPerSecond)
			l.limit = p.queueBytes
		}
		return l
	}
	fwd, back := mk(true), mk(false)
	budget := NewBudget(int64(len(specs)) * 4 << 20)
	flows := make([]*simFlow, len(specs))
	for i, spec := range specs {
		r, err := NewReassembler(len(spec.msg), budget)
		if err != nil {
			t.Fatal(err)
		}
		fl := &simFlow{spec: spec, r: r}
		fl.s = NewSender(spec.msg, simPayload, &fl.rtt, rand.New(rand.NewPCG(seed, uint64(1+i))))
		flows[i] = fl
	}
	defer func() {
		for _, fl := range flows {
			fl.r.Release()
		}
		if budget.Used() != 0 {
			t.Errorf("budget not returned: %d", budget.Used())
		}
	}()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var q queue
	order := 0
	push := func(e event) { order++; e.order = order; heap.Push(&q, e) }
	send := func(flow int, frags []Fragment) {
		for _, f := range frags {
			for _, at := range fwd.arrivals(now, len(f.Data)+wire.FragmentOverhead(false, false)) {
				fc := f
				push(event{at: at, flow: flow, frag: &fc})
			}
		}
	}
	limit := start.Add(2 * time.Hour)
	for {
		// The next thing to happen: a start, a sender's deadline or an
		// arrival.
		var next time.Time
		earlier := func(at time.Time) {
			if !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		running := false
		for _, fl := range flows {
			switch {
			case !fl.on:
				earlier(start.Add(fl.spec.start))
				running = true
			case !fl.s.Done():
				earlier(fl.s.NextDeadline())
				running = true
			}
		}
		if !running {
			break
		}
		if q.Len() > 0 {
			earlier(q.peek())
		}
		if next.IsZero() {
			t.Fatalf("stalled: nothing in flight, no deadline")
		}
		if next.After(limit) {
			t.Fatalf("no completion after %v (stats %+v)", limit.Sub(start), flows[0].s.Stats())
		}
		now = maxTime(now, next)
		for q.Len() > 0 && !q.peek().After(now) {
			e := heap.Pop(&q).(event)
			fl := flows[e.flow]
			if e.frag != nil {
				if _, err := fl.r.Add(e.frag.Offset, e.frag.Data); err != nil {
					t.Fatalf("Add: %v", err)
				}
				rs := fl.r.Ranges(wire.MaxAckRanges)
				fl.acks++
				for _, at := range back.arrivals(now, wire.AckSize(len(rs))) {
					push(event{at: at, flow: e.flow, ranges: rs})
				}
				continue
			}
			fl.s.OnAck(e.ranges, now)
		}
		for i, fl := range flows {
			if !fl.on && !now.Before(start.Add(fl.spec.start)) {
				fl.on = true
			}
			if !fl.on || fl.s.Done() {
				continue
			}
			send(i, fl.s.Poll(now))
		}
		for _, fl := range flows {
			if fl.on && fl.s.Done() && fl.end.IsZero() {
				fl.end = now
			}
		}
	}
	out := make([]simResult, len(flows))
	for i, fl := range flows {
		if !fl.r.Complete() || !bytes.Equal(fl.r.Bytes(), fl.spec.msg) {
			t.Fatalf("flow %d: sender done but message not reassembled (held %d of %d)", i, fl.r.Held(), len(fl.spec.msg))
		}
		if !fl.s.NextDeadline().IsZero() || fl.s.Poll(now) != nil {
			t.Fatalf("flow %d: a done sender still has work", i)
		}
		el := fl.end.Sub(start.Add(fl.spec.start))
		out[i] = simResult{elapsed: el, rtts: float64(el) / float64(2*p.delay), stats: fl.s.Stats(), rstats: fl.r.Stats(),
			acks: fl.acks, drops: fwd.drops, maxQueue: fwd.maxQueue}
	}
	return out
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

// lossyRoundTrips is the mean number of round trips a 1.4 MB message takes
// over the benchmark's path (25 ms each way, 10 % reordering) at a random
// loss rate in both directions, over seeds 1..n, with the worst and the
// summed stats.
func lossyRoundTrips(t testing.TB, loss float64, n int) (mean, worst float64, st SenderStats) {
	msg := testMessage(1_400_000, 1)
	for seed := range uint64(n) {
		r := simulate(t, msg, path{loss: loss, reorder: 0.1, delay: 25 * time.Millisecond}, seed+1)
		mean += r.rtts / float64(n)
		worst = max(worst, r.rtts)
		st.Sent += r.stats.Sent
		st.Lost += r.stats.Lost
		st.Spurious += r.stats.Spurious
		st.Timeouts += r.stats.Timeouts
		st.Reductions += r.stats.Reductions
	}
	return mean, worst, st
}

// TestTransferRandomLossRoundTrips checks that random loss is not taken for
// congestion: a 1.4 MB message takes about as many round trips at 1 %, 5 %
// and 20 % loss as the window's growth needs, plus the repairs. (Before the
// Sender told random loss from congestion, it took 40, 147 and 343 round
// trips on average, shrinking the window by Beta in nearly every round
// trip.)
func TestTransferRandomLossRoundTrips(t *testing.T) {
	const runs = 5
	for _, c := range []struct{ loss, bound float64 }{{0, 13}, {0.01, 15}, {0.05, 18}, {0.20, 32}} {
		mean, worst, st := lossyRoundTrips(t, c.loss, runs)
		perFrag := float64(st.Sent) / runs / 1167
		t.Logf("loss %2.0f%%: %5.1f round trips on average, worst %5.1f; %.3f transmissions per fragment; in %d runs %d spurious losses, %d timeouts, %d reductions",
			100*c.loss, mean, worst, perFrag, runs, st.Spurious, st.Timeouts, st.Reductions)
		if mean > c.bound {
			t.Errorf("loss %.0f%%: %.1f round trips on average, want at most %.0f", 100*c.loss, mean, c.bound)
		}
		// The repairs stay close to the loss itself.
		if extra := perFrag - 1; extra > c.loss/(1-c.loss)+0.08 {
			t.Errorf("loss %.0f%%: %.1f%% of the fragments sent again", 100*c.loss, 100*extra)
		}
	}
}

// TestTransferBottleneck checks that a path with a real bottleneck (2.5 MB/s,
// 25 ms each way: 104 fragments in flight fill it) still sees a sender that
// yields: the queue it builds stays short, a drop-tail queue of a quarter
// of the path or more hardly overflows, and the message arrives near the
// bottleneck's rate, with or without random loss on top.
func TestTransferBottleneck(t *testing.T) {
	const bw = 2.5e6
	msg := testMessage(1_400_000, 1)
	ideal := time.Duration(float64(len(msg)) / bw * float64(time.Second))
	for _, c := range []struct {
		name     string
		queue    int
		loss     float64
		maxDrops float64 // of the transmissions
		maxTime  float64 // times the bottleneck's time
	}{
		{"unlimited queue", 0, 0, 0, 1.8},
		{"queue of the path", 125_000, 0, 0.02, 1.8},
		{"queue of a quarter", 31_250, 0, 0.02, 1.8},
		{"queue of 8 fragments", 10_000, 0, 0.15, 2.6},
		{"quarter, 5% loss", 31_250, 0.05, 0.02, 2.4},
		{"path, 5% loss", 125_000, 0.05, 0.02, 2.4},
	} {
		p := path{delay: 25 * time.Millisecond, bytesPerSecond: bw, queueBytes: c.queue, loss: c.loss}
		for seed := range uint64(2) {
			r := simulate(t, msg, p, seed+1)
			drops := float64(r.drops) / float64(r.stats.Sent)
			took := float64(r.elapsed) / float64(ideal)
			if seed == 0 {
				t.Logf("%-20s: %.2f× the bottleneck's time, %4.1f%% dropped by the queue, longest wait %v, %+v",
					c.name, took, 100*drops, r.maxQueue, r.stats)
			}
			if drops > c.maxDrops || took > c.maxTime {
				t.Errorf("%s seed %d: %.1f%% dropped (at most %.0f%%), %.2f× the time (at most %.1f×)",
					c.name, seed, 100*drops, 100*c.maxDrops, took, c.maxTime)
			}
			// Out of slow start the window stops at BDPGain times the
			// path: a queue of a quarter of the round trip; slow start
			// ends when the queue shows.
			if r.maxQueue > 2*p.delay*6/10 {
				t.Errorf("%s seed %d: the queue held packets for %v", c.name, seed, r.maxQueue)
			}
		}
	}
}

// TestTransferSharedBottleneck runs two 3 MB transfers through one
// bottleneck, starting together or 300 ms apart: both finish near the
// bottleneck's time for both, the queue barely overflows, and neither
// takes more than twice as long as the other.
func TestTransferSharedBottleneck(t *testing.T) {
	const bw = 2.5e6
	a, b := testMessage(3_000_000, 1), testMessage(3_000_000, 2)
	ideal := 2 * float64(len(a)) / bw
	for _, c := range []struct {
		name    string
		loss    float64
		stagger time.Duration
	}{
		{"together", 0, 0},
		{"300 ms apart", 0, 300 * time.Millisecond},
		{"300 ms apart, 5% loss", 0.05, 300 * time.Millisecond},
	} {
		p := path{delay: 25 * time.Millisecond, bytesPerSecond: bw, queueBytes: 125_000, loss: c.loss}
		r := simulateFlows(t, []flowSpec{{msg: a}, {msg: b, start: c.stagger}}, p, 1)
		end := max(r[0].elapsed, r[1].elapsed+c.stagger).Seconds()
		ratio := max(r[0].elapsed, r[1].elapsed).Seconds() / min(r[0].elapsed, r[1].elapsed).Seconds()
		drops := float64(r[0].drops) / float64(r[0].stats.Sent+r[1].stats.Sent)
		t.Logf("%-22s: %.2f s and %.2f s, both done in %.2f× the bottleneck's time, %.1f%% dropped by the queue, longest wait %v",
			c.name, r[0].elapsed.Seconds(), r[1].elapsed.Seconds(), end/ideal, 100*drops, r[0].maxQueue)
		if end > 1.5*ideal || ratio > 2 || drops > 0.02 {
			t.Errorf("%s: done in %.2f× the time, one took %.2f× the other's, %.1f%% dropped", c.name, end/ideal, ratio, 100*drops)
		}
	}
}
