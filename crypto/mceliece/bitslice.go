package mceliece

import "math/bits"

const maxM = 13

// bsVec holds 64 field elements bit-sliced: bit j of word k is the
// coefficient of z^k of element j. Words k ≥ m are zero.
type bsVec [maxM]uint64

// bsProd holds an unreduced bit-sliced product.
type bsProd [2*maxM - 1]uint64

// bsReduce reduces p modulo the field polynomial into r.
func (f field) bsReduce(r *bsVec, p *bsProd) {
	if f.m == 12 {
		for k := 22; k >= 12; k-- {
			p[k-12] ^= p[k]
			p[k-9] ^= p[k]
		}
		copy(r[:12], p[:12])
		r[12] = 0
		return
	}
	for k := 24; k >= 13; k-- {
		p[k-13] ^= p[k]
		p[k-12] ^= p[k]
		p[k-10] ^= p[k]
		p[k-9] ^= p[k]
	}
	copy(r[:13], p[:13])
}

// bsMul sets r = a·b lane by lane. r may alias a or b.
func (f field) bsMul(r, a, b *bsVec) {
	if f.m == 12 {
		bsMul12(r, a, b)
	} else {
		bsMul13(r, a, b)
	}
}

// bsMulGeneric is the schoolbook product; bsMul12 and bsMul13 are its
// unrolled forms, checked against it in the tests.
func (f field) bsMulGeneric(r, a, b *bsVec) {
	var p bsProd
	for i := 0; i < f.m; i++ {
		for j := 0; j < f.m; j++ {
			p[i+j] ^= a[i] & b[j]
		}
	}
	f.bsReduce(r, &p)
}

// bsSq sets r = a² lane by lane.
func (f field) bsSq(r, a *bsVec) {
	var p bsProd
	for i := 0; i < f.m; i++ {
		p[2*i] = a[i]
	}
	f.bsReduce(r, &p)
}

func (f field) bsSqn(r, a *bsVec, k int) {
	*r = *a
	for ; k > 0; k-- {
		f.bsSq(r, r)
	}
}

// bsInv sets r = a^(2^m − 2) lane by lane (the inverse; 0 for 0).
func (f field) bsInv(r, a *bsVec) {
	var a3, a15, a255, t bsVec
	f.bsSq(&t, a)
	f.bsMul(&a3, &t, a)
	f.bsSqn(&t, &a3, 2)
	f.bsMul(&a15, &t, &a3)
	f.bsSqn(&t, &a15, 4)
	f.bsMul(&a255, &t, &a15)
	if f.m == 12 {
		var a7 bsVec
		f.bsSq(&t, &a3)
		f.bsMul(&a7, &t, a)
		f.bsSqn(&t, &a255, 3)
		f.bsMul(&t, &t, &a7)
	} else {
		f.bsSqn(&t, &a255, 4)
		f.bsMul(&t, &t, &a15)
	}
	f.bsSq(r, &t)
}

// bsBroadcast returns c in every lane.
func bsBroadcast(c gf) bsVec {
	var r bsVec
	for k := range r {
		r[k] = -(uint64(c>>k) & 1)
	}
	return r
}

// bsEval sets r = poly(a) lane by lane, poly given by its coefficients from
// degree 0 up (Horner's rule).
func (f field) bsEval(r, a *bsVec, poly []gf) {
	d := len(poly) - 1
	acc := bsBroadcast(poly[d])
	for i := d - 1; i >= 0; i-- {
		f.bsMul(&acc, &acc, a)
		c := poly[i]
		for k := 0; k < f.m; k++ {
			acc[k] ^= -(uint64(c>>k) & 1)
		}
	}
	*r = acc
}

// bsLoad bit-slices up to 64 elements.
func bsLoad(r *bsVec, v []gf) {
	*r = bsVec{}
	for j, x := range v {
		for k := 0; k < maxM; k++ {
			r[k] |= uint64(x>>k&1) << j
		}
	}
}

// bsSum returns the sum (XOR) of the 64 lanes selected by the words of a.
func (f field) bsSum(a *bsVec) gf {
	var s gf
	for k := 0; k < f.m; k++ {
		s |= gf(bits.OnesCount64(a[k])&1) << k
	}
	return s
}

// bsZero returns a mask with bit j set where lane j of a is zero.
func (f field) bsZero(a *bsVec) uint64 {
	var o uint64
	for k := 0; k < f.m; k++ {
		o |= a[k]
	}
	return ^o
}
