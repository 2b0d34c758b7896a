package kyber

// Arithmetic in Z_q, q = 3329, and in R_q = Z_q[X]/(X^256 + 1) (FIPS 203
// sections 2.3, 4.3 and 4.4).
//
// Coefficients are held as int16. Products are reduced with Montgomery
// reduction (R = 2^16) and sums with Barrett reduction; both are branch-free.
// The NTT twiddle factors are stored in Montgomery form (ζ·R mod q) so that a
// Montgomery product with them is an ordinary product mod q.

const (
	n = 256  // polynomial degree
	q = 3329 // the ML-KEM modulus

	// qInv is q^-1 mod 2^16, as a signed 16-bit value (q·62209 ≡ 1 mod 2^16).
	qInv = -3327
	// rModQ is R = 2^16 mod q; rSquared is R^2 mod q.
	rModQ    = 2285
	rSquared = 1353
	// invNTTScale is R^2/128 mod q: the inverse NTT's final factor 128^-1,
	// multiplied by R^2 to cancel the R^-1 of that final Montgomery product and
	// the R^-1 carried by every base-case product that feeds the inverse NTT.
	invNTTScale = 1441
	// barrettV is round(2^26 / q).
	barrettV = 20159
)

// montReduce returns a·R^-1 mod q in (-q, q) for |a| < q·2^15.
func montReduce(a int32) int16 {
	t := int16(a) * qInv // a·q^-1 mod 2^16, signed
	return int16((a - int32(t)*q) >> 16)
}

// fqmul returns a·b·R^-1 mod q in (-q, q) for |a·b| < q·2^15.
func fqmul(a, b int16) int16 {
	return montReduce(int32(a) * int32(b))
}

// barrett returns the representative of a mod q in [-(q-1)/2, (q-1)/2].
func barrett(a int16) int16 {
	t := int16((barrettV*int32(a) + 1<<25) >> 26)
	return a - t*q
}

// canon maps a value in (-q, q) to [0, q) without branching.
func canon(a int16) int16 {
	return a + (a>>15)&q
}

// bitRev7 reverses the 7 low bits of i.
func bitRev7(i int) int {
	r := 0
	for b := 0; b < 7; b++ {
		r |= (i >> b & 1) << (6 - b)
	}
	return r
}

// Twiddle factors, computed once from their definition in FIPS 203:
// zetas[i] = 17^BitRev7(i) and gammas[i] = 17^(2·BitRev7(i)+1), both mod q,
// stored in centred Montgomery form.
var zetas, gammas = twiddles()

func twiddles() (z, g [128]int16) {
	var pow [256]int32 // pow[e] = 17^e mod q
	pow[0] = 1
	for e := 1; e < 256; e++ {
		pow[e] = pow[e-1] * 17 % q
	}
	mont := func(x int32) int16 {
		v := x * rModQ % q
		if v > q/2 {
			v -= q
		}
		return int16(v)
	}
	for i := range 128 {
		z[i] = mont(pow[bitRev7(i)])
		g[i] = mont(pow[2*bitRev7(i)+1])
	}
	return z, g
}

// poly is an element of R_q or of its NTT representation T_q.
type poly [n]int16

// ntt computes the NTT of f in place (FIPS 203 Algorithm 9). Input
// coefficients must satisfy |f[i]| < q; output is reduced to
// [-(q-1)/2, (q-1)/2].
func (f *poly) ntt() {
	k := 1
	for length := 128; length >= 2; length >>= 1 {
		for start := 0; start < n; start += 2 * length {
			zeta := zetas[k]
			k++
			lo := f[start : start+length : start+length]
			hi := f[start+length : start+2*length : start+2*length]
			hi = hi[:len(lo)]
			for j := range lo {
				t := fqmul(zeta, hi[j])
				l := lo[j]
				hi[j] = l - t
				lo[j] = l + t
			}
		}
	}
	// Each of the seven layers adds less than q to the magnitude: |f| < 8q.
	for i := range f {
		f[i] = barrett(f[i])
	}
}

