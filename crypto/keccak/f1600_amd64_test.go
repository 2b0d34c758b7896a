//go:build amd64 && !purego

package keccak

import (
	"math/rand/v2"
	"testing"
)

// TestAsmMatchesGeneric checks both assembly permutations against
// permuteGeneric on many random states, and on states chained through
// repeated permutation.
func TestAsmMatchesGeneric(t *testing.T) {
	impls := []struct {
		name string
		f    func(*[25]uint64)
		ok   bool
	}{
		{"permuteAsm", permuteAsm, true},
		{"permuteAsmBMI", permuteAsmBMI, useBMI},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			if !impl.ok {
				t.Skip("CPU lacks BMI1/BMI2; this variant is never selected here")
			}
			r := rand.New(rand.NewPCG(5, 6))
			const states = 3000
			for n := 0; n < states; n++ {
				var a [25]uint64
				for i := range a {
					a[i] = r.Uint64()
				}
				// a sparse state now and then (single bits, all-ones lanes)
				if n%10 == 0 {
					for i := range a {
						a[i] &= r.Uint64() & r.Uint64() & r.Uint64()
					}
				}
				if n == 1 {
					a = [25]uint64{}
				}
				if n == 2 {
					for i := range a {
						a[i] = ^uint64(0)
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
			for n := 0; n < 1000; n++ {
				permuteGeneric(&want)
				impl.f(&got)
				if got != want {
					t.Fatalf("chained permutation %d disagrees", n)
				}
			}
			t.Logf("%s agrees with permuteGeneric on %d random and 1000 chained states", impl.name, states)
		})
	}
}

func BenchmarkF1600Asm(b *testing.B) {
	var a [25]uint64
	for b.Loop() {
		permuteAsm(&a)
	}
}

func BenchmarkF1600Generic(b *testing.B) {
	var a [25]uint64
	for b.Loop() {
		permuteGeneric(&a)
	}
}
