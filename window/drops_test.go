package window

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{
		ReasonTooOld: "too old", ReasonDuplicate: "duplicate", ReasonTime: "time",
		ReasonAuth: "authentication", 0: "Reason(0)", 200: "Reason(200)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
	if Reason(0).Valid() || Reason(5).Valid() || !ReasonAuth.Valid() || !ReasonTooOld.Valid() {
		t.Error("Valid is wrong")
	}
}

func TestReasonOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Reason
		ok   bool
	}{
		{ErrTooOld, ReasonTooOld, true},
		{ErrDuplicate, ReasonDuplicate, true},
		{ErrTime, ReasonTime, true},
		{fmt.Errorf("record 7: %w", ErrDuplicate), ReasonDuplicate, true},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrTime)), ReasonTime, true},
		{nil, 0, false},
		{io.EOF, 0, false},
		{ErrSize, 0, false},
		{errors.New("window: sequence number too old"), 0, false}, // same text, not the sentinel
	} {
		r, ok := ReasonOf(c.err)
		if r != c.want || ok != c.ok {
			t.Errorf("ReasonOf(%v) = %v, %v; want %v, %v", c.err, r, ok, c.want, c.ok)
		}
	}
}

func TestDrops(t *testing.T) {
	var d Drops
	if d.Snapshot() != (DropCounts{}) {
		t.Fatal("zero Drops is not all zero")
	}
	d.Add(ReasonTooOld)
	d.Add(ReasonDuplicate)
	d.Add(ReasonDuplicate)
	d.Add(ReasonTime)
	d.Add(ReasonAuth)
	d.Add(ReasonAuth)
	d.Add(ReasonAuth)
	d.Add(0)   // ignored
	d.Add(255) // ignored
	if !d.AddErr(fmt.Errorf("x: %w", ErrTooOld)) || d.AddErr(io.EOF) || d.AddErr(nil) {
		t.Fatal("AddErr reports wrongly")
	}
	want := DropCounts{TooOld: 2, Duplicate: 2, Time: 1, Auth: 3}
	got := d.Snapshot()
	if got != want {
		t.Fatalf("Snapshot = %+v, want %+v", got, want)
	}
	if got.Total() != 8 {
		t.Fatalf("Total = %d, want 8", got.Total())
	}
	for _, r := range []Reason{ReasonTooOld, ReasonDuplicate, ReasonTime, ReasonAuth, 0, 9} {
		if d.Get(r) != got.Get(r) {
			t.Errorf("Get(%v) = %d, snapshot %d", r, d.Get(r), got.Get(r))
		}
	}
	if d.Get(0) != 0 || d.Get(ReasonAuth) != 3 {
		t.Error("Get is wrong")
	}
}

func TestDropsConcurrent(t *testing.T) {
	var d Drops
	const goroutines, each = 4, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				d.Add(Reason(1 + (g+i)%4))
			}
		})
	}
	wg.Wait()
	if got := d.Snapshot(); got.Total() != goroutines*each || got.TooOld != goroutines*each/4 {
		t.Fatalf("Snapshot = %+v, want %d each", got, goroutines*each/4)
	}
}

// TestSyncConcurrent has several goroutines present the same numbers in different orders: every
// number must be accepted exactly once.
func TestSyncConcurrent(t *testing.T) {
	const n = 4096
	s, _ := NewSync(n) // everything stays inside the window
	const goroutines = 4
	accepted := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range uint64(n) {
				seq := i
				if g%2 == 1 {
					seq = n - 1 - i // opposite order
				}
				seq = seq ^ uint64(g) // and a little local reordering
				if s.Check(seq) != nil {
					continue
				}
				if s.CheckAndSet(seq) == nil {
					accepted[g] = append(accepted[g], seq)
				}
			}
		})
	}
	wg.Wait()
	seen := make(map[uint64]int)
	for _, a := range accepted {
		for _, seq := range a {
			seen[seq]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct numbers accepted, want %d", len(seen), n)
	}
	for seq, c := range seen {
		if c != 1 || seq >= n {
			t.Fatalf("number %d accepted %d times", seq, c)
		}
	}
	if s.Highest() != n-1 || s.Empty() {
		t.Fatalf("Highest = %d, want %d", s.Highest(), n-1)
	}
	s.Reset()
	if !s.Empty() || s.Highest() != 0 {
		t.Fatal("Reset did not empty the Sync")
	}
}
