package datagram

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/datagram/internal/carrier"
	"github.com/qsmp-go/qsmp/datagram/internal/keylimits"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// Defaults of the Config fields left zero.
const (
	// DefaultHandshakeTimeout bounds a handshake. Every handshake message is
	// signed or hashed with its own utctime, so the whole exchange must end
	// well inside the peer's ±60 s time window.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxPayload is the UDP payload budget of one datagram: what
	// survives nearly every path without IP fragmentation.
	DefaultMaxPayload = 1200
	// MinMaxPayload is the smallest MaxPayload accepted: a fragment with
	// every optional field still carries some data.
	MinMaxPayload = 256
	// MaxMaxPayload is the largest MaxPayload accepted (the IPv4 UDP limit).
	MaxMaxPayload = 65507
	// DefaultWindowSize is the acceptance window of each direction.
	DefaultWindowSize = window.DefaultSize
	// DefaultMaxHalfOpen bounds a listener's handshakes in progress.
	DefaultMaxHalfOpen = 1024
	// DefaultMaxReassemblyBytes bounds the memory of a listener's handshake
	// reassembly buffers, all sessions together.
	DefaultMaxReassemblyBytes = 64 << 20
	// DefaultMaxQueuedKeyGen bounds the connect requests waiting for a
	// worker (key generation and signing).
	DefaultMaxQueuedKeyGen = 64
	// DefaultPrefixRate and DefaultPrefixBurst limit new handshakes per
	// IPv4 /24 or IPv6 /64: per second, and banked.
	DefaultPrefixRate  = 50
	DefaultPrefixBurst = 100
	// DefaultReceiveQueue is the number of records buffered per Conn.
	DefaultReceiveQueue = 256
	// DefaultAcceptQueue is the number of established sessions a Listener
	// holds for Accept; beyond it new sessions are closed.
	DefaultAcceptQueue = 128

	// DefaultRekeyAfterRecords, DefaultRekeyAfterBytes and
	// DefaultRekeyAfterTime start an automatic symmetric ratchet.
	DefaultRekeyAfterRecords = keylimits.DefaultRekeyAfterRecords
	DefaultRekeyAfterBytes   = keylimits.DefaultRekeyAfterBytes
	DefaultRekeyAfterTime    = keylimits.DefaultRekeyAfterTime
	// DefaultRekeyGrace is how long the previous epoch's receive keys stay
	// after the peer's first record under the new epoch.
	DefaultRekeyGrace = 2 * time.Second
	// DefaultPassiveKeepAlive answers received data with a keep-alive when
	// nothing was sent back for that long (WireGuard's 10 s).
	DefaultPassiveKeepAlive = 10 * time.Second
	// DefaultDeadPeerTimeout declares a peer dead that answered nothing for
	// that long after data was sent to it.
	DefaultDeadPeerTimeout = 30 * time.Second
)

// maxTrackedPrefixes bounds the per-prefix rate limiter's table.
const maxTrackedPrefixes = 1 << 16

