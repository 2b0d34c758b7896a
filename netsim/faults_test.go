package netsim

import (
	"bytes"
	"math"
	"math/bits"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// pump sends count datagrams of size bytes from a new endpoint to another on
// a fresh network with cfg (zero delay, so delivery is synchronous), then
// reads everything delivered.
func pump(t *testing.T, cfg Config, count, size int) ([][]byte, Stats) {
	t.Helper()
	cfg.RecvQueue = 3 * count
	n := newNet(t, cfg)
	a := listen(t, n, ":0")
	b := listen(t, n, ":0")
	for i := range count {
		if _, err := a.WriteTo(seqPayload(uint64(i), size), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	st := n.Stats()
	checkConservation(t, st)
	if st.InFlight != 0 {
		t.Fatalf("InFlight = %d with zero delay", st.InFlight)
	}
	got := make([][]byte, 0, st.Delivered)
	buf := make([]byte, 2048)
	for range st.Delivered {
		k, from, err := b.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.String() != a.LocalAddr().String() {
			t.Fatalf("datagram from %v, want %v", from, a.LocalAddr())
		}
		got = append(got, append([]byte(nil), buf[:k]...))
	}
	if ls := n.LinkStats(a, b); ls != st {
		t.Errorf("LinkStats %+v differs from Stats %+v on a one-link network", ls, st)
	}
	return got, st
}

func TestIndependentLoss(t *testing.T) {
	const N = 10000
	got, st := pump(t, Config{Seed: 1, Loss: 0.1}, N, 64)
	within(t, "loss rate", float64(st.Lost)/N, 0.1, N, 5)
	if st.Delivered != N-st.Lost || uint64(len(got)) != st.Delivered {
		t.Fatalf("delivered %d, read %d, want %d", st.Delivered, len(got), N-st.Lost)
	}
	last := -1
	for _, p := range got {
		s := int(seqOf(p))
		if s <= last {
			t.Fatalf("seq %d after %d: loss must not reorder", s, last)
		}
		last = s
	}
}

// lossRuns returns the lost sequence numbers' run lengths.
func lossRuns(got [][]byte, count int) []int {
	seen := make([]bool, count)
	for _, p := range got {
		seen[seqOf(p)] = true
	}
	var runs []int
	run := 0
	for _, ok := range seen {
		if !ok {
			run++
			continue
		}
		if run > 0 {
			runs = append(runs, run)
		}
		run = 0
	}
	if run > 0 {
		runs = append(runs, run)
	}
	return runs
}

func meanInt(v []int) float64 {
	s := 0
	for _, x := range v {
		s += x
	}
	return float64(s) / float64(len(v))
}

func TestGilbertElliottBursts(t *testing.T) {
	const N = 50000
	ge := &GilbertElliott{GoodToBad: 0.01, BadToGood: 0.25, LossGood: 0, LossBad: 1}
	got, st := pump(t, Config{Seed: 2, Burst: ge}, N, 16)
	rate := ge.LossRate() // 0.01/0.26
	if math.Abs(rate-0.01/0.26) > 1e-12 {
		t.Fatalf("LossRate = %v", rate)
	}
	// Losses are correlated, so the binomial sd understates the spread;
	// allow a wider band.
	within(t, "burst loss rate", float64(st.Lost)/N, rate, N, 12)
	runs := lossRuns(got, N)
	mean := meanInt(runs)
	// Bad spells last 1/BadToGood = 4 datagrams on average (geometric, var 12).
	sd := math.Sqrt(12 / float64(len(runs)))
	t.Logf("%d loss bursts, mean length %.2f (want 4 ± %.2f)", len(runs), mean, 5*sd)
	if math.Abs(mean-4) > 5*sd {
		t.Errorf("mean burst length %.2f, want 4 ± %.2f", mean, 5*sd)
	}

	// The same loss rate without bursts gives runs of about 1/(1-p) ≈ 1.04.
	got, _ = pump(t, Config{Seed: 2, Loss: rate}, N, 16)
	if m := meanInt(lossRuns(got, N)); m > 1.2 {
		t.Errorf("independent loss mean run %.2f, want about 1.04", m)
	} else {
		t.Logf("independent loss at the same rate: mean run %.2f", m)
	}
}

func TestGilbertElliottGeneral(t *testing.T) {
	// Lossy in both states, plus independent loss on top.
	const N = 20000
	ge := &GilbertElliott{GoodToBad: 0.05, BadToGood: 0.2, LossGood: 0.02, LossBad: 0.5}
	_, st := pump(t, Config{Seed: 3, Burst: ge, Loss: 0.05}, N, 16)
	want := 1 - (1-ge.LossRate())*(1-0.05)
	within(t, "combined loss rate", float64(st.Lost)/N, want, N, 12)
}

func TestDuplicate(t *testing.T) {
	const N = 10000
	got, st := pump(t, Config{Seed: 4, Duplicate: 0.05}, N, 32)
	within(t, "duplicate rate", float64(st.Duplicated)/N, 0.05, N, 5)
	if uint64(len(got)) != N+st.Duplicated {
		t.Fatalf("read %d datagrams, want %d", len(got), N+st.Duplicated)
	}
	twice := 0
	next := uint64(0)
	for i := 0; i < len(got); i++ {
		if seqOf(got[i]) != next {
			t.Fatalf("datagram %d has seq %d, want %d", i, seqOf(got[i]), next)
		}
		if i+1 < len(got) && seqOf(got[i+1]) == next {
			if !bytes.Equal(got[i], got[i+1]) {
				t.Fatal("duplicate differs from original")
			}
			twice++
			i++
		}
		next++
	}
	if uint64(twice) != st.Duplicated {
		t.Fatalf("saw %d adjacent duplicates, Stats.Duplicated = %d", twice, st.Duplicated)
	}
}

func TestCorrupt(t *testing.T) {
	const N, size = 10000, 100
	got, st := pump(t, Config{Seed: 5, Corrupt: 0.02}, N, size)
	within(t, "corruption rate", float64(st.Corrupted)/N, 0.02, N, 5)
	if len(got) != N {
		t.Fatalf("read %d, want %d", len(got), N)
	}
	flipped, firstHalf := 0, 0
	for i, p := range got {
		want := seqPayload(uint64(i), size)
		d, pos := 0, 0
		for j := range p {
			if x := p[j] ^ want[j]; x != 0 {
				d += bits.OnesCount8(x)
				pos = j
			}
		}
		switch d {
		case 0:
		case 1:
			flipped++
			if pos < size/2 {
				firstHalf++
			}
		default:
			t.Fatalf("datagram %d has %d bits flipped", i, d)
		}
	}
	if uint64(flipped) != st.Corrupted {
		t.Fatalf("%d datagrams with one bit flipped, Stats.Corrupted = %d", flipped, st.Corrupted)
	}
	within(t, "share of flips in the first half", float64(firstHalf)/float64(flipped), 0.5, flipped, 5)
}

func TestMTU(t *testing.T) {
	n := newNet(t, Config{MTU: 1200})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	for _, size := range []int{0, 1, 1199, 1200, 1201, 1500, MaxDatagramSize} {
		if _, err := a.WriteTo(make([]byte, size), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	st := n.Stats()
	if st.TooBig != 3 || st.Delivered != 4 {
		t.Fatalf("TooBig %d Delivered %d, want 3 and 4", st.TooBig, st.Delivered)
	}
	buf := make([]byte, 2000)
	for _, want := range []int{0, 1, 1199, 1200} {
		k, _, err := b.ReadFrom(buf)
		if err != nil || k != want {
			t.Fatalf("read %d bytes (%v), want %d", k, err, want)
		}
	}
	if _, err := a.WriteTo(make([]byte, MaxDatagramSize+1), b.LocalAddr()); err == nil {
		t.Fatal("write longer than MaxDatagramSize succeeded")
	} else {
		mustErrIs(t, err, ErrMessageTooLong)
	}
}

// collect reads count datagrams recording arrival times (virtual under synctest).
func collect(t *testing.T, c net.PacketConn, count int) (seqs []uint64, at []time.Time) {
	buf := make([]byte, 2048)
	for range count {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Error(err)
			return
		}
		if k < 8 {
			t.Errorf("short datagram (%d bytes)", k)
			return
		}
		seqs = append(seqs, seqOf(buf[:k]))
		at = append(at, time.Now())
	}
	return
}

func TestReorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const N = 10000
		n := newNet(t, Config{Seed: 6, Reorder: 0.1, ReorderDelay: 5 * time.Millisecond})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		done := make(chan struct{})
		var seqs []uint64
		go func() {
			defer close(done)
			seqs, _ = collect(t, b, N)
		}()
		for i := range N {
			a.WriteTo(seqPayload(uint64(i), 16), b.LocalAddr())
			time.Sleep(time.Millisecond)
		}
		<-done
		st := n.Stats()
		checkConservation(t, st)
		within(t, "reorder rate", float64(st.Reordered)/N, 0.1, N, 5)
		// A datagram arriving after a higher sequence number was overtaken.
		late, maxSeen := 0, -1
		inOrder := -1
		for _, s := range seqs {
			if int(s) < maxSeen {
				late++
				continue
			}
			maxSeen = int(s)
			if int(s) <= inOrder {
				t.Fatalf("non-reordered datagram %d after %d", s, inOrder)
			}
			inOrder = int(s)
		}
		// A held datagram is overtaken unless the next four were held too.
		t.Logf("%d datagrams overtaken, %d held back", late, st.Reordered)
		if late > int(st.Reordered) || float64(late) < 0.99*float64(st.Reordered) {
			t.Fatalf("%d datagrams arrived late, Stats.Reordered = %d", late, st.Reordered)
		}
	})
}

func TestDelayJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const N = 2000
		const spacing = 25 * time.Millisecond
		n := newNet(t, Config{Seed: 7, Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		start := time.Now()
		done := make(chan struct{})
		var seqs []uint64
		var at []time.Time
		go func() {
			defer close(done)
			seqs, at = collect(t, b, N)
		}()
		for i := range N {
			a.WriteTo(seqPayload(uint64(i), 16), b.LocalAddr())
			time.Sleep(spacing)
		}
		<-done
		var sum, sum2 float64
		lo, hi := time.Hour, time.Duration(0)
		for i, s := range seqs {
			if s != uint64(i) {
				t.Fatalf("arrival %d is seq %d: jitter must not reorder", i, s)
			}
			lat := at[i].Sub(start.Add(time.Duration(s) * spacing))
			lo, hi = min(lo, lat), max(hi, lat)
			ms := float64(lat) / float64(time.Millisecond)
			sum += ms
			sum2 += ms * ms
		}
		mean := sum / N
		sd := math.Sqrt(sum2/N - mean*mean)
		t.Logf("latency mean %.3f ms, sd %.3f ms, range [%v, %v]", mean, sd, lo, hi)
		if lo < 40*time.Millisecond || hi > 60*time.Millisecond {
			t.Errorf("latency range [%v, %v] outside [40ms, 60ms]", lo, hi)
		}
		// Uniform on ±10 ms: sd 10/√3 = 5.77 ms; sd of the mean 0.13 ms.
		if math.Abs(mean-50) > 0.7 {
			t.Errorf("mean latency %.3f ms, want 50 ± 0.7", mean)
		}
		if math.Abs(sd-10/math.Sqrt(3)) > 0.5 {
			t.Errorf("latency sd %.3f ms, want 5.77 ± 0.5", sd)
		}
	})
}

func TestJitterKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const N = 3000
		n := newNet(t, Config{Seed: 8, Delay: 20 * time.Millisecond, Jitter: 15 * time.Millisecond, RecvQueue: N})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		for i := range N {
			a.WriteTo(seqPayload(uint64(i), 16), b.LocalAddr())
			time.Sleep(100 * time.Microsecond)
		}
		seqs, _ := collect(t, b, N)
		for i, s := range seqs {
			if s != uint64(i) {
				t.Fatalf("arrival %d is seq %d", i, s)
			}
		}
	})
}

func TestExactDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Delay: 100 * time.Millisecond})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		start := time.Now()
		a.WriteTo([]byte("x"), b.LocalAddr())
		synctest.Wait()
		if st := n.Stats(); st.InFlight != 1 || st.Delivered != 0 {
			t.Fatalf("before the delay: %+v", st)
		}
		buf := make([]byte, 10)
		if _, _, err := b.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("arrived after %v, want exactly 100ms", d)
		}
	})
}

func TestBandwidthQueueDropsBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 1 MB/s and a 10 kB queue: 1000-byte datagrams take 1 ms each.
		n := newNet(t, Config{Bandwidth: 1_000_000, QueueLimit: 10_000})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		start := time.Now()
		for i := range 100 {
			a.WriteTo(seqPayload(uint64(i), 1000), b.LocalAddr())
		}
		st := n.Stats()
		// The idle link takes the first; nine more fit the 10 kB queue.
		if st.QueueDropped != 90 || st.InFlight != 10 {
			t.Fatalf("after a burst of 100: %+v, want 90 dropped and 10 in flight", st)
		}
		seqs, at := collect(t, b, 10)
		for i := range seqs {
			if seqs[i] != uint64(i) || at[i].Sub(start) != time.Duration(i+1)*time.Millisecond {
				t.Fatalf("datagram %d: seq %d at %v, want seq %d at %v",
					i, seqs[i], at[i].Sub(start), i, time.Duration(i+1)*time.Millisecond)
			}
		}
		// Drained: a new burst is queued again.
		for i := range 5 {
			a.WriteTo(seqPayload(uint64(i), 1000), b.LocalAddr())
		}
		collect(t, b, 5)
		st = n.Stats()
		checkConservation(t, st)
		if st.Delivered != 15 || st.QueueDropped != 90 {
			t.Fatalf("after the second burst: %+v", st)
		}
	})
}

func TestBandwidthRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 100 kB/s with a queue large enough: 200 kB take 2 s, plus 10 ms delay.
		n := newNet(t, Config{Bandwidth: 100_000, QueueLimit: 1 << 20, Delay: 10 * time.Millisecond})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		start := time.Now()
		for i := range 200 {
			a.WriteTo(seqPayload(uint64(i), 1000), b.LocalAddr())
		}
		_, at := collect(t, b, 200)
		for i, x := range at {
			want := time.Duration(i+1)*10*time.Millisecond + 10*time.Millisecond
			if x.Sub(start) != want {
				t.Fatalf("datagram %d at %v, want %v", i, x.Sub(start), want)
			}
		}
		if st := n.Stats(); st.QueueDropped != 0 || st.Delivered != 200 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestRecvQueueBound(t *testing.T) {
	n := newNet(t, Config{RecvQueue: 16})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	for i := range 100 {
		a.WriteTo(seqPayload(uint64(i), 8), b.LocalAddr())
	}
	st := n.Stats()
	checkConservation(t, st)
	if st.Delivered != 16 || st.RecvDropped != 84 {
		t.Fatalf("%+v, want 16 delivered and 84 dropped at the receiver", st)
	}
	buf := make([]byte, 8)
	for i := range 16 {
		b.ReadFrom(buf)
		if seqOf(buf) != uint64(i) {
			t.Fatalf("read seq %d, want %d", seqOf(buf), i)
		}
	}
	// Room again.
	a.WriteTo(seqPayload(100, 8), b.LocalAddr())
	b.ReadFrom(buf)
	if seqOf(buf) != 100 {
		t.Fatalf("read seq %d, want 100", seqOf(buf))
	}
}

func TestMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Delay: time.Second, MaxInFlight: 10})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		for i := range 25 {
			a.WriteTo(seqPayload(uint64(i), 8), b.LocalAddr())
		}
		if st := n.Stats(); st.InFlight != 10 || st.QueueDropped != 15 {
			t.Fatalf("%+v, want 10 in flight and 15 dropped", st)
		}
		seqs, _ := collect(t, b, 10)
		if seqs[9] != 9 {
			t.Fatalf("last delivered seq %d, want 9", seqs[9])
		}
		checkConservation(t, n.Stats())
	})
}
