package suite

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
)

// mlkem adapts circl's FIPS 203 ML-KEM to the KEM interface.
//
// Key generation draws one 64-byte value d ‖ z and encapsulation one 32-byte
// value m, as the C implementation does. Decapsulation keys use the FIPS 203
// expanded layout dk_PKE ‖ ek ‖ H(ek) ‖ z. On a tampered ciphertext circl
// returns FIPS 203's rejection secret J(z ‖ c) where QSC returns SHAKE-256 of
// z and the re-encrypted ciphertext; both are secrets the peer does not hold,
// so the wire behaviour (the peer's MAC check fails) is the same.
type mlkem struct{ s kem.Scheme }

func init() {
	registerKEM(mlkem{mlkem512.Scheme()})
	registerKEM(mlkem{mlkem768.Scheme()})
	registerKEM(mlkem{mlkem1024.Scheme()})
}

func (m mlkem) Name() string        { return m.s.Name() }
func (m mlkem) PublicKeySize() int  { return m.s.PublicKeySize() }
func (m mlkem) PrivateKeySize() int { return m.s.PrivateKeySize() }
func (m mlkem) CiphertextSize() int { return m.s.CiphertextSize() }

func (m mlkem) GenerateKey(rand io.Reader) (pk, sk []byte, err error) {
	seed := make([]byte, m.s.SeedSize())
	defer clear(seed)
	if err := readFull(rand, seed); err != nil {
		return nil, nil, err
	}
	pub, priv := m.s.DeriveKeyPair(seed)
	return marshalPair(m.Name(), pub, priv)
}

func (m mlkem) Encapsulate(rand io.Reader, pk []byte) (ct, ss []byte, err error) {
	if len(pk) != m.s.PublicKeySize() {
		return nil, nil, fmt.Errorf("%w: %s public key of %d bytes", ErrKeySize, m.Name(), len(pk))
	}
	pub, err := m.s.UnmarshalBinaryPublicKey(pk)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrKeySize, m.Name(), err)
	}
	seed := make([]byte, m.s.EncapsulationSeedSize())
	defer clear(seed)
	if err := readFull(rand, seed); err != nil {
		return nil, nil, err
	}
	return m.s.EncapsulateDeterministically(pub, seed)
}

func (m mlkem) Decapsulate(sk, ct []byte) ([]byte, error) {
	if len(sk) != m.s.PrivateKeySize() {
		return nil, fmt.Errorf("%w: %s private key of %d bytes", ErrKeySize, m.Name(), len(sk))
	}
	if len(ct) != m.s.CiphertextSize() {
		return nil, fmt.Errorf("%w: %s ciphertext of %d bytes", ErrCiphertextSize, m.Name(), len(ct))
	}
	priv, err := m.s.UnmarshalBinaryPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeySize, m.Name(), err)
	}
	return m.s.Decapsulate(priv, ct)
}