// invNTT computes the inverse NTT of f in place (FIPS 203 Algorithm 10),
// times R: it expects an input carrying the factor R^-1 left by basemulAcc
// and returns the plain result. Input |f[i]| < q; output |f[i]| < q.
func (f *poly) invNTT() {
	k := 127
	for layer, length := 1, 2; length <= 64; layer, length = layer+1, length<<1 {
		// Sums double their bound each layer while differences are reduced
		// by the Montgomery product, so a sum reaches 2^layer·q at most.
		// Reducing the sums of layers 3 and 6 keeps every value below 8q,
		// inside int16, and every product inside montReduce's bound.
		reduceSums := layer == 3 || layer == 6
		for start := 0; start < n; start += 2 * length {
			zeta := int32(zetas[k])
			k--
			lo := f[start : start+length : start+length]
			hi := f[start+length : start+2*length : start+2*length]
			hi = hi[:len(lo)]
			if reduceSums {
				for j := range lo {
					t := lo[j]
					lo[j] = barrett(t + hi[j])
					hi[j] = montReduce(zeta * (int32(hi[j]) - int32(t)))
				}
			} else {
				for j := range lo {
					t := lo[j]
					lo[j] = t + hi[j]
					hi[j] = montReduce(zeta * (int32(hi[j]) - int32(t)))
				}
			}
		}
	}
	// Layer 7 (zeta index 1) with the final factor folded in: the sums are
	// multiplied by invNTTScale and the differences by ζ_1·invNTTScale.
	// Inputs are below q in magnitude here (reduced sums or Montgomery
	// differences), so every product is below 2q^2.
	lo := f[:n/2]
	hi := f[n/2:]
	hi = hi[:len(lo)]
	for j := range lo {
		t := lo[j]
		lo[j] = fqmul(t+hi[j], invNTTScale)
		hi[j] = montReduce(lastZetaScaled * (int32(hi[j]) - int32(t)))
	}
}

// lastZetaScaled is ζ_1·invNTTScale in Montgomery form.
var lastZetaScaled = int32(fqmul(zetas[1], invNTTScale))

// accumulator holds the unreduced sum of base-case products for one
// polynomial of a matrix–vector or inner product.
type accumulator [n]int32

// basemulAcc adds a×b (the product in T_q, FIPS 203 Algorithms 11 and 12)
// to acc, times R^-1. The caller guarantees a[i] in [0, q) and
// |b[i]| <= (q-1)/2; each call then adds at most q^2 in magnitude to each
// entry, so up to maxK calls stay below the bound of montReduce.
func basemulAcc(acc *accumulator, a, b *poly) {
	for i := range 128 {
		a0, a1 := int32(a[2*i]), int32(a[2*i+1])
		b0, b1 := int32(b[2*i]), int32(b[2*i+1])
		g := int32(gammas[i])
		// (a0 + a1·X)(b0 + b1·X) mod (X^2 − γ): the a1·b1 term is reduced
		// (gaining R^-1) and multiplied by γ·R, so that all terms carry R^0
		// before the final Montgomery reduction by the caller.
		acc[2*i] += a0*b0 + int32(montReduce(a1*b1))*g
		acc[2*i+1] += a0*b1 + a1*b0
	}
}

// prepared is a polynomial in T_q, |b[i]| <= (q-1)/2, together with the
// products b[2i+1]·γ_i it needs as the right operand of base-case
// multiplications. Preparing a vector element once saves three of the seven
// multiplications of every product it then takes part in.
type prepared struct {
	b  poly
	bg [n / 2]int16 // b[2i+1]·γ_i mod q, in [-(q-1)/2, (q-1)/2]
}

// prepare sets pr from b, which must satisfy |b[i]| <= (q-1)/2.
func (pr *prepared) prepare(b *poly) {
	pr.b = *b
	for i := range pr.bg {
		pr.bg[i] = barrett(fqmul(b[2*i+1], gammas[i]))
	}
}

// basemulAccPrepared is basemulAcc with a prepared right operand: the same
// sums, with the same bound per call, in four multiplications per pair.
func basemulAccPrepared(acc *accumulator, a *poly, pr *prepared) {
	b := &pr.b
	for i := range 128 {
		a0, a1 := int32(a[2*i]), int32(a[2*i+1])
		b0, b1 := int32(b[2*i]), int32(b[2*i+1])
		acc[2*i] += a0*b0 + a1*int32(pr.bg[i])
		acc[2*i+1] += a0*b1 + a1*b0
	}
}

// reduce writes acc·R^-1 mod q into f, |f[i]| < q, and clears acc.
func (acc *accumulator) reduce(f *poly) {
	for i := range acc {
		f[i] = montReduce(acc[i])
		acc[i] = 0
	}
}

// add sets f = f + g, reduced to [-(q-1)/2, (q-1)/2]. Requires |f + g| < 2^15.
func (f *poly) add(g *poly) {
	for i := range f {
		f[i] = barrett(f[i] + g[i])
	}
}

// canonical maps every coefficient from (-q, q) to [0, q).
func (f *poly) canonical() {
	for i := range f {
		f[i] = canon(f[i])
	}
}
