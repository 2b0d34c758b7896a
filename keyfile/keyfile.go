// Package keyfile generates QSMP identity keys and reads and writes them in
// the C implementation's file formats (digest section 9).
//
// An identity key is a signature key pair of the configuration's signature
// scheme, a 16-byte random key id and an expiration time. Its public half is
// stored as a .qpkey text file and the whole key as a raw .qskey file; both
// are byte-compatible with the files the C programs write:
//
//   - .qpkey (digest 9.2): a "------BEGIN QSMS PUBLIC KEY BLOCK------" (or
//     QSMD) text block with LF line endings, the configuration, the key id in
//     lowercase hex, the expiration date, the verification key in base64 with
//     64 characters a line, and a footer. The C writer stores one byte more
//     than the text, so files end with a NUL; MarshalText writes it too and
//     ParsePublic accepts files with or without it.
//   - .qskey (digest 9.3): cfg(34, NUL included) ‖ LE64(expiration) ‖
//     keyid(16) ‖ signing key ‖ verification key, unencrypted. It says
//     nothing about QSMS or QSMD.
//
// # Time
//
// Expiration is a count of seconds on the QSMP clock. This package, like the
// rest of qsmp-go, uses true UTC seconds since the Unix epoch (DESIGN.md
// section 7), and it writes and reads the Expiration line of a .qpkey file in
// UTC. The C code shifts its clock by the host's standard-time offset and
// prints and parses the date in the host's local zone (digest 1.3, 9.2); on a
// C host whose zone is UTC both agree with this package exactly, which is how
// the known-answer key files were made.
//
// A key is valid while now ≤ expiration, as in the C code (digest 9.4).
//
// # Strict parsing
//
// The C decoder reads fixed offsets and does not check what it skips. The
// parsers here read the same fields at the same places but accept only what
// the C encoder writes: known header and footer lines, a known configuration,
// 32 lowercase hex digits, a valid date, and exactly the base64 text of a
// verification key of the configuration's size, wrapped as the C encoder
// wraps it. Anything else (truncation, CRLF line endings, extra bytes, wrong
// lengths) is an error wrapping ErrMalformed or ErrUnknownConfig. As a
// consequence every accepted file re-serializes to the same bytes.
//
// Parsing needs only the sizes in the suite table, so keys of all fourteen
// configurations can be read and written whether or not the signature scheme
// is implemented; Generate and CheckPair need the scheme.
package keyfile

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// KeyIDSize is the size of a key id (digest 9.1).
const KeyIDSize = 16

// DefaultLifetime is the lifetime of a generated key: 365 days, the C
// constant QSMS_PUBKEY_DURATION_DAYS (digest 9.4).
const DefaultLifetime = 365 * 24 * time.Hour

// MaxExpiration is the largest expiration a .qpkey file can hold: the date
// line has a four-digit year, so 9999-12-31 23:59:59 UTC.
const MaxExpiration uint64 = 253402300799

// Errors of this package, for errors.Is. Every error returned wraps one of
// them, except errors of the file system and of the signature scheme
// (suite.ErrNotImplemented, suite.ErrRandom), which are wrapped as they are.
var (
	// ErrMalformed reports a key file that is truncated, oversized or not in
	// the exact format the C implementation writes.
	ErrMalformed = errors.New("keyfile: malformed key file")
	// ErrUnknownConfig reports a key file naming a configuration that is not
	// in the suite table. It is also matched by suite.ErrUnknownConfig.
	ErrUnknownConfig = errors.New("keyfile: unknown configuration")
	// ErrExpired reports a key whose expiration has passed.
	ErrExpired = errors.New("keyfile: key expired")
	// ErrConfigMismatch reports a key for another configuration than the
	// host's.
	ErrConfigMismatch = errors.New("keyfile: key is for another configuration")
	// ErrKeyMismatch reports a public and a private key that do not belong
	// together, or a signing key that does not match its verification key.
	ErrKeyMismatch = errors.New("keyfile: keys do not match")
	// ErrInvalidKey reports an in-memory key that cannot be serialized or
	// generated: no suite, a key of the wrong size, an unset variant, an
	// expiration that a .qpkey file cannot hold, or a bad argument.
	ErrInvalidKey = errors.New("keyfile: invalid key")
)

// Variant is the protocol a key belongs to. It only selects the words
// "QSMS" or "QSMD" in the .qpkey text; the key material is the same.
type Variant uint8

// The two protocol variants. The zero Variant is unset: a key read from a
// .qskey file has no variant, because that format does not record one.
const (
	QSMS Variant = iota + 1 // QSMP Simplex
	QSMD                    // QSMP Duplex
)

// String returns "QSMS" or "QSMD".
func (v Variant) String() string {
	switch v {
	case QSMS:
		return "QSMS"
	case QSMD:
		return "QSMD"
	}
	return fmt.Sprintf("Variant(%d)", uint8(v))
}

