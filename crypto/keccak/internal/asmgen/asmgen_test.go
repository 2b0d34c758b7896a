package asmgen

import (
	"bytes"
	"crypto/sha3"
	"encoding/binary"
	"math/bits"
	"testing"
)

// TestRho derives the ρ offsets with FIPS 202 Algorithm 2: lane (1, 0) gets
// (t+1)(t+2)/2 mod 64 for t = 0 and each step (x, y) -> (y, 2x+3y) the
// next t, up to t = 23; lane (0, 0) is not rotated.
func TestRho(t *testing.T) {
	var want [5][5]int // [x][y]
	x, y := 1, 0
	for step := 0; step <= 23; step++ {
		want[x][y] = (step + 1) * (step + 2) / 2 % 64
		x, y = y, (2*x+3*y)%5
	}
	for x := 0; x < 5; x++ {
		for y := 0; y < 5; y++ {
			if got := Rho(x + 5*y); got != want[x][y] {
				t.Errorf("Rho(%d) (lane (%d, %d)) = %d, want %d", x+5*y, x, y, got, want[x][y])
			}
		}
	}
}

// TestPi checks PiSource against FIPS 202 Algorithm 3,
// A'[x, y] = A[(x+3y) mod 5, x], and Pi against its definition as the
// inverse of PiSource.
func TestPi(t *testing.T) {
	var seen [25]bool
	for x := 0; x < 5; x++ {
		for y := 0; y < 5; y++ {
			i := x + 5*y
			want := (x+3*y)%5 + 5*x
			src := PiSource(i)
			if src != want {
				t.Errorf("PiSource(%d) (lane (%d, %d)) = %d, want %d", i, x, y, src, want)
			}
			if got := Pi(src); got != i {
				t.Errorf("Pi(PiSource(%d)) = %d", i, got)
			}
			if seen[src] {
				t.Errorf("PiSource takes lane %d twice", src)
			}
			seen[src] = true
		}
	}
}

// rc is FIPS 202 Algorithm 5: the output bit of the LFSR with feedback
// polynomial x^8 + x^6 + x^5 + x^4 + 1 after t steps, as the specification
// writes it on a 9-bit array R.
func rc(t int) uint64 {
	if t%255 == 0 {
		return 1
	}
	R := [9]byte{1, 0, 0, 0, 0, 0, 0, 0}
	for i := 1; i <= t%255; i++ {
		copy(R[1:], R[:8]) // R = 0 || R
		R[0] = 0
		R[0] ^= R[8]
		R[4] ^= R[8]
		R[5] ^= R[8]
		R[6] ^= R[8]
		// Trunc8: R[8] is ignored from here on.
	}
	return uint64(R[0])
}

// TestRoundConstants derives RC[ir] with FIPS 202 Algorithm 6: bit 2^j - 1
// of RC is rc(j + 7ir) for j = 0..6, every other bit 0.
func TestRoundConstants(t *testing.T) {
	for ir := 0; ir < Rounds; ir++ {
		var want uint64
		for j := 0; j <= 6; j++ {
			want |= rc(j+7*ir) << (1<<j - 1)
		}
		if got := RoundConstant(ir); got != want {
			t.Errorf("RoundConstant(%d) = %#016x, want %#016x", ir, got, want)
		}
	}
}

// permute is Keccak-f[1600] built from the package's tables.
func permute(a *[25]uint64) {
	for ir := 0; ir < Rounds; ir++ {
		var c [5]uint64
		for i, v := range a {
			c[i%5] ^= v
		}
		var b [25]uint64
		for i, v := range a {
			d := c[(i+4)%5] ^ bits.RotateLeft64(c[(i+1)%5], 1)
			b[Pi(i)] = bits.RotateLeft64(v^d, Rho(i))
		}
		for i := range a {
			x, y := i%5, i/5
			a[i] = b[i] ^ (^b[(x+1)%5+5*y] & b[(x+2)%5+5*y])
		}
		a[0] ^= RoundConstant(ir)
	}
}

// TestTablesSHA3 runs SHA3-256 through a permutation made of the tables
// and compares it with crypto/sha3, for messages of every length up to two
// blocks.
func TestTablesSHA3(t *testing.T) {
	const rate = 136
	msg := make([]byte, 2*rate+1)
	for i := range msg {
		msg[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(msg); n++ {
		m := msg[:n]
		padded := make([]byte, (n/rate+1)*rate)
		copy(padded, m)
		padded[n] ^= 0x06
		padded[len(padded)-1] ^= 0x80
		var a [25]uint64
		for len(padded) > 0 {
			for i := 0; i < rate/8; i++ {
				a[i] ^= binary.LittleEndian.Uint64(padded[8*i:])
			}
			permute(&a)
			padded = padded[rate:]
		}
		var got [32]byte
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint64(got[8*i:], a[i])
		}
		if want := sha3.Sum256(m); !bytes.Equal(got[:], want[:]) {
			t.Fatalf("SHA3-256 of %d bytes with the tables = %x, want %x", n, got, want)
		}
	}
}
