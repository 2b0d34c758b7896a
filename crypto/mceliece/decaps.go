package mceliece

import (
	"crypto/sha3"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Decapsulate returns the 32-byte shared secret of ct. A ciphertext that does
// not decode, or whose confirmation C1 does not match, gives the implicit
// rejection secret SHAKE-256(0x00 ‖ s ‖ C)[:32] rather than an error. Keys or
// ciphertexts of the wrong length, and for mceliece6960119 a ciphertext with
// nonzero padding bits, give errors wrapping ErrPrivateKey or ErrCiphertext.
func (p *Params) Decapsulate(sk, ct []byte) (ss []byte, err error) {
	ss, _, err = p.DecapsulateChecked(sk, ct)
	return ss, err
}

// DecapsulateChecked is Decapsulate that also reports, as the C function's
// return value does, whether ct decoded and its confirmation matched; when
// ok is false, ss is the implicit rejection secret. Callers that must not
// reveal the outcome should use Decapsulate.
func (p *Params) DecapsulateChecked(sk, ct []byte) (ss []byte, ok bool, err error) {
	if len(sk) != p.PrivateKeySize() {
		return nil, false, fmt.Errorf("%w: %s private key of %d bytes, want %d", ErrPrivateKey, p.name, len(sk), p.PrivateKeySize())
	}
	if len(ct) != p.CiphertextSize() {
		return nil, false, fmt.Errorf("%w: %s ciphertext of %d bytes, want %d", ErrCiphertext, p.name, len(ct), p.CiphertextSize())
	}
	if !p.ciphertextPaddingOK(ct) {
		return nil, false, fmt.Errorf("%w: %s ciphertext has nonzero padding bits", ErrCiphertext, p.name)
	}
	d := newDecoder(p)
	defer d.clear()
	d.loadKey(sk)
	good := d.decode(ct[:p.syndBytes()]) // 1 or 0

	eb := make([]byte, p.eBytes())
	defer clear(eb)
	wordsToBytes(eb, d.e)
	var c1 [32]byte
	h := sha3.NewSHAKE256()
	defer h.Reset() // wipe the sponge state
	h.Write([]byte{2})
	h.Write(eb)
	h.Read(c1[:])
	good &= subtle.ConstantTimeCompare(c1[:], ct[p.syndBytes():])

	// Preimage: b ‖ e when good, 0x00 ‖ s otherwise, selected in constant time.
	pre := make([]byte, 1+p.eBytes())
	defer clear(pre)
	pre[0] = byte(good)
	subtle.ConstantTimeCopy(1-good, eb, sk[p.skS():])
	copy(pre[1:], eb)
	ss = make([]byte, SharedSecretSize)
	h.Reset()
	h.Write(pre)
	h.Write(ct)
	h.Read(ss)
	return ss, good == 1, nil
}

// decoder holds the private key in the form decoding uses and the buffers of
// one decapsulation.
type decoder struct {
	p      *Params
	g      []gf     // Goppa polynomial, t+1 coefficients, monic
	alpha  []bsVec  // support, bit-sliced by 64 positions
	ginv2  []bsVec  // 1/g(α)², bit-sliced
	lanes  []uint64 // valid lanes of each block (positions < n)
	e      []uint64 // decoded error vector
	synd   []gf     // 2t syndromes of the received word
	synde  []gf     // 2t syndromes of e
	locate []gf     // error locator, reversed: its roots are the error positions
	perm   []gf     // support before bit-slicing
}

func newDecoder(p *Params) *decoder {
	nb, t := p.words(), p.t
	return &decoder{
		p:      p,
		g:      make([]gf, t+1),
		alpha:  make([]bsVec, nb),
		ginv2:  make([]bsVec, nb),
		lanes:  make([]uint64, nb),
		e:      make([]uint64, nb),
		synd:   make([]gf, 2*t),
		synde:  make([]gf, 2*t),
		locate: make([]gf, t+1),
		perm:   make([]gf, p.q()),
	}
}

func (d *decoder) clear() {
	clear(d.g)
	clear(d.alpha)
	clear(d.ginv2)
	clear(d.e)
	clear(d.synd)
	clear(d.synde)
	clear(d.locate)
	clear(d.perm)
}

// loadKey expands g and the support α_0 … α_n−1 from the private key and
// computes 1/g(α_j)² for every position.
func (d *decoder) loadKey(sk []byte) {
	p := d.p
	f, t := p.fld, p.t
	for i := 0; i < t; i++ {
		d.g[i] = binary.LittleEndian.Uint16(sk[p.skGoppa()+2*i:]) & gf(f.mask)
	}
	d.g[t] = 1
	for j := range d.perm {
		d.perm[j] = f.bitrev(gf(j))
	}
	applyBenes(d.perm, sk[p.skControl():p.skS()], p.m)
	var v bsVec
	for b := range d.alpha {
		lo := 64 * b
		hi := min(lo+64, p.n)
		bsLoad(&d.alpha[b], d.perm[lo:hi])
		d.lanes[b] = ^uint64(0)
		if hi-lo < 64 {
			d.lanes[b] = 1<<(hi-lo) - 1
		}
		f.bsEval(&v, &d.alpha[b], d.g)
		f.bsSq(&v, &v)
		f.bsInv(&d.ginv2[b], &v)
	}
	v = bsVec{}
}

// syndrome sets s_i = Σ_j r_j α_j^i / g(α_j)², i < 2t, for the positions j
// below 64·blocks; r holds one word of 64 positions per block.
func (d *decoder) syndrome(s []gf, r []uint64, blocks int) {
	f := d.p.fld
	clear(s)
	var c bsVec
	for b := 0; b < blocks; b++ {
		mask := r[b] & d.lanes[b]
		for k := range c {
			c[k] = d.ginv2[b][k] & mask
		}
		for i := range s {
			s[i] ^= f.bsSum(&c)
			f.bsMul(&c, &c, &d.alpha[b])
		}
	}
	c = bsVec{}
}

// decode finds the error vector e of weight t with He = C0 and returns 1, or
// returns 0 if there is none. It is constant time in the key and in e.
func (d *decoder) decode(c0 []byte) int {
	p := d.p
	f, t := p.fld, p.t
	mt := p.mt()
	// The received word is C0 followed by zeros.
	v := d.e
	bytesToWords(v, c0)
	if mt%64 != 0 {
		v[mt>>6] &= 1<<(mt&63) - 1
	}
	vb := (mt + 63) / 64
	d.syndrome(d.synd, v, vb)
	d.berlekampMassey()

	// e_j = 1 where the reversed locator vanishes at α_j.
	var val bsVec
	weight := 0
	for b := range d.alpha {
		f.bsEval(&val, &d.alpha[b], d.locate)
		d.e[b] = f.bsZero(&val) & d.lanes[b]
		weight += bits.OnesCount64(d.e[b])
	}
	val = bsVec{}
	d.syndrome(d.synde, d.e, len(d.e))

	var diff gf
	for i := range d.synd {
		diff |= d.synd[i] ^ d.synde[i]
	}
	w := uint32(weight ^ t)
	ok := 1 - int((w|-w)>>31)       // weight == t
	ok &= int(isZeroMask(diff) & 1) // syndromes equal
	return ok
}

// berlekampMassey runs Berlekamp–Massey on the 2t syndromes and stores the
// connection polynomial reversed to degree t in d.locate, so that the roots
// of d.locate are the error positions.
func (d *decoder) berlekampMassey() {
	f, t := d.p.fld, d.p.t
	c := make([]gf, t+1)
	b := make([]gf, t+1)
	tmp := make([]gf, t+1)
	defer clear(c)
	defer clear(b)
	defer clear(tmp)
	f.berlekampMassey(c, b, tmp, d.synd, t)
	for i := 0; i <= t; i++ {
		d.locate[i] = c[t-i]
	}
}
