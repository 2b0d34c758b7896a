package keccak

import "encoding/binary"

// F1600x8 applies the Keccak-f[1600] permutation to eight states at once.
// The states are lane-interleaved: a[8*i+j] is lane i of state j, where lane
// i = x+5y holds column x of row y as in F1600. The result equals eight
// calls of F1600, one per state.
//
// On amd64 (without the purego build tag) the eight states are permuted
// together: in 512-bit registers with AVX-512F (gen8/main.go), else in two
// groups of four in 256-bit registers with AVX2 (gen8avx2/main.go);
// elsewhere F1600x8 makes eight calls to the scalar permutation.
func F1600x8(a *[200]uint64) { x8Absorb(a, nil, 0, 1) }

// X8Accelerated reports whether F1600x8 (and the lockstep path of
// KMAC.MultiSum) runs on an eight-lane implementation (AVX-512F or AVX2)
// rather than on eight scalar permutations.
func X8Accelerated() bool { return useX8 }

// x8AbsorbGeneric is the portable x8Absorb: for each of blocks blocks, it
// XORs 8*words bytes of src[j] (taken as little-endian words) into the first
// words lanes of state j, for every j with a non-empty src[j], then permutes
// all eight states with the scalar permutation.
func x8AbsorbGeneric(a *[200]uint64, src *[8][]byte, words, blocks int) {
	x8Check(src, words, blocks)
	for b := 0; b < blocks; b++ {
		if src != nil && words > 0 {
			for j := range src {
				if len(src[j]) == 0 {
					continue
				}
				p := src[j][b*8*words : (b+1)*8*words]
				for i := 0; i < words; i++ {
					a[8*i+j] ^= binary.LittleEndian.Uint64(p[8*i:])
				}
			}
		}
		for j := 0; j < 8; j++ {
			var s [25]uint64
			x8Get(a, j, &s)
			permute(&s)
			x8Set(a, j, &s)
			clear(s[:])
		}
	}
}

// x8Get copies state j out of the interleaved states a.
func x8Get(a *[200]uint64, j int, s *[25]uint64) {
	for i := range s {
		s[i] = a[8*i+j]
	}
}

// x8Set copies s into state j of the interleaved states a.
func x8Set(a *[200]uint64, j int, s *[25]uint64) {
	for i := range s {
		a[8*i+j] = s[i]
	}
}

// x8Check panics unless every non-empty src[j] holds at least blocks blocks
// of 8*words bytes: the assembly reads that much from each lane in use.
func x8Check(src *[8][]byte, words, blocks int) {
	if src == nil || words == 0 {
		return
	}
	if words < 0 || words > maxRate/8 || blocks < 0 {
		panic("keccak: x8Absorb: bad block geometry")
	}
	need := blocks * 8 * words
	for j := range src {
		if n := len(src[j]); n != 0 && n < need {
			panic("keccak: x8Absorb: lane input shorter than the blocks")
		}
	}
}
