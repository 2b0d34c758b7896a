// Package handshake implements the QSMS (Simplex) and QSMD (Duplex) key
// exchanges of QSMP as state machines: packets in, packets out, no I/O and no
// clock reads. Randomness and time are injected, so a handshake can be
// replayed byte for byte against the C implementation's known answers.
//
// Every stage checks time, length, sequence, flag and state before any
// cryptographic work (digest 1.6), and a failure returns an *Error naming the
// code and carrying the 22-byte error packet the C implementation would send.
// The machines are transactional: an input that is rejected changes nothing
// (encrypted confirmations are opened on a clone), so a datagram carrier can
// drop a bad packet and carry on, while the TCP carrier treats any failure
// as fatal, as the C code does.
package handshake

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// KeyIDSize is the size of a key id.
const KeyIDSize = 16

// Errors of this package. Failures of a stage are *Error values wrapping one
// of these or an error of the record or suite package.
var (
	// ErrState reports a packet that is not expected in the current state,
	// or a call after the handshake ended.
	ErrState = errors.New("handshake: unexpected in this state")
	// ErrKeyExpired reports an identity key past its expiration.
	ErrKeyExpired = errors.New("handshake: key expired")
	// ErrKeyUnknown reports a key id the host does not hold.
	ErrKeyUnknown = errors.New("handshake: key id not recognized")
	// ErrConfig reports a configuration string that differs from the host's.
	ErrConfig = errors.New("handshake: configuration mismatch")
	// ErrHash reports a transcript hash that does not match.
	ErrHash = errors.New("handshake: transcript hash mismatch")
	// ErrVerify reports a confirmation that does not match the transcript.
	ErrVerify = errors.New("handshake: transcript confirmation mismatch")
	// ErrPeer reports an error packet received from the peer.
	ErrPeer = errors.New("handshake: peer reported an error")
	// ErrInput reports a missing or malformed configuration value.
	ErrInput = errors.New("handshake: invalid input")
)

// Error is a failed stage: the code the C implementation would report, the
// cause, and the error packet it would send.
type Error struct {
	Stage  string
	Code   record.Code
	Err    error
	Packet []byte // the 22-byte unencrypted error packet (digest 2.3)
}

func (e *Error) Error() string {
	if e == nil {
		return "handshake: <nil>"
	}
	return fmt.Sprintf("handshake: %s: %s: %v", e.Stage, e.Code, e.Err)
}

// Unwrap returns the cause and the code, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e == nil {
		return nil
	}
	return []error{e.Err, e.Code}
}

// Identity is a host's long-term signature key.
type Identity struct {
	KeyID      [KeyIDSize]byte
	Expiration uint64 // utctime seconds; the key is valid while now <= Expiration
	VerifyKey  []byte
	SigningKey []byte // nil for a peer's public identity
}

// Config holds what both machines of a handshake need.
type Config struct {
	// Suite is the configuration; both hosts must hold the same one.
	Suite *suite.Suite
	// Rand is the random source (crypto/rand.Reader in production).
	Rand io.Reader
	// Now returns the current time; the clock is never read otherwise.
	Now func() time.Time
	// TimeThreshold is the time window in seconds; 0 means the default
	// (60 s). Use a negative value to disable the check.
	TimeThreshold int64
}

func (c *Config) threshold() uint64 {
	switch {
	case c.TimeThreshold == 0:
		return record.DefaultTimeThreshold
	case c.TimeThreshold < 0:
		return 0
	}
	return uint64(c.TimeThreshold)
}

func (c *Config) now() uint64 { return record.UnixTime(c.Now()) }

// schemes resolves the suite's primitives and checks the config.
func (c *Config) schemes() (suite.KEM, suite.Signer, error) {
	if c.Suite == nil || c.Rand == nil || c.Now == nil {
		return nil, nil, fmt.Errorf("%w: Suite, Rand and Now are required", ErrInput)
	}
	k, err := c.Suite.KEM()
	if err != nil {
		return nil, nil, err
	}
	s, err := c.Suite.Signer()
	if err != nil {
		return nil, nil, err
	}
	return k, s, nil
}

// Session is an established handshake.
type Session struct {
	// Suite is the configuration.
	Suite *suite.Suite
	// Duplex is true for QSMD.
	Duplex bool
	// Server is true on the QSMS server and the QSMD listener.
	Server bool
	// Stream is the stream-profile state with both ciphers and counters as
	// the C implementation leaves them.
	Stream *record.Stream
	// DatagramSecret seeds the datagram profile (docs/DATAGRAM.md).
	DatagramSecret []byte
	// Transcript is the final transcript hash: sch3 (QSMS) or sch5 (QSMD).
	Transcript []byte
	// PeerKeyID and PeerVerifyKey identify the peer's long-term key (QSMD;
	// for QSMS the client holds the server's).
	PeerKeyID     [KeyIDSize]byte
	PeerVerifyKey []byte
	// Local is the host's own identity (QSMD, and the QSMS server).
	Local *Identity
}

