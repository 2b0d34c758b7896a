// Package wire encodes and parses the envelope the UDP carrier puts in front
// of every datagram (docs/DATAGRAM.md section 5).
//
// Every datagram starts with a 10-byte header: the version, the kind and the
// receiver's 64-bit session id, all integers little-endian. Four kinds
// follow: handshake fragments, handshake acks, cookie replies and records.
//
// Parsing is strict: exact lengths, the one version, known kinds, flag bits
// and range lists in canonical form, so that every accepted datagram has
// exactly one encoding (Append of a parsed value gives back the same bytes).
// Parsers never panic and return one of the sentinel errors below; they do
// not copy: byte slices in a parsed value alias the input.
package wire

import (
	"encoding/binary"
	"errors"
)

// Version is the envelope version this package speaks.
const Version = 1

// HeaderSize is the size of the common header: version (1), kind (1) and
// receiver id (8).
const HeaderSize = 10

// Kind says what follows the common header.
type Kind uint8

// The envelope kinds. A record's kind carries the epoch bit (EpochBit) in
// its high bit: 0x04 for even epochs, 0x84 for odd ones.
const (
	// KindFragment is a fragment of a handshake message.
	KindFragment Kind = 0x01
	// KindAck acknowledges the byte ranges of a handshake message.
	KindAck Kind = 0x02
	// KindCookie is a server's stateless address-validation reply.
	KindCookie Kind = 0x03
	// KindRecord is a datagram-profile record.
	KindRecord Kind = 0x04
	// EpochBit is the high bit of a record's kind: set for odd epochs.
	EpochBit Kind = 0x80
)

// String names the kind, for logs.
func (k Kind) String() string {
	switch k {
	case KindFragment:
		return "fragment"
	case KindAck:
		return "ack"
	case KindCookie:
		return "cookie"
	case KindRecord:
		return "record"
	case KindRecord | EpochBit:
		return "record(odd epoch)"
	}
	return "unknown"
}

// Sizes of fixed fields.
const (
	// CookieSize is the size of an address-validation cookie.
	CookieSize = 32
	// KeyIDSize is the size of an initiator key id.
	KeyIDSize = 16
	// MaxMessageIndex is the highest handshake message index (0..5: the
	// handshake packet number).
	MaxMessageIndex = 5
	// MaxAckRanges is the most ranges one ack carries.
	MaxAckRanges = 32
	// MinRecordSize is the smallest record payload: a QSMP packet header.
	MinRecordSize = 21
)

// Sentinel errors returned by the parsers. Each error returned by this
// package is one of them (test with errors.Is).
var (
	// ErrShort reports a datagram shorter than its kind's fixed fields.
	ErrShort = errors.New("wire: datagram too short")
	// ErrLength reports a datagram whose length does not match its fields.
	ErrLength = errors.New("wire: datagram length does not match its fields")
	// ErrVersion reports an envelope version other than Version.
	ErrVersion = errors.New("wire: unsupported envelope version")
	// ErrKind reports an unknown kind, an epoch bit on a kind other than a
	// record, or a parser applied to the wrong kind.
	ErrKind = errors.New("wire: unknown or unexpected kind")
	// ErrFlags reports unknown fragment flag bits, or a cookie or key id on
	// a fragment of a message other than message 0.
	ErrFlags = errors.New("wire: invalid fragment flags")
	// ErrMessageIndex reports a handshake message index above
	// MaxMessageIndex.
	ErrMessageIndex = errors.New("wire: handshake message index out of range")
	// ErrFragment reports an empty fragment or one that does not lie
	// inside its message.
	ErrFragment = errors.New("wire: fragment outside its message")
	// ErrRanges reports an ack with no ranges, more than MaxAckRanges, or
	// ranges that are empty, unsorted, overlapping or adjacent.
	ErrRanges = errors.New("wire: invalid ack ranges")
	// ErrNonZeroID reports a cookie reply whose receiver or sender id is
	// not zero.
	ErrNonZeroID = errors.New("wire: cookie reply ids must be zero")
)

var le = binary.LittleEndian

// appendHeader appends the common header.
func appendHeader(b []byte, k Kind, receiver uint64) []byte {
	b = append(b, Version, byte(k))
	return le.AppendUint64(b, receiver)
}

// Peek reads the common header cheaply, for demultiplexing. It returns the
// kind without the epoch bit (a record of either epoch parity is
// KindRecord; ParseRecord reads the bit) and the receiver id. It checks the
// version and that the kind is known, nothing else.
func Peek(b []byte) (kind Kind, receiver uint64, err error) {
	if len(b) < HeaderSize {
		return 0, 0, ErrShort
	}
	if b[0] != Version {
		return 0, 0, ErrVersion
	}
	k := Kind(b[1])
	switch k {
	case KindFragment, KindAck, KindCookie, KindRecord:
	case KindRecord | EpochBit:
		k = KindRecord
	default:
		return 0, 0, ErrKind
	}
	return k, le.Uint64(b[2:HeaderSize]), nil
}

// header checks the common header of b against the wanted kind (records:
// either epoch parity) and returns the raw kind byte and receiver id.
func header(b []byte, want Kind) (Kind, uint64, error) {
	k, r, err := Peek(b)
	if err != nil {
		return 0, 0, err
	}
	if k != want {
		return 0, 0, ErrKind
	}
	return Kind(b[1]), r, nil
}

// Range is a half-open byte range [Start, End) of a handshake message.
type Range struct {
	Start, End uint32
}

// Len returns the number of bytes in r (0 if r is empty or inverted).
func (r Range) Len() uint32 {
	if r.End <= r.Start {
		return 0
	}
	return r.End - r.Start
}
