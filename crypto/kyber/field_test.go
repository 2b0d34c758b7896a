package kyber

import (
	"crypto/sha3"
	"encoding/binary"
	"math/big"
	"testing"
)

// rng is a deterministic test source: SHAKE-256 of a label.
func rng(label string) *sha3.SHAKE {
	h := sha3.NewSHAKE256()
	h.Write([]byte(label))
	return h
}

func randUint32(r *sha3.SHAKE) uint32 {
	var b [4]byte
	r.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func mod(a int64) int64 { return ((a % q) + q) % q }

func TestConstants(t *testing.T) {
	r := int64(1 << 16)
	if mod := (q * int64(qInv)) % r; mod != 1 && mod != 1-r {
		t.Errorf("qInv is not q^-1 mod 2^16")
	}
	if mod(r) != rModQ || mod(r*r) != rSquared {
		t.Errorf("R mod q = %d, R^2 mod q = %d", mod(r), mod(r*r))
	}
	inv128 := new(big.Int).ModInverse(big.NewInt(128), big.NewInt(q)).Int64()
	if mod(r*r%q*inv128) != invNTTScale {
		t.Errorf("invNTTScale is not R^2/128 mod q")
	}
	if barrettV != (1<<26+q/2)/q {
		t.Errorf("barrettV is not round(2^26/q)")
	}
}

// TestTwiddles checks the tables against their definitions and against the
// first entries printed in FIPS 203 Appendix A.
func TestTwiddles(t *testing.T) {
	plain := func(m int16) int64 {
		return mod(int64(m) * int64(new(big.Int).ModInverse(big.NewInt(rModQ), big.NewInt(q)).Int64()))
	}
	appendixZetas := []int64{1, 1729, 2580, 3289, 2642, 630, 1897, 848, 1062, 1919, 193, 797, 2786, 3260, 569, 1746}
	for i, want := range appendixZetas {
		if got := plain(zetas[i]); got != want {
			t.Errorf("zeta[%d] = %d, FIPS 203 lists %d", i, got, want)
		}
	}
	appendixGammas := []int64{17, q - 17, 2761, q - 2761, 583, q - 583, 2649, q - 2649}
	for i, want := range appendixGammas {
		if got := plain(gammas[i]); got != want {
			t.Errorf("gamma[%d] = %d, FIPS 203 lists %d", i, got, want)
		}
	}
	seventeen := big.NewInt(17)
	for i := range 128 {
		z := new(big.Int).Exp(seventeen, big.NewInt(int64(bitRev7(i))), big.NewInt(q)).Int64()
		g := new(big.Int).Exp(seventeen, big.NewInt(int64(2*bitRev7(i)+1)), big.NewInt(q)).Int64()
		if plain(zetas[i]) != z || plain(gammas[i]) != g {
			t.Fatalf("twiddle %d differs from its definition", i)
		}
		if zetas[i] > q/2 || zetas[i] < -q/2 || gammas[i] > q/2 || gammas[i] < -q/2 {
			t.Fatalf("twiddle %d not centred", i)
		}
	}
}

func TestBarrettExhaustive(t *testing.T) {
	for a := -32768; a <= 32767; a++ {
		r := barrett(int16(a))
		if int64(r) < -(q-1)/2 || int64(r) > (q-1)/2 || mod(int64(r)) != mod(int64(a)) {
			t.Fatalf("barrett(%d) = %d", a, r)
		}
	}
}

func TestMontReduce(t *testing.T) {
	const bound = q << 15
	check := func(a int32) {
		r := montReduce(a)
		if r <= -q || r >= q || mod(int64(r)<<16) != mod(int64(a)) {
			t.Fatalf("montReduce(%d) = %d", a, r)
		}
	}
	for a := int32(-70000); a <= 70000; a++ {
		check(a)
	}
	for _, a := range []int32{bound - 1, -bound + 1, bound / 2, -bound / 2} {
		check(a)
	}
	r := rng("montReduce")
	for range 200000 {
		check(int32(randUint32(r)%(2*bound-1)) - bound + 1)
	}
}

func TestCanon(t *testing.T) {
	for a := -q + 1; a < q; a++ {
		if r := canon(int16(a)); r < 0 || r >= q || mod(int64(r)) != mod(int64(a)) {
			t.Fatalf("canon(%d) = %d", a, r)
		}
	}
}

// TestCompressExhaustive compares compress and decompress with exact rational
// rounding (FIPS 203 equations 4.7 and 4.8) for every input and width.
func TestCompressExhaustive(t *testing.T) {
	for d := uint(1); d <= 11; d++ {
		for x := range q {
			// round(2^d·x/q) = floor((2^(d+1)·x + q) / (2q))
			want := ((int64(x)<<(d+1) + q) / (2 * q)) % (1 << d)
			if got := compress(int16(x), d); int64(got) != want {
				t.Fatalf("Compress_%d(%d) = %d, want %d", d, x, got, want)
			}
		}
		for y := range 1 << d {
			// round(q·y/2^d) = floor((2·q·y + 2^d) / 2^(d+1))
			want := (int64(2*q*y) + 1<<d) >> (d + 1)
			if got := decompress(uint16(y), d); int64(got) != want {
				t.Fatalf("Decompress_%d(%d) = %d, want %d", d, y, got, want)
			}
		}
	}
}

func randPoly(r *sha3.SHAKE, bound int) *poly {
	var f poly
	for i := range f {
		f[i] = int16(int(randUint32(r)%uint32(2*bound-1)) - bound + 1)
	}
	return &f
}

// TestNTTMultiplication checks NTT, the base-case products and the inverse
// NTT, Montgomery factors included, against schoolbook multiplication in
// Z_q[X]/(X^256 + 1).
func TestNTTMultiplication(t *testing.T) {
	r := rng("ntt")
	for round := range 20 {
		a, b := randPoly(r, q), randPoly(r, q)
		var want [n]int64
		for i := range n {
			for j := range n {
				p := int64(a[i]) * int64(b[j])
				if i+j < n {
					want[i+j] += p
				} else {
					want[i+j-n] -= p
				}
			}
		}
		ah, bh := *a, *b
		ah.ntt()
		bh.ntt()
		for i := range ah {
			if ah[i] < -(q-1)/2 || ah[i] > (q-1)/2 {
				t.Fatalf("NTT output %d not reduced", ah[i])
			}
		}
		ah.canonical()
		var acc accumulator
		var c poly
		basemulAcc(&acc, &ah, &bh)
		acc.reduce(&c)
		c.invNTT()
		for i := range c {
			if c[i] <= -q || c[i] >= q || mod(int64(c[i])) != mod(want[i]) {
				t.Fatalf("round %d: coefficient %d = %d, want %d mod q", round, i, c[i], mod(want[i]))
			}
		}
	}
}

// TestNTTRoundTrip checks invNTT(NTT(f)) = f for inputs at the bound.
func TestNTTRoundTrip(t *testing.T) {
	r := rng("ntt round trip")
	for range 20 {
		f := randPoly(r, q)
		g := *f
		g.ntt()
		for i := range g {
			g[i] = fqmul(g[i], 1) // the R^-1 that invNTT expects
		}
		g.invNTT()
		for i := range g {
			if mod(int64(g[i])) != mod(int64(f[i])) {
				t.Fatalf("coefficient %d: %d, want %d", i, g[i], f[i])
			}
		}
	}
}

// TestAccumulatorBound sums maxK worst-case products and checks the result.
func TestAccumulatorBound(t *testing.T) {
	var a, b poly
	for i := range a {
		a[i] = q - 1
		b[i] = -(q - 1) / 2
	}
	var acc accumulator
	for range maxK {
		basemulAcc(&acc, &a, &b)
	}
	var c poly
	acc.reduce(&c)
	var one accumulator
	basemulAcc(&one, &a, &b)
	var c1 poly
	one.reduce(&c1)
	for i := range c {
		if c[i] <= -q || c[i] >= q || mod(int64(c[i])) != mod(maxK*int64(c1[i])) {
			t.Fatalf("coefficient %d: %d", i, c[i])
		}
	}
}

// TestPreparedProduct checks the prepared base-case product against the
// plain one, including maxK worst-case terms.
func TestPreparedProduct(t *testing.T) {
	r := rng("prepared")
	for round := range 20 {
		a := randPoly(r, q)
		a.canonical()
		b := randPoly(r, q)
		b.ntt() // centred
		if round == 0 {
			for i := range a {
				a[i], b[i] = q-1, -(q-1)/2
			}
		}
		var pr prepared
		pr.prepare(b)
		var acc1, acc2 accumulator
		for range maxK {
			basemulAcc(&acc1, a, b)
			basemulAccPrepared(&acc2, a, &pr)
		}
		var c1, c2 poly
		acc1.reduce(&c1)
		acc2.reduce(&c2)
		for i := range c1 {
			if c2[i] <= -q || c2[i] >= q || mod(int64(c1[i])) != mod(int64(c2[i])) {
				t.Fatalf("round %d, coefficient %d: %d vs %d", round, i, c2[i], c1[i])
			}
		}
	}
}
