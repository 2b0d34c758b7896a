package quicx

import (
	"errors"
	"fmt"
	"io"

	"github.com/quic-go/quic-go"
)

// Errors of this package; test with errors.Is.
var (
	// ErrConfig reports a Config that cannot work (missing or mismatched
	// keys, values out of range).
	ErrConfig = errors.New("quicx: invalid configuration")
	// ErrNetwork reports a network name this package does not serve.
	ErrNetwork = errors.New("quicx: unsupported network")
	// ErrProtocol reports bytes on the QUIC stream that break this carrier's
	// rules (a bad preamble, frame, flag or control message). It ends the
	// session.
	ErrProtocol = errors.New("quicx: protocol violation")
	// ErrHandshake reports a failed QSMP handshake on the QUIC stream (the
	// error also wraps the cause: a *handshake.Error, a QUIC error carrying
	// the peer's reason, ErrBinding, ...).
	ErrHandshake = errors.New("quicx: QSMP handshake failed")
	// ErrBinding reports that the peer's first record did not open under
	// keys bound to this QUIC connection's TLS exporter: the QSMP handshake
	// was relayed from another QUIC connection (a TLS-terminating relay), or
	// the peer derives its keys differently.
	ErrBinding = errors.New("quicx: session not bound to this QUIC connection")
	// ErrPeerClosed reports a Write after the peer sent its authenticated
	// close.
	ErrPeerClosed = errors.New("quicx: peer closed the session")
	// ErrConnectionLost reports that the QUIC connection ended without the
	// peer's authenticated close (idle timeout, a QUIC error, or a close by
	// anyone who holds the QUIC keys). It wraps the QUIC error.
	ErrConnectionLost = errors.New("quicx: QUIC connection lost")
	// ErrMessageTooLarge reports a Write larger than one record can carry
	// in one QUIC DATAGRAM frame; the error is a *MessageTooLargeError.
	ErrMessageTooLarge = errors.New("quicx: message too large for one record")
	// ErrShortBuffer reports a Read buffer smaller than the next record;
	// the error is a *ShortBufferError. It matches io.ErrShortBuffer too.
	ErrShortBuffer = errors.New("quicx: read buffer too short for the record")
	// ErrListenerClosed is returned by Accept after Close.
	ErrListenerClosed = errors.New("quicx: listener closed")
	// ErrNotClient reports Migrate on the server side of a session; QUIC
	// lets only the client migrate.
	ErrNotClient = errors.New("quicx: only the client can migrate")
	// ErrKeysExhausted reports a Write refused because the transmit keys
	// reached a hard limit (Config.RejectAfterRecords, RejectAfterBytes or
	// RejectAfterTime) and no ratchet has replaced them yet; a ratchet is
	// under way, and a later Write succeeds once it completes.
	ErrKeysExhausted = errors.New("quicx: transmit keys exhausted, waiting for a rekey")
	// ErrNoAsymmetricRatchet reports RatchetAsymmetric on a QSMS session:
	// only QSMD sessions, where both sides hold signing keys, have it.
	ErrNoAsymmetricRatchet = errors.New("quicx: the asymmetric ratchet needs a QSMD session")
)

// MessageTooLargeError is returned by Conn.Write for a message longer than
// one record can carry in one QUIC DATAGRAM frame at the moment: the QUIC
// limit (quic.DatagramTooLargeError's MaxDatagramPayloadSize) less this
// carrier's overhead, and at most record.DatagramMaxPlaintext.
type MessageTooLargeError struct {
	Size  int // bytes given to Write
	Limit int // the most one record carries now
}

func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("quicx: message of %d bytes exceeds the record limit of %d bytes", e.Size, e.Limit)
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
	return fmt.Sprintf("quicx: record of %d bytes does not fit a %d-byte buffer", e.Size, e.Have)
}

// Is matches ErrShortBuffer and io.ErrShortBuffer.
func (e *ShortBufferError) Is(target error) bool {
	return target == ErrShortBuffer || target == io.ErrShortBuffer
}

// PeerError reports that the peer closed the session with a non-zero QSMP
// error code in its authenticated close record.
type PeerError struct{ Code uint8 }

func (e *PeerError) Error() string {
	return fmt.Sprintf("quicx: peer closed the session with code %d", e.Code)
}

// QUIC application error codes this carrier closes connections with.
const (
	// CodeClosed ends a session after the authenticated close record.
	CodeClosed quic.ApplicationErrorCode = 0x0
	// CodeProtocol ends a session after a protocol violation on the stream.
	CodeProtocol quic.ApplicationErrorCode = 0x1
	// CodeHandshake ends a connection whose QSMP handshake failed (or timed
	// out, or was not bound to the connection).
	CodeHandshake quic.ApplicationErrorCode = 0x2
	// CodeRefused ends a connection a listener cannot take (too many
	// handshakes, accept queue full, listener closing).
	CodeRefused quic.ApplicationErrorCode = 0x3
)