// Clear zeroes the session's secrets: the stream-profile ciphers and
// ratchet seed (Stream) and DatagramSecret. The long-term signing key in
// Local is not touched: it belongs to the caller's identity. A carrier
// calls Clear when it drops a session, including an established one it
// cannot use (a failed final write); the session is unusable afterwards.
// Clear on a nil *Session does nothing.
func (s *Session) Clear() {
	if s == nil {
		return
	}
	s.Stream.Clear()
	clear(s.DatagramSecret)
}

// Machine is one side of a handshake.
type Machine interface {
	// Start returns the first packet of an initiator; responders return nil.
	Start() ([]byte, error)
	// Handle takes one received packet and returns the packet to send in
	// answer (nil when there is none). A failure is an *Error and leaves the
	// machine unchanged.
	Handle(pkt []byte) ([]byte, error)
	// Done reports whether the handshake is established.
	Done() bool
	// Session returns the established session, or nil before Done.
	Session() *Session
	// Expect returns the flag and message size of the next packet the
	// machine accepts, and false when it expects none.
	Expect() (record.Flag, int, bool)
	// Abort gives up a handshake that has not completed: it zeroes the
	// secrets the machine holds (ephemeral keys, KEM secrets, session keys
	// not yet handed over), and every later Start or Handle fails with
	// ErrState. After Done it does nothing: the Session owns its keys. It
	// must not run concurrently with Start or Handle.
	Abort()
}

// fail builds the *Error of a stage.
func fail(stage string, code record.Code, err error, now uint64) *Error {
	return &Error{Stage: stage, Code: code, Err: err, Packet: record.PlainError(code, now)}
}

// errUnbuilt is the cause reported by a machine that was not made by its
// constructor (a nil pointer or a zero value): it has no configuration.
var errUnbuilt = fmt.Errorf("%w: machine not created by its constructor (nil or zero value)", ErrInput)

// unbuilt is the failure of a call on such a machine. It carries no error
// packet: there is no configured peer to send one to.
func unbuilt(stage string) *Error {
	return &Error{Stage: stage, Code: record.CodeInvalidInput, Err: errUnbuilt}
}

// receive parses pkt and validates its header (digest 1.6), mapping failures
// to the C codes. A received error packet is reported as ErrPeer with its
// code. override, if non-zero, replaces the validator's code as the C
// drivers do for some stages.
func receive(stage string, pkt []byte, e record.Expect, override record.Code) (record.Packet, *Error) {
	p, err := record.ParsePacket(pkt)
	if err != nil {
		code := record.CodeReceiveFailure
		if override != 0 {
			code = override
		}
		return p, fail(stage, code, err, e.Now)
	}
	if p.Flag == record.FlagErrorCondition && p.MsgLen == 1 {
		code := record.Code(p.Message[0])
		return p, &Error{Stage: stage, Code: code, Err: ErrPeer}
	}
	if err := e.Validate(p.Header); err != nil {
		code := record.CodeInvalidRequest
		switch {
		case errors.Is(err, record.ErrTime):
			code = record.CodeMessageTimeInvalid
		case errors.Is(err, record.ErrMessageSize):
			code = record.CodeReceiveFailure
		case errors.Is(err, record.ErrSequence):
			code = record.CodePacketUnsequenced
		}
		if override != 0 {
			code = override
		}
		return p, fail(stage, code, err, e.Now)
	}
	return p, nil
}

// header builds the header of an outgoing packet.
func header(flag record.Flag, msgLen int, seq, now uint64) record.Header {
	return record.Header{Flag: flag, MsgLen: uint32(msgLen), Sequence: seq, UTCTime: now}
}

// hash256 and hash512 hash the concatenation of their arguments.
func hash256(parts ...[]byte) []byte { return sum(keccak.NewSHA3256(), 32, parts) }

func hash512(parts ...[]byte) []byte { return sum(keccak.NewSHA3512(), 64, parts) }

// sum absorbs parts into h and squeezes size bytes.
func sum(h keccak.Sponge, size int, parts [][]byte) []byte {
	for _, p := range parts {
		h.Write(p)
	}
	out := make([]byte, size)
	h.Read(out)
	return out
}

// equal compares in constant time.
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// checkIdentity validates an identity's sizes against the signer.
func checkIdentity(id *Identity, s suite.Signer, needSecret bool, who string) error {
	if id == nil {
		return fmt.Errorf("%w: missing %s identity", ErrInput, who)
	}
	if len(id.VerifyKey) != s.PublicKeySize() {
		return fmt.Errorf("%w: %s verification key of %d bytes, want %d", ErrInput, who, len(id.VerifyKey), s.PublicKeySize())
	}
	if needSecret && len(id.SigningKey) != s.PrivateKeySize() {
		return fmt.Errorf("%w: %s signing key of %d bytes, want %d", ErrInput, who, len(id.SigningKey), s.PrivateKeySize())
	}
	return nil
}
