// Package kyber implements the ML-KEM key-encapsulation mechanism of FIPS 203,
// generic over the module rank k, including the non-standard rank k = 5 that
// QSMP calls "kyber-s6" (QSC's S6K5P1280).
//
// The algorithm is FIPS 203 ML-KEM.KeyGen_internal, Encaps_internal and
// Decaps_internal, written from the standard, with one deliberate deviation
// taken from the C implementation QSMP interoperates with (QSC):
//
//   - Implicit rejection. When the re-encryption check of decapsulation fails,
//     FIPS 203 returns J(z ‖ c) = SHAKE-256(z ‖ c)[:32] over the RECEIVED
//     ciphertext c. This package returns SHAKE-256(z ‖ c′)[:32] over the
//     RE-ENCRYPTED ciphertext c′ = K-PKE.Encrypt(ek, m′, r′), as QSC does for
//     every rank. For valid ciphertexts the result is the FIPS 203 one; for
//     invalid ones both values are pseudo-random secrets the sender does not
//     hold, so only the exact bytes differ (the vectors in kyber_k5.json give
//     both values and match the c′ rule).
//
// The key-generation domain byte is k, as in FIPS 203: (ρ, σ) = G(d ‖ byte(k)),
// so K5 uses G(d ‖ 0x05). Keys use the FIPS 203 layouts: the encapsulation key
// is ByteEncode12(t̂) ‖ ρ and the decapsulation key is dk_PKE ‖ ek ‖ H(ek) ‖ z.
// With K2, K3 and K4 the package is exactly ML-KEM-512, -768 and -1024 except
// for the rejection value above.
//
// Input checks follow FIPS 203 sections 7.2 and 7.3: encapsulation rejects an
// encapsulation key of the wrong length or with an encoded coefficient not
// below q (ErrPublicKeyModulus, as the 2026 QSC does), and decapsulation
// rejects a decapsulation key whose stored H(ek) does not match its ek
// (ErrPrivateKeyHash; QSC's decapsulation returns false there). A ciphertext
// that fails re-encryption is never an error: it yields the rejection secret.
//
// Randomness is passed explicitly (d ‖ z for key generation, m for
// encapsulation), so callers decide where it comes from. All operations on
// secret data are free of secret-dependent branches and memory indices, the
// re-encryption check uses a constant-time comparison and selection, and
// intermediate secrets are cleared before returning. The Params methods keep
// no state between calls and are safe for concurrent use.
package kyber

