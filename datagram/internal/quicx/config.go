package quicx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/datagram/internal/carrier"
	"github.com/qsmp-go/qsmp/datagram/internal/keylimits"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/window"
)

// ALPN is the TLS application protocol this carrier negotiates.
const ALPN = "qsmp"

// Defaults of the Config fields left zero.
const (
	// DefaultHandshakeTimeout bounds the QUIC and the QSMP handshakes
	// together. Every QSMP handshake message carries its own utctime, so
	// the exchange must end well inside the peer's ±60 s time window.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultWindowSize is the acceptance window of received sequence numbers.
	DefaultWindowSize = window.DefaultSize
	// DefaultReceiveQueue is the number of received datagrams a Conn buffers
	// for Read.
	DefaultReceiveQueue = 1024
	// DefaultMaxHandshakes bounds a listener's QSMP handshakes in progress.
	DefaultMaxHandshakes = 64
	// DefaultAcceptQueue is the number of established sessions a Listener
	// holds for Accept; beyond it new sessions are refused.
	DefaultAcceptQueue = 128
	// DefaultRekeyGrace is how long the previous epoch's receive keys stay
	// usable after a rekey (counted from when the peer is seen using the
	// new epoch).
	DefaultRekeyGrace = 2 * time.Second
	// DefaultCloseTimeout bounds how long Close waits for the peer to
	// acknowledge the close record before it closes the QUIC connection.
	DefaultCloseTimeout = 2 * time.Second
	// DefaultRekeyAfterRecords, DefaultRekeyAfterBytes and
	// DefaultRekeyAfterTime start an automatic symmetric ratchet (the
	// datagram package's defaults).
	DefaultRekeyAfterRecords = keylimits.DefaultRekeyAfterRecords
	DefaultRekeyAfterBytes   = keylimits.DefaultRekeyAfterBytes
	DefaultRekeyAfterTime    = keylimits.DefaultRekeyAfterTime
)

// noLimit is the value of a disabled limit.
const noLimit = keylimits.NoLimit

// Config configures a Conn or a Listener. The QSMP configuration string
// (suite) comes from the keys: Identity's and PeerKey's (or those PeerKeys
// returns) must agree. A Config must not be modified after it is passed to a
// function of this package; nil means all defaults where no key is needed.
// Its fields mirror datagram.Config where they mean the same.
type Config struct {
	// Identity is the host's own key: required on a listener (QSMS server
	// or QSMD listener) and on a QSMD initiator.
	Identity *keyfile.PrivateKey
	// PeerKey is the public key of the listener a client connects to.
	PeerKey *keyfile.PublicKey
	// PeerKeys is required on a QSMD listener: it returns the public key of
	// the initiator whose key id the client declares in its stream preamble
	// (an error rejects the initiator). The listener never tries a list of
	// keys.
	PeerKeys func(keyID [16]byte) (*keyfile.PublicKey, error)
	// Duplex selects QSMD; otherwise QSMS.
	Duplex bool

	// HandshakeTimeout bounds the QUIC and QSMP handshakes
	// (DefaultHandshakeTimeout if 0).
	HandshakeTimeout time.Duration
	// WindowSize is the acceptance window of received sequence numbers
	// (DefaultWindowSize if 0).
	WindowSize int
	// TimeThreshold is the time window in seconds: 0 means 60 s; a
	// negative value disables the check (handshake and records).
	TimeThreshold int64
	// ReceiveQueue is the number of received datagrams a Conn buffers for
	// Read (DefaultReceiveQueue if 0); beyond it they are dropped and
	// counted (Stats.QueueDrops).
	ReceiveQueue int
	// MaxHandshakes bounds a listener's handshakes in progress
	// (DefaultMaxHandshakes if 0); connections beyond it are refused.
	MaxHandshakes int
	// AcceptQueue is the number of established sessions a Listener holds
	// for Accept (DefaultAcceptQueue if 0).
	AcceptQueue int
	// RekeyGrace is how long the previous epoch's receive keys stay after a
	// rekey (DefaultRekeyGrace if 0).
	RekeyGrace time.Duration
	// CloseTimeout bounds Close's wait for the peer (DefaultCloseTimeout
	// if 0).
	CloseTimeout time.Duration

	// RekeyAfterRecords, RekeyAfterBytes and RekeyAfterTime start a
	// symmetric ratchet automatically once the transmit keys of the current
	// epoch have sealed that many records or plaintext bytes, or are that
	// old (checked when data is written, so an idle session holds no timer
	// for it). 0 selects DefaultRekeyAfterRecords, DefaultRekeyAfterBytes
	// and DefaultRekeyAfterTime; a negative value disables the limit.
	RekeyAfterRecords int64
	RekeyAfterBytes   int64
	RekeyAfterTime    time.Duration
	// RejectAfterRecords, RejectAfterBytes and RejectAfterTime are hard
	// limits of the transmit keys: past one of them Write refuses data with
	// ErrKeysExhausted until a ratchet gives new keys. 0 selects twice the
	// rekey limit for records and bytes, and no limit for time; a negative
	// value disables the limit. A hard limit must exceed its rekey limit.
	RejectAfterRecords int64
	RejectAfterBytes   int64
	RejectAfterTime    time.Duration

	// TLSConfig replaces the default TLS configuration. By default a
	// listener presents an ephemeral self-signed certificate and a client
	// verifies none: QSMP authenticates the peer, and the TLS exporter is
	// bound into the record keys (see the package documentation). A
	// TLSConfig with certificates and verification adds TLS
	// authentication on top; NextProtos defaults to ALPN and TLS 1.3 is
	// required.
	TLSConfig *tls.Config
	// QUICConfig replaces quic-go's defaults; DATAGRAM support is always
	// enabled and the stream limits are set by this package (the client
	// opens one bidirectional stream, nobody else opens any).
	QUICConfig *quic.Config

	// Logger receives debug events; nil discards them.
	Logger *slog.Logger
	// Rand is the random source of handshakes and rekey tokens (crypto/rand
	// if nil).
	Rand io.Reader
	// Now is the protocol clock, the utctime of handshake messages and
	// records (time.Now if nil). Timers always use the time package.
	Now func() time.Time
}

