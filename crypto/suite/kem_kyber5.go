package suite

import (
	"errors"
	"fmt"
	"io"

	"github.com/qsmp-go/qsmp/crypto/kyber"
)

// kyber5 adapts crypto/kyber's rank-5 Kyber ("kyber-s6", QSC's S6K5P1280) to
// the KEM interface.
//
// Key generation draws one 64-byte value d ‖ z and encapsulation one 32-byte
// value m, as the C implementation does. A malformed encapsulation key (wrong
// length, or a coefficient not below q) is rejected before anything is drawn.
// On a tampered ciphertext, decapsulation returns QSC's rejection secret
// SHAKE-256(z ‖ c′) over the re-encrypted ciphertext c′, byte for byte as the
// C implementation does (see the crypto/kyber package comment). A private key
// whose stored H(ek) does not match its ek gives an error wrapping both
// ErrKeySize and ErrDecapsulate: QSC's decapsulation returns false there.
type kyber5 struct{}

func init() { registerKEM(kyber5{}) }

func (kyber5) Name() string        { return "Kyber-K5" }
func (kyber5) PublicKeySize() int  { return kyber.K5.PublicKeySize() }
func (kyber5) PrivateKeySize() int { return kyber.K5.PrivateKeySize() }
func (kyber5) CiphertextSize() int { return kyber.K5.CiphertextSize() }

func (k kyber5) GenerateKey(rand io.Reader) (pk, sk []byte, err error) {
	seed := make([]byte, kyber.SeedSize)
	defer clear(seed)
	if err := readFull(rand, seed); err != nil {
		return nil, nil, err
	}
	pk, sk, err = kyber.K5.NewKeyFromSeed(seed)
	if err != nil {
		return nil, nil, fmt.Errorf("suite: %s: %w", k.Name(), err)
	}
	return pk, sk, nil
}

func (k kyber5) Encapsulate(rand io.Reader, pk []byte) (ct, ss []byte, err error) {
	if err := kyber.K5.CheckPublicKey(pk); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrKeySize, k.Name(), err)
	}
	m := make([]byte, kyber.MessageSize)
	defer clear(m)
	if err := readFull(rand, m); err != nil {
		return nil, nil, err
	}
	ct, ss, err = kyber.K5.EncapsulateDeterministic(pk, m)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrKeySize, k.Name(), err)
	}
	return ct, ss, nil
}

func (k kyber5) Decapsulate(sk, ct []byte) ([]byte, error) {
	ss, err := kyber.K5.Decapsulate(sk, ct)
	switch {
	case err == nil:
		return ss, nil
	case errors.Is(err, kyber.ErrCiphertextSize):
		return nil, fmt.Errorf("%w: %s: %w", ErrCiphertextSize, k.Name(), err)
	case errors.Is(err, kyber.ErrPrivateKeyHash):
		return nil, fmt.Errorf("%w: %w: %s: %w", ErrDecapsulate, ErrKeySize, k.Name(), err)
	default:
		return nil, fmt.Errorf("%w: %s: %w", ErrKeySize, k.Name(), err)
	}
}
