// Package suite maps QSMP configuration strings to their key-encapsulation and
// signature schemes (digest section 3).
//
// A configuration is never negotiated: both hosts hold one fixed 34-byte string
// (33 ASCII characters and a NUL, which is sent and hashed). Each Suite names
// its KEM and signature scheme with every size the protocol needs. Schemes take
// their randomness explicitly as an io.Reader and draw from it exactly as the
// C implementation draws from its generator, so handshakes can be replayed
// byte for byte against the known answers.
package suite

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
)

// ConfigSize is the size of a configuration string on the wire, NUL included.
const ConfigSize = 34

// Errors returned by this package. Scheme errors wrap them so that callers
// can test with errors.Is.
var (
	// ErrUnknownConfig reports a configuration string that is not in digest table 3.2.
	ErrUnknownConfig = errors.New("suite: unknown configuration string")
	// ErrNotImplemented reports a known configuration whose primitives are not built yet.
	ErrNotImplemented = errors.New("suite: configuration not implemented yet")
	// ErrKeySize reports a public or private key of the wrong length or encoding.
	ErrKeySize = errors.New("suite: malformed key")
	// ErrCiphertextSize reports a KEM ciphertext of the wrong length.
	ErrCiphertextSize = errors.New("suite: malformed ciphertext")
	// ErrVerify reports a signature that does not verify.
	ErrVerify = errors.New("suite: signature verification failed")
	// ErrDecapsulate reports a decapsulation that the scheme rejects outright.
	ErrDecapsulate = errors.New("suite: decapsulation failed")
	// ErrRandom reports a random source that could not supply enough bytes.
	ErrRandom = errors.New("suite: random source failed")
)

// KEM is a key-encapsulation mechanism as QSMP uses it (digest 4.5). Shared
// secrets are always 32 bytes.
type KEM interface {
	// Name is the scheme's name, such as "ML-KEM-1024".
	Name() string
	// PublicKeySize is the encapsulation key size EK.
	PublicKeySize() int
	// PrivateKeySize is the decapsulation key size.
	PrivateKeySize() int
	// CiphertextSize is CT.
	CiphertextSize() int
	// GenerateKey draws from rand exactly as the C implementation does and
	// returns the encoded encapsulation and decapsulation keys.
	GenerateKey(rand io.Reader) (pk, sk []byte, err error)
	// Encapsulate draws from rand exactly as the C implementation does and
	// returns the ciphertext and the 32-byte shared secret.
	Encapsulate(rand io.Reader, pk []byte) (ct, ss []byte, err error)
	// Decapsulate returns the 32-byte shared secret. Schemes with implicit
	// rejection return a pseudo-random secret for a tampered ciphertext
	// rather than an error.
	Decapsulate(sk, ct []byte) (ss []byte, err error)
}

// Signer is a signature scheme as QSMP uses it (digest 4.4): pure mode, empty
// context, and the signed-message layout signature ‖ message.
type Signer interface {
	// Name is the scheme's name, such as "ML-DSA-87".
	Name() string
	// PublicKeySize is the verification key size.
	PublicKeySize() int
	// PrivateKeySize is the signing key size as stored in .qskey files.
	PrivateKeySize() int
	// SignatureSize is SIG.
	SignatureSize() int
	// GenerateKey draws from rand exactly as the C implementation does.
	GenerateKey(rand io.Reader) (pk, sk []byte, err error)
	// Sign returns signature ‖ msg. Deterministic schemes read nothing from
	// rand; randomized ones draw exactly as the C implementation does.
	Sign(rand io.Reader, sk, msg []byte) ([]byte, error)
	// Open checks a signed message (signature ‖ message) against pk and
	// returns the message. A bad signature gives an error wrapping ErrVerify.
	Open(pk, signedMsg []byte) ([]byte, error)
}

