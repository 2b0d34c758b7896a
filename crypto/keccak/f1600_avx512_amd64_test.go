//go:build amd64 && !purego

package keccak

import (
	"math/rand/v2"
	"testing"
)

// TestF1600Impls checks every implementation of this platform against
// permuteGeneric on random, sparse and extreme states and on states chained
// through repeated permutation. An implementation this CPU cannot run is
// reported as skipped.
func TestF1600Impls(t *testing.T) {
	for _, impl := range f1600Impls() {
		t.Run(impl.name, func(t *testing.T) {
			if !impl.available {
				t.Skipf("this CPU cannot run %s; permute never selects it here", impl.name)
			}
			r := rand.New(rand.NewPCG(11, 12))
			const states = 5000
			for n := 0; n < states; n++ {
				var a [25]uint64
				switch {
				case n == 0:
				case n == 1:
					for i := range a {
						a[i] = ^uint64(0)
					}
				case n < 2+25*64:
					// every single-bit state
					a[(n-2)/64] = 1 << ((n - 2) % 64)
				default:
					for i := range a {
						a[i] = r.Uint64()
					}
					if n%7 == 0 {
						for i := range a {
							a[i] &= r.Uint64() & r.Uint64() & r.Uint64()
						}
					}
				}
				want, got := a, a
				permuteGeneric(&want)
				impl.f(&got)
				if got != want {
					t.Fatalf("state %d: %s(%x)\n= %x\nwant %x", n, impl.name, a, got, want)
				}
			}
			var want, got [25]uint64
			for n := 0; n < 2000; n++ {
				permuteGeneric(&want)
				impl.f(&got)
				if got != want {
					t.Fatalf("chained permutation %d disagrees", n)
				}
			}
			t.Logf("%s agrees with permuteGeneric on %d states (incl. all %d single-bit states) and 2000 chained ones", impl.name, states, 25*64)
		})
	}
}

// TestAVX512LeavesNeighboursAlone checks that the masked loads and stores of
// the AVX-512 permutation touch only the 25 lanes: the state is placed in a
// larger array whose other words must survive.
func TestAVX512LeavesNeighboursAlone(t *testing.T) {
	if !useAVX512 {
		t.Skip("this CPU cannot run permuteAVX512")
	}
	var buf [40]uint64
	for i := range buf {
		buf[i] = 0x5555aaaa00000000 | uint64(i)
	}
	a := (*[25]uint64)(buf[5:30])
	want := *a
	permuteGeneric(&want)
	permuteAVX512(a)
	if *a != want {
		t.Fatalf("permuteAVX512 in a larger array = %x\nwant %x", *a, want)
	}
	for i, v := range buf {
		if (i < 5 || i >= 30) && v != 0x5555aaaa00000000|uint64(i) {
			t.Fatalf("word %d outside the state changed to %#x", i, v)
		}
	}
}

func BenchmarkF1600AsmBMI(b *testing.B) {
	if !useBMI {
		b.Skip("CPU lacks BMI1/BMI2")
	}
	var a [25]uint64
	for b.Loop() {
		permuteAsmBMI(&a)
	}
}

func BenchmarkF1600AVX512(b *testing.B) {
	if !useAVX512 {
		b.Skip("CPU lacks AVX-512F")
	}
	var a [25]uint64
	for b.Loop() {
		permuteAVX512(&a)
	}
}
