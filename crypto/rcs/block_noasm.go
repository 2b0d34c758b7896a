//go:build !amd64 || purego

package rcs

// useAESNI is false: this build has only the portable block function.
const useAESNI = false

func xorKeyStream(k *Key, dst, src []byte, ctr *[32]byte) {
	xorKeyStreamGeneric(k, dst, src, ctr)
}