// Suite is one configuration: the string and its two schemes.
type Suite struct {
	// Name is the 33-character configuration string, without the NUL.
	Name string
	// SignatureName and KEMName name the primitives (for messages and docs).
	SignatureName, KEMName string
	// Sizes of the primitives (digest 3.3), known even when not implemented.
	SigPublicKeySize, SigPrivateKeySize, SignatureSize  int
	KEMPublicKeySize, KEMPrivateKeySize, CiphertextSize int
}

// Wire returns the 34 bytes that travel on the wire: the name and a NUL. A
// nil Suite gives 34 zero bytes, which FromWire rejects.
func (s *Suite) Wire() [ConfigSize]byte {
	var w [ConfigSize]byte
	if s != nil {
		copy(w[:ConfigSize-1], s.Name)
	}
	return w
}

// errNilSuite is the error of a method called on a nil *Suite (such as the
// result of a failed Lookup whose error was ignored).
var errNilSuite = fmt.Errorf("%w: nil *Suite", ErrUnknownConfig)

// KEM returns the configuration's key-encapsulation mechanism, or an error
// wrapping ErrNotImplemented (ErrUnknownConfig for a nil Suite).
func (s *Suite) KEM() (KEM, error) {
	if s == nil {
		return nil, errNilSuite
	}
	k, ok := kems[s.KEMName]
	if !ok {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotImplemented, s.Name, s.KEMName)
	}
	return k, nil
}

// Signer returns the configuration's signature scheme, or an error wrapping
// ErrNotImplemented (ErrUnknownConfig for a nil Suite).
func (s *Suite) Signer() (Signer, error) {
	if s == nil {
		return nil, errNilSuite
	}
	v, ok := signers[s.SignatureName]
	if !ok {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotImplemented, s.Name, s.SignatureName)
	}
	return v, nil
}

// kems and signers hold the implemented primitives by name. Each primitive's
// file registers itself from init, so adding a primitive touches no table.
var (
	kems    = map[string]KEM{}
	signers = map[string]Signer{}
)

func registerKEM(k KEM)       { kems[k.Name()] = k }
func registerSigner(v Signer) { signers[v.Name()] = v }

// Implemented reports whether both primitives of the configuration are built.
func (s *Suite) Implemented() bool {
	if _, err := s.KEM(); err != nil {
		return false
	}
	_, err := s.Signer()
	return err == nil
}

// String returns the configuration name ("<nil>" for a nil Suite).
func (s *Suite) String() string {
	if s == nil {
		return "<nil>"
	}
	return s.Name
}

// Lookup returns the suite of a configuration string. The name may be given
// with or without its terminating NUL.
func Lookup(name string) (*Suite, error) {
	if n := len(name); n == ConfigSize && name[n-1] == 0 {
		name = name[:n-1]
	}
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownConfig, name)
}

// FromWire returns the suite of the 34 wire bytes of a configuration string.
func FromWire(b []byte) (*Suite, error) {
	if len(b) != ConfigSize || b[ConfigSize-1] != 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrUnknownConfig, len(b))
	}
	return Lookup(string(bytes.TrimRight(b, "\x00")))
}

// All returns every configuration of digest table 3.2, in its order.
func All() []*Suite {
	out := make([]*Suite, len(all))
	copy(out, all)
	return out
}

// Default is the configuration used when none is given: the in-memory demo
// default of DESIGN.md section 6.
const Default = "dilithium-s3_kyber-s3_sha3_rcs256"

// marshalPair encodes a generated key pair; name labels the errors.
func marshalPair(name string, pub, priv encoding.BinaryMarshaler) (pk, sk []byte, err error) {
	if pk, err = pub.MarshalBinary(); err != nil {
		return nil, nil, fmt.Errorf("suite: %s: encoding public key: %w", name, err)
	}
	if sk, err = priv.MarshalBinary(); err != nil {
		clear(pk)
		return nil, nil, fmt.Errorf("suite: %s: encoding private key: %w", name, err)
	}
	return pk, sk, nil
}

// readFull draws exactly len(b) bytes from r.
func readFull(r io.Reader, b []byte) error {
	if r == nil {
		return fmt.Errorf("%w: nil random source", ErrRandom)
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return nil
}
