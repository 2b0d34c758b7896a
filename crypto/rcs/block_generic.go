package rcs

import (
	"crypto/subtle"
	"encoding/binary"
	"math/bits"
)

//go:generate sh -c "go run sbox_gen.go > sbox_generic.go"

// The portable block function is bitsliced: two 32-byte blocks are held as
// eight 64-bit planes, plane b holding bit b of all 64 bytes, and every step
// of a round is a fixed sequence of word operations (the S-box is the circuit
// in sbox_generic.go). No table is indexed and no branch depends on the key,
// the counter or the data.
//
// Bit layout of a plane: byte q (bits 8q..8q+7) holds column q of the state
// (state bytes 4q..4q+3); in it, bits 0..3 are rows 0..3 of block 0 and bits
// 4..7 rows 0..3 of block 1. So state byte 4c+r of block k sits at bit
// 8c + 4k + r. With this layout ShiftRows is a rotation of the whole plane by
// 8·C_r for the bits of row r, and the row rotation inside a column that
// MixColumns needs is a rotation inside each nibble.

// Row masks of a plane: row r is bit r of each nibble.
const (
	row0 = 0x1111111111111111
	row1 = 0x2222222222222222
	row2 = 0x4444444444444444
	row3 = 0x8888888888888888
)

// transpose8 transposes the 8×8 bit matrix held in x: bit 8r+c moves to 8c+r.
func transpose8(x uint64) uint64 {
	t := (x ^ x>>7) & 0x00AA00AA00AA00AA
	x ^= t ^ t<<7
	t = (x ^ x>>14) & 0x0000CCCC0000CCCC
	x ^= t ^ t<<14
	t = (x ^ x>>28) & 0x00000000F0F0F0F0
	x ^= t ^ t<<28
	return x
}

// swapMove exchanges the bits of b selected by mask with the bits of a
// selected by mask<<n.
func swapMove(a, b *uint64, mask uint64, n uint) {
	t := (*a>>n ^ *b) & mask
	*b ^= t
	*a ^= t << n
}

// transposeBytes transposes the 8×8 byte matrix w (byte j of w[i] becomes
// byte i of w[j]).
func transposeBytes(w *[8]uint64) {
	for i := 0; i < 8; i += 2 {
		swapMove(&w[i], &w[i+1], 0x00FF00FF00FF00FF, 8)
	}
	for i := 0; i < 8; i += 4 {
		swapMove(&w[i], &w[i+2], 0x0000FFFF0000FFFF, 16)
		swapMove(&w[i+1], &w[i+3], 0x0000FFFF0000FFFF, 16)
	}
	for i := 0; i < 4; i++ {
		swapMove(&w[i], &w[i+4], 0x00000000FFFFFFFF, 32)
	}
}

// pack converts two blocks, each given as four little-endian 64-bit words,
// into bit planes.
func pack(p *[8]uint64, a, b *[4]uint64) {
	for q := 0; q < 8; q++ {
		s := 32 * uint(q&1)
		w := uint64(uint32(a[q>>1]>>s)) | uint64(uint32(b[q>>1]>>s))<<32
		p[q] = transpose8(w)
	}
	transposeBytes(p)
}

// unpack is the inverse of pack.
func unpack(a, b *[4]uint64, p *[8]uint64) {
	w := *p
	transposeBytes(&w)
	for q := 0; q < 8; q += 2 {
		lo, hi := transpose8(w[q]), transpose8(w[q+1])
		a[q>>1] = lo&0xFFFFFFFF | hi<<32
		b[q>>1] = lo>>32 | hi&0xFFFFFFFF00000000
	}
}

// shiftRows applies Rijndael-256 ShiftRows (offsets 0, 1, 3, 4) to a plane:
// new column c of row r is old column c+C_r.
func shiftRows(x uint64) uint64 {
	return x&row0 |
		bits.RotateLeft64(x, -8)&row1 |
		bits.RotateLeft64(x, -24)&row2 |
		bits.RotateLeft64(x, -32)&row3
}

