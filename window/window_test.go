package window

import (
	"errors"
	"math"
	"testing"
)

func TestNewSize(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{1, 64}, {63, 64}, {64, 64}, {65, 128}, {128, 128}, {1000, 1024},
		{DefaultSize, DefaultSize}, {DefaultSize + 1, DefaultSize + 64}, {MaxSize - 1, MaxSize},
		{MaxSize, MaxSize},
	} {
		w, err := New(c.in)
		if err != nil {
			t.Fatalf("New(%d): %v", c.in, err)
		}
		if w.Size() != c.want {
			t.Errorf("New(%d).Size() = %d, want %d", c.in, w.Size(), c.want)
		}
		if got := len(w.words); got != c.want/64+1 {
			t.Errorf("New(%d): %d words, want %d", c.in, got, c.want/64+1)
		}
		s, err := NewSync(c.in)
		if err != nil || s.Size() != c.want {
			t.Errorf("NewSync(%d) = size %v, %v; want %d", c.in, s, err, c.want)
		}
	}
	for _, bad := range []int{0, -1, -64, math.MinInt, MaxSize + 1, math.MaxInt} {
		if w, err := New(bad); !errors.Is(err, ErrSize) || w != nil {
			t.Errorf("New(%d) = %v, %v; want ErrSize", bad, w, err)
		}
		if s, err := NewSync(bad); !errors.Is(err, ErrSize) || s != nil {
			t.Errorf("NewSync(%d) = %v, %v; want ErrSize", bad, s, err)
		}
	}
}

func TestFirstNumberAnyValue(t *testing.T) {
	for _, first := range []uint64{0, 1, 63, 64, 1 << 40, math.MaxUint64 - 1, math.MaxUint64} {
		w, _ := New(128)
		if !w.Empty() || w.Highest() != 0 {
			t.Fatalf("new window not empty")
		}
		if err := w.Check(first); err != nil {
			t.Fatalf("empty window: Check(%d) = %v", first, err)
		}
		if err := w.CheckAndSet(first); err != nil {
			t.Fatalf("empty window: CheckAndSet(%d) = %v", first, err)
		}
		if w.Empty() || w.Highest() != first {
			t.Fatalf("after %d: Empty %v Highest %d", first, w.Empty(), w.Highest())
		}
		if err := w.CheckAndSet(first); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("second CheckAndSet(%d) = %v, want ErrDuplicate", first, err)
		}
	}
}

