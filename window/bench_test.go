package window

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// Benchmarks. The targets (single goroutine, no lock): CheckAndSet <= 20 ns and 0 allocs for
// in-order and for reordered-within-window traffic. The Sync benchmarks give the figure with
// the mutex used in production.

const (
	permBits  = 16
	permLen   = 1 << permBits
	permBlock = 1024 // numbers are shuffled within blocks of this many: displacement < W
)

// reorderPerm returns offsets 0..permLen-1 shuffled within consecutive blocks of permBlock.
func reorderPerm() []uint64 {
	r := rand.New(rand.NewPCG(42, 42))
	p := make([]uint64, permLen)
	for i := range p {
		p[i] = uint64(i)
	}
	for b := 0; b < permLen; b += permBlock {
		blk := p[b : b+permBlock]
		r.Shuffle(len(blk), func(i, j int) { blk[i], blk[j] = blk[j], blk[i] })
	}
	return p
}

// reordered returns the i-th number of an endless reordered stream in which every number
// appears once and none is displaced by more than permBlock.
func reordered(p []uint64, i uint64) uint64 {
	return i&^(permLen-1) + p[i&(permLen-1)]
}

// The loops are written out per type, not over an interface, so that the figures do not
// include a dynamic call.

func benchInOrder(b *testing.B, w *Window) {
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		if w.CheckAndSet(seq) != nil {
			b.Fatal("rejected")
		}
		seq++
	}
}

func benchReordered(b *testing.B, w *Window) {
	p := reorderPerm()
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		if w.CheckAndSet(reordered(p, i)) != nil {
			b.Fatal("rejected")
		}
		i++
	}
}

func benchSyncInOrder(b *testing.B, w *Sync) {
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		if w.CheckAndSet(seq) != nil {
			b.Fatal("rejected")
		}
		seq++
	}
}

func benchSyncReordered(b *testing.B, w *Sync) {
	p := reorderPerm()
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		if w.CheckAndSet(reordered(p, i)) != nil {
			b.Fatal("rejected")
		}
		i++
	}
}

func newBenchWindow(b *testing.B) *Window {
	w, err := New(DefaultSize)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func newBenchSync(b *testing.B) *Sync {
	s, err := NewSync(DefaultSize)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkCheckAndSet(b *testing.B) {
	b.Run("InOrder", func(b *testing.B) { benchInOrder(b, newBenchWindow(b)) })
	b.Run("Reordered", func(b *testing.B) { benchReordered(b, newBenchWindow(b)) })
	b.Run("Duplicate", func(b *testing.B) {
		w := newBenchWindow(b)
		for s := range uint64(DefaultSize) {
			_ = w.CheckAndSet(s)
		}
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			if w.CheckAndSet(i%DefaultSize) != ErrDuplicate {
				b.Fatal("accepted a replay")
			}
			i += 7
		}
	})
	b.Run("TooOld", func(b *testing.B) {
		w := newBenchWindow(b)
		_ = w.CheckAndSet(1 << 40)
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			if w.CheckAndSet(i&0xffff) != ErrTooOld {
				b.Fatal("accepted an old number")
			}
			i++
		}
	})
	b.Run("JumpBeyondWindow", func(b *testing.B) {
		// Worst case: every number clears the whole ring (W/64+1 words).
		w := newBenchWindow(b)
		b.ReportAllocs()
		var seq uint64
		for b.Loop() {
			seq += 2 * DefaultSize
			if w.CheckAndSet(seq) != nil {
				b.Fatal("rejected")
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	b.Run("Reordered", func(b *testing.B) {
		w := newBenchWindow(b)
		p := reorderPerm()
		_ = w.CheckAndSet(reordered(p, 0))
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			_ = w.Check(reordered(p, i&(permLen-1)))
			i++
		}
	})
}

// BenchmarkSync is the production type on one goroutine: the uncontended mutex cost.
func BenchmarkSync(b *testing.B) {
	b.Run("InOrder", func(b *testing.B) { benchSyncInOrder(b, newBenchSync(b)) })
	b.Run("Reordered", func(b *testing.B) { benchSyncReordered(b, newBenchSync(b)) })
	b.Run("ReceivePath", func(b *testing.B) {
		// Check before authentication, CheckAndSet after (the crypto is not included).
		s := newBenchSync(b)
		p := reorderPerm()
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			seq := reordered(p, i)
			if s.Check(seq) != nil || s.CheckAndSet(seq) != nil {
				b.Fatal("rejected")
			}
			i++
		}
	})
}

// BenchmarkSyncParallel has GOMAXPROCS goroutines receive one shared stream through one Sync,
// the worst case of contention on a single session's window. Numbers arrive slightly out of
// order because the goroutines race; a goroutine descheduled for longer than W numbers sees its
// number rejected as too old, which is reported as the rejected/op metric rather than failing.
func BenchmarkSyncParallel(b *testing.B) {
	s := newBenchSync(b)
	var next atomic.Uint64
	var rejected atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.CheckAndSet(next.Add(1)) != nil {
				rejected.Add(1)
			}
		}
	})
	b.ReportMetric(float64(rejected.Load())/float64(b.N), "rejected/op")
}

func BenchmarkCheckTime(b *testing.B) {
	b.ReportAllocs()
	var now uint64 = 1_700_000_000
	for b.Loop() {
		if CheckTime(now, now-30, DefaultTimeThreshold) != nil {
			b.Fatal("rejected")
		}
		now++
	}
}

func BenchmarkDropsAdd(b *testing.B) {
	var d Drops
	b.ReportAllocs()
	for b.Loop() {
		d.Add(ReasonDuplicate)
	}
	if d.Get(ReasonDuplicate) == 0 {
		b.Fatal("not counted")
	}
}