// rotRows1 moves row r+1 (mod 4) of every column to row r.
func rotRows1(x uint64) uint64 {
	return (x>>1)&0x7777777777777777 | (x<<3)&0x8888888888888888
}

// rotRows2 moves row r+2 (mod 4) of every column to row r.
func rotRows2(x uint64) uint64 {
	return (x>>2)&0x3333333333333333 | (x<<2)&0xCCCCCCCCCCCCCCCC
}

// mixColumns applies AES MixColumns to all eight columns of both blocks:
// out_r = 2·a_r + 3·a_{r+1} + a_{r+2} + a_{r+3}
//
//	= 2·t_r + a_{r+1} + t_{r+2}, with t_r = a_r + a_{r+1}.
func mixColumns(p *[8]uint64) {
	var r, t [8]uint64
	for i := 0; i < 8; i++ {
		r[i] = rotRows1(p[i])
		t[i] = p[i] ^ r[i]
	}
	// 2·t in bit planes: multiply by x modulo x^8+x^4+x^3+x+1.
	t7 := t[7]
	p[0] = t7 ^ r[0] ^ rotRows2(t[0])
	p[1] = t[0] ^ t7 ^ r[1] ^ rotRows2(t[1])
	p[2] = t[1] ^ r[2] ^ rotRows2(t[2])
	p[3] = t[2] ^ t7 ^ r[3] ^ rotRows2(t[3])
	p[4] = t[3] ^ t7 ^ r[4] ^ rotRows2(t[4])
	p[5] = t[4] ^ r[5] ^ rotRows2(t[5])
	p[6] = t[5] ^ r[6] ^ rotRows2(t[6])
	p[7] = t[6] ^ r[7] ^ rotRows2(t[7])
}

// encryptPlanes encrypts the two blocks held in p with bitsliced round keys
// rk[0..rounds].
func encryptPlanes(p *[8]uint64, rk *bitslicedKeys, rounds int) {
	for i := 0; i < 8; i++ {
		p[i] ^= rk[0][i]
	}
	for r := 1; r < rounds; r++ {
		sboxPlanes(p)
		for i := 0; i < 8; i++ {
			p[i] = shiftRows(p[i])
		}
		mixColumns(p)
		k := &rk[r]
		for i := 0; i < 8; i++ {
			p[i] ^= k[i]
		}
	}
	sboxPlanes(p)
	k := &rk[rounds]
	for i := 0; i < 8; i++ {
		p[i] = shiftRows(p[i]) ^ k[i]
	}
}

// bitslicedKeys is the key schedule in bit planes: round key r packed as
// both blocks of a pair.
type bitslicedKeys = [maxRounds + 1][8]uint64

// expandBitsliced fills bs[0..k.rounds] from the byte round keys. A Key
// keeps only the bytes (the AES-NI form): the portable path derives the
// planes per call, on the stack, which costs about half of one block
// pair's encryption (BenchmarkExpandBitsliced256) and spares every Key
// 1,984 bytes.
func (k *Key) expandBitsliced(bs *bitslicedKeys) {
	for r := range bs[:k.rounds+1] {
		packTwice(&bs[r], (*[BlockSize]byte)(k.rk[BlockSize*r:]))
	}
}

