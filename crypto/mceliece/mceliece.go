// Package mceliece implements the Classic McEliece key-encapsulation mechanism
// in the NIST round-3 format that QSMP uses (digest sections 3.3 and 3.4), for
// the parameter sets mceliece348864, mceliece460896, mceliece6688128,
// mceliece6960119 and mceliece8192128 (the non-"f" variants).
//
// It is written from the Classic McEliece round-3 specification:
//
//   - Key generation expands a 32-byte seed δ with SHAKE-256(0x40 ‖ δ) into
//     s ‖ field-ordering words ‖ irreducible-polynomial words ‖ δ′ and retries
//     with δ′ when a step fails (Irreducible, FieldOrdering, MatGen). The
//     public key is T of the systematic parity-check matrix (I_mt | T), mt rows
//     of ⌈(n−mt)/8⌉ bytes, little-endian bit order. The private key is
//     δ ‖ c ‖ g ‖ Beneš control bits of the field ordering ‖ s, with
//     c = 2³²−1 as 8 little-endian bytes.
//   - Encapsulation draws one FixedWeight block from the random source per
//     attempt, exactly as the C implementation does, and returns
//     C = C0 ‖ C1 with C0 = He and C1 = SHAKE-256(0x02 ‖ e)[:32]; the shared
//     secret is SHAKE-256(0x01 ‖ e ‖ C)[:32]. (Round-4 ciphertexts, without
//     C1, are a different format.)
//   - Decapsulation decodes with Berlekamp–Massey and evaluates the error
//     locator at every support element; it is constant time in the private
//     key and the decoded error, and on any failure returns the implicit
//     rejection secret SHAKE-256(0x00 ‖ s ‖ C)[:32].
//
// mceliece6960119 has padding bits in every public-key row and in C0.
// Encapsulation to a public key whose padding bits are not zero fails (the C
// implementation outputs zeros), and decapsulation rejects a ciphertext whose
// padding bits are not zero, as the specification requires.
//
// Implementation notes. Field elements are GF(2^12) or GF(2^13); 64 of them
// at a time are processed bit-sliced (one uint64 per coefficient), so the
// support evaluations, the parity-check matrix and the syndromes take no
// tables and no secret-dependent branches or indices. The systematic form is
// computed by Gaussian elimination on rows of uint64 words with masked row
// operations. The field ordering is sorted with a sorting network, and the
// Beneš control bits follow Bernstein's formulas with every permutation
// composed by sorting networks too. Irreducible finds the minimal
// polynomial by Berlekamp–Massey on the sequence (β^k)_0, which equals the
// specification's linear solve because GF(2^m)[y]/F(y) is a field. In key
// generation only the number of attempts, and where each failed attempt
// stops, depend on the seed; FixedWeight's rejection of samples ≥ n, like
// the C code's, depends on discarded random values.
//
// A private key is not checked beyond its length: any bytes of that length
// decapsulate without error (to the rejection secret if they are not a key).
package mceliece

//go:generate go run gen_bsmul.go

import (
	"errors"
	"io"
)

// Errors returned by this package; wrapped errors can be tested with errors.Is.
var (
	// ErrPublicKey reports a public key of the wrong length or with nonzero padding bits.
	ErrPublicKey = errors.New("mceliece: malformed public key")
	// ErrPrivateKey reports a private key of the wrong length.
	ErrPrivateKey = errors.New("mceliece: malformed private key")
	// ErrCiphertext reports a ciphertext of the wrong length or with nonzero padding bits.
	ErrCiphertext = errors.New("mceliece: malformed ciphertext")
	// ErrRandom reports a random source that could not supply enough bytes.
	ErrRandom = errors.New("mceliece: random source failed")
	// ErrSeed reports a key-generation seed that is not SeedSize bytes.
	ErrSeed = errors.New("mceliece: seed must be 32 bytes")
	// ErrKeyGeneration reports a key generation that found no usable key in
	// maxKeyAttempts seeds (probability far below 2^-128 for a real seed).
	ErrKeyGeneration = errors.New("mceliece: key generation failed")
)

// SharedSecretSize is the size of the shared secret of every parameter set.
const SharedSecretSize = 32

// SeedSize is the number of bytes key generation draws from its random source.
const SeedSize = 32

// term is one term coef·y^exp of the polynomial F(y) − y^t that defines
// GF((2^m)^t).
type term struct {
	exp  int
	coef gf
}

