package window

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
)

// TestZeroSyncConcurrent: a zero-value Sync (its bitmap allocated by the
// first CheckAndSet, under the lock) used at once by goroutines calling
// CheckAndSet, Check and Do, at both ends of the sequence space, accepts
// each number exactly once and ends with the right highest number.
func TestZeroSyncConcurrent(t *testing.T) {
	for _, base := range []uint64{0, math.MaxUint64 - 255} {
		var s Sync
		var accepted [256]atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range uint64(256) {
					seq := base + (i+uint64(g)*61)%256
					switch g % 3 {
					case 0:
						if s.CheckAndSet(seq) == nil {
							accepted[seq-base].Add(1)
						}
					case 1:
						s.Do(func(w *Window) {
							if w.Check(seq) == nil && w.CheckAndSet(seq) == nil {
								accepted[seq-base].Add(1)
							}
						})
					default:
						if s.Check(seq) == nil && s.CheckAndSet(seq) == nil {
							accepted[seq-base].Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
		for i := range accepted {
			if n := accepted[i].Load(); n != 1 {
				t.Fatalf("base %d: number %d accepted %d times", base, base+uint64(i), n)
			}
		}
		if s.Empty() || s.Highest() != base+255 || s.Size() != DefaultSize {
			t.Fatalf("base %d: highest %d, size %d", base, s.Highest(), s.Size())
		}
		if s.CheckAndSet(base) != ErrDuplicate {
			t.Fatalf("base %d: replay accepted", base)
		}
	}
}
