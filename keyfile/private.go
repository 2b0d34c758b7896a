package keyfile

import (
	"encoding/binary"
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// Offsets in a .qskey file (digest 9.3).
const (
	cfgNameLen    = suite.ConfigSize - 1 // 33 characters before the NUL
	offExpiration = suite.ConfigSize     // 34
	offKeyID      = offExpiration + 8    // 42
	offSigningKey = offKeyID + KeyIDSize // 58
	privateFixed  = offSigningKey        // bytes before the signing key
)

// MarshalBinary returns the key's .qskey file: cfg(34, NUL included) ‖
// LE64(expiration) ‖ keyid(16) ‖ signing key ‖ verification key. The result
// holds the secret key; zero it when done. It does not check the key (a key
// from Generate or ParsePrivate is always valid); WritePrivateFile does, and
// a key without a suite gets an all-zero configuration that no parser
// accepts.
func (k *PrivateKey) MarshalBinary() []byte {
	var cfg [suite.ConfigSize]byte
	if k.Suite != nil {
		cfg = k.Suite.Wire()
	}
	out := make([]byte, 0, privateFixed+len(k.SigningKey)+len(k.VerifyKey))
	out = append(out, cfg[:]...)
	out = binary.LittleEndian.AppendUint64(out, k.Expiration)
	out = append(out, k.KeyID[:]...)
	out = append(out, k.SigningKey...)
	return append(out, k.VerifyKey...)
}

// ParsePrivate decodes a .qskey file. The configuration must be a known
// 33-character string with its NUL, and the length must be exactly that of
// the configuration's keys. The result has no Variant (the format does not
// record it); set it before writing the public half as text. The input is
// copied: the caller should zero b. Errors wrap ErrMalformed, or
// ErrUnknownConfig.
func ParsePrivate(b []byte) (*PrivateKey, error) {
	if len(b) > maxPrivate {
		return nil, fmt.Errorf("%w: %d bytes, more than any private key file", ErrMalformed, len(b))
	}
	if len(b) < privateFixed {
		return nil, fmt.Errorf("%w: private key file of %d bytes is truncated", ErrMalformed, len(b))
	}
	if b[cfgNameLen] != 0 {
		return nil, fmt.Errorf("%w: configuration not terminated by NUL at byte %d", ErrMalformed, cfgNameLen)
	}
	s, err := suite.Lookup(string(b[:cfgNameLen]))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownConfig, err)
	}
	if want := PrivateSize(s); len(b) != want {
		return nil, fmt.Errorf("%w: private key file of %d bytes, want %d for %s", ErrMalformed, len(b), want, s.Name)
	}
	k := &PrivateKey{PublicKey: PublicKey{
		Suite:      s,
		Expiration: binary.LittleEndian.Uint64(b[offExpiration:]),
	}}
	copy(k.KeyID[:], b[offKeyID:])
	rest := b[offSigningKey:]
	k.SigningKey = append([]byte(nil), rest[:s.SigPrivateKeySize]...)
	k.VerifyKey = append([]byte(nil), rest[s.SigPrivateKeySize:]...)
	return k, nil
}