func TestBoundaries(t *testing.T) {
	const size = 128
	w, _ := New(size)
	const h = 1000
	if err := w.CheckAndSet(h); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		seq  uint64
		want error
	}{
		{h + 1, nil},
		{math.MaxUint64, nil},
		{h, ErrDuplicate},
		{h - 1, nil},
		{h - (size - 1), nil}, // oldest number inside the window
		{h - size, ErrTooOld}, // first number outside
		{h - size - 1, ErrTooOld},
		{0, ErrTooOld},
	} {
		if err := w.Check(c.seq); err != c.want {
			t.Errorf("Check(%d) = %v, want %v", c.seq, err, c.want)
		}
	}
	// Accept the oldest in-window number, then it is a duplicate.
	if err := w.CheckAndSet(h - (size - 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckAndSet(h - (size - 1)); err != ErrDuplicate {
		t.Fatalf("replay of oldest = %v, want ErrDuplicate", err)
	}
	// Moving up by one pushes it out: now too old, not duplicate.
	if err := w.CheckAndSet(h + 1); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckAndSet(h - (size - 1)); err != ErrTooOld {
		t.Fatalf("after advance = %v, want ErrTooOld", err)
	}
	if err := w.CheckAndSet(h - (size - 2)); err != nil {
		t.Fatalf("unseen number still inside = %v, want nil", err)
	}
}

func TestZeroIsNotSpecial(t *testing.T) {
	w, _ := New(64)
	for _, s := range []uint64{5, 0, 3} {
		if err := w.CheckAndSet(s); err != nil {
			t.Fatalf("CheckAndSet(%d) = %v", s, err)
		}
	}
	if err := w.CheckAndSet(0); err != ErrDuplicate {
		t.Fatalf("replayed 0 = %v, want ErrDuplicate", err)
	}
	if w.Highest() != 5 {
		t.Fatalf("Highest = %d, want 5", w.Highest())
	}
}

func TestTopOfSpace(t *testing.T) {
	w, _ := New(64)
	if err := w.CheckAndSet(math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	// Nothing is above 2^64-1; numbers do not wrap round to 0.
	if err := w.CheckAndSet(0); err != ErrTooOld {
		t.Fatalf("0 after 2^64-1 = %v, want ErrTooOld", err)
	}
	if err := w.CheckAndSet(math.MaxUint64 - 63); err != nil {
		t.Fatalf("2^64-64 = %v, want nil", err)
	}
	if err := w.CheckAndSet(math.MaxUint64 - 64); err != ErrTooOld {
		t.Fatalf("2^64-65 = %v, want ErrTooOld", err)
	}
	if err := w.CheckAndSet(math.MaxUint64); err != ErrDuplicate {
		t.Fatalf("replay of 2^64-1 = %v, want ErrDuplicate", err)
	}
}

func TestLargeJumpForgetsOld(t *testing.T) {
	w, _ := New(64)
	for s := range uint64(64) {
		if err := w.CheckAndSet(s); err != nil {
			t.Fatal(err)
		}
	}
	// The ring of a 64-number window is 2 words (128 numbers). Jump by exactly the ring
	// length, so the new numbers fall on the bits of the old ones: a stale bit would make
	// them look like duplicates.
	for _, s := range []uint64{128, 129, 190, 191} {
		if err := w.CheckAndSet(s); err != nil {
			t.Fatalf("CheckAndSet(%d) after jump = %v, want nil", s, err)
		}
	}
	for _, s := range []uint64{130, 189, 150} {
		if err := w.Check(s); err != nil {
			t.Fatalf("Check(%d) = %v, want nil (never seen)", s, err)
		}
	}
}

func TestCheckIsReadOnly(t *testing.T) {
	w, _ := New(256)
	for _, s := range []uint64{100, 90, 300} {
		if err := w.CheckAndSet(s); err != nil {
			t.Fatal(err)
		}
	}
	before := *w
	words := append([]uint64(nil), w.words...)
	for s := range uint64(1000) {
		_ = w.Check(s)
	}
	_ = w.Check(math.MaxUint64)
	if w.highest != before.highest || w.pos != before.pos || w.started != before.started {
		t.Fatal("Check changed the window state")
	}
	for i := range words {
		if words[i] != w.words[i] {
			t.Fatalf("Check changed word %d", i)
		}
	}
	if err := w.CheckAndSet(301); err != nil || w.Highest() != 301 {
		t.Fatal("window unusable after Check")
	}
}

func TestRejectLeavesStateUnchanged(t *testing.T) {
	w, _ := New(64)
	_ = w.CheckAndSet(200)
	_ = w.CheckAndSet(190)
	for _, s := range []uint64{190, 200, 100, 0} {
		if err := w.CheckAndSet(s); err == nil {
			t.Fatalf("CheckAndSet(%d) accepted", s)
		}
	}
	if w.Highest() != 200 {
		t.Fatalf("Highest = %d after rejections", w.Highest())
	}
	if err := w.Check(191); err != nil {
		t.Fatalf("Check(191) = %v", err)
	}
}

func TestReset(t *testing.T) {
	w, _ := New(64)
	for s := uint64(1000); s < 1100; s++ {
		_ = w.CheckAndSet(s)
	}
	w.Reset()
	if !w.Empty() || w.Highest() != 0 || w.Size() != 64 {
		t.Fatalf("after Reset: Empty %v Highest %d Size %d", w.Empty(), w.Highest(), w.Size())
	}
	// Numbers seen before the reset are new again; the window restarts from the first one.
	for _, c := range []struct {
		seq  uint64
		want error
	}{{1099, nil}, {1098, nil}, {1099, ErrDuplicate}, {5, ErrTooOld}, {1036, nil}, {1035, ErrTooOld}} {
		if err := w.CheckAndSet(c.seq); err != c.want {
			t.Fatalf("after Reset CheckAndSet(%d) = %v, want %v", c.seq, err, c.want)
		}
	}
	w.Reset()
	for _, s := range []uint64{3, 2, 1, 0} {
		if err := w.CheckAndSet(s); err != nil {
			t.Fatalf("after second Reset CheckAndSet(%d) = %v", s, err)
		}
	}
}

func TestZeroValue(t *testing.T) {
	var w Window
	if w.Size() != DefaultSize || !w.Empty() {
		t.Fatalf("zero Window: Size %d Empty %v", w.Size(), w.Empty())
	}
	if err := w.Check(7); err != nil {
		t.Fatal(err)
	}
	w.Reset()
	if err := w.CheckAndSet(DefaultSize + 10); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckAndSet(11); err != nil {
		t.Fatalf("oldest in default window = %v", err)
	}
	if err := w.CheckAndSet(10); err != ErrTooOld {
		t.Fatalf("just outside default window = %v, want ErrTooOld", err)
	}
	var s Sync
	if err := s.CheckAndSet(0); err != nil || s.CheckAndSet(0) != ErrDuplicate || s.Size() != DefaultSize {
		t.Fatal("zero Sync does not work")
	}
}

// TestNoAllocs checks that CheckAndSet and Check do not allocate for in-order, reordered and
// jumping traffic.
func TestNoAllocs(t *testing.T) {
	w, _ := New(DefaultSize)
	s, _ := NewSync(DefaultSize)
	var seq uint64
	allocs := testing.AllocsPerRun(1000, func() {
		seq += 16
		for i := range uint64(16) {
			_ = w.CheckAndSet(seq - i) // reordered
			_ = s.CheckAndSet(seq - i)
			_ = w.Check(seq - i)
			_ = s.Check(seq - i)
		}
		_ = w.CheckAndSet(seq + 1<<20) // jump
		seq += 1 << 20
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}
