package suite

import (
	"bytes"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/slhdsa"
)

// slhDSA adapts circl's FIPS 205 SLH-DSA to the Signer interface for the
// three SHAKE "small" parameter sets that QSMP names sphincs+-s1s/s3s/s5s
// (digest 3.4, 4.4):
//
//   - pure mode with an empty context, so the message actually signed is
//     M′ = 0x00 ‖ 0x00 ‖ M;
//   - key generation from one 3n-byte draw SK.seed ‖ SK.prf ‖ PK.seed;
//   - randomized (hedged) signing from one n-byte draw of opt_rand;
//   - public key PK.seed ‖ PK.root (2n bytes), private key
//     SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root (4n bytes, as .qskey files store it);
//   - signed message signature ‖ message.
//
// Signing is slow: with circl v1.6.5 one signature costs about a second of
// CPU time on one core (roughly 1.0 s for 128s, 1.6 s for 192s, 1.4 s for
// 256s; key generation 0.1 to 0.2 s; verification 1 to 2 ms). Callers such as
// a server must not block other sessions while signing: sign in the session's
// own goroutine, never under a lock or on an event loop shared with other
// sessions, and bound how many handshakes may sign at once.
//
// circl keeps its own copies of the key seeds inside its key values, which
// this adapter cannot wipe; the adapter wipes the buffers it owns.
type slhDSA struct {
	id   slhdsa.ID
	name string
	n    int // security parameter: bytes per seed and per hash value
	sig  int // signature size
}

func newSLHDSA(id slhdsa.ID, name string, n int) slhDSA {
	return slhDSA{id: id, name: name, n: n, sig: id.Scheme().SignatureSize()}
}

// The SLH-DSA parameter sets QSMP uses. The names equal SignatureName in the
// configuration table.
var (
	slhDSA128s = newSLHDSA(slhdsa.SHAKE_128s, "SLH-DSA-SHAKE-128s", 16)
	slhDSA192s = newSLHDSA(slhdsa.SHAKE_192s, "SLH-DSA-SHAKE-192s", 24)
	slhDSA256s = newSLHDSA(slhdsa.SHAKE_256s, "SLH-DSA-SHAKE-256s", 32)
)

func init() {
	registerSigner(slhDSA128s)
	registerSigner(slhDSA192s)
	registerSigner(slhDSA256s)
}

func (s slhDSA) Name() string        { return s.name }
func (s slhDSA) PublicKeySize() int  { return 2 * s.n }
func (s slhDSA) PrivateKeySize() int { return 4 * s.n }
func (s slhDSA) SignatureSize() int  { return s.sig }

// GenerateKey reads exactly 3n bytes (SK.seed ‖ SK.prf ‖ PK.seed) from rand in
// one call of io.ReadFull and derives the key pair from them.
func (s slhDSA) GenerateKey(rand io.Reader) (pk, sk []byte, err error) {
	seed := make([]byte, 3*s.n)
	defer clear(seed)
	if err := readFull(rand, seed); err != nil {
		return nil, nil, err
	}
	pub, priv, err := slhdsa.GenerateKey(bytes.NewReader(seed), s.id)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrRandom, s.name, err)
	}
	return marshalPair(s.name, pub, priv)
}

// Sign reads exactly n bytes of opt_rand from rand (after checking the key)
// and returns signature ‖ msg. It takes tenths of a second to seconds; see the
// type's documentation.
func (s slhDSA) Sign(rand io.Reader, sk, msg []byte) ([]byte, error) {
	if len(sk) != s.PrivateKeySize() {
		return nil, fmt.Errorf("%w: %s private key of %d bytes", ErrKeySize, s.name, len(sk))
	}
	priv := slhdsa.PrivateKey{ID: s.id}
	if err := priv.UnmarshalBinary(sk); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeySize, s.name, err)
	}
	optRand := make([]byte, s.n)
	defer clear(optRand)
	if err := readFull(rand, optRand); err != nil {
		return nil, err
	}
	sig, err := slhdsa.SignRandomized(&priv, bytes.NewReader(optRand), slhdsa.NewMessage(msg), nil)
	if err != nil {
		return nil, fmt.Errorf("suite: %s: signing: %w", s.name, err)
	}
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}

// Open checks the first SignatureSize bytes of signedMsg as a signature over
// the rest and returns the rest (a subslice of signedMsg).
func (s slhDSA) Open(pk, signedMsg []byte) ([]byte, error) {
	if len(pk) != s.PublicKeySize() {
		return nil, fmt.Errorf("%w: %s public key of %d bytes", ErrKeySize, s.name, len(pk))
	}
	n := s.SignatureSize()
	if len(signedMsg) < n {
		return nil, fmt.Errorf("%w: %s signed message of %d bytes", ErrVerify, s.name, len(signedMsg))
	}
	pub := slhdsa.PublicKey{ID: s.id}
	if err := pub.UnmarshalBinary(pk); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeySize, s.name, err)
	}
	if !slhdsa.Verify(&pub, slhdsa.NewMessage(signedMsg[n:]), signedMsg[:n], nil) {
		return nil, fmt.Errorf("%w: %s", ErrVerify, s.name)
	}
	return signedMsg[n:], nil
}
