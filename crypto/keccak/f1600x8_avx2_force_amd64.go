//go:build amd64 && !purego && keccak_x8avx2

package keccak

import "golang.org/x/sys/cpu"

// With the keccak_x8avx2 build tag, x8Absorb (F1600x8, KMAC.MultiSum and
// so the batched RCS operations) runs the AVX2 path on any CPU with AVX2,
// AVX-512 or not, so that it can be tested and measured on AVX-512
// machines from other packages:
//
//	go test -tags keccak_x8avx2 -bench 'OnceBatch1400|Once1400' ./crypto/rcs
func init() {
	if cpu.X86.HasAVX2 {
		x8Path, useX8 = x8AVX2, true
	}
}
