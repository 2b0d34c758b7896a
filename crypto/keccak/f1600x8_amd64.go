//go:build amd64 && !purego

package keccak

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run gen8/main.go -out f1600x8_amd64.s

// f1600x8AVX512 runs blocks times: XOR words words from ptrs[j] (advancing
// by 8*words bytes per block) into state j for each bit j set in mask, then
// permute all eight lane-interleaved states. It must only be called when
// the CPU has AVX-512F.
//
//go:noescape
func f1600x8AVX512(a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int)

// x8Kind names an implementation of x8Absorb.
type x8Kind int

const (
	x8Scalar x8Kind = iota // eight scalar permutations (x8AbsorbGeneric)
	x8AVX512               // f1600x8AVX512: AVX-512F
	x8AVX2                 // f1600x8AVX2: AVX2, two groups of four states
)

// x8AVX2Speedup is the speed of F1600x8 on the AVX2 path over eight scalar
// permutations (permuteAsmBMI), in tenths: BenchmarkF1600x8AVX2, about
// 1,255 ns, against BenchmarkF1600x8Scalar, about 1,830 ns, on an Intel
// Xeon (Sapphire Rapids, 2.9 GHz) whose AVX-512 path does it in 440 ns. The
// AVX2 path is selected only if this is at least 13 (1.3x). It is bound by
// its 184 vector ALU instructions per round on three ports; CPUs with four
// vector pipes (AMD Zen 2 and later) should fare better.
const x8AVX2Speedup = 14

// x8Path is the implementation x8Absorb runs: AVX-512F if the CPU (and the
// OS) support it, else AVX2 if it pays, else the scalar permutation. Tests
// switch it (see setX8Path) to run every path this CPU supports.
var x8Path = chooseX8(cpu.X86.HasAVX512F, cpu.X86.HasAVX2)

// chooseX8 returns the eight-lane implementation for a CPU with the given
// features.
func chooseX8(avx512, avx2 bool) x8Kind {
	switch {
	case avx512:
		return x8AVX512
	case avx2 && x8AVX2Speedup >= 13:
		return x8AVX2
	}
	return x8Scalar
}

// x8MinLanes is the fewest messages worth a lockstep step of
// KMAC.MultiSum once no more messages wait: an eight-lane permutation costs
// about two scalar ones on the AVX-512 path, and five and a half on the
// AVX2 path.
func x8MinLanes() int {
	if x8Path == x8AVX2 {
		return 6
	}
	return 2
}

// useX8 reports whether x8Absorb runs an eight-lane assembly permutation,
// which makes the lockstep path of KMAC.MultiSum worthwhile.
var useX8 = x8Path != x8Scalar

// x8Absorb XORs, block after block, 8*words bytes of each non-empty src[j]
// into state j and permutes the eight states after each block. Every
// non-empty src[j] must hold at least blocks blocks.
func x8Absorb(a *[200]uint64, src *[8][]byte, words, blocks int) {
	if x8Path == x8Scalar {
		x8AbsorbGeneric(a, src, words, blocks)
		return
	}
	x8Check(src, words, blocks)
	var ptrs [8]*byte
	mask := 0
	if src != nil && words > 0 {
		for j := range src {
			if len(src[j]) != 0 {
				ptrs[j] = unsafe.SliceData(src[j])
				mask |= 1 << j
			}
		}
	} else {
		words = 0
	}
	if x8Path == x8AVX2 {
		f1600x8AVX2(a, &ptrs, mask, words, blocks)
	} else {
		f1600x8AVX512(a, &ptrs, mask, words, blocks)
	}
}
