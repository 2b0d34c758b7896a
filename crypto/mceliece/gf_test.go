package mceliece

import (
	"math/rand/v2"
	"testing"
)

// slowMul multiplies by shift-and-add with the field polynomial written out,
// independently of clmul and reduce.
func slowMul(m int, a, b gf) gf {
	poly := uint32(1<<12 | 1<<3 | 1) // z^12 + z^3 + 1
	if m == 13 {
		poly = 1<<13 | 1<<4 | 1<<3 | 1<<1 | 1 // z^13 + z^4 + z^3 + z + 1
	}
	var r uint32
	x := uint32(a)
	for i := 0; i < m; i++ {
		if b>>i&1 == 1 {
			r ^= x
		}
		x <<= 1
		if x>>m&1 == 1 {
			x ^= poly
		}
	}
	return gf(r)
}

func TestFieldArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{12, 13} {
		f := newField(m)
		q := 1 << m
		for i := 0; i < 20000; i++ {
			a, b := gf(r.IntN(q)), gf(r.IntN(q))
			if got, want := f.mul(a, b), slowMul(m, a, b); got != want {
				t.Fatalf("m=%d: %d·%d = %d, want %d", m, a, b, got, want)
			}
		}
		for a := 0; a < q; a++ {
			x := gf(a)
			if f.sq(x) != slowMul(m, x, x) {
				t.Fatalf("m=%d: sq(%d) wrong", m, a)
			}
			inv := f.inv(x)
			if a == 0 {
				if inv != 0 {
					t.Fatalf("m=%d: inv(0) = %d", m, inv)
				}
				continue
			}
			if f.mul(x, inv) != 1 {
				t.Fatalf("m=%d: %d·inv(%d) = %d", m, a, a, f.mul(x, inv))
			}
			if f.bitrev(f.bitrev(x)) != x || f.bitrev(x)>>m != 0 {
				t.Fatalf("m=%d: bitrev(%d) wrong", m, a)
			}
			if isZeroMask(x) != 0 {
				t.Fatalf("isZeroMask(%d) != 0", a)
			}
		}
		if isZeroMask(0) != 0xffff || f.bitrev(1) != 1<<(m-1) {
			t.Fatalf("m=%d: isZeroMask(0) or bitrev(1) wrong", m)
		}
	}
}

func randomBS(r *rand.Rand, m int) bsVec {
	var v bsVec
	for k := 0; k < m; k++ {
		v[k] = r.Uint64()
	}
	return v
}

// lane returns lane j of a bit-sliced vector.
func lane(v *bsVec, j int) gf {
	var x gf
	for k := 0; k < maxM; k++ {
		x |= gf(v[k]>>j&1) << k
	}
	return x
}

func TestBitsliced(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{12, 13} {
		f := newField(m)
		for trial := 0; trial < 200; trial++ {
			a, b := randomBS(r, m), randomBS(r, m)
			var prod, gen, sq, inv, ev bsVec
			f.bsMul(&prod, &a, &b)
			f.bsMulGeneric(&gen, &a, &b)
			if prod != gen {
				t.Fatalf("m=%d: unrolled product differs from the schoolbook one", m)
			}
			f.bsSq(&sq, &a)
			f.bsInv(&inv, &a)
			poly := []gf{gf(r.IntN(1 << m)), gf(r.IntN(1 << m)), gf(r.IntN(1 << m)), 1}
			f.bsEval(&ev, &a, poly)
			var ones uint64
			for k := 0; k < m; k++ {
				ones |= a[k] | b[k]
			}
			for j := 0; j < 64; j++ {
				x, y := lane(&a, j), lane(&b, j)
				if lane(&prod, j) != f.mul(x, y) || lane(&sq, j) != f.sq(x) || lane(&inv, j) != f.inv(x) {
					t.Fatalf("m=%d lane %d: bit-sliced op differs from scalar", m, j)
				}
				want := f.mul(f.mul(f.mul(1, x)^poly[2], x)^poly[1], x) ^ poly[0]
				if lane(&ev, j) != want {
					t.Fatalf("m=%d lane %d: bsEval differs", m, j)
				}
			}
			sum := gf(0)
			for j := 0; j < 64; j++ {
				sum ^= lane(&a, j)
			}
			if f.bsSum(&a) != sum {
				t.Fatalf("m=%d: bsSum differs", m)
			}
			if f.bsZero(&a)&^^ones != f.bsZero(&a) {
				t.Fatalf("m=%d: bsZero marks a nonzero lane", m)
			}
		}
		vals := make([]gf, 40)
		for i := range vals {
			vals[i] = gf(r.IntN(1 << m))
		}
		vals[7] = 0
		var v bsVec
		bsLoad(&v, vals)
		for j := 0; j < 64; j++ {
			want := gf(0)
			if j < len(vals) {
				want = vals[j]
			}
			if lane(&v, j) != want {
				t.Fatalf("bsLoad lane %d", j)
			}
		}
		if f.bsZero(&v)>>7&1 != 1 || f.bsZero(&v)>>40 != 1<<24-1 {
			t.Fatalf("bsZero: %x", f.bsZero(&v))
		}
	}
}
