//go:build amd64 && !purego

package rcs

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/sys/cpu"
)

// Block function implementations available in this build.
const (
	implGeneric = iota // bitsliced, portable
	implAESNI          // AES-NI with SSE4.1 blends and SSSE3 shuffles
	implVAES512        // VAES on 512-bit registers with AVX-512 VBMI permutes
)

// CPU support: AES-NI needs AESENC (AES), PBLENDVB (SSE4.1) and PSHUFB
// (SSSE3); the VAES path needs AVX-512F, BW (byte masks), VBMI (VPERMB) and
// VAES. cpu.X86 reports AVX-512 only when the OS saves its register state.
var (
	hasAESNI   = cpu.X86.HasAES && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3
	hasVAES512 = hasAESNI && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW &&
		cpu.X86.HasAVX512VBMI && cpu.X86.HasAVX512VAES
)

// impl is the implementation this CPU runs: the fastest one it supports.
var impl = func() int {
	switch {
	case hasVAES512:
		return implVAES512
	case hasAESNI:
		return implAESNI
	}
	return implGeneric
}()

// ctrXORAESNI XORs n full blocks of keystream, starting at counter block
// *ctr, from src into dst. The low 64-bit word of the counter must not wrap
// within the call.
//
//go:noescape
func ctrXORAESNI(rk *byte, rounds int, ctr *[32]byte, dst, src *byte, n int)

// ctrXORVAES512 XORs length bytes of keystream, starting at counter block
// *ctr, from src into dst (a final partial block uses the start of its
// keystream block). The low 64-bit word of the counter must not wrap within
// the call.
//
//go:noescape
func ctrXORVAES512(rk *byte, rounds int, ctr *[32]byte, dst, src *byte, length int)

func xorKeyStream(k *Key, dst, src []byte, ctr *[32]byte) {
	xorKeyStreamImpl(impl, k, dst, src, ctr)
}

// xorKeyStreamImpl runs CTR mode with the given implementation; tests call
// it with each implementation the CPU supports.
func xorKeyStreamImpl(which int, k *Key, dst, src []byte, ctr *[32]byte) {
	if which == implGeneric {
		xorKeyStreamGeneric(k, dst, src, ctr)
		return
	}
	if len(src) == 0 {
		return
	}
	if which == implVAES512 {
		// The usual case, the low counter word not wrapping within the
		// message: one call at *ctr itself, without the counter copy
		// and the splitting loop below (worth ~15 ns of a 64-byte
		// SealOnce, whose keystream latency is exposed).
		nb := uint64((len(src) + BlockSize - 1) / BlockSize)
		if lo := binary.LittleEndian.Uint64(ctr[:8]); lo <= ^uint64(0)-(nb-1) {
			ctrXORVAES512(&k.rk[0], k.rounds, ctr, &dst[0], &src[0], len(src))
			c := loadCounter(ctr)
			var carry uint64
			c[0], carry = bits.Add64(c[0], nb, 0)
			c[1], carry = bits.Add64(c[1], 0, carry)
			c[2], carry = bits.Add64(c[2], 0, carry)
			c[3], _ = bits.Add64(c[3], 0, carry)
			storeCounter(ctr, &c)
			return
		}
	}
	c := loadCounter(ctr)
	for len(src) > 0 {
		// The assembly adds to the low counter word only: split the
		// message where that word wraps (blocks c[0] .. 2^64-1 fit).
		run := len(src)
		if left := ^c[0]; left < uint64((run-1)/BlockSize) {
			run = int(left+1) * BlockSize
		}
		var cb [32]byte
		storeCounter(&cb, &c)
		full := run / BlockSize
		switch which {
		case implVAES512:
			ctrXORVAES512(&k.rk[0], k.rounds, &cb, &dst[0], &src[0], run)
		default:
			if full > 0 {
				ctrXORAESNI(&k.rk[0], k.rounds, &cb, &dst[0], &src[0], full)
			}
			if rest := run - full*BlockSize; rest > 0 {
				// Final partial block through a block-sized buffer.
				var buf [BlockSize]byte
				copy(buf[:], src[full*BlockSize:run])
				cc := c
				cc[0] += uint64(full)
				storeCounter(&cb, &cc)
				ctrXORAESNI(&k.rk[0], k.rounds, &cb, &buf[0], &buf[0], 1)
				copy(dst[full*BlockSize:run], buf[:rest])
				clear(buf[:])
			}
		}
		nb := uint64((run + BlockSize - 1) / BlockSize)
		var carry uint64
		c[0], carry = bits.Add64(c[0], nb, 0)
		c[1], carry = bits.Add64(c[1], 0, carry)
		c[2], carry = bits.Add64(c[2], 0, carry)
		c[3], _ = bits.Add64(c[3], 0, carry)
		dst, src = dst[run:], src[run:]
	}
	storeCounter(ctr, &c)
}
