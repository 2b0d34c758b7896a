//go:build amd64 && !purego

package rcs

import (
	"crypto/subtle"
	"encoding/binary"

	"golang.org/x/sys/cpu"
)

// useAESNI selects the AES-NI block function: it needs AESENC (AES),
// PBLENDVB (SSE4.1) and PSHUFB (SSSE3).
var useAESNI = cpu.X86.HasAES && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3

// encryptBlocksAESNI encrypts n consecutive 32-byte blocks of buf in place
// with the round keys rk[0 : 32·(rounds+1)]. It works on four blocks at a
// time, then one at a time.
//
//go:noescape
func encryptBlocksAESNI(rk *byte, rounds int, buf *byte, n int)

// aesniBatch is the number of counter blocks encrypted per call.
const aesniBatch = 16

func xorKeyStream(k *Key, dst, src []byte, ctr *[32]byte) {
	if useAESNI {
		xorKeyStreamAESNI(k, dst, src, ctr)
		return
	}
	xorKeyStreamGeneric(k, dst, src, ctr)
}

// xorKeyStreamAESNI is CTR mode over encryptBlocksAESNI: the counter blocks
// of a batch are written out, encrypted in place, and XORed into dst.
func xorKeyStreamAESNI(k *Key, dst, src []byte, ctr *[32]byte) {
	if len(src) == 0 {
		return
	}
	var ks [aesniBatch * BlockSize]byte
	c := loadCounter(ctr)
	for len(src) > 0 {
		nb := min((len(src)+BlockSize-1)/BlockSize, aesniBatch)
		for i := 0; i < nb; i++ {
			b := ks[i*BlockSize : i*BlockSize+BlockSize]
			binary.LittleEndian.PutUint64(b[0:], c[0])
			binary.LittleEndian.PutUint64(b[8:], c[1])
			binary.LittleEndian.PutUint64(b[16:], c[2])
			binary.LittleEndian.PutUint64(b[24:], c[3])
			increment(&c)
		}
		encryptBlocksAESNI(&k.rk[0], k.rounds, &ks[0], nb)
		n := subtle.XORBytes(dst, src, ks[:min(len(src), nb*BlockSize)])
		dst, src = dst[n:], src[n:]
	}
	storeCounter(ctr, &c)
	clear(ks[:])
}
