package keyfile

import (
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
)

// HandshakeIdentity returns the key as the handshake machines take a peer's
// identity: key id, expiration and verification key.
func (k *PublicKey) HandshakeIdentity() handshake.Identity {
	return handshake.Identity{KeyID: k.KeyID, Expiration: k.Expiration, VerifyKey: k.VerifyKey}
}

// HandshakeIdentity returns the key as the handshake machines take the
// host's own identity, with its signing key.
func (k *PrivateKey) HandshakeIdentity() handshake.Identity {
	id := k.PublicKey.HandshakeIdentity()
	id.SigningKey = k.SigningKey
	return id
}

// AgreedSuite returns the configuration that the host's own key and the
// peer's key name; either may be nil, not both. It fails with
// ErrConfigMismatch when they name different configurations and with
// ErrInvalidKey when a key names none or no key is given.
func AgreedSuite(own *PrivateKey, peer *PublicKey) (*suite.Suite, error) {
	var s *suite.Suite
	keys := [2]*PublicKey{nil, peer}
	if own != nil {
		keys[0] = &own.PublicKey
	}
	for _, k := range keys {
		if k == nil {
			continue
		}
		if k.Suite == nil {
			return nil, fmt.Errorf("%w: key without a configuration", ErrInvalidKey)
		}
		if s != nil && s != k.Suite {
			return nil, fmt.Errorf("%w: own key is %s, peer key is %s", ErrConfigMismatch, s.Name, k.Suite.Name)
		}
		s = k.Suite
	}
	if s == nil {
		return nil, fmt.Errorf("%w: no key given", ErrInvalidKey)
	}
	return s, nil
}
