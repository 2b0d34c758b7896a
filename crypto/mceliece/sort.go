package mceliece

import "math/bits"

// sortU64 sorts a, whose length is a power of two, in ascending order with
// Batcher's bitonic sorting network: the sequence of compare-exchanges and
// memory accesses depends only on len(a), never on the values.
func sortU64(a []uint64) {
	n := len(a)
	for k := 2; k <= n; k <<= 1 {
		for j := k >> 1; j > 0; j >>= 1 {
			for i := 0; i < n; i += 2 * j {
				lo, hi := a[i:i+j], a[i+j:i+2*j]
				if i&k == 0 {
					for l := range lo {
						x, y := lo[l], hi[l]
						_, borrow := bits.Sub64(y, x, 0) // y < x
						d := (x ^ y) & -borrow
						lo[l], hi[l] = x^d, y^d
					}
				} else {
					for l := range lo {
						x, y := lo[l], hi[l]
						_, borrow := bits.Sub64(x, y, 0) // x < y
						d := (x ^ y) & -borrow
						lo[l], hi[l] = x^d, y^d
					}
				}
			}
		}
	}
}

// sortU32 is sortU64 for 32-bit values.
func sortU32(a []uint32) {
	n := len(a)
	for k := 2; k <= n; k <<= 1 {
		for j := k >> 1; j > 0; j >>= 1 {
			for i := 0; i < n; i += 2 * j {
				lo, hi := a[i:i+j], a[i+j:i+2*j]
				if i&k == 0 {
					for l := range lo {
						x, y := lo[l], hi[l]
						d := (x ^ y) & uint32((uint64(y)-uint64(x))>>32)
						lo[l], hi[l] = x^d, y^d
					}
				} else {
					for l := range lo {
						x, y := lo[l], hi[l]
						d := (x ^ y) & uint32((uint64(x)-uint64(y))>>32)
						lo[l], hi[l] = x^d, y^d
					}
				}
			}
		}
	}
}
