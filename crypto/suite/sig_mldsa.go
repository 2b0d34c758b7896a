package suite

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
)

// mldsa adapts circl's FIPS 204 ML-DSA to the Signer interface: pure mode,
// empty context (the signed message is 0x00 ‖ 0x00 ‖ M), deterministic
// signing as QSC builds it, and key generation from one 32-byte draw ξ.
type mldsa struct{ s sign.Scheme }

func init() {
	registerSigner(mldsa{mldsa44.Scheme()})
	registerSigner(mldsa{mldsa65.Scheme()})
	registerSigner(mldsa{mldsa87.Scheme()})
}

func (m mldsa) Name() string        { return m.s.Name() }
func (m mldsa) PublicKeySize() int  { return m.s.PublicKeySize() }
func (m mldsa) PrivateKeySize() int { return m.s.PrivateKeySize() }
func (m mldsa) SignatureSize() int  { return m.s.SignatureSize() }

func (m mldsa) GenerateKey(rand io.Reader) (pk, sk []byte, err error) {
	seed := make([]byte, m.s.SeedSize())
	defer clear(seed)
	if err := readFull(rand, seed); err != nil {
		return nil, nil, err
	}
	pub, priv := m.s.DeriveKey(seed)
	return marshalPair(m.Name(), pub, priv)
}

// Sign is deterministic and reads nothing from rand.
func (m mldsa) Sign(_ io.Reader, sk, msg []byte) ([]byte, error) {
	if len(sk) != m.s.PrivateKeySize() {
		return nil, fmt.Errorf("%w: %s private key of %d bytes", ErrKeySize, m.Name(), len(sk))
	}
	priv, err := m.s.UnmarshalBinaryPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeySize, m.Name(), err)
	}
	sig := m.s.Sign(priv, msg, nil)
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}

func (m mldsa) Open(pk, signedMsg []byte) ([]byte, error) {
	if len(pk) != m.s.PublicKeySize() {
		return nil, fmt.Errorf("%w: %s public key of %d bytes", ErrKeySize, m.Name(), len(pk))
	}
	n := m.s.SignatureSize()
	if len(signedMsg) < n {
		return nil, fmt.Errorf("%w: %s signed message of %d bytes", ErrVerify, m.Name(), len(signedMsg))
	}
	pub, err := m.s.UnmarshalBinaryPublicKey(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeySize, m.Name(), err)
	}
	if !m.s.Verify(pub, signedMsg[n:], signedMsg[:n], nil) {
		return nil, fmt.Errorf("%w: %s", ErrVerify, m.Name())
	}
	return signedMsg[n:], nil
}
