package keccak

import (
	"math/rand/v2"
	"testing"
)

// randomX8 fills eight states with random lanes, some of them sparse.
func randomX8(r *rand.Rand, a *[200]uint64) {
	for i := range a {
		a[i] = r.Uint64()
		if r.IntN(8) == 0 {
			a[i] &= r.Uint64() & r.Uint64()
		}
	}
}

// TestF1600x8MatchesScalar checks F1600x8 and the portable x8AbsorbGeneric
// against permuteGeneric on every one of the eight lanes of random states,
// and on states chained through repeated permutation.
func TestF1600x8MatchesScalar(t *testing.T) {
	impls := []struct {
		name string
		f    func(*[200]uint64)
	}{
		{"F1600x8", F1600x8},
		{"x8AbsorbGeneric", func(a *[200]uint64) { x8AbsorbGeneric(a, nil, 0, 1) }},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(8, 8))
			const rounds = 400
			for n := 0; n < rounds; n++ {
				var a [200]uint64
				randomX8(r, &a)
				if n == 1 {
					a = [200]uint64{}
				}
				got := a
				impl.f(&got)
				for j := 0; j < 8; j++ {
					var want, lane [25]uint64
					x8Get(&a, j, &want)
					permuteGeneric(&want)
					x8Get(&got, j, &lane)
					if lane != want {
						t.Fatalf("states %d, lane %d: got %x\nwant %x", n, j, lane, want)
					}
				}
			}
			var a [200]uint64
			randomX8(r, &a)
			want := a
			for n := 0; n < 300; n++ {
				impl.f(&a)
				for j := 0; j < 8; j++ {
					var s [25]uint64
					x8Get(&want, j, &s)
					permuteGeneric(&s)
					x8Set(&want, j, &s)
				}
				if a != want {
					t.Fatalf("chained permutation %d disagrees", n)
				}
			}
			t.Logf("%s agrees with permuteGeneric on %d random sets of 8 states and 300 chained ones (accelerated: %v)",
				impl.name, rounds, useX8)
		})
	}
}

// TestX8AbsorbMatchesScalar checks x8Absorb (the assembly on AVX-512
// machines) against the scalar absorb-and-permute, with random lane masks,
// block counts and the rates QSMP uses, including lanes that read from
// unaligned addresses.
func TestX8AbsorbMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	cases := 0
	for _, rate := range []int{Rate256, Rate512, 8, maxRate} {
		words := rate / 8
		for iter := 0; iter < 60; iter++ {
			blocks := r.IntN(5)
			var a [200]uint64
			randomX8(r, &a)
			var src [8][]byte
			for j := range src {
				if r.IntN(4) == 0 {
					continue // lane absorbs nothing
				}
				skew := r.IntN(8)
				buf := randomBytes(r, skew+blocks*rate+r.IntN(20))
				src[j] = buf[skew:]
			}
			if blocks == 0 {
				src = [8][]byte{}
			}
			want := a
			for j := 0; j < 8; j++ {
				var s [25]uint64
				x8Get(&want, j, &s)
				for b := 0; b < blocks; b++ {
					if len(src[j]) > 0 {
						xorWords(&s, src[j][b*rate:(b+1)*rate])
					}
					permuteGeneric(&s)
				}
				x8Set(&want, j, &s)
			}
			for _, f := range []struct {
				name string
				fn   func(*[200]uint64, *[8][]byte, int, int)
			}{{"x8Absorb", x8Absorb}, {"x8AbsorbGeneric", x8AbsorbGeneric}} {
				got := a
				f.fn(&got, &src, words, blocks)
				if got != want {
					t.Fatalf("%s rate %d, %d blocks: wrong states", f.name, rate, blocks)
				}
				cases++
			}
		}
	}
	t.Logf("%d absorb cases agree with the scalar sponge", cases)
}

// TestX8AbsorbShortLanePanics checks the guard that keeps the assembly from
// reading past a lane's input.
func TestX8AbsorbShortLanePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("x8Absorb accepted a lane shorter than its blocks")
		}
	}()
	var a [200]uint64
	var src [8][]byte
	src[3] = make([]byte, Rate256*2-1)
	x8Absorb(&a, &src, Rate256/8, 2)
}

// BenchmarkF1600x8 measures one call of F1600x8 (eight permutations).
func BenchmarkF1600x8(b *testing.B) {
	var a [200]uint64
	for b.Loop() {
		F1600x8(&a)
	}
}

// BenchmarkF1600x8Scalar measures eight scalar permutations, the work
// F1600x8 replaces.
func BenchmarkF1600x8Scalar(b *testing.B) {
	var s [8][25]uint64
	for b.Loop() {
		for j := range s {
			permute(&s[j])
		}
	}
}

// BenchmarkX8Absorb136 measures x8Absorb of 10 blocks of 136 bytes into
// each of the eight states (the lockstep core of KMAC.MultiSum); the
// reported throughput counts the bytes of all eight lanes.
func BenchmarkX8Absorb136(b *testing.B) {
	var a [200]uint64
	var src [8][]byte
	for j := range src {
		src[j] = make([]byte, 10*Rate256)
	}
	b.SetBytes(8 * 10 * Rate256)
	for b.Loop() {
		x8Absorb(&a, &src, Rate256/8, 10)
	}
}