func (v Variant) valid() bool { return v == QSMS || v == QSMD }

// PublicKey is the public half of an identity key: what a .qpkey file holds.
type PublicKey struct {
	// Variant selects the QSMS or QSMD wording of the text file.
	Variant Variant
	// Suite is the configuration the key belongs to.
	Suite *suite.Suite
	// KeyID is the 16 random bytes that name the key.
	KeyID [KeyIDSize]byte
	// Expiration is in UTC seconds since the Unix epoch; the key is valid
	// while now ≤ Expiration.
	Expiration uint64
	// VerifyKey is the encoded verification key of Suite's signature scheme.
	VerifyKey []byte
}

// PrivateKey is a whole identity key: what a .qskey file holds. Call Clear
// when it is no longer needed. The methods it inherits from PublicKey
// (MarshalText, String) see only the public half, so a PrivateKey printed
// or encoded as text never shows the signing key.
type PrivateKey struct {
	PublicKey
	// SigningKey is the encoded signing key (secret).
	SigningKey []byte
}

// Generate makes a new identity key for configuration s that expires
// DefaultLifetime after now. It draws in the order of the C applications:
// first the 16-byte key id, then the signature key pair (the scheme's own
// draws). A nil rand means crypto/rand.Reader. The error wraps
// suite.ErrNotImplemented when the signature scheme is not built,
// suite.ErrRandom when rand fails, and ErrInvalidKey for a bad argument.
func Generate(s *suite.Suite, v Variant, rand io.Reader, now time.Time) (*PrivateKey, error) {
	return GenerateWithLifetime(s, v, rand, now, DefaultLifetime)
}

// GenerateWithLifetime is Generate with a chosen lifetime, which must be
// whole seconds and not negative.
func GenerateWithLifetime(s *suite.Suite, v Variant, rand io.Reader, now time.Time, lifetime time.Duration) (*PrivateKey, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no configuration", ErrInvalidKey)
	}
	if !v.valid() {
		return nil, fmt.Errorf("%w: variant %v", ErrInvalidKey, v)
	}
	if lifetime < 0 || lifetime%time.Second != 0 {
		return nil, fmt.Errorf("%w: lifetime %v is not a whole number of seconds ≥ 0", ErrInvalidKey, lifetime)
	}
	t := now.Unix()
	if t < 0 {
		return nil, fmt.Errorf("%w: time %v is before the Unix epoch", ErrInvalidKey, now)
	}
	exp := uint64(t) + uint64(lifetime/time.Second)
	if exp > MaxExpiration {
		return nil, fmt.Errorf("%w: expiration %d is after year 9999", ErrInvalidKey, exp)
	}
	signer, err := s.Signer()
	if err != nil {
		return nil, fmt.Errorf("keyfile: %s: %w", s.Name, err)
	}
	if rand == nil {
		rand = crand.Reader
	}
	k := &PrivateKey{PublicKey: PublicKey{Variant: v, Suite: s, Expiration: exp}}
	if _, err := io.ReadFull(rand, k.KeyID[:]); err != nil {
		return nil, fmt.Errorf("%w: drawing the key id: %w", suite.ErrRandom, err)
	}
	pk, sk, err := signer.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %s key pair: %w", s.Name, err)
	}
	if len(pk) != s.SigPublicKeySize || len(sk) != s.SigPrivateKeySize {
		clear(sk)
		return nil, fmt.Errorf("%w: %s made keys of %d and %d bytes, want %d and %d", ErrInvalidKey,
			signer.Name(), len(pk), len(sk), s.SigPublicKeySize, s.SigPrivateKeySize)
	}
	k.VerifyKey, k.SigningKey = pk, sk
	return k, nil
}

// utcSeconds returns now as QSMP time, with times before the epoch as -1.
func utcSeconds(now time.Time) int64 {
	t := now.Unix()
	if t < 0 {
		return -1
	}
	return t
}

// Expired reports whether the key has expired at now: now > Expiration, in
// whole seconds (the C code accepts a key while now ≤ expiration).
func (k *PublicKey) Expired(now time.Time) bool {
	if k.Expiration > math.MaxInt64 {
		return false
	}
	return utcSeconds(now) > int64(k.Expiration)
}

// ExpirationTime returns the expiration as a time in UTC.
func (k *PublicKey) ExpirationTime() time.Time {
	if k.Expiration > math.MaxInt64 {
		return time.Unix(math.MaxInt64, 0).UTC()
	}
	return time.Unix(int64(k.Expiration), 0).UTC()
}

