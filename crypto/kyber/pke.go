package kyber

import "crypto/sha3"

// work is the per-call state of K-PKE (FIPS 203 section 5): hash objects
// reused across the many XOF and PRF calls, and the polynomial vectors.
// wipe clears everything secret it may hold.
type work struct {
	k      int
	xof    *sha3.SHAKE // SHAKE128 for SampleNTT
	prf    *sha3.SHAKE // SHAKE256 for PRF
	acc    accumulator
	a      poly       // one matrix entry at a time
	t      poly       // one output polynomial at a time
	e      poly       // one error polynomial at a time
	vec    []prepared // ŝ in key generation, ŷ in encryption, secret
	tHat   []poly     // t̂ in encryption, public
	prfBuf [192]byte  // PRF output, up to 64·3 bytes
}

func newWork(k int) *work {
	return &work{
		k:    k,
		xof:  sha3.NewSHAKE128(),
		prf:  sha3.NewSHAKE256(),
		vec:  make([]prepared, k),
		tHat: make([]poly, k),
	}
}

func (w *work) wipe() {
	clear(w.acc[:])
	clear(w.t[:])
	clear(w.e[:])
	clear(w.vec)
	clear(w.prfBuf[:])
	w.prf.Reset()
}

// cbd samples f from SamplePolyCBD_eta(PRF_eta(seed, nonce)).
func (w *work) cbd(f *poly, eta int, seed []byte, nonce int) {
	buf := w.prfBuf[:64*eta]
	prf(buf, w.prf, seed, byte(nonce))
	sampleCBD(f, buf, eta)
}

// keyGen is K-PKE.KeyGen (FIPS 203 Algorithm 13) with the domain byte k: it
// writes ek (384·k + 32 bytes) and dk_PKE (384·k bytes) from the seed d.
func (w *work) keyGen(p *Params, ek, dk, d []byte) {
	k := w.k
	var in [33]byte
	copy(in[:], d)
	in[32] = byte(k)
	g := sha3.Sum512(in[:]) // (ρ, σ) = G(d ‖ k)
	clear(in[:])
	rho, sigma := g[:32], g[32:]

	s := w.vec
	for i := range s {
		w.cbd(&w.e, p.Eta1, sigma, i)
		w.e.ntt()
		s[i].prepare(&w.e)
	}
	// t̂[i] = Σ_j Â[i][j] ∘ ŝ[j] + ê[i], with Â[i][j] = SampleNTT(ρ ‖ j ‖ i).
	for i := range k {
		for j := range k {
			sampleNTT(&w.a, w.xof, rho, byte(j), byte(i))
			basemulAccPrepared(&w.acc, &w.a, &s[j])
		}
		w.acc.reduce(&w.t) // Σ·R^-1
		for c := range w.t {
			w.t[c] = fqmul(w.t[c], rSquared) // ·R: plain Σ
		}
		w.cbd(&w.e, p.Eta1, sigma, k+i)
		w.e.ntt()
		w.t.add(&w.e)
		w.t.canonical()
		encode12(ek[384*i:], &w.t)
	}
	copy(ek[384*k:], rho)
	for i := range s {
		s[i].b.canonical()
		encode12(dk[384*i:], &s[i].b)
	}
	clear(g[:])
}

// loadPublicKey decodes t̂ from ek into w.tHat (mod q) and reports whether
// every coefficient was already below q.
func (w *work) loadPublicKey(ek []byte) bool {
	ok := true
	for i := range w.tHat {
		if !decode12(&w.tHat[i], ek[384*i:]) {
			ok = false
		}
	}
	return ok
}

// encrypt is K-PKE.Encrypt (FIPS 203 Algorithm 14) with t̂ already in
// w.tHat: it writes the ciphertext of the 32-byte message m under
// randomness r to ct.
func (w *work) encrypt(p *Params, ct, rho, m, r []byte) {
	k := w.k
	du, dv := uint(p.DU), uint(p.DV)
	y := w.vec
	for i := range y {
		w.cbd(&w.e, p.Eta1, r, i)
		w.e.ntt()
		y[i].prepare(&w.e)
	}
	// u[i] = NTT^-1(Σ_j Â[j][i] ∘ ŷ[j]) + e1[i], Â[j][i] = SampleNTT(ρ ‖ i ‖ j).
	for i := range k {
		for j := range k {
			sampleNTT(&w.a, w.xof, rho, byte(i), byte(j))
			basemulAccPrepared(&w.acc, &w.a, &y[j])
		}
		w.acc.reduce(&w.t)
		w.t.invNTT()
		w.cbd(&w.e, p.Eta2, r, k+i)
		w.t.add(&w.e)
		w.t.canonical()
		encodeCompressed(ct[32*int(du)*i:], &w.t, du)
	}
	// v = NTT^-1(t̂ᵀ ∘ ŷ) + e2 + μ.
	for j := range k {
		basemulAccPrepared(&w.acc, &w.tHat[j], &y[j])
	}
	w.acc.reduce(&w.t)
	w.t.invNTT()
	w.cbd(&w.e, p.Eta2, r, 2*k)
	w.t.add(&w.e)
	messageToPoly(&w.e, m)
	w.t.add(&w.e)
	w.t.canonical()
	encodeCompressed(ct[32*int(du)*k:], &w.t, dv)
}

// decrypt is K-PKE.Decrypt (FIPS 203 Algorithm 15): it writes the 32-byte
// message recovered from ct with dk_PKE to m.
func (w *work) decrypt(p *Params, m, dk, ct []byte) {
	k := w.k
	du, dv := uint(p.DU), uint(p.DV)
	// w = v − NTT^-1(ŝᵀ ∘ NTT(u)).
	for i := range k {
		decodeDecompressed(&w.a, ct[32*int(du)*i:], du)
		w.a.ntt()
		decode12(&w.e, dk[384*i:]) // ŝ[i], secret, reduced mod q
		basemulAcc(&w.acc, &w.e, &w.a)
	}
	w.acc.reduce(&w.t)
	w.t.invNTT()
	decodeDecompressed(&w.e, ct[32*int(du)*k:], dv)
	for i := range w.t {
		w.t[i] = canon(barrett(w.e[i] - w.t[i]))
	}
	polyToMessage(m, &w.t)
}