// config is a Config with defaults applied and its suite resolved.
type config struct {
	Config
	suite   *suite.Suite
	tagSize int
	hc      handshake.Config
	// asymReq and asymResp are the sizes of the asymmetric ratchet's
	// messages on the stream (LE64 epoch and payload; 0 on QSMS).
	asymReq, asymResp int
}

// normalize checks c for the role and fills in defaults.
func (c *Config) normalize(server bool) (*config, error) {
	var n config
	if c != nil {
		n.Config = *c
	}
	switch {
	case n.HandshakeTimeout < 0:
		return nil, fmt.Errorf("%w: negative HandshakeTimeout", ErrConfig)
	case n.RekeyGrace < 0:
		return nil, fmt.Errorf("%w: negative RekeyGrace", ErrConfig)
	case n.CloseTimeout < 0:
		return nil, fmt.Errorf("%w: negative CloseTimeout", ErrConfig)
	}
	if n.HandshakeTimeout == 0 {
		n.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if err := carrier.WindowSize(&n.WindowSize, ErrConfig); err != nil {
		return nil, err
	}
	if n.ReceiveQueue <= 0 {
		n.ReceiveQueue = DefaultReceiveQueue
	}
	if n.MaxHandshakes <= 0 {
		n.MaxHandshakes = DefaultMaxHandshakes
	}
	if n.AcceptQueue <= 0 {
		n.AcceptQueue = DefaultAcceptQueue
	}
	if n.RekeyGrace == 0 {
		n.RekeyGrace = DefaultRekeyGrace
	}
	if n.CloseTimeout == 0 {
		n.CloseTimeout = DefaultCloseTimeout
	}
	carrier.Environment(&n.Logger, &n.Rand, &n.Now)
	if err := n.limits(); err != nil {
		return nil, err
	}
	if err := n.resolve(server); err != nil {
		return nil, err
	}
	if n.Duplex {
		var err error
		if n.asymReq, n.asymResp, err = carrier.AsymmetricSizes(n.suite, ErrConfig); err != nil {
			return nil, err
		}
	}
	n.hc = handshake.Config{Suite: n.suite, Rand: n.Rand, Now: n.Now, TimeThreshold: n.TimeThreshold}
	return &n, nil
}

// limits fills in the rekey and reject limits (a disabled one becomes
// noLimit) and checks that each hard limit exceeds its rekey limit.
func (n *config) limits() error {
	if err := keylimits.Normalize(&n.RekeyAfterRecords, &n.RekeyAfterBytes, &n.RekeyAfterTime,
		&n.RejectAfterRecords, &n.RejectAfterBytes, &n.RejectAfterTime); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// resolve checks the keys of the role and finds the suite they agree on.
func (n *config) resolve(server bool) error {
	k := carrier.Keys{Identity: n.Identity, PeerKey: n.PeerKey, PeerKeys: n.PeerKeys != nil, Duplex: n.Duplex}
	s, err := k.Resolve(server, ErrConfig)
	if err != nil {
		return err
	}
	n.suite, n.tagSize = s, carrier.TagSize(n.Duplex)
	return nil
}

// clientMachine builds the initiator's state machine.
func (n *config) clientMachine() (handshake.Machine, error) {
	return carrier.ClientMachine(n.hc, n.Duplex, n.Identity, n.PeerKey)
}

// serverMachine builds the responder's state machine for a client's
// preamble, looking up a QSMD initiator's key.
func (n *config) serverMachine(p preamble) (handshake.Machine, error) {
	if p.duplex != n.Duplex {
		return nil, fmt.Errorf("%w: %w: client speaks %s, listener %s", ErrProtocol, errVariant, variantName(p.duplex), variantName(n.Duplex))
	}
	if !n.Duplex {
		return carrier.ServerMachine(n.hc, false, n.Identity, nil)
	}
	peer, err := n.PeerKeys(p.keyID)
	if err != nil {
		return nil, fmt.Errorf("%w: initiator key %x: %w", handshake.ErrKeyUnknown, p.keyID, err)
	}
	if peer == nil || peer.Suite != n.suite {
		return nil, fmt.Errorf("%w: initiator key %x is not a %s key", handshake.ErrKeyUnknown, p.keyID, n.suite.Name)
	}
	return carrier.ServerMachine(n.hc, true, n.Identity, peer)
}

// errVariant marks a client of the other variant (QSMS or QSMD); the
// listener names its own in the reason of its QUIC close.
var errVariant = errors.New("variant mismatch")

func variantName(duplex bool) string {
	if duplex {
		return "QSMD"
	}
	return "QSMS"
}

// threshold returns the record time window in seconds (0: disabled).
func (n *config) threshold() uint64 { return carrier.Threshold(n.TimeThreshold) }

// quicConfig returns the QUIC configuration of a role.
func (n *config) quicConfig(server bool) *quic.Config {
	var q *quic.Config
	if n.QUICConfig != nil {
		q = n.QUICConfig.Clone()
	} else {
		q = &quic.Config{}
	}
	q.EnableDatagrams = true
	q.MaxIncomingUniStreams = -1
	q.MaxIncomingStreams = -1
	if server {
		q.MaxIncomingStreams = 1 // the client's handshake and control stream
	}
	if q.HandshakeIdleTimeout == 0 || q.HandshakeIdleTimeout > n.HandshakeTimeout {
		q.HandshakeIdleTimeout = n.HandshakeTimeout
	}
	return q
}

// clientTLS returns the client's TLS configuration.
func (n *config) clientTLS() *tls.Config {
	if n.TLSConfig != nil {
		return completeTLS(n.TLSConfig.Clone())
	}
	return completeTLS(&tls.Config{
		// QSMP authenticates the listener and the exporter binding makes a
		// TLS relay fail (package documentation); the certificate is
		// ephemeral and self-signed, so there is nothing to verify.
		InsecureSkipVerify: true, //nolint:gosec // see above
		ServerName:         ALPN,
	})
}

// serverTLS returns a listener's TLS configuration, with a fresh ephemeral
// certificate unless the caller gave one.
func (n *config) serverTLS() (*tls.Config, error) {
	if n.TLSConfig != nil {
		return completeTLS(n.TLSConfig.Clone()), nil
	}
	cert, err := ephemeralCertificate()
	if err != nil {
		return nil, err
	}
	return completeTLS(&tls.Config{Certificates: []tls.Certificate{cert}}), nil
}

func completeTLS(c *tls.Config) *tls.Config {
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{ALPN}
	}
	c.MinVersion = tls.VersionTLS13
	return c
}

// ephemeralCertificate makes a self-signed ECDSA P-256 certificate valid for
// a year (nobody verifies it). Its key lives only in memory.
func ephemeralCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		DNSNames:     []string{ALPN},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
