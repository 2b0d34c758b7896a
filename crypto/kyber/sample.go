package kyber

import (
	"crypto/sha3"
	"encoding/binary"
)

// Sampling (FIPS 203 section 4.2.2), compression (4.2.1) and byte encoding
// (Algorithms 5 and 6).

// xofBlock is the SHAKE128 rate in bytes; a multiple of 3, so that the
// three-byte groups of SampleNTT never straddle two reads.
const xofBlock = 168

// sampleNTT fills f with SampleNTT(rho ‖ a ‖ b) (FIPS 203 Algorithm 7).
// The input is public, so rejection sampling may branch on it.
func sampleNTT(f *poly, xof *sha3.SHAKE, rho []byte, a, b byte) {
	xof.Reset()
	xof.Write(rho)
	xof.Write([]byte{a, b})
	// Three blocks give 336 candidates, enough for 256 coefficients in all
	// but rare cases (each candidate is accepted with probability q/4096).
	var buf [3 * xofBlock]byte
	xof.Read(buf[:])
	j := rejectSample(f, 0, buf[:])
	for j < n {
		xof.Read(buf[:xofBlock])
		j = rejectSample(f, j, buf[:xofBlock])
	}
}

// rejectSample appends to f[j:] the 12-bit candidates from buf that are
// below q and returns the new count.
func rejectSample(f *poly, j int, buf []byte) int {
	for i := 0; i+3 <= len(buf) && j < n; i += 3 {
		d1 := uint16(buf[i]) | uint16(buf[i+1]&0x0f)<<8
		d2 := uint16(buf[i+1]>>4) | uint16(buf[i+2])<<4
		if d1 < q {
			f[j] = int16(d1)
			j++
		}
		if d2 < q && j < n {
			f[j] = int16(d2)
			j++
		}
	}
	return j
}

// prf sets buf to PRF_eta(seed, nonce) = SHAKE256(seed ‖ nonce), 64·eta
// bytes (FIPS 203 section 4.1).
func prf(buf []byte, h *sha3.SHAKE, seed []byte, nonce byte) {
	h.Reset()
	h.Write(seed)
	h.Write([]byte{nonce})
	h.Read(buf)
}

// sampleCBD fills f with SamplePolyCBD_eta(buf) (FIPS 203 Algorithm 8),
// buf holding 64·eta bytes. Branch-free: every coefficient is the
// difference of two bit counts computed with masks.
func sampleCBD(f *poly, buf []byte, eta int) {
	switch eta {
	case 2:
		// 64 bits give 16 coefficients of 4 bits each: two bits for x, two
		// for y. After the pairwise bit count, each nibble holds x in its
		// low half and y in its high half.
		buf = buf[:128]
		for i := range n / 16 {
			w := binary.LittleEndian.Uint64(buf[8*i:])
			s := w&0x5555555555555555 + (w>>1)&0x5555555555555555
			c := f[16*i : 16*i+16 : 16*i+16]
			for k := range c {
				c[k] = int16(s>>(4*k)&3) - int16(s>>(4*k+2)&3)
			}
		}
	case 3:
		// 24 bits give 4 coefficients of 6 bits each: three bits for x, three for y.
		for i := range n / 4 {
			w := uint32(buf[3*i]) | uint32(buf[3*i+1])<<8 | uint32(buf[3*i+2])<<16
			s := w&0x249249 + (w>>1)&0x249249 + (w>>2)&0x249249
			for k := range 4 {
				x := int16(s >> (6 * k) & 7)
				y := int16(s >> (6*k + 3) & 7)
				f[4*i+k] = x - y
			}
		}
	default:
		panic("kyber: unsupported eta") // unreachable: Params.check admits 2 and 3 only
	}
}

// compressMul and compressShift give floor(a/q) = (a·compressMul) >> 36 for
// every a < 2^23, the range compress needs; the exhaustive test checks it.
const (
	compressMul   = 20642679 // ceil(2^36 / q)
	compressShift = 36
)

