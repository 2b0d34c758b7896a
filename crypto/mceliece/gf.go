package mceliece

// gf is an element of GF(2^m), m = 12 or 13: bit i is the coefficient of z^i.
type gf = uint16

// field is GF(2^m) with the set's field polynomial: z^12 + z^3 + 1 for m = 12
// and z^13 + z^4 + z^3 + z + 1 for m = 13. Every operation is constant time:
// no branch or memory access depends on an element's value.
type field struct {
	m    int
	mask uint32
}

func newField(m int) field {
	if m != 12 && m != 13 {
		panic("mceliece: unsupported field degree")
	}
	return field{m: m, mask: 1<<m - 1}
}

// reduce reduces a product of two field elements (at most 2m−1 bits).
func (f field) reduce(r uint32) gf {
	if f.m == 12 {
		h := r >> 12
		r = r&0xfff ^ h ^ h<<3
		h = r >> 12
		r = r&0xfff ^ h ^ h<<3
		return gf(r)
	}
	h := r >> 13
	r = r&0x1fff ^ h ^ h<<1 ^ h<<3 ^ h<<4
	h = r >> 13
	r = r&0x1fff ^ h ^ h<<1 ^ h<<3 ^ h<<4
	return gf(r)
}

// clmul is the carry-less product of two m-bit values.
func clmul(a, b gf) uint32 {
	x, y := uint32(a), uint32(b)
	// Four interleaved partial products keep the XOR chains short.
	r0 := x & -(y & 1)
	r1 := x << 1 & -(y >> 1 & 1)
	r2 := x << 2 & -(y >> 2 & 1)
	r3 := x << 3 & -(y >> 3 & 1)
	r0 ^= x << 4 & -(y >> 4 & 1)
	r1 ^= x << 5 & -(y >> 5 & 1)
	r2 ^= x << 6 & -(y >> 6 & 1)
	r3 ^= x << 7 & -(y >> 7 & 1)
	r0 ^= x << 8 & -(y >> 8 & 1)
	r1 ^= x << 9 & -(y >> 9 & 1)
	r2 ^= x << 10 & -(y >> 10 & 1)
	r3 ^= x << 11 & -(y >> 11 & 1)
	r0 ^= x << 12 & -(y >> 12 & 1)
	return r0 ^ r1 ^ r2 ^ r3
}

// mul returns a·b.
func (f field) mul(a, b gf) gf { return f.reduce(clmul(a, b)) }

// sq returns a².
func (f field) sq(a gf) gf {
	x := uint32(a)
	x = (x | x<<8) & 0x00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f
	x = (x | x<<2) & 0x33333333
	x = (x | x<<1) & 0x55555555
	return f.reduce(x)
}

// sqn returns a^(2^k).
func (f field) sqn(a gf, k int) gf {
	for ; k > 0; k-- {
		a = f.sq(a)
	}
	return a
}

// inv returns a^(2^m − 2), the inverse of a nonzero a (and 0 for 0), by an
// addition chain for 2^(m−1) − 1 followed by one squaring.
func (f field) inv(a gf) gf {
	a3 := f.mul(f.sq(a), a)        // 2^2 − 1
	a15 := f.mul(f.sqn(a3, 2), a3) // 2^4 − 1
	var r gf
	if f.m == 12 { // 2^11 − 1 = (2^8 − 1)·2^3 + (2^3 − 1)
		a255 := f.mul(f.sqn(a15, 4), a15)
		a7 := f.mul(f.sq(a3), a)
		r = f.mul(f.sqn(a255, 3), a7)
	} else { // 2^12 − 1 = (2^8 − 1)·2^4 + (2^4 − 1)
		a255 := f.mul(f.sqn(a15, 4), a15)
		r = f.mul(f.sqn(a255, 4), a15)
	}
	return f.sq(r)
}

// isZeroMask returns 0xffff if a == 0 and 0 otherwise.
func isZeroMask(a gf) gf {
	x := uint32(a)
	x--
	return gf(x >> 16)
}

// bitrev reverses the low m bits of a.
func (f field) bitrev(a gf) gf {
	x := a
	x = x>>8 | x<<8
	x = (x>>4)&0x0f0f | (x&0x0f0f)<<4
	x = (x>>2)&0x3333 | (x&0x3333)<<2
	x = (x>>1)&0x5555 | (x&0x5555)<<1
	return x >> (16 - f.m)
}

// spread moves bit i of a to bit 4i. The integer product of two spread
// values holds, in the nibble at 4k, the number of pairs (i, j) with
// i + j = k whose bits are both set (at most 13, so nibbles never carry):
// its low bit is bit k of the carry-less product. Products can therefore be
// XOR-accumulated before compact extracts the bits.
func spread(a gf) uint64 {
	v := uint64(a)
	v = (v | v<<24) & 0x000000ff000000ff
	v = (v | v<<12) & 0x000f000f000f000f
	v = (v | v<<6) & 0x0303030303030303
	v = (v | v<<3) & 0x1111111111111111
	return v
}

// compact16 gathers bits 0, 4, …, 60 of v into bits 0 … 15.
func compact16(v uint64) uint32 {
	v &= 0x1111111111111111
	v = (v | v>>3) & 0x0303030303030303
	v = (v | v>>6) & 0x000f000f000f000f
	v = (v | v>>12) & 0x000000ff000000ff
	v = (v | v>>24) & 0xffff
	return uint32(v)
}

// compactProduct turns an XOR of 128-bit products of spread values (hi, lo)
// into the reduced field element.
func (f field) compactProduct(hi, lo uint64) gf {
	return f.reduce(compact16(lo) | compact16(hi)<<16)
}
