package mceliece

import (
	"crypto/sha3"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// maxKeyAttempts bounds the retries of key generation. Each attempt fails
// with probability about 0.71, so a real seed never comes near the bound.
const maxKeyAttempts = 1000

// GenerateKey draws the 32-byte seed δ from rand (one read, as the C
// implementation does) and derives a key pair from it. The public key is
// PublicKeySize bytes and the private key PrivateKeySize bytes.
func (p *Params) GenerateKey(rand io.Reader) (pk, sk []byte, err error) {
	pk, sk, _, err = p.newKey(rand)
	return pk, sk, err
}

// newKey is GenerateKey that also returns the number of attempts.
func (p *Params) newKey(rand io.Reader) (pk, sk []byte, attempts int, err error) {
	var seed [SeedSize]byte
	defer clear(seed[:])
	if err := readFull(rand, seed[:]); err != nil {
		return nil, nil, 0, err
	}
	return p.newKeyFromSeed(seed[:])
}

// NewKeyFromSeed derives a key pair from a 32-byte seed δ by the
// specification's SeededKeyGen: E = SHAKE-256(0x40 ‖ δ) of
// n/8 + 4·2^m + 2t + 32 bytes is split into s, the field-ordering words, the
// irreducible-polynomial words and δ′; if any step fails, it starts again
// with δ′.
func (p *Params) NewKeyFromSeed(seed []byte) (pk, sk []byte, err error) {
	if len(seed) != SeedSize {
		return nil, nil, fmt.Errorf("%w: got %d bytes", ErrSeed, len(seed))
	}
	pk, sk, _, err = p.newKeyFromSeed(seed)
	return pk, sk, err
}

func (p *Params) newKeyFromSeed(seed []byte) (pk, sk []byte, attempts int, err error) {
	q, t := p.q(), p.t
	eLen := p.eBytes() + 4*q + 2*t + 32
	e := make([]byte, eLen)
	defer clear(e)
	var delta [33]byte
	defer clear(delta[:])
	delta[0] = 0x40
	copy(delta[1:], seed)

	g := make([]gf, t+1)
	pi := make([]uint16, q)
	alpha := make([]gf, q)
	defer clear(g)
	defer clear(pi)
	defer clear(alpha)
	ks := newKeyScratch(p)
	defer ks.clear()

	h := sha3.NewSHAKE256()
	defer h.Reset() // wipe the sponge state
	for attempts = 1; attempts <= maxKeyAttempts; attempts++ {
		h.Reset()
		h.Write(delta[:])
		h.Read(e)
		sBytes := e[:p.eBytes()]
		ordBytes := e[p.eBytes() : p.eBytes()+4*q]
		irrBytes := e[p.eBytes()+4*q : eLen-32]
		next := e[eLen-32:]

		if !p.irreducible(g, irrBytes, ks) || !p.fieldOrdering(pi, alpha, ordBytes, ks) {
			copy(delta[1:], next)
			continue
		}
		// Whether H̃ has a systematic form depends only on its left mt×mt
		// block, so check that on a narrow copy first: most attempts fail
		// here, and only the successful one pays for the full width.
		lw := p.leftWords()
		p.matGen(ks.left, lw, g, alpha[:p.n])
		if !p.systematic(ks.left, lw) {
			copy(delta[1:], next)
			continue
		}
		p.matGen(ks.mat, p.words(), g, alpha[:p.n])
		if !p.systematic(ks.mat, p.words()) {
			// Cannot happen: the same elimination on the same left block.
			return nil, nil, attempts, fmt.Errorf("%w: internal inconsistency in the systematic form", ErrKeyGeneration)
		}
		pk = make([]byte, p.PublicKeySize())
		p.encodePublicKey(pk, ks.mat)

		sk = make([]byte, p.PrivateKeySize())
		copy(sk, delta[1:])
		binary.LittleEndian.PutUint64(sk[32:], 0xffffffff)
		for i := 0; i < t; i++ {
			binary.LittleEndian.PutUint16(sk[p.skGoppa()+2*i:], g[i])
		}
		controlBits(sk[p.skControl():p.skS()], pi, p.m)
		copy(sk[p.skS():], sBytes)
		return pk, sk, attempts, nil
	}
	return nil, nil, maxKeyAttempts, ErrKeyGeneration
}

// keyScratch holds the buffers of one key generation.
type keyScratch struct {
	mat  []uint64 // H̃: mt rows of words() words
	left []uint64 // the left block of H̃: mt rows of leftWords() words
	// irreducible
	cur          []gf     // β^k
	bspread      []uint64 // β's coefficients, spread
	accLo, accHi []uint64 // unreduced product, as XORed spread products
	prod         []gf     // product before reduction modulo F
	seq          []gf     // u_k = coefficient 0 of β^k, k < 2t
	bmC, bmB     []gf     // Berlekamp–Massey
	bmT          []gf
	order        []uint64 // field ordering: sort keys
}

func newKeyScratch(p *Params) *keyScratch {
	t := p.t
	return &keyScratch{
		mat:     make([]uint64, p.mt()*p.words()),
		left:    make([]uint64, p.mt()*p.leftWords()),
		cur:     make([]gf, t),
		bspread: make([]uint64, t),
		accLo:   make([]uint64, 2*t-1),
		accHi:   make([]uint64, 2*t-1),
		prod:    make([]gf, 2*t-1),
		seq:     make([]gf, 2*t),
		bmC:     make([]gf, t+1),
		bmB:     make([]gf, t+1),
		bmT:     make([]gf, t+1),
		order:   make([]uint64, p.q()),
	}
}

func (ks *keyScratch) clear() {
	clear(ks.mat)
	clear(ks.left)
	clear(ks.cur)
	clear(ks.bspread)
	clear(ks.accLo)
	clear(ks.accHi)
	clear(ks.prod)
	clear(ks.seq)
	clear(ks.bmC)
	clear(ks.bmB)
	clear(ks.bmT)
	clear(ks.order)
}

// mulBeta sets cur = cur·β in GF(2^m)[y]/F(y), β given by ks.bspread. Each
// coefficient of the product is an XOR of t integer products of spread
// values (see spread), compacted and reduced once.
func (p *Params) mulBeta(cur []gf, ks *keyScratch) {
	f, t := p.fld, p.t
	lo, hi := ks.accLo, ks.accHi
	clear(lo)
	clear(hi)
	bs := ks.bspread
	for i, a := range cur {
		as := spread(a)
		rl, rh := lo[i:i+t], hi[i:i+t]
		rl, rh = rl[:len(bs)], rh[:len(bs)]
		for j, b := range bs {
			h, l := bits.Mul64(as, b)
			rl[j] ^= l
			rh[j] ^= h
		}
	}
	prod := ks.prod
	for k := range prod {
		prod[k] = f.compactProduct(hi[k], lo[k])
	}
	for k := 2*t - 2; k >= t; k-- {
		c := prod[k]
		for _, tm := range p.fpol {
			if tm.coef == 1 {
				prod[k-t+tm.exp] ^= c
			} else {
				prod[k-t+tm.exp] ^= f.mul(c, tm.coef)
			}
		}
	}
	copy(cur, prod[:t])
}

// irreducible computes the minimal polynomial g of β ∈ GF((2^m)^t) =
// GF(2^m)[y]/F(y), whose coefficients are the low m bits of the
// little-endian 16-bit words of r, writes it (monic, t+1 coefficients) and
// reports whether it has degree t, as the specification's Irreducible does.
//
// Because F is irreducible, GF(2^m)[y]/F is a field and the minimal
// polynomial of β is irreducible; the sequence u_k = (β^k)_0 is not zero
// (u_0 = 1), so its shortest linear recurrence is exactly that minimal
// polynomial. Berlekamp–Massey on u_0 … u_(2t−1) therefore finds g when its
// degree is t and a shorter recurrence otherwise. All of it is constant time
// in β; only the failure is visible.
func (p *Params) irreducible(g []gf, r []byte, ks *keyScratch) bool {
	f, t := p.fld, p.t
	for i := 0; i < t; i++ {
		b := gf(binary.LittleEndian.Uint16(r[2*i:])) & gf(f.mask)
		ks.cur[i] = b
		ks.bspread[i] = spread(b)
	}
	u := ks.seq
	u[0], u[1] = 1, ks.cur[0]
	for k := 2; k < 2*t; k++ {
		p.mulBeta(ks.cur, ks)
		u[k] = ks.cur[0]
	}
	if f.berlekampMassey(ks.bmC, ks.bmB, ks.bmT, u, t) != t {
		return false
	}
	for i := 0; i <= t; i++ {
		g[i] = ks.bmC[t-i]
	}
	return true
}

// fieldOrdering sorts the pairs (a_i, i), a_i the little-endian 32-bit words
// of r, with a sorting network; it fails if two a_i are equal. π(i) is the
// index of the i-th smallest pair and α_i is π(i) with its m bits reversed.
func (p *Params) fieldOrdering(pi []uint16, alpha []gf, r []byte, ks *keyScratch) bool {
	q := p.q()
	buf := ks.order
	for i := 0; i < q; i++ {
		buf[i] = uint64(binary.LittleEndian.Uint32(r[4*i:]))<<16 | uint64(i)
	}
	sortU64(buf)
	var dup uint64
	for i := 1; i < q; i++ {
		d := buf[i-1]>>16 ^ buf[i]>>16
		dup |= ((d | -d) >> 63) ^ 1 // 1 if equal
	}
	if dup != 0 {
		return false
	}
	for i := 0; i < q; i++ {
		pi[i] = uint16(buf[i])
		alpha[i] = p.fld.bitrev(pi[i])
	}
	return true
}

// matGen fills mat with the first 64·nw columns of the mt×n parity-check
// matrix H̃ (row i·m+k, column j: the coefficient of z^k in α_j^i / g(α_j)),
// one row per nw little-endian words. The bit-sliced form of 64 columns is
// exactly one word of m consecutive rows.
func (p *Params) matGen(mat []uint64, nw int, g []gf, alpha []gf) {
	f, m, t := p.fld, p.m, p.t
	var a, v bsVec
	for b := 0; b < nw; b++ {
		lo := 64 * b
		hi := min(lo+64, p.n)
		bsLoad(&a, alpha[lo:hi])
		f.bsEval(&v, &a, g)
		f.bsInv(&v, &v)
		lanes := ^uint64(0)
		if hi-lo < 64 {
			lanes = 1<<(hi-lo) - 1
		}
		for i := 0; i < t; i++ {
			for k := 0; k < m; k++ {
				mat[(i*m+k)*nw+b] = v[k] & lanes
			}
			f.bsMul(&v, &v, &a)
		}
	}
	a, v = bsVec{}, bsVec{}
}

// leftWords is the number of words that hold the columns 0 … mt−1.
func (p *Params) leftWords() int { return (p.mt() + 63) / 64 }

// systematic reduces the mt rows of nw words in mat to (I_mt | T) by
// Gaussian elimination over GF(2) on the columns 0 … mt−1 and reports
// whether that block was invertible. Every row operation is masked, so the
// work done depends only on where it fails.
//
// Not instrumented by the race detector: it only touches scratch buffers
// private to one key generation, and instrumentation made -race builds ~8x
// slower.
//
//go:norace
func (p *Params) systematic(mat []uint64, nw int) bool {
	mt := p.mt()
	for i := 0; i < mt; i++ {
		w, sh := i>>6, uint(i&63)
		ri := mat[i*nw+w : (i+1)*nw]
		// Find a pivot: add every later row while the pivot bit is zero.
		for k := i + 1; k < mt; k++ {
			rk := mat[k*nw+w : (k+1)*nw]
			mask := -((^ri[0] & rk[0]) >> sh & 1)
			addMasked(ri, rk, mask)
		}
		if ri[0]>>sh&1 == 0 {
			return false
		}
		// Clear column i in every other row.
		for k := 0; k < mt; k++ {
			if k == i {
				continue
			}
			rk := mat[k*nw+w : (k+1)*nw]
			mask := -(rk[0] >> sh & 1)
			addMasked(rk, ri, mask)
		}
	}
	return true
}

// addMasked sets dst ^= src & mask word by word.
//
// Not instrumented by the race detector: it only touches scratch buffers
// private to one key generation, and instrumentation made -race builds ~8x
// slower.
//
//go:norace
func addMasked(dst, src []uint64, mask uint64) {
	src = src[:len(dst)]
	for len(dst) >= 8 {
		d, s := (*[8]uint64)(dst), (*[8]uint64)(src)
		d[0] ^= s[0] & mask
		d[1] ^= s[1] & mask
		d[2] ^= s[2] & mask
		d[3] ^= s[3] & mask
		d[4] ^= s[4] & mask
		d[5] ^= s[5] & mask
		d[6] ^= s[6] & mask
		d[7] ^= s[7] & mask
		dst, src = dst[8:], src[8:]
	}
	for x := range dst {
		dst[x] ^= src[x] & mask
	}
}

// encodePublicKey writes T, the columns mt … n−1 of each row, as
// ⌈(n−mt)/8⌉ bytes per row (bit j of a row is bit j%8 of byte j/8).
func (p *Params) encodePublicKey(pk []byte, mat []uint64) {
	mt, nw, rb := p.mt(), p.words(), p.rowBytes()
	width := p.n - mt
	for i := 0; i < mt; i++ {
		row := mat[i*nw : (i+1)*nw]
		out := pk[i*rb : (i+1)*rb]
		for j := range out {
			out[j] = byte(getBits(row, mt+8*j))
		}
		if width%8 != 0 {
			out[rb-1] &= 1<<(width%8) - 1
		}
	}
}

// getBits returns the 64 bits of row starting at bit position off (bits
// past the end are zero).
func getBits(row []uint64, off int) uint64 {
	w, sh := off>>6, uint(off&63)
	v := row[w] >> sh
	if sh != 0 && w+1 < len(row) {
		v |= row[w+1] << (64 - sh)
	}
	return v
}
