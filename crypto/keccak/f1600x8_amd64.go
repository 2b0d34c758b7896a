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
// useX8 is true.
//
//go:noescape
func f1600x8AVX512(a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int)

// useX8 reports whether the CPU (and the OS) support AVX-512F, all the
// eight-lane permutation needs (VPTERNLOGQ, VPROLQ, VPGATHERQQ, KMOVW).
var useX8 = cpu.X86.HasAVX512F

// x8Absorb XORs, block after block, 8*words bytes of each non-empty src[j]
// into state j and permutes the eight states after each block. Every
// non-empty src[j] must hold at least blocks blocks.
func x8Absorb(a *[200]uint64, src *[8][]byte, words, blocks int) {
	if !useX8 {
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
	f1600x8AVX512(a, &ptrs, mask, words, blocks)
}
