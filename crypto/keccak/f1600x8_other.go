//go:build !amd64 || purego

package keccak

// x8MinLanes is the lockstep threshold of KMAC.MultiSum (unused here: the
// lockstep path needs useX8).
func x8MinLanes() int { return 2 }

// useX8 is false: this build has no eight-lane permutation.
const useX8 = false

// x8Absorb XORs, block after block, 8*words bytes of each non-empty src[j]
// into state j and permutes the eight states after each block.
func x8Absorb(a *[200]uint64, src *[8][]byte, words, blocks int) {
	x8AbsorbGeneric(a, src, words, blocks)
}
