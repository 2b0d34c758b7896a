package mceliece

import "math/bits"

// Sorting networks: the sequence of compare-exchanges and memory accesses
// depends only on the length, never on the values. Both sorts use the
// "flipped" form of Batcher's bitonic sorter, in which every
// compare-exchange puts the smaller value first: merging two sorted runs of
// length k/2 starts by comparing position l with position k−1−l of the
// block, then half-cleans with strides k/4, k/8, …, 1.

// ce32 returns (min(x, y), max(x, y)) without branching.
func ce32(x, y uint32) (uint32, uint32) {
	d := (x ^ y) & uint32((uint64(y)-uint64(x))>>32) // all ones if y < x
	return x ^ d, y ^ d
}

// ce64 returns (min(x, y), max(x, y)) without branching.
func ce64(x, y uint64) (uint64, uint64) {
	_, borrow := bits.Sub64(y, x, 0) // 1 if y < x
	d := (x ^ y) & -borrow
	return x ^ d, y ^ d
}

// sortU32 sorts a, whose length is a power of two, in ascending order.
//
// Not instrumented by the race detector: it only touches scratch buffers
// private to one key generation, and instrumentation made -race builds ~8x
// slower.
//
//go:norace
func sortU32(a []uint32) {
	n := len(a)
	for k := 2; k <= n; k <<= 1 {
		for blk := 0; blk < n; blk += k {
			b := a[blk : blk+k]
			for l, r := 0, k-1; l < r; l, r = l+1, r-1 {
				b[l], b[r] = ce32(b[l], b[r])
			}
		}
		for j := k >> 2; j > 0; j >>= 1 {
			switch j {
			case 1:
				for i := 0; i+2 <= n; i += 2 {
					v := (*[2]uint32)(a[i:])
					v[0], v[1] = ce32(v[0], v[1])
				}
			case 2:
				for i := 0; i+4 <= n; i += 4 {
					v := (*[4]uint32)(a[i:])
					v[0], v[2] = ce32(v[0], v[2])
					v[1], v[3] = ce32(v[1], v[3])
				}
			default:
				for blk := 0; blk < n; blk += 2 * j {
					lo, hi := a[blk:blk+j], a[blk+j:blk+2*j]
					for l := range lo {
						lo[l], hi[l] = ce32(lo[l], hi[l])
					}
				}
			}
		}
	}
}

// sortU64 is sortU32 for 64-bit values.
//
// Not instrumented by the race detector: it only touches scratch buffers
// private to one key generation, and instrumentation made -race builds ~8x
// slower.
//
//go:norace
func sortU64(a []uint64) {
	n := len(a)
	for k := 2; k <= n; k <<= 1 {
		for blk := 0; blk < n; blk += k {
			b := a[blk : blk+k]
			for l, r := 0, k-1; l < r; l, r = l+1, r-1 {
				b[l], b[r] = ce64(b[l], b[r])
			}
		}
		for j := k >> 2; j > 0; j >>= 1 {
			switch j {
			case 1:
				for i := 0; i+2 <= n; i += 2 {
					v := (*[2]uint64)(a[i:])
					v[0], v[1] = ce64(v[0], v[1])
				}
			case 2:
				for i := 0; i+4 <= n; i += 4 {
					v := (*[4]uint64)(a[i:])
					v[0], v[2] = ce64(v[0], v[2])
					v[1], v[3] = ce64(v[1], v[3])
				}
			default:
				for blk := 0; blk < n; blk += 2 * j {
					lo, hi := a[blk:blk+j], a[blk+j:blk+2*j]
					for l := range lo {
						lo[l], hi[l] = ce64(lo[l], hi[l])
					}
				}
			}
		}
	}
}