import (
	"crypto/sha3"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Sizes shared by every parameter set.
const (
	// SeedSize is the size of the key-generation seed d ‖ z.
	SeedSize = 64
	// MessageSize is the size of the encapsulation randomness m.
	MessageSize = 32
	// SharedKeySize is the size of the shared secret.
	SharedKeySize = 32
)

// maxK is the largest rank the arithmetic admits: basemulAcc sums up to
// maxK products of at most q^2 each below Montgomery reduction's bound q·2^15.
const maxK = 8

// Errors returned by this package; returned errors wrap them.
var (
	// ErrParams reports a Params value outside the supported range.
	ErrParams = errors.New("kyber: unsupported parameters")
	// ErrSeedSize reports a key-generation seed that is not SeedSize bytes.
	ErrSeedSize = errors.New("kyber: seed must be 64 bytes")
	// ErrMessageSize reports encapsulation randomness that is not MessageSize bytes.
	ErrMessageSize = errors.New("kyber: encapsulation randomness must be 32 bytes")
	// ErrPublicKeySize reports an encapsulation key of the wrong length.
	ErrPublicKeySize = errors.New("kyber: wrong encapsulation key size")
	// ErrPublicKeyModulus reports an encapsulation key holding a coefficient
	// that is not below q (the FIPS 203 section 7.2 modulus check).
	ErrPublicKeyModulus = errors.New("kyber: encapsulation key coefficient not below q")
	// ErrPrivateKeySize reports a decapsulation key of the wrong length.
	ErrPrivateKeySize = errors.New("kyber: wrong decapsulation key size")
	// ErrPrivateKeyHash reports a decapsulation key whose stored H(ek) does
	// not match its ek (the FIPS 203 section 7.3 hash check).
	ErrPrivateKeyHash = errors.New("kyber: decapsulation key hash check failed")
	// ErrCiphertextSize reports a ciphertext of the wrong length.
	ErrCiphertextSize = errors.New("kyber: wrong ciphertext size")
)

// Params is an ML-KEM parameter set (FIPS 203 section 8). The field values
// must satisfy 1 <= K <= 8, Eta1 and Eta2 in {2, 3}, 1 <= DU, DV <= 11;
// methods given other values return ErrParams.
type Params struct {
	// Name names the set, for messages.
	Name string
	// K is the module rank.
	K int
	// Eta1 and Eta2 are the centred-binomial parameters of the secret and
	// error distributions.
	Eta1, Eta2 int
	// DU and DV are the ciphertext compression widths in bits.
	DU, DV int
}

// The parameter sets. K2, K3 and K4 are ML-KEM-512, ML-KEM-768 and
// ML-KEM-1024; K5 is QSC's non-standard rank-5 set.
var (
	K2 = Params{Name: "ML-KEM-512", K: 2, Eta1: 3, Eta2: 2, DU: 10, DV: 4}
	K3 = Params{Name: "ML-KEM-768", K: 3, Eta1: 2, Eta2: 2, DU: 10, DV: 4}
	K4 = Params{Name: "ML-KEM-1024", K: 4, Eta1: 2, Eta2: 2, DU: 11, DV: 5}
	K5 = Params{Name: "Kyber-K5", K: 5, Eta1: 2, Eta2: 2, DU: 11, DV: 5}
)

// PublicKeySize is the encapsulation key size, 384·K + 32 (1952 for K5).
func (p *Params) PublicKeySize() int { return 384*p.K + 32 }

// PrivateKeySize is the decapsulation key size, 768·K + 96 (3936 for K5).
func (p *Params) PrivateKeySize() int { return 768*p.K + 96 }

// CiphertextSize is the ciphertext size, 32·(DU·K + DV) (1920 for K5).
func (p *Params) CiphertextSize() int { return 32 * (p.DU*p.K + p.DV) }

func (p *Params) check() error {
	if p == nil {
		return fmt.Errorf("%w: nil", ErrParams)
	}
	okEta := func(e int) bool { return e == 2 || e == 3 }
	if p.K < 1 || p.K > maxK || !okEta(p.Eta1) || !okEta(p.Eta2) ||
		p.DU < 1 || p.DU > 11 || p.DV < 1 || p.DV > 11 {
		return fmt.Errorf("%w: k=%d eta1=%d eta2=%d du=%d dv=%d", ErrParams, p.K, p.Eta1, p.Eta2, p.DU, p.DV)
	}
	return nil
}

// NewKeyFromSeed derives a key pair from the 64-byte seed d ‖ z
// (ML-KEM.KeyGen_internal, FIPS 203 Algorithm 16) and returns the encoded
// encapsulation key pk and decapsulation key sk.
func (p *Params) NewKeyFromSeed(dz []byte) (pk, sk []byte, err error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if len(dz) != SeedSize {
		return nil, nil, fmt.Errorf("%w: got %d bytes", ErrSeedSize, len(dz))
	}
	k := p.K
	pk = make([]byte, p.PublicKeySize())
	sk = make([]byte, p.PrivateKeySize())
	w := newWork(k)
	defer w.wipe()
	w.keyGen(p, pk, sk[:384*k], dz[:32])
	copy(sk[384*k:], pk)
	h := sha3.Sum256(pk)
	copy(sk[768*k+32:], h[:])
	copy(sk[768*k+64:], dz[32:])
	return pk, sk, nil
}

// CheckPublicKey applies the encapsulation-key checks of FIPS 203 section
// 7.2 to pk: its length (ErrPublicKeySize) and the modulus check, every
// encoded coefficient below q (ErrPublicKeyModulus). EncapsulateDeterministic
// applies the same checks.
func (p *Params) CheckPublicKey(pk []byte) error {
	if err := p.check(); err != nil {
		return err
	}
	if len(pk) != p.PublicKeySize() {
		return fmt.Errorf("%w: got %d bytes, want %d", ErrPublicKeySize, len(pk), p.PublicKeySize())
	}
	var f poly
	for i := range p.K {
		if !decode12(&f, pk[384*i:]) {
			return ErrPublicKeyModulus
		}
	}
	return nil
}

// EncapsulateDeterministic encapsulates to pk with the 32-byte randomness m
// (ML-KEM.Encaps_internal, FIPS 203 Algorithm 17) after the input checks of
// FIPS 203 section 7.2, and returns the ciphertext and the shared secret.
func (p *Params) EncapsulateDeterministic(pk, m []byte) (ct, ss []byte, err error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if len(pk) != p.PublicKeySize() {
		return nil, nil, fmt.Errorf("%w: got %d bytes, want %d", ErrPublicKeySize, len(pk), p.PublicKeySize())
	}
	if len(m) != MessageSize {
		return nil, nil, fmt.Errorf("%w: got %d bytes", ErrMessageSize, len(m))
	}
	w := newWork(p.K)
	defer w.wipe()
	if !w.loadPublicKey(pk) {
		return nil, nil, ErrPublicKeyModulus
	}
	// (K, r) = G(m ‖ H(ek))
	var in [64]byte
	copy(in[:32], m)
	h := sha3.Sum256(pk)
	copy(in[32:], h[:])
	g := sha3.Sum512(in[:])
	clear(in[:])
	ct = make([]byte, p.CiphertextSize())
	w.encrypt(p, ct, pk[384*p.K:], m, g[32:])
	ss = make([]byte, SharedKeySize)
	copy(ss, g[:32])
	clear(g[:])
	return ct, ss, nil
}

// Decapsulate recovers the shared secret from ct with sk
// (ML-KEM.Decaps_internal, FIPS 203 Algorithm 18, with QSC's rejection value
// described in the package comment) after the input checks of FIPS 203
// section 7.3. A ciphertext that fails the re-encryption check is not an
// error: the result is then the pseudo-random rejection secret.
func (p *Params) Decapsulate(sk, ct []byte) (ss []byte, err error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	k := p.K
	if len(sk) != p.PrivateKeySize() {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrPrivateKeySize, len(sk), p.PrivateKeySize())
	}
	if len(ct) != p.CiphertextSize() {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrCiphertextSize, len(ct), p.CiphertextSize())
	}
	dkPKE := sk[:384*k]
	ek := sk[384*k : 768*k+32]
	h := sk[768*k+32 : 768*k+64]
	z := sk[768*k+64:]
	if hh := sha3.Sum256(ek); subtle.ConstantTimeCompare(hh[:], h) != 1 {
		return nil, ErrPrivateKeyHash
	}

	w := newWork(k)
	defer w.wipe()
	var in [64]byte // m′ ‖ h
	w.decrypt(p, in[:32], dkPKE, ct)
	copy(in[32:], h)
	g := sha3.Sum512(in[:]) // (K′, r′)

	// Re-encrypt. The ek inside sk is decoded mod q as FIPS 203 specifies;
	// decapsulation does not apply the encapsulation-key modulus check.
	w.loadPublicKey(ek)
	ct2 := make([]byte, len(ct))
	w.encrypt(p, ct2, ek[384*k:], in[:32], g[32:])
	clear(in[:])

	// QSC's rejection secret: SHAKE-256(z ‖ c′), c′ the re-encryption.
	var reject [SharedKeySize]byte
	j := sha3.NewSHAKE256()
	j.Write(z)
	j.Write(ct2)
	j.Read(reject[:])
	j.Reset() // the sponge held z

	ss = make([]byte, SharedKeySize)
	copy(ss, g[:32])
	equal := subtle.ConstantTimeCompare(ct, ct2)
	subtle.ConstantTimeCopy(1-equal, ss, reject[:])
	clear(g[:])
	clear(reject[:])
	clear(ct2)
	return ss, nil
}
