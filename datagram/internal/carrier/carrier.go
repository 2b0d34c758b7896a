// Package carrier holds the configuration steps both datagram carriers (the
// UDP envelope of package datagram and the QUIC carrier of package quicx)
// share: the defaults they apply alike, the check that a role holds the keys
// it needs, the suite those keys agree on and what follows from it, and the
// handshake machines. Each carrier keeps its own Config and error values:
// an error of this package wraps the configuration sentinel the caller
// passes (its ErrConfig).
package carrier

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// Environment fills in the logger (discarding), random source (crypto/rand)
// and protocol clock (time.Now) left nil, and reports whether the clock is
// the system's.
func Environment(logger **slog.Logger, r *io.Reader, now *func() time.Time) (systemClock bool) {
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
	if *r == nil {
		*r = rand.Reader
	}
	if *now == nil {
		*now = time.Now
		return true
	}
	return false
}

// WindowSize applies the default acceptance window (window.DefaultSize) to a
// size of 0 and checks the size; the error wraps errConfig.
func WindowSize(size *int, errConfig error) error {
	if *size == 0 {
		*size = window.DefaultSize
	}
	if _, err := window.NewSync(*size); err != nil {
		return fmt.Errorf("%w: WindowSize: %w", errConfig, err)
	}
	return nil
}

// Threshold returns the record time window in seconds of a Config's
// TimeThreshold: record.DefaultTimeThreshold for 0, and 0 (disabled) for a
// negative value.
func Threshold(t int64) uint64 {
	switch {
	case t == 0:
		return record.DefaultTimeThreshold
	case t < 0:
		return 0
	}
	return uint64(t)
}

// Keys are the keys and variant a carrier's Config gives one role.
type Keys struct {
	// Identity is the host's own key (a listener's, a QSMD initiator's).
	Identity *keyfile.PrivateKey
	// PeerKey is the listener's public key, on a client.
	PeerKey *keyfile.PublicKey
	// PeerKeys reports that a QSMD listener can look up initiators' keys.
	PeerKeys bool
	// PeerKeyServes reports that on a QSMD listener the Config's PeerKey
	// stands for PeerKeys (datagram.Config); the error says so.
	PeerKeyServes bool
	// Duplex selects QSMD; otherwise QSMS.
	Duplex bool
}

// Resolve checks that the role (a listener if server, else a client) holds
// the keys it needs and returns the suite they agree on, which must be
// implemented. Its errors wrap errConfig.
func (k Keys) Resolve(server bool, errConfig error) (*suite.Suite, error) {
	switch {
	case server && k.Identity == nil:
		return nil, fmt.Errorf("%w: a listener needs its own key (Identity)", errConfig)
	case server && k.Duplex && !k.PeerKeys:
		if k.PeerKeyServes {
			return nil, fmt.Errorf("%w: a QSMD listener needs PeerKeys (or PeerKey)", errConfig)
		}
		return nil, fmt.Errorf("%w: a QSMD listener needs PeerKeys", errConfig)
	case !server && k.PeerKey == nil:
		return nil, fmt.Errorf("%w: a client needs the listener's public key (PeerKey)", errConfig)
	case !server && k.Duplex && k.Identity == nil:
		return nil, fmt.Errorf("%w: a QSMD initiator needs its own key (Identity)", errConfig)
	}
	s, err := keyfile.AgreedSuite(k.Identity, k.PeerKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if !s.Implemented() {
		return nil, fmt.Errorf("%w: configuration %s is not implemented", errConfig, s.Name)
	}
	return s, nil
}

// TagSize is the record tag size of a variant: 64 bytes for QSMD, 32 for
// QSMS.
func TagSize(duplex bool) int {
	if duplex {
		return 64
	}
	return 32
}

// AsymmetricSizes returns the sizes of a QSMD suite's asymmetric-ratchet
// control messages, each an LE64 epoch and the payload. Its errors wrap
// errConfig.
func AsymmetricSizes(s *suite.Suite, errConfig error) (req, resp int, err error) {
	k, err := s.KEM()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errConfig, err)
	}
	v, err := s.Signer()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errConfig, err)
	}
	return 8 + handshake.AsymmetricRequestSize(k, v), 8 + handshake.AsymmetricResponseSize(k, v), nil
}

// ClientMachine builds an initiator's machine: QSMD with its own identity,
// or QSMS, towards the listener's key.
func ClientMachine(hc handshake.Config, duplex bool, id *keyfile.PrivateKey, peer *keyfile.PublicKey) (handshake.Machine, error) {
	if duplex {
		return handshake.NewQSMDClient(hc, id.HandshakeIdentity(), peer.HandshakeIdentity())
	}
	return handshake.NewQSMSClient(hc, peer.HandshakeIdentity())
}

// ServerMachine builds a listener's machine: QSMS, or QSMD for the
// initiator whose key peer the carrier has already found (its lookup
// returns that key whatever key id the request names: the carrier bound
// the initiator's key id before).
func ServerMachine(hc handshake.Config, duplex bool, id *keyfile.PrivateKey, peer *keyfile.PublicKey) (handshake.Machine, error) {
	if !duplex {
		return handshake.NewQSMSServer(hc, id.HandshakeIdentity())
	}
	vk := peer.VerifyKey
	return handshake.NewQSMDServer(hc, id.HandshakeIdentity(), func([handshake.KeyIDSize]byte) ([]byte, error) {
		return vk, nil
	})
}