// compress returns Compress_d(x) = round(2^d·x/q) mod 2^d for x in [0, q)
// (FIPS 203 equation 4.7), without a division instruction.
func compress(x int16, d uint) uint16 {
	a := uint64(uint32(x)<<d + q/2)
	return uint16((a*compressMul)>>compressShift) & (1<<d - 1)
}

// decompress returns Decompress_d(y) = round(q·y/2^d) (FIPS 203 equation 4.8).
func decompress(y uint16, d uint) int16 {
	return int16((uint32(y)*q + 1<<(d-1)) >> d)
}

// pack writes ByteEncode_d of the 256 values v (each below 2^d) to dst,
// 32·d bytes (FIPS 203 Algorithm 5). Loop bounds depend on d only.
func pack(dst []byte, v *[n]uint16, d uint) {
	var acc uint64
	var bits uint
	o := 0
	for _, x := range v {
		acc |= uint64(x) << bits
		bits += d
		for bits >= 8 {
			dst[o] = byte(acc)
			o++
			acc >>= 8
			bits -= 8
		}
	}
}

// unpack reads ByteDecode_d from src (32·d bytes) into v without any
// reduction (FIPS 203 Algorithm 6 for d < 12; for d = 12 the caller reduces).
func unpack(v *[n]uint16, src []byte, d uint) {
	var acc uint64
	var bits uint
	mask := uint64(1)<<d - 1
	o := 0
	for i := range v {
		for bits < d {
			acc |= uint64(src[o]) << bits
			o++
			bits += 8
		}
		v[i] = uint16(acc & mask)
		acc >>= d
		bits -= d
	}
}

// encode12 writes ByteEncode_12(f), f canonical in [0, q), 384 bytes.
func encode12(dst []byte, f *poly) {
	for i := range n / 2 {
		a, b := uint16(f[2*i]), uint16(f[2*i+1])
		dst[3*i] = byte(a)
		dst[3*i+1] = byte(a>>8) | byte(b<<4)
		dst[3*i+2] = byte(b >> 4)
	}
}

// decode12 reads ByteDecode_12(src) into f: 12-bit values taken mod q, as
// FIPS 203 Algorithm 6 specifies for d = 12 (one branch-free subtraction,
// since every value is below 2q). It reports whether every value was
// already below q: the modulus check of FIPS 203 section 7.2.
func decode12(f *poly, src []byte) (canonical bool) {
	var over uint16
	for i := range n / 2 {
		a := uint16(src[3*i]) | uint16(src[3*i+1]&0x0f)<<8
		b := uint16(src[3*i+1]>>4) | uint16(src[3*i+2])<<4
		ra := int16(a) - q
		rb := int16(b) - q
		over |= (^uint16(ra) | ^uint16(rb)) >> 15 // sign bit clear: value >= q
		f[2*i] = ra + (ra>>15)&q
		f[2*i+1] = rb + (rb>>15)&q
	}
	return over == 0
}

// encodeCompressed writes ByteEncode_d(Compress_d(f)), f canonical, 32·d
// bytes. The widths of the standard sets have unrolled forms.
func encodeCompressed(dst []byte, f *poly, d uint) {
	switch d {
	case 4:
		dst = dst[:128]
		for i := range dst {
			dst[i] = byte(compress(f[2*i], 4) | compress(f[2*i+1], 4)<<4)
		}
	case 5:
		for i := range n / 8 {
			c := f[8*i : 8*i+8 : 8*i+8]
			x := uint64(compress(c[0], 5)) | uint64(compress(c[1], 5))<<5 |
				uint64(compress(c[2], 5))<<10 | uint64(compress(c[3], 5))<<15 |
				uint64(compress(c[4], 5))<<20 | uint64(compress(c[5], 5))<<25 |
				uint64(compress(c[6], 5))<<30 | uint64(compress(c[7], 5))<<35
			putBytes(dst[5*i:5*i+5], x)
		}
	case 10:
		for i := range n / 4 {
			c := f[4*i : 4*i+4 : 4*i+4]
			x := uint64(compress(c[0], 10)) | uint64(compress(c[1], 10))<<10 |
				uint64(compress(c[2], 10))<<20 | uint64(compress(c[3], 10))<<30
			putBytes(dst[5*i:5*i+5], x)
		}
	case 11:
		for i := range n / 8 {
			c := f[8*i : 8*i+8 : 8*i+8]
			v5 := uint64(compress(c[5], 11))
			lo := uint64(compress(c[0], 11)) | uint64(compress(c[1], 11))<<11 |
				uint64(compress(c[2], 11))<<22 | uint64(compress(c[3], 11))<<33 |
				uint64(compress(c[4], 11))<<44 | v5<<55
			hi := v5>>9 | uint64(compress(c[6], 11))<<2 | uint64(compress(c[7], 11))<<13
			o := dst[11*i : 11*i+11 : 11*i+11]
			binary.LittleEndian.PutUint64(o, lo)
			putBytes(o[8:], hi)
		}
	default:
		var v [n]uint16
		for i := range f {
			v[i] = compress(f[i], d)
		}
		pack(dst, &v, d)
	}
}

