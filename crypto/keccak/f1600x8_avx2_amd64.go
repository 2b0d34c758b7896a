//go:build amd64 && !purego

package keccak

//go:generate go run gen8avx2/main.go -out f1600x8_avx2_amd64.s

// f1600x8AVX2 is f1600x8AVX512 for CPUs with AVX2 (two groups of four
// states in ymm registers, see gen8avx2/main.go): blocks times, XOR words
// words from ptrs[j] (advancing by 8*words bytes per block) into state j for
// each bit j set in mask, then permute all eight lane-interleaved states.
// It never reads ptrs[j] for a clear bit j, nor ptrs at all when words is
// 0. It must only be called when the CPU has AVX2.
//
//go:noescape
func f1600x8AVX2(a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int)
