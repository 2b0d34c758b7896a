package mceliece

import (
	"crypto/sha3"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// Encapsulate draws an error vector e of weight t from rand (FixedWeight:
// one read of 2τ bytes per attempt, τ = 2t when n < 2^m and t otherwise,
// repeated until the attempt gives t distinct positions below n) and returns
// the ciphertext C = C0 ‖ C1 and the 32-byte shared secret
// SHAKE-256(0x01 ‖ e ‖ C)[:32].
//
// A public key of the wrong length gives an error wrapping ErrPublicKey
// before anything is drawn. For mceliece6960119 a public key whose padding
// bits are not zero also gives ErrPublicKey, after e has been drawn (the C
// implementation draws too, then outputs zeros).
func (p *Params) Encapsulate(rand io.Reader, pk []byte) (ct, ss []byte, err error) {
	if len(pk) != p.PublicKeySize() {
		return nil, nil, fmt.Errorf("%w: %s public key of %d bytes, want %d", ErrPublicKey, p.name, len(pk), p.PublicKeySize())
	}
	e := make([]uint64, p.words())
	defer clear(e)
	if err := p.fixedWeight(rand, e); err != nil {
		return nil, nil, err
	}
	if !p.publicKeyPaddingOK(pk) {
		return nil, nil, fmt.Errorf("%w: %s public key has nonzero padding bits", ErrPublicKey, p.name)
	}
	ct = make([]byte, p.CiphertextSize())
	p.encode(ct[:p.syndBytes()], e, pk)

	eb := make([]byte, p.eBytes())
	defer clear(eb)
	wordsToBytes(eb, e)
	h := sha3.NewSHAKE256()
	defer h.Reset() // wipe the sponge state
	h.Write([]byte{2})
	h.Write(eb)
	h.Read(ct[p.syndBytes():])

	ss = make([]byte, SharedSecretSize)
	h.Reset()
	h.Write([]byte{1})
	h.Write(eb)
	h.Write(ct)
	h.Read(ss)
	return ct, ss, nil
}

// publicKeyPaddingOK reports whether the unused high bits of the last byte
// of every row are zero (only mceliece6960119 has such bits).
func (p *Params) publicKeyPaddingOK(pk []byte) bool {
	width := p.n - p.mt()
	if width%8 == 0 {
		return true
	}
	rb := p.rowBytes()
	pad := byte(0xff) << (width % 8)
	var acc byte
	for i := rb - 1; i < len(pk); i += rb {
		acc |= pk[i] & pad
	}
	return acc == 0
}

// ciphertextPaddingOK reports whether the unused high bits of the last byte
// of C0 are zero.
func (p *Params) ciphertextPaddingOK(ct []byte) bool {
	r := p.mt() % 8
	if r == 0 {
		return true
	}
	return ct[p.syndBytes()-1]&(byte(0xff)<<r) == 0
}

// fixedWeight draws e of weight t as the specification's FixedWeight does
// and the C implementation reads it: each attempt reads 2τ bytes and takes
// the low m bits of each little-endian 16-bit word; the first t values below
// n are the positions, and the attempt is repeated unless they are distinct.
func (p *Params) fixedWeight(rand io.Reader, e []uint64) error {
	t, tau := p.t, p.tau()
	buf := make([]byte, 2*tau)
	defer clear(buf)
	ind := make([]uint16, t)
	defer clear(ind)
	mask := uint16(p.fld.mask)
	for {
		if err := readFull(rand, buf); err != nil {
			return err
		}
		count := 0
		for i := 0; i < tau && count < t; i++ {
			d := binary.LittleEndian.Uint16(buf[2*i:]) & mask
			if int(d) < p.n {
				ind[count] = d
				count++
			}
		}
		if count < t {
			continue
		}
		var eq uint32
		for i := 1; i < t; i++ {
			for j := 0; j < i; j++ {
				d := uint32(ind[i] ^ ind[j])
				eq |= (d - 1) >> 31 // 1 if equal
			}
		}
		if eq == 0 {
			break
		}
	}
	// Set the t bits with memory accesses that do not depend on them.
	for w := range e {
		var x uint64
		for _, j := range ind {
			d := uint32(j>>6) ^ uint32(w)
			sel := uint64((d-1)>>31) & 1 // 1 if j is in word w
			x |= sel << (j & 63)
		}
		e[w] = x
	}
	return nil
}

// encode sets c0 = He with H = (I_mt | T): bit i is e_i ⊕ ⟨T_i, e_mt…n−1⟩.
func (p *Params) encode(c0 []byte, e []uint64, pk []byte) {
	mt, rb := p.mt(), p.rowBytes()
	width := p.n - mt
	// tail holds e_mt … e_n−1 packed like a public-key row, in words.
	tw := (width + 63) / 64
	tail := make([]uint64, tw+1)
	defer clear(tail)
	for x := 0; x < tw; x++ {
		tail[x] = getBits(e, mt+64*x)
	}
	if width%64 != 0 {
		tail[tw-1] &= 1<<(width%64) - 1
	}
	full := rb / 8
	clear(c0)
	for i := 0; i < mt; i++ {
		row := pk[i*rb : (i+1)*rb]
		var acc uint64
		for x := 0; x < full; x++ {
			acc ^= binary.LittleEndian.Uint64(row[8*x:]) & tail[x]
		}
		var last uint64
		for j, b := range row[8*full:] {
			last |= uint64(b) << (8 * j)
		}
		acc ^= last & tail[full]
		bit := uint64(bits.OnesCount64(acc)&1) ^ e[i>>6]>>(i&63)&1
		c0[i>>3] |= byte(bit) << (i & 7)
	}
}

// wordsToBytes writes the bits of w little-endian into b (len(b) ≤ 8·len(w)).
func wordsToBytes(b []byte, w []uint64) {
	for i := range b {
		b[i] = byte(w[i>>3] >> (8 * (i & 7)))
	}
}

// bytesToWords is the inverse of wordsToBytes; the words past b are zero.
func bytesToWords(w []uint64, b []byte) {
	clear(w)
	for i, x := range b {
		w[i>>3] |= uint64(x) << (8 * (i & 7))
	}
}
