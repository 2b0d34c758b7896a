package window

import (
	"math"
	"math/rand/v2"
	"testing"
)

// model is the naive reference: it remembers every accepted number.
type model struct {
	size    uint64
	seen    map[uint64]bool
	highest uint64
	started bool
}

func newModel(size int) *model {
	return &model{size: uint64(size), seen: make(map[uint64]bool)}
}

func (m *model) check(s uint64) error {
	if !m.started || s > m.highest {
		return nil
	}
	if m.highest-s >= m.size {
		return ErrTooOld
	}
	if m.seen[s] {
		return ErrDuplicate
	}
	return nil
}

func (m *model) checkAndSet(s uint64) error {
	if err := m.check(s); err != nil {
		return err
	}
	m.seen[s] = true
	if !m.started || s > m.highest {
		m.highest = s
	}
	m.started = true
	return nil
}

func (m *model) reset() {
	clear(m.seen)
	m.highest, m.started = 0, false
}

// window is the method set shared by Window and Sync.
type window interface {
	Check(uint64) error
	CheckAndSet(uint64) error
	Highest() uint64
	Empty() bool
	Size() int
	Reset()
}

// harness drives a window and the model with the same operations and fails on any difference.
type harness struct {
	t      testing.TB
	w      window
	m      *model
	ops    int
	sets   int           // accepted numbers
	result map[error]int // CheckAndSet results
}

func (h *harness) check(s uint64) {
	h.t.Helper()
	h.ops++
	got, want := h.w.Check(s), h.m.check(s)
	if got != want {
		h.t.Fatalf("op %d: Check(%d) = %v, model %v (highest %d, size %d)",
			h.ops, s, got, want, h.m.highest, h.m.size)
	}
}

func (h *harness) set(s uint64) {
	h.t.Helper()
	h.ops++
	// Check must agree with the following CheckAndSet, since nothing happens in between.
	pre := h.w.Check(s)
	got, want := h.w.CheckAndSet(s), h.m.checkAndSet(s)
	if got != want {
		h.t.Fatalf("op %d: CheckAndSet(%d) = %v, model %v (highest %d, size %d)",
			h.ops, s, got, want, h.m.highest, h.m.size)
	}
	if pre != got {
		h.t.Fatalf("op %d: Check(%d) = %v but CheckAndSet = %v", h.ops, s, pre, got)
	}
	if got == nil {
		h.sets++
	}
	if h.result == nil {
		h.result = make(map[error]int)
	}
	h.result[got]++
	if h.w.Highest() != h.m.highest || h.w.Empty() == h.m.started {
		h.t.Fatalf("op %d: Highest/Empty = %d/%v, model %d/%v",
			h.ops, h.w.Highest(), h.w.Empty(), h.m.highest, !h.m.started)
	}
}

func (h *harness) reset() {
	h.w.Reset()
	h.m.reset()
}

// sweep verifies Check against the model for every number near the top of the window and
// just beyond its bottom, which catches stale or missing bits anywhere in the ring.
func (h *harness) sweep() {
	h.t.Helper()
	if !h.m.started {
		return
	}
	hi := h.m.highest
	for d := uint64(0); d <= h.m.size+70 && d <= hi; d++ {
		h.check(hi - d)
	}
	for d := uint64(1); d <= 70 && hi+d > hi; d++ {
		h.check(hi + d)
	}
}

// gen produces sequence numbers relative to the current highest with reordering, duplicates,
// large jumps and values near 0 and 2^64-1.
func gen(r *rand.Rand, hi, size uint64) uint64 {
	switch k := r.IntN(100); {
	case k < 40: // next few numbers (in order or slight gaps)
		return hi + uint64(r.IntN(4))
	case k < 60: // reordered within (or just past) the window
		return hi - r.Uint64N(size+size/4+1)
	case k < 70: // exact duplicates of recent numbers
		return hi - r.Uint64N(min(size/8, hi)+1)
	case k < 78: // boundary: exactly W-1, W, W+1 below
		return hi - (size - 1 + r.Uint64N(3))
	case k < 86: // forward jumps around the ring length and the window size
		return hi + size - 70 + r.Uint64N(200)
	case k < 90: // huge jumps
		return hi + r.Uint64()>>r.IntN(64)
	case k < 92: // near the top of the number space
		return math.MaxUint64 - r.Uint64N(2*size)
	case k < 97: // near zero
		return r.Uint64N(2 * size)
	default: // anything
		return r.Uint64()
	}
}

