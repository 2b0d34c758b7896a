package transfer

import "sync/atomic"

// Budget bounds the memory of all reassemblies together (every session of a
// server shares one). It is safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a Budget of maxBytes bytes.
func NewBudget(maxBytes int64) *Budget {
	return &Budget{max: max(maxBytes, 0)}
}

// Reserve takes n bytes from the budget and reports whether they were
// available; it takes nothing when they were not, or when n is negative.
func (b *Budget) Reserve(n int64) bool {
	if n < 0 {
		return false
	}
	for {
		u := b.used.Load()
		if n > b.max-u {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release returns n bytes taken by Reserve. Returning more than is reserved
// leaves the budget empty rather than negative.
func (b *Budget) Release(n int64) {
	if n <= 0 {
		return
	}
	for {
		u := b.used.Load()
		if b.used.CompareAndSwap(u, max(u-n, 0)) {
			return
		}
	}
}

// Used returns the bytes currently reserved.
func (b *Budget) Used() int64 { return b.used.Load() }

// Max returns the size of the budget.
func (b *Budget) Max() int64 { return b.max }
