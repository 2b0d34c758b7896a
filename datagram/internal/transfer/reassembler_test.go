package transfer

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func mustReassembler(t *testing.T, size int, b *Budget) *Reassembler {
	t.Helper()
	r, err := NewReassembler(size, b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func add(t *testing.T, r *Reassembler, off int, data []byte, want Result) {
	t.Helper()
	got, err := r.Add(uint32(off), data)
	if err != nil || got != want {
		t.Fatalf("Add(%d, %d bytes) = %v, %v; want %v", off, len(data), got, err, want)
	}
}

func TestReassemblerOutOfOrder(t *testing.T) {
	msg := testMessage(1000, 5)
	r := mustReassembler(t, len(msg), nil)
	for _, off := range []int{900, 0, 500, 100, 300, 200, 700, 400, 800, 600} {
		if r.Complete() {
			t.Fatal("complete too early")
		}
		add(t, r, off, msg[off:off+100], New)
	}
	if !r.Complete() || !bytes.Equal(r.Bytes(), msg) || r.Held() != 1000 {
		t.Fatal("not reassembled")
	}
	if rs := r.Ranges(32); len(rs) != 1 || rs[0] != (Range{Start: 0, End: 1000}) {
		t.Fatalf("ranges %v", rs)
	}
	if st := r.Stats(); st.New != 10 || st.Duplicates != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReassemblerDuplicatesAndOverlaps(t *testing.T) {
	msg := testMessage(300, 6)
	r := mustReassembler(t, 300, nil)
	add(t, r, 0, msg[0:100], New)
	add(t, r, 0, msg[0:100], Duplicate)
	add(t, r, 10, msg[10:50], Duplicate)
	add(t, r, 50, msg[50:150], New) // half held, half new
	add(t, r, 200, msg[200:300], New)
	add(t, r, 0, msg[0:300], New) // spans the gap and both ranges
	if !r.Complete() || !bytes.Equal(r.Bytes(), msg) {
		t.Fatal("not reassembled")
	}
	add(t, r, 0, msg, Duplicate)
	if st := r.Stats(); st.Duplicates != 3 || st.New != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReassemblerConflict(t *testing.T) {
	msg := testMessage(300, 7)
	r := mustReassembler(t, 300, nil)
	add(t, r, 100, msg[100:200], New)
	bad := bytes.Clone(msg[50:250])
	bad[100] ^= 1 // byte 150, which is held
	if got, err := r.Add(50, bad); err != nil || got != Conflict {
		t.Fatalf("Add of a conflicting copy = %v, %v", got, err)
	}
	// Nothing of the conflicting fragment was stored, not even its new bytes.
	if r.Held() != 100 || r.Bytes()[60] != 0 || len(r.Ranges(8)) != 1 {
		t.Fatalf("conflicting fragment partly stored: held %d", r.Held())
	}
	// Bytes next to held ones, not overlapping them, are simply new.
	add(t, r, 200, msg[200:210], New)
	if r.Stats().Conflicts != 1 {
		t.Fatalf("conflicts %d", r.Stats().Conflicts)
	}
}

func TestReassemblerErrors(t *testing.T) {
	for _, size := range []int{0, -1} {
		if _, err := NewReassembler(size, nil); !errors.Is(err, ErrSize) {
			t.Errorf("size %d: %v", size, err)
		}
	}
	r := mustReassembler(t, 100, nil)
	cases := []struct {
		off  uint32
		n    int
		want error
	}{
		{0, 0, ErrEmpty},
		{100, 1, ErrOverrun},
		{99, 2, ErrOverrun},
		{0, 101, ErrOverrun},
		{^uint32(0), 2, ErrOverrun}, // would wrap in 32 bits
	}
	for _, c := range cases {
		if _, err := r.Add(c.off, make([]byte, c.n)); !errors.Is(err, c.want) {
			t.Errorf("Add(%d, %d bytes): %v, want %v", c.off, c.n, err, c.want)
		}
	}
	if r.Held() != 0 || r.Stats().Overruns != 4 {
		t.Fatalf("held %d, stats %+v", r.Held(), r.Stats())
	}
	add(t, r, 99, []byte{1}, New) // the last byte is fine
}

func TestReassemblerRanges(t *testing.T) {
	r := mustReassembler(t, 1000, nil)
	for i := 0; i < 10; i++ {
		add(t, r, i*100, make([]byte, 50), New)
	}
	rs := r.Ranges(3)
	if len(rs) != 3 || rs[0] != (Range{Start: 0, End: 50}) || rs[2] != (Range{Start: 200, End: 250}) {
		t.Fatalf("lowest three ranges: %v", rs)
	}
	if len(r.Ranges(100)) != 10 || r.Ranges(0) != nil || r.Ranges(-1) != nil {
		t.Fatal("Ranges bounds")
	}
	rs[0] = Range{Start: 7, End: 8}
	if r.Ranges(1)[0] != (Range{Start: 0, End: 50}) {
		t.Fatal("Ranges returned internal state")
	}
	// Filling the gap between two ranges coalesces them.
	add(t, r, 50, make([]byte, 50), New)
	if rs := r.Ranges(2); rs[0] != (Range{Start: 0, End: 150}) || rs[1] != (Range{Start: 200, End: 250}) {
		t.Fatalf("after filling a gap: %v", rs)
	}
	buf := make([]Range, 0, 4)
	if out := r.AppendRanges(buf, 4); len(out) != 4 || &out[0] != &buf[:1][0] {
		t.Fatal("AppendRanges does not append into dst")
	}
}

func TestReassemblerTooFragmented(t *testing.T) {
	size := 2*MaxRanges + 10
	r := mustReassembler(t, size, nil)
	for i := range MaxRanges {
		add(t, r, 2*i, []byte{0}, New)
	}
	if _, err := r.Add(uint32(2*MaxRanges+2), []byte{0}); !errors.Is(err, ErrTooFragmented) {
		t.Fatalf("range %d: %v", MaxRanges+1, err)
	}
	// Adding next to a range, or filling a gap, still works.
	add(t, r, 2*MaxRanges-1, []byte{0}, New)
	add(t, r, 1, []byte{0}, New)
	if len(r.Ranges(MaxRanges+1)) != MaxRanges-1 || r.Stats().Refused != 1 {
		t.Fatalf("ranges %d, stats %+v", len(r.Ranges(MaxRanges+1)), r.Stats())
	}
}

func TestReassemblerBudget(t *testing.T) {
	b := NewBudget(Cost(1000) + Cost(500))
	r1 := mustReassembler(t, 1000, b)
	r2 := mustReassembler(t, 500, b)
	if b.Used() != b.Max() {
		t.Fatalf("used %d of %d", b.Used(), b.Max())
	}
	if _, err := NewReassembler(1, b); !errors.Is(err, ErrBudget) {
		t.Fatalf("over budget: %v", err)
	}
	add(t, r1, 0, []byte("secret"), New)
	buf := r1.Bytes()
	r1.Release()
	r1.Release() // twice is harmless
	if b.Used() != Cost(500) {
		t.Fatalf("after release: used %d", b.Used())
	}
	if buf[0] != 0 {
		t.Fatal("Release did not zero the buffer")
	}
	if r1.Bytes() != nil || r1.Complete() {
		t.Fatal("released reassembler still holds data")
	}
	if _, err := r1.Add(0, []byte{1}); !errors.Is(err, ErrReleased) {
		t.Fatalf("Add after Release: %v", err)
	}
	if _, err := NewReassembler(1000, b); err != nil {
		t.Fatalf("memory not returned: %v", err)
	}
	r2.Release()
	if Cost(1) != 1+8 || Cost(1_400_000) != 1_400_000+8*MaxRanges {
		t.Fatal("Cost")
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(100)
	if !b.Reserve(60) || b.Reserve(41) || !b.Reserve(40) || b.Reserve(1) {
		t.Fatal("Reserve does not respect the limit")
	}
	if b.Reserve(-1) {
		t.Fatal("negative reservation")
	}
	b.Release(30)
	if b.Used() != 70 {
		t.Fatalf("used %d", b.Used())
	}
	b.Release(1000)
	if b.Used() != 0 {
		t.Fatalf("over-release left %d", b.Used())
	}
	if NewBudget(-5).Max() != 0 {
		t.Fatal("negative budget")
	}
}

func TestBudgetConcurrent(t *testing.T) {
	const limit = 1000
	b := NewBudget(limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	over := false
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(g%5 + 1)
			for range 2000 {
				if b.Reserve(n) {
					if u := b.Used(); u > limit {
						mu.Lock()
						over = true
						mu.Unlock()
					}
					b.Release(n)
				}
			}
		}()
	}
	wg.Wait()
	if over || b.Used() != 0 {
		t.Fatalf("over %v, used %d at the end", over, b.Used())
	}
}