func modelSizes() []int { return []int{64, 128, 192, 320, 1000, DefaultSize} }

func runModel(t *testing.T, w window, seed uint64, ops int) *harness {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	size := uint64(w.Size())
	h := &harness{t: t, w: w, m: newModel(w.Size())}
	for range ops {
		hi := h.m.highest
		s := gen(r, hi, size)
		switch k := r.IntN(1000); {
		case k < 5:
			h.reset()
		case k < 8:
			h.sweep()
		case k < 250:
			h.check(s)
		default:
			h.set(s)
		}
	}
	h.sweep()
	return h
}

// TestModelRandom compares Window and Sync with the naive model over random sequences with
// reordering, duplicates, large jumps and numbers near both ends of the uint64 range.
func TestModelRandom(t *testing.T) {
	ops, seeds := 20000, uint64(4)
	if testing.Short() || raceEnabled {
		ops, seeds = 6000, 2
	}
	for _, size := range modelSizes() {
		for seed := range seeds {
			w, err := New(size)
			if err != nil {
				t.Fatal(err)
			}
			h := runModel(t, w, seed*1000+uint64(size), ops)
			// The generator must exercise every outcome.
			for _, e := range []error{nil, ErrTooOld, ErrDuplicate} {
				if h.result[e] < ops/50 {
					t.Fatalf("size %d seed %d: only %d results %v of %d ops", size, seed, h.result[e], e, ops)
				}
			}
			s, err := NewSync(size)
			if err != nil {
				t.Fatal(err)
			}
			runModel(t, s, seed*1000+uint64(size), ops)
		}
	}
}

// TestModelRingWrap runs long in-order and reordered traffic through many revolutions of the
// bitmap ring, with gaps of every length up to beyond one ring, checking the whole window
// against the model after each step.
func TestModelRingWrap(t *testing.T) {
	for _, size := range []int{64, 128, 256} {
		w, _ := New(size)
		h := &harness{t: t, w: w, m: newModel(size)}
		r := rand.New(rand.NewPCG(uint64(size), 7))
		base := uint64(math.MaxUint64) - 40*uint64(size) // run up to the end of the space
		h.set(base)
		for gap := uint64(1); gap <= uint64(size)+130; gap++ {
			hi := h.m.highest
			if hi+gap < hi {
				break
			}
			h.set(hi + gap)
			// Fill some holes inside the window, in random order, and replay some.
			for range 3 {
				h.set(hi + gap - r.Uint64N(uint64(size)+2))
			}
			h.sweep()
		}
		// Walk the last numbers of the space in order: the ring turns over many times.
		hi := h.m.highest
		for s := hi + 1; s > hi && s != 0; s++ {
			h.set(s)
			if s%97 == 0 {
				h.sweep()
			}
		}
		h.sweep()
		if h.m.highest != math.MaxUint64 {
			t.Fatalf("size %d: highest %d, want 2^64-1", size, h.m.highest)
		}
	}
}

// TestModelExhaustiveSmall tries every sequence of four numbers (three under the race
// detector) drawn from values around the word and window boundaries of a 64-number window.
func TestModelExhaustiveSmall(t *testing.T) {
	vals := []uint64{0, 1, 63, 64, 127, 128, 191, 192,
		math.MaxUint64 - 64, math.MaxUint64 - 1, math.MaxUint64}
	w, _ := New(64)
	h := &harness{t: t, w: w, m: newModel(64)}
	seq := make([]int, 4)
	if raceEnabled {
		seq = seq[:3]
	}
	for {
		h.reset()
		for _, i := range seq {
			h.set(vals[i])
		}
		h.sweep()
		// Next combination.
		k := 0
		for k < len(seq) {
			seq[k]++
			if seq[k] < len(vals) {
				break
			}
			seq[k] = 0
			k++
		}
		if k == len(seq) {
			break
		}
	}
}