// Params is a Classic McEliece parameter set. The five sets are the package
// variables MC348864, MC460896, MC6688128, MC6960119 and MC8192128.
type Params struct {
	name string
	m    int    // field degree: q = 2^m
	n    int    // code length
	t    int    // error weight
	fpol []term // F(y) = y^t + Σ fpol
	fld  field
}

// The five parameter sets (field polynomials z^12+z^3+1 and z^13+z^4+z^3+z+1).
var (
	// MC348864 is mceliece348864 (m=12, n=3488, t=64), QSMP's "mceliece-s1".
	MC348864 = newParams("mceliece348864", 12, 3488, 64, []term{{3, 1}, {1, 1}, {0, 2}})
	// MC460896 is mceliece460896 (m=13, n=4608, t=96), QSMP's "mceliece-s3".
	MC460896 = newParams("mceliece460896", 13, 4608, 96, []term{{10, 1}, {9, 1}, {6, 1}, {0, 1}})
	// MC6688128 is mceliece6688128 (m=13, n=6688, t=128), QSMP's "mceliece-s5".
	MC6688128 = newParams("mceliece6688128", 13, 6688, 128, []term{{7, 1}, {2, 1}, {1, 1}, {0, 1}})
	// MC6960119 is mceliece6960119 (m=13, n=6960, t=119), QSMP's "mceliece-s6".
	MC6960119 = newParams("mceliece6960119", 13, 6960, 119, []term{{8, 1}, {0, 1}})
	// MC8192128 is mceliece8192128 (m=13, n=8192, t=128), QSMP's "mceliece-s7".
	MC8192128 = newParams("mceliece8192128", 13, 8192, 128, []term{{7, 1}, {2, 1}, {1, 1}, {0, 1}})
)

// All returns the five parameter sets in order of size.
func All() []*Params {
	return []*Params{MC348864, MC460896, MC6688128, MC6960119, MC8192128}
}

func newParams(name string, m, n, t int, fpol []term) *Params {
	return &Params{name: name, m: m, n: n, t: t, fpol: fpol, fld: newField(m)}
}

// Name returns the set's name, such as "mceliece348864".
func (p *Params) Name() string { return p.name }

// M returns the field degree m (the field has 2^m elements).
func (p *Params) M() int { return p.m }

// N returns the code length n.
func (p *Params) N() int { return p.n }

// T returns the number of errors t.
func (p *Params) T() int { return p.t }

func (p *Params) q() int         { return 1 << p.m }
func (p *Params) mt() int        { return p.m * p.t }
func (p *Params) rowBytes() int  { return (p.n - p.mt() + 7) / 8 }
func (p *Params) syndBytes() int { return (p.mt() + 7) / 8 }
func (p *Params) cbBytes() int   { return (2*p.m - 1) << (p.m - 1) >> 3 }
func (p *Params) words() int     { return (p.n + 63) / 64 }
func (p *Params) eBytes() int    { return p.n / 8 }
func (p *Params) skGoppa() int   { return 40 }
func (p *Params) skControl() int { return 40 + 2*p.t }
func (p *Params) skS() int       { return p.skControl() + p.cbBytes() }

// tau is the number of 16-bit samples FixedWeight draws per attempt: 2t
// when n < q (samples ≥ n are skipped), t when n = q.
func (p *Params) tau() int {
	if p.n < p.q() {
		return 2 * p.t
	}
	return p.t
}

// PublicKeySize returns the size of an encoded public key: mt·⌈(n−mt)/8⌉.
func (p *Params) PublicKeySize() int { return p.mt() * p.rowBytes() }

// PrivateKeySize returns the size of an encoded private key:
// 40 + 2t + (2m−1)·2^(m−1)/8 + n/8.
func (p *Params) PrivateKeySize() int { return p.skS() + p.eBytes() }

// CiphertextSize returns the size of a ciphertext: ⌈mt/8⌉ + 32.
func (p *Params) CiphertextSize() int { return p.syndBytes() + 32 }

// SharedSecretSize returns 32.
func (p *Params) SharedSecretSize() int { return SharedSecretSize }

// String returns the set's name.
func (p *Params) String() string { return p.name }

// readFull draws exactly len(b) bytes from r.
func readFull(r io.Reader, b []byte) error {
	if r == nil {
		return errors.Join(ErrRandom, errors.New("nil random source"))
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return errors.Join(ErrRandom, err)
	}
	return nil
}