// decodeDecompressed reads Decompress_d(ByteDecode_d(src)) into f.
func decodeDecompressed(f *poly, src []byte, d uint) {
	switch d {
	case 4:
		src = src[:128]
		for i, b := range src {
			f[2*i] = decompress(uint16(b&15), 4)
			f[2*i+1] = decompress(uint16(b>>4), 4)
		}
	case 5:
		for i := range n / 8 {
			x := getBytes(src[5*i : 5*i+5])
			c := f[8*i : 8*i+8 : 8*i+8]
			for k := range c {
				c[k] = decompress(uint16(x>>(5*k))&31, 5)
			}
		}
	case 10:
		for i := range n / 4 {
			x := getBytes(src[5*i : 5*i+5])
			c := f[4*i : 4*i+4 : 4*i+4]
			for k := range c {
				c[k] = decompress(uint16(x>>(10*k))&1023, 10)
			}
		}
	case 11:
		for i := range n / 8 {
			s := src[11*i : 11*i+11 : 11*i+11]
			lo := binary.LittleEndian.Uint64(s)
			hi := getBytes(s[8:])
			c := f[8*i : 8*i+8 : 8*i+8]
			c[0] = decompress(uint16(lo)&2047, 11)
			c[1] = decompress(uint16(lo>>11)&2047, 11)
			c[2] = decompress(uint16(lo>>22)&2047, 11)
			c[3] = decompress(uint16(lo>>33)&2047, 11)
			c[4] = decompress(uint16(lo>>44)&2047, 11)
			c[5] = decompress(uint16(lo>>55|hi<<9)&2047, 11)
			c[6] = decompress(uint16(hi>>2)&2047, 11)
			c[7] = decompress(uint16(hi>>13)&2047, 11)
		}
	default:
		var v [n]uint16
		unpack(&v, src, d)
		for i := range f {
			f[i] = decompress(v[i], d)
		}
	}
}

// putBytes writes the len(dst) <= 8 low bytes of x to dst, little-endian.
func putBytes(dst []byte, x uint64) {
	for i := range dst {
		dst[i] = byte(x >> (8 * i))
	}
}

// getBytes reads len(src) <= 8 bytes little-endian.
func getBytes(src []byte) uint64 {
	var x uint64
	for i, b := range src {
		x |= uint64(b) << (8 * i)
	}
	return x
}

// messageToPoly sets f = Decompress_1(ByteDecode_1(m)), 32-byte m, without
// branching on m.
func messageToPoly(f *poly, m []byte) {
	for i := range n {
		bit := int16(m[i/8] >> (i % 8) & 1)
		f[i] = -bit & ((q + 1) / 2)
	}
}

// polyToMessage writes ByteEncode_1(Compress_1(f)) to m (32 bytes), f canonical.
func polyToMessage(m []byte, f *poly) {
	for i := range n / 8 {
		var b byte
		for k := range 8 {
			b |= byte(compress(f[8*i+k], 1)) << k
		}
		m[i] = b
	}
}
