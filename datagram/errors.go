package datagram

import (
	"errors"
	"fmt"
	"io"
)

// Errors of this package; test with errors.Is.
var (
	// ErrConfig reports a Config that cannot work (missing or mismatched
	// keys, values out of range).
	ErrConfig = errors.New("datagram: invalid configuration")
	// ErrHandshakeTimeout reports a handshake that did not finish within
	// Config.HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("datagram: handshake timed out")
	// ErrListenerClosed is returned by Accept after Close.
	ErrListenerClosed = errors.New("datagram: listener closed")
	// ErrPeerClosed reports a write on a Conn whose peer sent its
	// authenticated close.
	ErrPeerClosed = errors.New("datagram: peer closed the session")
	// ErrMessageTooLarge reports a Write of more than the record limit; the
	// error is a *MessageTooLargeError naming the limit.
	ErrMessageTooLarge = errors.New("datagram: message too large for one record")
	// ErrShortBuffer reports a Read buffer smaller than the next record;
	// the error is a *ShortBufferError naming the size needed. It matches
	// io.ErrShortBuffer too.
	ErrShortBuffer = errors.New("datagram: read buffer too short for the record")
	// ErrNetwork reports a network that is not "udp", "udp4", "udp6",
	// "quic", "quic4" or "quic6" (or a Config.Network other than those).
	ErrNetwork = errors.New("datagram: unsupported network")
	// ErrKeysExhausted reports a Write refused because the transmit keys
	// reached a hard limit (Config.RejectAfterRecords, RejectAfterBytes or
	// RejectAfterTime) and no ratchet has replaced them yet; a ratchet is
	// under way, and a later Write succeeds once it completes.
	ErrKeysExhausted = errors.New("datagram: transmit keys exhausted, waiting for a rekey")
	// ErrPeerDead reports a session ended by dead-peer detection: data was
	// sent and nothing authenticated came back within
	// Config.DeadPeerTimeout, probes included.
	ErrPeerDead = errors.New("datagram: peer not responding (dead-peer detection)")
	// ErrIdleTimeout reports a session ended because nothing authenticated
	// arrived within Config.IdleTimeout.
	ErrIdleTimeout = errors.New("datagram: session idle timeout")
	// ErrNoAsymmetricRatchet reports RatchetAsymmetric on a QSMS session:
	// only QSMD sessions, where both sides hold signing keys, have it.
	ErrNoAsymmetricRatchet = errors.New("datagram: the asymmetric ratchet needs a QSMD session")
	// ErrRatchetDeclined reports a Rekey or RatchetAsymmetric call whose
	// ratchet the peer declined three times (it could not act on it).
	ErrRatchetDeclined = errors.New("datagram: the peer declined the ratchet")
)

// MessageTooLargeError is returned by Conn.Write for a message longer than
// one record can carry within Config.MaxPayload.
type MessageTooLargeError struct {
	Size  int // bytes given to Write
	Limit int // the most one record carries
}

func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("datagram: message of %d bytes exceeds the record limit of %d bytes", e.Size, e.Limit)
}

// Is matches ErrMessageTooLarge.
func (e *MessageTooLargeError) Is(target error) bool { return target == ErrMessageTooLarge }

// ShortBufferError is returned by Conn.Read when the buffer is smaller than
// the next record; the record stays queued for the next Read.
type ShortBufferError struct {
	Size int // the size of the record (the buffer needed)
	Have int // the size of the buffer given
}

func (e *ShortBufferError) Error() string {
	return fmt.Sprintf("datagram: record of %d bytes does not fit a %d-byte buffer", e.Size, e.Have)
}

// Is matches ErrShortBuffer and io.ErrShortBuffer.
func (e *ShortBufferError) Is(target error) bool {
	return target == ErrShortBuffer || target == io.ErrShortBuffer
}