// Config configures a Conn or a Listener. The QSMP configuration string
// (suite) comes from the keys: Identity's and PeerKey's (or those PeerKeys
// returns) must agree. A Config must not be modified after it is passed to a
// function of this package; nil means all defaults where no key is needed.
type Config struct {
	// Identity is the host's own key: required on a listener (QSMS server
	// or QSMD listener) and on a QSMD initiator.
	Identity *keyfile.PrivateKey
	// PeerKey is the public key of the listener a client connects to. On a
	// QSMD listener without PeerKeys it is the one initiator accepted.
	PeerKey *keyfile.PublicKey
	// PeerKeys is required on a QSMD listener: it returns the public key of
	// the initiator whose key id arrives in the envelope of its first
	// handshake fragment (an error rejects the initiator). The listener
	// never tries a list of keys. It runs on the receive path, once per new
	// handshake, and must be fast.
	PeerKeys func(keyID [16]byte) (*keyfile.PublicKey, error)
	// Duplex selects QSMD; otherwise QSMS.
	Duplex bool

	// HandshakeTimeout bounds a handshake (DefaultHandshakeTimeout if 0).
	HandshakeTimeout time.Duration
	// MaxPayload is the UDP payload budget of one datagram: handshake
	// fragments and records fit it (DefaultMaxPayload if 0; at least
	// MinMaxPayload, at most MaxMaxPayload).
	MaxPayload int
	// WindowSize is the acceptance window of received sequence numbers
	// (DefaultWindowSize if 0).
	WindowSize int
	// TimeThreshold is the time window in seconds: 0 means 60 s; a
	// negative value disables the check (handshake and records).
	TimeThreshold int64

	// MaxHalfOpen bounds a listener's handshakes in progress
	// (DefaultMaxHalfOpen if 0).
	MaxHalfOpen int
	// MaxReassemblyBytes bounds the memory of a listener's reassembly
	// buffers (DefaultMaxReassemblyBytes if 0).
	MaxReassemblyBytes int64
	// MaxConcurrentKeyGen bounds the handshake steps a listener computes at
	// once: key generation, signing, decapsulation (GOMAXPROCS if 0).
	MaxConcurrentKeyGen int
	// MaxQueuedKeyGen bounds the connect requests waiting for a worker
	// (DefaultMaxQueuedKeyGen if 0).
	MaxQueuedKeyGen int
	// PrefixRate and PrefixBurst limit new handshakes per IPv4 /24 and IPv6
	// /64 (DefaultPrefixRate and DefaultPrefixBurst if 0; a negative rate
	// disables the limit).
	PrefixRate  float64
	PrefixBurst int

	// ReceiveQueue is the number of received records a Conn buffers for
	// Read (DefaultReceiveQueue if 0); records beyond it are dropped and
	// counted (Stats.QueueDrops).
	ReceiveQueue int

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
	// RekeyGrace is how long the receive keys of the previous epoch stay
	// usable after the peer's first record under the new one, for records
	// still in flight (DefaultRekeyGrace if 0). A side starts a ratchet only
	// once its own previous keys are gone, so ratchets are at least this far
	// apart.
	RekeyGrace time.Duration

	// KeepAlive sends an authenticated keep-alive whenever nothing has been
	// sent for that long (0: off; 25 s keeps most NAT mappings open).
	KeepAlive time.Duration
	// PassiveKeepAlive answers received data with an authenticated
	// keep-alive when nothing has been sent back for that long, so that the
	// peer's dead-peer detection hears from a live session
	// (DefaultPassiveKeepAlive if 0; negative: off).
	PassiveKeepAlive time.Duration
	// DeadPeerTimeout is the dead-peer detection: once data has been sent
	// and nothing authenticated heard for half of it, the Conn probes the
	// peer (an authenticated keep-alive that asks for an answer), and after
	// all of it, the session ends and Read and Write fail with ErrPeerDead
	// (DefaultDeadPeerTimeout if 0; negative: off).
	DeadPeerTimeout time.Duration
	// IdleTimeout ends a session from which nothing authenticated (records,
	// keep-alives) has arrived for that long: Read and Write then fail with
	// ErrIdleTimeout (0: off).
	IdleTimeout time.Duration

	// Logger receives debug events (drops, handshake steps); nil discards.
	Logger *slog.Logger
	// StatsHook, if set, receives the final statistics of each established
	// session once, when its Conn is closed: by Close, on the goroutine
	// calling it, after the session is released; also for the sessions a
	// Listener closes itself (accept queue full, Listener closed). A
	// handshake that failed is not reported. It must not block for long;
	// Conn.Stats gives the counters at any other time.
	StatsHook func(c *Conn, s Stats)
	// Rand is the handshake's random source (crypto/rand if nil). Session
	// ids and cookie secrets always come from crypto/rand.
	Rand io.Reader
	// Now is the protocol clock, the utctime of handshake messages and
	// records (time.Now if nil). Timers always use the time package.
	Now func() time.Time

	// Network selects the carrier of DialPacketConn and NewListener, which
	// take a socket rather than a network name: "" or "udp" for the UDP
	// envelope, "quic" for QUIC DATAGRAM frames (quic.go). Dial and Listen
	// take the carrier from their network argument and ignore this field.
	Network string

	// newMachine, if set (tests), replaces the handshake machines.
	newMachine func(server bool, peer *keyfile.PublicKey) (handshake.Machine, error)
}

var errUnknownPeer = errors.New("datagram: unknown initiator key")

// config is a Config with defaults applied and its suite resolved.
type config struct {
	Config
	suite   *suite.Suite
	tagSize int
	hc      handshake.Config
	// asymReq and asymResp are the lengths of the asymmetric ratchet's
	// control messages (epoch and payload; 0 on QSMS).
	asymReq, asymResp int
	// systemClock: Config.Now was not set, so the protocol clock is the
	// system's and the record path may cache it (endpoint.unixNow).
	systemClock bool
}