// CheckFor checks that the key can be used by a host running configuration
// s at time now. It returns an error wrapping ErrConfigMismatch if the key
// is for another configuration, or ErrExpired if it has expired.
func (k *PublicKey) CheckFor(s *suite.Suite, now time.Time) error {
	switch {
	case s == nil || k.Suite == nil:
		return fmt.Errorf("%w: key %s, host %s", ErrConfigMismatch, suiteName(k.Suite), suiteName(s))
	case k.Suite.Name != s.Name:
		return fmt.Errorf("%w: key %x is for %s, this host runs %s", ErrConfigMismatch, k.KeyID, k.Suite.Name, s.Name)
	case k.Expired(now):
		return fmt.Errorf("%w: key %x expired at %s (now %s)", ErrExpired, k.KeyID,
			k.ExpirationTime().Format(time.DateTime), now.UTC().Format(time.DateTime))
	}
	return nil
}

func suiteName(s *suite.Suite) string {
	if s == nil {
		return "(none)"
	}
	return s.Name
}

// String describes the key without any secret: variant, key id,
// configuration and expiration. PrivateKey inherits it, so printing a
// private key with %v or %s never shows the signing key.
func (k PublicKey) String() string {
	return fmt.Sprintf("%v key %x (%s), expires %s UTC", k.Variant, k.KeyID, suiteName(k.Suite),
		k.ExpirationTime().Format(time.DateTime))
}

// GoString is like String, so that %#v does not show the signing key.
func (k PrivateKey) GoString() string { return "keyfile.PrivateKey{" + k.String() + "}" }

// Public returns a copy of the public half of the key.
func (k *PrivateKey) Public() *PublicKey {
	p := k.PublicKey
	p.VerifyKey = append([]byte(nil), k.VerifyKey...)
	return &p
}

// Clear zeroes the signing key. The key is unusable afterwards.
func (k *PrivateKey) Clear() {
	clear(k.SigningKey)
}

// Matches checks that pub is the public half of k: same configuration, key
// id, expiration and verification key. The variant is not compared, since a
// .qskey file does not record it. The error wraps ErrKeyMismatch and names
// the first field that differs.
func (k *PrivateKey) Matches(pub *PublicKey) error {
	switch {
	case pub == nil:
		return fmt.Errorf("%w: no public key", ErrKeyMismatch)
	case suiteName(k.Suite) != suiteName(pub.Suite):
		return fmt.Errorf("%w: configuration %s vs %s", ErrKeyMismatch, suiteName(k.Suite), suiteName(pub.Suite))
	case k.KeyID != pub.KeyID:
		return fmt.Errorf("%w: key id %x vs %x", ErrKeyMismatch, k.KeyID, pub.KeyID)
	case k.Expiration != pub.Expiration:
		return fmt.Errorf("%w: expiration %d vs %d", ErrKeyMismatch, k.Expiration, pub.Expiration)
	case string(k.VerifyKey) != string(pub.VerifyKey):
		return fmt.Errorf("%w: verification keys differ", ErrKeyMismatch)
	}
	return nil
}

// pairCheckMessage is what CheckPair signs.
const pairCheckMessage = "qsmp-go keyfile pair check"

// CheckPair checks that the signing key belongs to the verification key by
// signing a fixed message and verifying it. It costs one signature (about a
// millisecond for ML-DSA, up to seconds for SLH-DSA-SHAKE-256s); randomized
// schemes draw from crypto/rand. The error wraps ErrKeyMismatch, or
// suite.ErrNotImplemented when the scheme is not built.
func (k *PrivateKey) CheckPair() error {
	if err := k.checkSizes(); err != nil {
		return err
	}
	signer, err := k.Suite.Signer()
	if err != nil {
		return fmt.Errorf("keyfile: %s: %w", k.Suite.Name, err)
	}
	sm, err := signer.Sign(crand.Reader, k.SigningKey, []byte(pairCheckMessage))
	if err != nil {
		return fmt.Errorf("%w: signing with key %x: %w", ErrKeyMismatch, k.KeyID, err)
	}
	m, err := signer.Open(k.VerifyKey, sm)
	if err != nil || string(m) != pairCheckMessage {
		return fmt.Errorf("%w: key %x: the signing key does not match the verification key", ErrKeyMismatch, k.KeyID)
	}
	return nil
}

// checkSizes reports whether the public part can be serialized.
func (k *PublicKey) checkSizes() error {
	if k.Suite == nil {
		return fmt.Errorf("%w: no configuration", ErrInvalidKey)
	}
	if len(k.VerifyKey) != k.Suite.SigPublicKeySize {
		return fmt.Errorf("%w: verification key of %d bytes, want %d for %s", ErrInvalidKey,
			len(k.VerifyKey), k.Suite.SigPublicKeySize, k.Suite.Name)
	}
	return nil
}

// checkSizes reports whether the whole key can be serialized.
func (k *PrivateKey) checkSizes() error {
	if err := k.PublicKey.checkSizes(); err != nil {
		return err
	}
	if len(k.SigningKey) != k.Suite.SigPrivateKeySize {
		return fmt.Errorf("%w: signing key of %d bytes, want %d for %s", ErrInvalidKey,
			len(k.SigningKey), k.Suite.SigPrivateKeySize, k.Suite.Name)
	}
	return nil
}
