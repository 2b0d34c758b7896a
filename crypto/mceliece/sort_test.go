package mceliece

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSortingNetworks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for logn := 0; logn <= 13; logn++ {
		n := 1 << logn
		for trial := 0; trial < 4; trial++ {
			a32 := make([]uint32, n)
			a64 := make([]uint64, n)
			for i := range a32 {
				switch trial {
				case 0: // many duplicates
					a32[i], a64[i] = uint32(r.IntN(4)), uint64(r.IntN(4))
				case 1: // extremes
					a32[i], a64[i] = ^uint32(0)-uint32(r.IntN(3)), ^uint64(0)-uint64(r.IntN(3))
				default:
					a32[i], a64[i] = r.Uint32(), r.Uint64()
				}
			}
			w32, w64 := slices.Clone(a32), slices.Clone(a64)
			slices.Sort(w32)
			slices.Sort(w64)
			sortU32(a32)
			sortU64(a64)
			if !slices.Equal(a32, w32) || !slices.Equal(a64, w64) {
				t.Fatalf("n=%d trial %d: not sorted", n, trial)
			}
		}
	}
}

func BenchmarkSortU32(b *testing.B) {
	a := make([]uint32, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	loopCPU(b, func() {
		for i := range a {
			a[i] = r.Uint32()
		}
		sortU32(a)
	})
}
