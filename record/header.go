// Package record implements QSMP's packet header (digest section 1), its flags
// and error codes (section 2), and the two record profiles that protect data
// with RCS:
//
//   - the stream profile (digest 8.1), reference-exact: each direction's RCS
//     state runs on across records and the receiver accepts only sequence
//     rx+1; used on TCP and for the handshake's confirmation messages;
//   - the datagram profile (DESIGN.md section 3, docs/DATAGRAM.md): every record
//     is verifiable on its own, so datagrams may be lost, duplicated and
//     reordered.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// HeaderSize is the size of the serialized header.
const HeaderSize = 21

// MessageMax is the C implementation's largest message after the handshake
// (QSMS_MESSAGE_MAX, 64 KiB): a peeked header with msglen 0 or above it ends
// the connection.
const MessageMax = 0x10000

// DefaultTimeThreshold is the C implementation's time window: a packet's
// utctime must be within ±60 seconds of the receiver's clock, inclusive.
const DefaultTimeThreshold = 60

// ErrorSequence is the sequence number of unencrypted error packets.
const ErrorSequence uint64 = 0xFF00000000000000

// Header is the 21-byte packet header: flag, message length, sequence number
// and creation time, little-endian in that order (digest 1.1).
type Header struct {
	Flag     Flag
	MsgLen   uint32
	Sequence uint64
	UTCTime  uint64
}

// Errors of header parsing and validation.
var (
	// ErrShortPacket reports fewer bytes than a header, or than msglen says.
	ErrShortPacket = errors.New("record: packet shorter than its header says")
	// ErrLongPacket reports bytes beyond 21 + msglen.
	ErrLongPacket = errors.New("record: packet longer than its header says")
	// ErrMessageSize reports a msglen that is not the size this stage requires.
	ErrMessageSize = errors.New("record: unexpected message length")
	// ErrTime reports a utctime outside the time window.
	ErrTime = errors.New("record: packet time outside the window")
	// ErrSequence reports an unexpected sequence number.
	ErrSequence = errors.New("record: unexpected sequence number")
	// ErrFlag reports an unexpected packet flag.
	ErrFlag = errors.New("record: unexpected packet flag")
)

// Marshal returns the 21 serialized bytes.
func (h Header) Marshal() [HeaderSize]byte {
	var b [HeaderSize]byte
	h.Put(b[:])
	return b
}

// Put writes the serialized header into b[:21]; b must be at least 21 bytes.
func (h Header) Put(b []byte) {
	_ = b[HeaderSize-1]
	b[0] = byte(h.Flag)
	binary.LittleEndian.PutUint32(b[1:5], h.MsgLen)
	binary.LittleEndian.PutUint64(b[5:13], h.Sequence)
	binary.LittleEndian.PutUint64(b[13:21], h.UTCTime)
}

// Append appends the serialized header to b.
func (h Header) Append(b []byte) []byte {
	m := h.Marshal()
	return append(b, m[:]...)
}

// ParseHeader decodes the first 21 bytes of b. It checks only the length of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes", ErrShortPacket, len(b))
	}
	return Header{
		Flag:     Flag(b[0]),
		MsgLen:   binary.LittleEndian.Uint32(b[1:5]),
		Sequence: binary.LittleEndian.Uint64(b[5:13]),
		UTCTime:  binary.LittleEndian.Uint64(b[13:21]),
	}, nil
}

// Packet is a header and its message.
type Packet struct {
	Header
	Message []byte
}

// ParsePacket splits a whole record (header then exactly msglen bytes). The
// message aliases b.
func ParsePacket(b []byte) (Packet, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Packet{}, err
	}
	rest := b[HeaderSize:]
	switch {
	case uint64(len(rest)) < uint64(h.MsgLen):
		return Packet{}, fmt.Errorf("%w: msglen %d, %d bytes follow", ErrShortPacket, h.MsgLen, len(rest))
	case uint64(len(rest)) > uint64(h.MsgLen):
		return Packet{}, fmt.Errorf("%w: msglen %d, %d bytes follow", ErrLongPacket, h.MsgLen, len(rest))
	}
	return Packet{Header: h, Message: rest}, nil
}

// Marshal returns header ‖ message, with MsgLen taken from the header as is.
func (p Packet) Marshal() []byte {
	out := make([]byte, 0, HeaderSize+len(p.Message))
	out = p.Header.Append(out)
	return append(out, p.Message...)
}

// UnixTime converts a clock reading to QSMP's utctime: true UTC seconds since
// the Unix epoch. (The C code subtracts the host's standard time-zone offset;
// on a host set to UTC the two agree. See docs/COMPATIBILITY.md.)
func UnixTime(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s)
}

// TimeValid reports whether utctime passes the C implementation's time check
// against the local clock reading local with the given threshold in seconds
// (digest 1.4): local ≠ 0, threshold ≤ utctime ≤ 2^64−1−threshold, and
// utctime−threshold ≤ local ≤ utctime+threshold. A threshold of 0 disables
// the check.
func TimeValid(local, utctime, threshold uint64) bool {
	if threshold == 0 {
		return true
	}
	if local == 0 || utctime < threshold || utctime > ^uint64(0)-threshold {
		return false
	}
	return utctime-threshold <= local && local <= utctime+threshold
}

// CheckTime returns an error wrapping ErrTime when TimeValid is false.
func CheckTime(local, utctime, threshold uint64) error {
	if !TimeValid(local, utctime, threshold) {
		return fmt.Errorf("%w: packet %d, local %d, threshold %d", ErrTime, utctime, local, threshold)
	}
	return nil
}

// Expect describes what a handshake stage requires of a received header.
type Expect struct {
	Flag      Flag
	MsgLen    uint32
	Sequence  uint64
	Now       uint64 // receiver's clock (utctime units)
	Threshold uint64 // time window; 0 disables
}

// Validate checks h in the C implementation's order (digest 1.6): time,
// length, sequence, flag. The returned error wraps ErrTime, ErrMessageSize,
// ErrSequence or ErrFlag, and Code maps it to the error code the C code sends.
func (e Expect) Validate(h Header) error {
	if err := CheckTime(e.Now, h.UTCTime, e.Threshold); err != nil {
		return err
	}
	if h.MsgLen != e.MsgLen {
		return fmt.Errorf("%w: %d, want %d", ErrMessageSize, h.MsgLen, e.MsgLen)
	}
	if h.Sequence != e.Sequence {
		return fmt.Errorf("%w: %d, want %d", ErrSequence, h.Sequence, e.Sequence)
	}
	if h.Flag != e.Flag {
		return fmt.Errorf("%w: %v, want %v", ErrFlag, h.Flag, e.Flag)
	}
	return nil
}
