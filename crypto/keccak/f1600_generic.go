// The round body is written out lane by lane from FIPS 202 section 3, so the
// compiler keeps the 25 lanes in registers where it can.

package keccak

import "math/bits"

// permuteGeneric applies Keccak-f[1600] (24 rounds) to the state: lane
// a[x+5y] holds the 64 bits of column x, row y, little-endian.
func permuteGeneric(a *[25]uint64) {
	a00, a10, a20, a30, a40, a01, a11, a21, a31, a41, a02, a12, a22, a32, a42, a03, a13, a23, a33, a43, a04, a14, a24, a34, a44 := a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24]
	for i := 0; i < 24; i++ {
		c0 := a00 ^ a01 ^ a02 ^ a03 ^ a04
		c1 := a10 ^ a11 ^ a12 ^ a13 ^ a14
		c2 := a20 ^ a21 ^ a22 ^ a23 ^ a24
		c3 := a30 ^ a31 ^ a32 ^ a33 ^ a34
		c4 := a40 ^ a41 ^ a42 ^ a43 ^ a44
		d0 := c4 ^ bits.RotateLeft64(c1, 1)
		d1 := c0 ^ bits.RotateLeft64(c2, 1)
		d2 := c1 ^ bits.RotateLeft64(c3, 1)
		d3 := c2 ^ bits.RotateLeft64(c4, 1)
		d4 := c3 ^ bits.RotateLeft64(c0, 1)
		b00 := a00 ^ d0
		b10 := bits.RotateLeft64(a11^d1, 44)
		b20 := bits.RotateLeft64(a22^d2, 43)
		b30 := bits.RotateLeft64(a33^d3, 21)
		b40 := bits.RotateLeft64(a44^d4, 14)
		b01 := bits.RotateLeft64(a30^d3, 28)
		b11 := bits.RotateLeft64(a41^d4, 20)
		b21 := bits.RotateLeft64(a02^d0, 3)
		b31 := bits.RotateLeft64(a13^d1, 45)
		b41 := bits.RotateLeft64(a24^d2, 61)
		b02 := bits.RotateLeft64(a10^d1, 1)
		b12 := bits.RotateLeft64(a21^d2, 6)
		b22 := bits.RotateLeft64(a32^d3, 25)
		b32 := bits.RotateLeft64(a43^d4, 8)
		b42 := bits.RotateLeft64(a04^d0, 18)
		b03 := bits.RotateLeft64(a40^d4, 27)
		b13 := bits.RotateLeft64(a01^d0, 36)
		b23 := bits.RotateLeft64(a12^d1, 10)
		b33 := bits.RotateLeft64(a23^d2, 15)
		b43 := bits.RotateLeft64(a34^d3, 56)
		b04 := bits.RotateLeft64(a20^d2, 62)
		b14 := bits.RotateLeft64(a31^d3, 55)
		b24 := bits.RotateLeft64(a42^d4, 39)
		b34 := bits.RotateLeft64(a03^d0, 41)
		b44 := bits.RotateLeft64(a14^d1, 2)
		a00 = b00 ^ (^b10 & b20)
		a10 = b10 ^ (^b20 & b30)
		a20 = b20 ^ (^b30 & b40)
		a30 = b30 ^ (^b40 & b00)
		a40 = b40 ^ (^b00 & b10)
		a01 = b01 ^ (^b11 & b21)
		a11 = b11 ^ (^b21 & b31)
		a21 = b21 ^ (^b31 & b41)
		a31 = b31 ^ (^b41 & b01)
		a41 = b41 ^ (^b01 & b11)
		a02 = b02 ^ (^b12 & b22)
		a12 = b12 ^ (^b22 & b32)
		a22 = b22 ^ (^b32 & b42)
		a32 = b32 ^ (^b42 & b02)
		a42 = b42 ^ (^b02 & b12)
		a03 = b03 ^ (^b13 & b23)
		a13 = b13 ^ (^b23 & b33)
		a23 = b23 ^ (^b33 & b43)
		a33 = b33 ^ (^b43 & b03)
		a43 = b43 ^ (^b03 & b13)
		a04 = b04 ^ (^b14 & b24)
		a14 = b14 ^ (^b24 & b34)
		a24 = b24 ^ (^b34 & b44)
		a34 = b34 ^ (^b44 & b04)
		a44 = b44 ^ (^b04 & b14)
		a00 ^= roundConstants[i]
	}
	a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24] = a00, a10, a20, a30, a40, a01, a11, a21, a31, a41, a02, a12, a22, a32, a42, a03, a13, a23, a33, a43, a04, a14, a24, a34, a44
}

// roundConstants are the ι step constants RC[i] of FIPS 202 section 3.2.5.
var roundConstants = [24]uint64{
	0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
	0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
	0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
	0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
	0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
	0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
}
