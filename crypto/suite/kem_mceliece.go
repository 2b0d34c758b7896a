package suite

import (
	"errors"
	"fmt"
	"io"

	"github.com/qsmp-go/qsmp/crypto/mceliece"
)

// mcelieceKEM adapts crypto/mceliece (Classic McEliece, NIST round-3 format,
// digest 3.4) to the KEM interface.
//
// Key generation draws one 32-byte seed and encapsulation one FixedWeight
// block per attempt, exactly as the C implementation does. Decapsulation
// uses implicit rejection: a ciphertext that does not decode gives
// SHAKE-256(0x00 ‖ s ‖ C)[:32], not an error (QSC's function returns false
// in that case, with the same secret). For McEliece-6960119 a public key or
// ciphertext with nonzero padding bits is malformed (ErrKeySize or
// ErrCiphertextSize).
type mcelieceKEM struct {
	name string
	p    *mceliece.Params
}

func init() {
	registerKEM(mcelieceKEM{"McEliece-348864", mceliece.MC348864})
	registerKEM(mcelieceKEM{"McEliece-460896", mceliece.MC460896})
	registerKEM(mcelieceKEM{"McEliece-6688128", mceliece.MC6688128})
	registerKEM(mcelieceKEM{"McEliece-6960119", mceliece.MC6960119})
	registerKEM(mcelieceKEM{"McEliece-8192128", mceliece.MC8192128})
}

func (m mcelieceKEM) Name() string        { return m.name }
func (m mcelieceKEM) PublicKeySize() int  { return m.p.PublicKeySize() }
func (m mcelieceKEM) PrivateKeySize() int { return m.p.PrivateKeySize() }
func (m mcelieceKEM) CiphertextSize() int { return m.p.CiphertextSize() }

// mcelieceError maps the package's errors onto this package's sentinels,
// keeping the original in the chain.
func mcelieceError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mceliece.ErrRandom):
		return fmt.Errorf("%w: %s: %w", ErrRandom, name, err)
	case errors.Is(err, mceliece.ErrPublicKey), errors.Is(err, mceliece.ErrPrivateKey):
		return fmt.Errorf("%w: %s: %w", ErrKeySize, name, err)
	case errors.Is(err, mceliece.ErrCiphertext):
		return fmt.Errorf("%w: %s: %w", ErrCiphertextSize, name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func (m mcelieceKEM) GenerateKey(rand io.Reader) (pk, sk []byte, err error) {
	pk, sk, err = m.p.GenerateKey(rand)
	return pk, sk, mcelieceError(m.name, err)
}

// Encapsulate checks the public key's length before drawing anything.
func (m mcelieceKEM) Encapsulate(rand io.Reader, pk []byte) (ct, ss []byte, err error) {
	ct, ss, err = m.p.Encapsulate(rand, pk)
	return ct, ss, mcelieceError(m.name, err)
}

func (m mcelieceKEM) Decapsulate(sk, ct []byte) ([]byte, error) {
	ss, err := m.p.Decapsulate(sk, ct)
	return ss, mcelieceError(m.name, err)
}