// normalize checks c for the role and fills in defaults.
func (c *Config) normalize(server bool) (*config, error) {
	var cc config
	if c != nil {
		cc.Config = *c
	}
	n := &cc
	if n.HandshakeTimeout == 0 {
		n.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if n.HandshakeTimeout < 0 {
		return nil, fmt.Errorf("%w: negative HandshakeTimeout", ErrConfig)
	}
	if n.MaxPayload == 0 {
		n.MaxPayload = DefaultMaxPayload
	}
	if n.MaxPayload < MinMaxPayload || n.MaxPayload > MaxMaxPayload {
		return nil, fmt.Errorf("%w: MaxPayload %d outside [%d, %d]", ErrConfig, n.MaxPayload, MinMaxPayload, MaxMaxPayload)
	}
	if err := carrier.WindowSize(&n.WindowSize, ErrConfig); err != nil {
		return nil, err
	}
	if n.MaxHalfOpen <= 0 {
		n.MaxHalfOpen = DefaultMaxHalfOpen
	}
	if n.MaxReassemblyBytes <= 0 {
		n.MaxReassemblyBytes = DefaultMaxReassemblyBytes
	}
	if n.MaxConcurrentKeyGen <= 0 {
		n.MaxConcurrentKeyGen = runtime.GOMAXPROCS(0)
	}
	if n.MaxQueuedKeyGen <= 0 {
		n.MaxQueuedKeyGen = DefaultMaxQueuedKeyGen
	}
	if n.PrefixRate == 0 {
		n.PrefixRate = DefaultPrefixRate
	}
	if n.PrefixBurst <= 0 {
		n.PrefixBurst = DefaultPrefixBurst
	}
	if n.ReceiveQueue <= 0 {
		n.ReceiveQueue = DefaultReceiveQueue
	}
	if err := n.sessionDefaults(); err != nil {
		return nil, err
	}
	n.systemClock = carrier.Environment(&n.Logger, &n.Rand, &n.Now)
	if server && n.Duplex && n.PeerKeys == nil && n.PeerKey != nil {
		only := n.PeerKey
		n.PeerKeys = func(id [16]byte) (*keyfile.PublicKey, error) {
			if id != only.KeyID {
				return nil, errUnknownPeer
			}
			return only, nil
		}
	}
	if err := n.resolve(server); err != nil {
		return nil, err
	}
	if n.Duplex && n.newMachine == nil {
		var err error
		if n.asymReq, n.asymResp, err = carrier.AsymmetricSizes(n.suite, ErrConfig); err != nil {
			return nil, err
		}
	}
	n.hc = handshake.Config{Suite: n.suite, Rand: n.Rand, Now: n.Now, TimeThreshold: n.TimeThreshold}
	return n, nil
}

// resolve checks the keys of the role and finds the suite they agree on.
func (n *config) resolve(server bool) error {
	if n.newMachine != nil && n.Identity == nil && n.PeerKey == nil {
		// Tests with fake machines: records use QSMS's RCS-256.
		s, err := suite.Lookup(suite.Default)
		if err != nil {
			return err
		}
		n.suite, n.tagSize = s, 32
		return nil
	}
	k := carrier.Keys{Identity: n.Identity, PeerKey: n.PeerKey, PeerKeys: n.PeerKeys != nil, PeerKeyServes: true, Duplex: n.Duplex}
	s, err := k.Resolve(server, ErrConfig)
	if err != nil {
		return err
	}
	n.suite, n.tagSize = s, carrier.TagSize(n.Duplex)
	return nil
}

// clientMachine builds the initiator's state machine.
func (n *config) clientMachine() (handshake.Machine, error) {
	if n.newMachine != nil {
		return n.newMachine(false, nil)
	}
	return carrier.ClientMachine(n.hc, n.Duplex, n.Identity, n.PeerKey)
}

// serverMachine builds the responder's state machine; peer is the QSMD
// initiator's key found by PeerKeys.
func (n *config) serverMachine(peer *keyfile.PublicKey) (handshake.Machine, error) {
	if n.newMachine != nil {
		return n.newMachine(true, peer)
	}
	if n.Duplex && peer == nil {
		return nil, fmt.Errorf("%w: no initiator key", ErrConfig)
	}
	return carrier.ServerMachine(n.hc, n.Duplex, n.Identity, peer)
}

// threshold returns the record time window in seconds (0: disabled).
func (n *config) threshold() uint64 { return carrier.Threshold(n.TimeThreshold) }

// recordLimit is the largest plaintext one record carries within MaxPayload.
func (n *config) recordLimit() int {
	return min(n.MaxPayload-envelopeSize-record.HeaderSize-n.tagSize, record.DatagramMaxPlaintext)
}

// sessionDefaults fills in the rekey and liveness fields: after it, a
// disabled limit is noLimit and a disabled timer is 0.
func (n *config) sessionDefaults() error {
	if err := keylimits.Normalize(&n.RekeyAfterRecords, &n.RekeyAfterBytes, &n.RekeyAfterTime,
		&n.RejectAfterRecords, &n.RejectAfterBytes, &n.RejectAfterTime); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if n.RekeyGrace <= 0 {
		n.RekeyGrace = DefaultRekeyGrace
	}
	n.KeepAlive = max(n.KeepAlive, 0)
	n.IdleTimeout = max(n.IdleTimeout, 0)
	n.PassiveKeepAlive = timerDefault(n.PassiveKeepAlive, DefaultPassiveKeepAlive)
	n.DeadPeerTimeout = timerDefault(n.DeadPeerTimeout, DefaultDeadPeerTimeout)
	return nil
}

// timerDefault returns d, def if d is 0, or 0 (off) if d is negative.
func timerDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
