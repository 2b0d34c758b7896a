package window

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestSyncDo: checks made through Do act on the same window as the
// methods, and concurrent groups presenting the same numbers accept each
// exactly once.
func TestSyncDo(t *testing.T) {
	s, err := NewSync(DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	s.Do(func(w *Window) {
		if err := w.CheckAndSet(7); err != nil {
			t.Fatalf("first 7: %v", err)
		}
	})
	if err := s.Check(7); err == nil {
		t.Fatal("7 accepted through Do is not seen by Check")
	}
	const groups, per = 8, 500
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range groups {
		wg.Go(func() {
			for base := uint64(100); base < 100+per; base += 16 {
				s.Do(func(w *Window) {
					for seq := base; seq < base+16 && seq < 100+per; seq++ {
						if w.CheckAndSet(seq) == nil {
							accepted.Add(1)
						}
					}
				})
			}
		})
	}
	wg.Wait()
	if got := accepted.Load(); got != per {
		t.Fatalf("%d numbers accepted by %d concurrent groups, want %d (each once)", got, groups, per)
	}
}