// packTwice packs the 32-byte block b as both blocks of a pair: it equals
// pack(p, w, w) with w the four little-endian words of b, in a little over
// half the time, as it transposes the four words once and then copies each
// column's nibble into both halves of its byte.
func packTwice(p *[8]uint64, b *[BlockSize]byte) {
	// Byte i of transpose8(word j) holds bit i of state bytes 8j..8j+7:
	// column 2j in its low nibble, column 2j+1 in its high nibble.
	t0 := transpose8(binary.LittleEndian.Uint64(b[0:]))
	t1 := transpose8(binary.LittleEndian.Uint64(b[8:]))
	t2 := transpose8(binary.LittleEndian.Uint64(b[16:]))
	t3 := transpose8(binary.LittleEndian.Uint64(b[24:]))
	// Gather byte i of the four words into t(i%4), in its low half for
	// i < 4 and its high half for i >= 4: an 8×8 byte transpose of which
	// half the rows are zero.
	d := (t0>>8 ^ t1) & 0x00FF00FF00FF00FF
	t1 ^= d
	t0 ^= d << 8
	d = (t2>>8 ^ t3) & 0x00FF00FF00FF00FF
	t3 ^= d
	t2 ^= d << 8
	d = (t0>>16 ^ t2) & 0x0000FFFF0000FFFF
	t2 ^= d
	t0 ^= d << 16
	d = (t1>>16 ^ t3) & 0x0000FFFF0000FFFF
	t3 ^= d
	t1 ^= d << 16
	p[0], p[1], p[2], p[3] = spreadNibbles(t0), spreadNibbles(t1), spreadNibbles(t2), spreadNibbles(t3)
	p[4], p[5], p[6], p[7] = spreadNibbles(t0>>32), spreadNibbles(t1>>32), spreadNibbles(t2>>32), spreadNibbles(t3>>32)
}

// spreadNibbles maps the low 32 bits of x, byte j holding the nibbles of
// columns 2j (low) and 2j+1 (high), to a plane in which each column's
// nibble fills both halves of its byte.
func spreadNibbles(x uint64) uint64 {
	x &= 0xFFFFFFFF
	x = (x | x<<16) & 0x0000FFFF0000FFFF
	x = (x | x<<8) & 0x00FF00FF00FF00FF
	x = x&0x000F000F000F000F | (x&0x00F000F000F000F0)<<4
	return x | x<<4
}

// loadCounter reads a 256-bit little-endian counter as four words.
func loadCounter(ctr *[32]byte) (c [4]uint64) {
	for i := range c {
		c[i] = binary.LittleEndian.Uint64(ctr[8*i:])
	}
	return c
}

// storeCounter writes four words back as a 256-bit little-endian counter.
func storeCounter(ctr *[32]byte, c *[4]uint64) {
	for i := range c {
		binary.LittleEndian.PutUint64(ctr[8*i:], c[i])
	}
}

// increment adds one to the 256-bit counter c, carrying through all words.
func increment(c *[4]uint64) {
	var carry uint64
	c[0], carry = bits.Add64(c[0], 1, 0)
	c[1], carry = bits.Add64(c[1], 0, carry)
	c[2], carry = bits.Add64(c[2], 0, carry)
	c[3], _ = bits.Add64(c[3], 0, carry)
}

// xorKeyStreamGeneric is the portable CTR mode: two blocks at a time through
// the bitsliced block function.
func xorKeyStreamGeneric(k *Key, dst, src []byte, ctr *[32]byte) {
	if len(src) == 0 {
		return
	}
	var rk bitslicedKeys
	k.expandBitsliced(&rk)
	c := loadCounter(ctr)
	var a, b [4]uint64
	var p [8]uint64
	var ks [64]byte
	for len(src) > 0 {
		a = c
		increment(&c)
		if len(src) > BlockSize {
			b = c
			increment(&c)
		}
		pack(&p, &a, &b)
		encryptPlanes(&p, &rk, k.rounds)
		unpack(&a, &b, &p)
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint64(ks[8*i:], a[i])
			binary.LittleEndian.PutUint64(ks[32+8*i:], b[i])
		}
		n := subtle.XORBytes(dst, src, ks[:min(len(src), 64)])
		dst, src = dst[n:], src[n:]
	}
	storeCounter(ctr, &c)
	clear(rk[:k.rounds+1])
	clear(ks[:])
	clear(p[:])
	clear(a[:])
	clear(b[:])
}
