//go:build !amd64 || purego

package rcs

func xorKeyStream(k *Key, dst, src []byte, ctr *[32]byte) {
	xorKeyStreamGeneric(k, dst, src, ctr)
}
