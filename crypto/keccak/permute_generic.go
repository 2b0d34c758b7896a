//go:build !amd64 || purego

package keccak

// permute applies Keccak-f[1600] to a.
func permute(a *[25]uint64) { permuteGeneric(a) }
