package kyber

import (
	"bytes"
	"crypto/sha3"
	"testing"
)

// sampleNTTReference is FIPS 203 Algorithm 7 read literally: three bytes
// at a time from the XOF. It also returns how many bytes it consumed.
func sampleNTTReference(rho []byte, a, b byte) (poly, int) {
	x := sha3.NewSHAKE128()
	x.Write(rho)
	x.Write([]byte{a, b})
	var f poly
	j, used := 0, 0
	for j < n {
		var c [3]byte
		x.Read(c[:])
		used += 3
		d1 := int(c[0]) + 256*int(c[1]%16)
		d2 := int(c[1]/16) + 16*int(c[2])
		if d1 < q {
			f[j] = int16(d1)
			j++
		}
		if d2 < q && j < n {
			f[j] = int16(d2)
			j++
		}
	}
	return f, used
}

func TestSampleNTT(t *testing.T) {
	rho := make([]byte, 32)
	rng("sampleNTT").Read(rho)
	xof := sha3.NewSHAKE128()
	longest, beyond := 0, 0
	for i := range 1500 {
		a, b := byte(i), byte(i>>8)
		want, used := sampleNTTReference(rho, a, b)
		var got poly
		sampleNTT(&got, xof, rho, a, b)
		if got != want {
			t.Fatalf("SampleNTT(ρ ‖ %d ‖ %d) differs from the definition", a, b)
		}
		longest = max(longest, used)
		if used > 3*xofBlock {
			beyond++
		}
	}
	// The extra-block path must have been exercised.
	if beyond == 0 {
		t.Fatalf("no sample needed more than %d bytes (longest %d)", 3*xofBlock, longest)
	}
	t.Logf("%d of 1500 samples read past the first three blocks (longest %d bytes)", beyond, longest)
}

// TestCBD compares sampleCBD with FIPS 203 Algorithm 8 read literally.
func TestCBD(t *testing.T) {
	r := rng("cbd")
	for _, eta := range []int{2, 3} {
		for range 50 {
			buf := make([]byte, 64*eta)
			r.Read(buf)
			bit := func(i int) int16 { return int16(buf[i/8] >> (i % 8) & 1) }
			var got poly
			sampleCBD(&got, buf, eta)
			for i := range n {
				var x, y int16
				for j := range eta {
					x += bit(2*i*eta + j)
					y += bit(2*i*eta + eta + j)
				}
				if got[i] != x-y {
					t.Fatalf("eta %d: coefficient %d = %d, want %d", eta, i, got[i], x-y)
				}
			}
		}
	}
}

// TestEncoding checks ByteEncode/ByteDecode for every width against a
// bit-by-bit reading of FIPS 203 Algorithms 5 and 6, and the unrolled
// compressed encodings against the generic packer.
func TestEncoding(t *testing.T) {
	r := rng("encoding")
	for d := uint(1); d <= 12; d++ {
		var v [n]uint16
		for i := range v {
			v[i] = uint16(randUint32(r) % (1 << d))
		}
		b := make([]byte, 32*d)
		pack(b, &v, d)
		for i := range n {
			for j := range d {
				bit := b[(i*int(d)+int(j))/8] >> ((i*int(d) + int(j)) % 8) & 1
				if uint16(bit) != v[i]>>j&1 {
					t.Fatalf("ByteEncode_%d: bit %d of value %d wrong", d, j, i)
				}
			}
		}
		var back [n]uint16
		unpack(&back, b, d)
		if back != v {
			t.Fatalf("ByteDecode_%d(ByteEncode_%d(v)) != v", d, d)
		}
		if d == 12 {
			continue
		}
		f := randPoly(r, q)
		f.canonical()
		fast := make([]byte, 32*d)
		encodeCompressed(fast, f, d)
		var c [n]uint16
		for i := range f {
			c[i] = compress(f[i], d)
		}
		slow := make([]byte, 32*d)
		pack(slow, &c, d)
		if !bytes.Equal(fast, slow) {
			t.Fatalf("encodeCompressed width %d differs from the generic packer", d)
		}
		var g poly
		decodeDecompressed(&g, fast, d)
		for i := range g {
			if g[i] != decompress(c[i], d) {
				t.Fatalf("decodeDecompressed width %d, coefficient %d", d, i)
			}
		}
	}
}

func TestEncode12(t *testing.T) {
	r := rng("encode12")
	f := randPoly(r, q)
	f.canonical()
	b := make([]byte, 384)
	encode12(b, f)
	var v [n]uint16
	for i := range v {
		v[i] = uint16(f[i])
	}
	ref := make([]byte, 384)
	pack(ref, &v, 12)
	if !bytes.Equal(b, ref) {
		t.Fatal("encode12 differs from ByteEncode_12")
	}
	var g poly
	if !decode12(&g, b) || g != *f {
		t.Fatal("decode12(encode12(f)) != f")
	}
	// Values q..4095 decode mod q and clear the canonical flag, wherever
	// they sit in a three-byte group.
	for _, pos := range []int{0, 1, 254, 255} {
		for _, val := range []uint16{q, q + 1, 4095} {
			w := v
			w[pos] = val
			pack(b, &w, 12)
			if decode12(&g, b) {
				t.Fatalf("value %d at %d passed the modulus check", val, pos)
			}
			if int(g[pos]) != int(val)-q {
				t.Fatalf("value %d at %d decoded to %d", val, pos, g[pos])
			}
		}
		w := v
		w[pos] = q - 1
		pack(b, &w, 12)
		if !decode12(&g, b) || g[pos] != q-1 {
			t.Fatalf("q-1 at %d rejected", pos)
		}
	}
}

func TestMessageEncoding(t *testing.T) {
	m := make([]byte, 32)
	rng("message").Read(m)
	var f poly
	messageToPoly(&f, m)
	for i := range f {
		if bit := m[i/8] >> (i % 8) & 1; f[i] != int16(bit)*1665 {
			t.Fatalf("coefficient %d = %d for bit %d", i, f[i], bit)
		}
	}
	back := make([]byte, 32)
	polyToMessage(back, &f)
	if !bytes.Equal(back, m) {
		t.Fatal("message round trip failed")
	}
}
