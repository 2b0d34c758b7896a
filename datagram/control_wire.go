package datagram

import (
	"encoding/binary"
	"errors"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/record"
)

// Record flags of the session (docs/DATAGRAM.md section 7). Data is 0x04;
// the ratchets and close keep the flags the C code gives them (0x10, 0x11,
// 0x12, 0x14); the others are values the C code does not use.
const (
	flagData         = record.FlagEncryptedMessage          // 0x04
	flagAsymRequest  = record.FlagAsymmetricRatchetRequest  // 0x10, reliable
	flagAsymResponse = record.FlagAsymmetricRatchetResponse // 0x11, reliable
	flagRekey        = record.FlagSymmetricRatchetRequest   // 0x12, reliable
	flagClose        = record.FlagErrorCondition            // 0x14
	// flagControlAck acknowledges fragments of a reliable control message.
	flagControlAck record.Flag = 0x15
	// flagKeepAlive is an authenticated keep-alive or liveness probe.
	flagKeepAlive record.Flag = 0x16
	// flagPathChallenge and flagPathResponse validate a peer's new address.
	flagPathChallenge record.Flag = 0x17
	flagPathResponse  record.Flag = 0x18
)

// ctlHeaderSize is the header of a control fragment: message id (8),
// message length (4), fragment offset (4).
const ctlHeaderSize = 16

// maxControlMessage bounds a reliable control message: an epoch number and
// the largest asymmetric ratchet payload.
const maxControlMessage = 8 + record.AsymmetricRatchetMax

// Keep-alive plaintexts (one byte).
const (
	keepAlivePlain = 0x00 // nothing to answer
	keepAliveProbe = 0x01 // answer at once with a keep-alive
)

// pathDataSize is the size of a path challenge's random data.
const pathDataSize = 8

// ctlStatus is what an ack says of a control message.
type ctlStatus uint8

// Control message statuses.
const (
	// ctlReceiving: the ranges are what the receiver holds; the message is
	// not complete.
	ctlReceiving ctlStatus = 0
	// ctlDone: the message was received whole and acted upon.
	ctlDone ctlStatus = 1
	// ctlDeclined: the message was received whole and deliberately not
	// acted upon (a losing simultaneous ratchet, a stale epoch, a request
	// the session cannot serve).
	ctlDeclined ctlStatus = 2
)

// errControl reports a malformed control plaintext. It never leaves the
// package: a malformed control record from an authenticated peer is dropped
// and counted.
var errControl = errors.New("datagram: malformed control record")

// ctlFragment is one fragment of a reliable control message.
type ctlFragment struct {
	id     uint64 // message id, from 1, one counter per direction
	length uint32 // message length
	offset uint32
	data   []byte // aliases the input
}

// appendCtlFragment appends the plaintext of a control fragment.
func appendCtlFragment(b []byte, id uint64, length, offset uint32, data []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, id)
	b = binary.LittleEndian.AppendUint32(b, length)
	b = binary.LittleEndian.AppendUint32(b, offset)
	return append(b, data...)
}

// parseCtlFragment parses a control fragment: an id of at least 1, a
// message of 1..maxControlMessage bytes, and a non-empty fragment inside it.
func parseCtlFragment(b []byte) (ctlFragment, error) {
	if len(b) <= ctlHeaderSize {
		return ctlFragment{}, errControl
	}
	f := ctlFragment{
		id:     binary.LittleEndian.Uint64(b),
		length: binary.LittleEndian.Uint32(b[8:]),
		offset: binary.LittleEndian.Uint32(b[12:]),
		data:   b[ctlHeaderSize:],
	}
	if f.id == 0 || f.length == 0 || f.length > maxControlMessage ||
		uint64(f.offset)+uint64(len(f.data)) > uint64(f.length) {
		return ctlFragment{}, errControl
	}
	return f, nil
}

// ctlAck acknowledges a control message.
type ctlAck struct {
	id     uint64
	status ctlStatus
	ranges []wire.Range
}

// ctlAckFixed is the size of an ack before its ranges: id (8), status (1),
// count (1).
const ctlAckFixed = 10

// appendCtlAck appends the plaintext of an ack.
func appendCtlAck(b []byte, a ctlAck) []byte {
	b = binary.LittleEndian.AppendUint64(b, a.id)
	b = append(b, byte(a.status), byte(len(a.ranges)))
	for _, r := range a.ranges {
		b = binary.LittleEndian.AppendUint32(b, r.Start)
		b = binary.LittleEndian.AppendUint32(b, r.End)
	}
	return b
}

// parseCtlAck parses an ack into buf's storage: an id of at least 1, a
// known status, 1..wire.MaxAckRanges ranges in canonical form (non-empty,
// ascending, neither overlapping nor touching), and for a final status
// exactly one range starting at 0.
func parseCtlAck(b []byte, buf []wire.Range) (ctlAck, error) {
	if len(b) < ctlAckFixed {
		return ctlAck{}, errControl
	}
	a := ctlAck{id: binary.LittleEndian.Uint64(b), status: ctlStatus(b[8])}
	n := int(b[9])
	if a.id == 0 || a.status > ctlDeclined || n < 1 || n > wire.MaxAckRanges || len(b) != ctlAckFixed+8*n {
		return ctlAck{}, errControl
	}
	rs := buf[:0]
	var prevEnd uint32
	for i := range n {
		r := wire.Range{
			Start: binary.LittleEndian.Uint32(b[ctlAckFixed+8*i:]),
			End:   binary.LittleEndian.Uint32(b[ctlAckFixed+8*i+4:]),
		}
		if r.End <= r.Start || (i > 0 && r.Start <= prevEnd) || r.End > maxControlMessage {
			return ctlAck{}, errControl
		}
		prevEnd = r.End
		rs = append(rs, r)
	}
	if a.status != ctlReceiving && (n != 1 || rs[0].Start != 0) {
		return ctlAck{}, errControl
	}
	a.ranges = rs
	return a, nil
}

// ratchetBody is a ratchet message: the epoch it moves to, then the
// token (0x12), the asymmetric request (0x10) or the response (0x11).
func ratchetBody(epoch uint64, payload []byte) []byte {
	b := make([]byte, 0, 8+len(payload))
	b = binary.LittleEndian.AppendUint64(b, epoch)
	return append(b, payload...)
}

// parseRatchetBody splits a ratchet message.
func parseRatchetBody(b []byte) (epoch uint64, payload []byte, err error) {
	if len(b) < 8 {
		return 0, nil, errControl
	}
	return binary.LittleEndian.Uint64(b), b[8:], nil
}
