package quicx

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// Prefix bytes. Every record after the handshake, in a DATAGRAM frame or on
// the stream, starts with one byte that names its kind and the parity of its
// epoch; the byte is part of the record's AD (docs/DATAGRAM.md, "QUIC
// binding").
const (
	// prefixDatagram starts a data record in a QUIC DATAGRAM frame (the UDP
	// envelope's record kind).
	prefixDatagram byte = 0x04
	// prefixStream starts a control record on the QUIC stream.
	prefixStream byte = 0x05
	// epochBit marks records of odd epochs.
	epochBit byte = 0x80
)

// prefixFor returns the prefix byte of a record kind at an epoch.
func prefixFor(kind byte, epoch uint64) byte {
	if epoch&1 == 1 {
		return kind | epochBit
	}
	return kind
}

// splitPrefix checks a prefix byte against the expected kind and returns
// the epoch parity it names.
func splitPrefix(b, kind byte) (odd bool, err error) {
	if b&^epochBit != kind {
		return false, fmt.Errorf("%w: prefix byte 0x%02x", ErrProtocol, b)
	}
	return b&epochBit != 0, nil
}

// The stream preamble: the first bytes the client writes on the stream,
// before its first handshake packet.
const (
	preambleVersion byte = 0x01
	variantQSMS     byte = 0x01
	variantQSMD     byte = 0x02
	// preambleSize is the QSMS preamble; QSMD appends the 16-byte key id.
	preambleSize = 2
)

// preamble is the client's declaration of the protocol variant and, for
// QSMD, of its own key id (the listener looks up the key; it never tries a
// list of keys).
type preamble struct {
	duplex bool
	keyID  [handshake.KeyIDSize]byte
}

func (p preamble) append(b []byte) []byte {
	if !p.duplex {
		return append(b, preambleVersion, variantQSMS)
	}
	b = append(b, preambleVersion, variantQSMD)
	return append(b, p.keyID[:]...)
}

// readPreamble reads and checks a preamble.
func readPreamble(r io.Reader) (preamble, error) {
	var p preamble
	var hdr [preambleSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return p, err
	}
	if hdr[0] != preambleVersion {
		return p, fmt.Errorf("%w: preamble version 0x%02x", ErrProtocol, hdr[0])
	}
	switch hdr[1] {
	case variantQSMS:
	case variantQSMD:
		p.duplex = true
		if _, err := io.ReadFull(r, p.keyID[:]); err != nil {
			return p, err
		}
	default:
		return p, fmt.Errorf("%w: preamble variant 0x%02x", ErrProtocol, hdr[1])
	}
	return p, nil
}

// parsePreamble is readPreamble over a byte slice that must hold exactly one
// preamble (the fuzz target's view).
func parsePreamble(b []byte) (preamble, error) {
	r := &sliceReader{b: b}
	p, err := readPreamble(r)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return p, fmt.Errorf("%w: truncated preamble", ErrProtocol)
		}
		return p, err
	}
	if len(r.b) != 0 {
		return p, fmt.Errorf("%w: %d bytes after the preamble", ErrProtocol, len(r.b))
	}
	return p, nil
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// readPacket reads one handshake packet framed as on TCP: the 21-byte
// header, then msglen bytes, with msglen at most max.
func readPacket(r io.Reader, max int) ([]byte, error) {
	var hdr [record.HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	h, _ := record.ParseHeader(hdr[:])
	if h.MsgLen == 0 || int64(h.MsgLen) > int64(max) {
		return nil, fmt.Errorf("%w: handshake msglen %d (flag %v), at most %d", ErrProtocol, h.MsgLen, h.Flag, max)
	}
	pkt := make([]byte, record.HeaderSize+int(h.MsgLen))
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(r, pkt[record.HeaderSize:]); err != nil {
		return nil, unexpected(err)
	}
	return pkt, nil
}

// fragmentSize is the most bytes of an asymmetric ratchet message one
// control record carries; larger messages take several records, written
// back to back.
const fragmentSize = 16384

// maxControlMsgLen bounds msglen of a control record on the stream: the
// largest control plaintext (a fragment of an asymmetric ratchet message:
// 4-byte offset and fragmentSize bytes) plus the largest tag.
const maxControlMsgLen = 4 + fragmentSize + 64

// readFrame reads one post-handshake frame from the stream: the prefix byte,
// the 21-byte header and msglen bytes (at most maxControlMsgLen). It returns
// the prefix byte and the record (header included). A clean end of the
// stream before a frame is io.EOF; inside a frame it is io.ErrUnexpectedEOF.
func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [1 + record.HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return 0, nil, unexpected(err)
	}
	h, _ := record.ParseHeader(hdr[1:])
	if h.MsgLen > maxControlMsgLen {
		return 0, nil, fmt.Errorf("%w: control record msglen %d above %d", ErrProtocol, h.MsgLen, maxControlMsgLen)
	}
	pkt := make([]byte, record.HeaderSize+int(h.MsgLen))
	copy(pkt, hdr[1:])
	if _, err := io.ReadFull(r, pkt[record.HeaderSize:]); err != nil {
		return 0, nil, unexpected(err)
	}
	return hdr[0], pkt, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Control messages: the plaintexts of the records on the stream after the
// handshake.
//
//	flag 0x0E session_establish_verify  "ready": one byte 0x01
//	flag 0x10 asymmetric ratchet request   LE32(offset) ‖ fragment of LE64(epoch) ‖ sig ‖ H(ek) ‖ ek
//	flag 0x11 asymmetric ratchet response  LE32(offset) ‖ fragment of LE64(epoch) ‖ sig ‖ H(ct) ‖ ct
//	flag 0x12 symmetric_ratchet_request type (1) ‖ LE64(epoch) ‖ [token (32)]
//	flag 0x14 error_condition           close: one byte, the QSMP code
//
// An asymmetric ratchet message has the exact size its suite gives it; its
// fragments (at most fragmentSize bytes each, offsets in order from 0) are
// written back to back, with no other control record between them.
const (
	readyByte byte = 0x01

	rekeyRequest  byte = 0x01 // carries the token; names the next epoch
	rekeyAck      byte = 0x02 // the responder derived the next epoch's keys
	rekeySwitched byte = 0x03 // the sender now sends under the next epoch

	tokenSize = 32
)

// control is a parsed control message.
type control struct {
	flag   record.Flag
	code   uint8  // close
	kind   byte   // rekey message type
	epoch  uint64 // rekey: the next epoch
	token  []byte // rekey request
	offset uint32 // asymmetric ratchet fragment: its offset
	frag   []byte // asymmetric ratchet fragment: its bytes
}

// parseControl checks the plaintext of a control record of the given flag.
func parseControl(flag record.Flag, pt []byte) (control, error) {
	c := control{flag: flag}
	switch flag {
	case record.FlagSessionEstablishVerify:
		if len(pt) != 1 || pt[0] != readyByte {
			return c, fmt.Errorf("%w: ready message of %d bytes", ErrProtocol, len(pt))
		}
	case record.FlagErrorCondition:
		if len(pt) != 1 {
			return c, fmt.Errorf("%w: close message of %d bytes", ErrProtocol, len(pt))
		}
		c.code = pt[0]
	case record.FlagAsymmetricRatchetRequest, record.FlagAsymmetricRatchetResponse:
		if len(pt) < 5 || len(pt) > 4+fragmentSize {
			return c, fmt.Errorf("%w: ratchet fragment of %d bytes", ErrProtocol, len(pt))
		}
		c.offset = binary.LittleEndian.Uint32(pt)
		c.frag = append([]byte(nil), pt[4:]...) // pt is zeroed after parsing
	case record.FlagSymmetricRatchetRequest:
		if len(pt) < 9 {
			return c, fmt.Errorf("%w: rekey message of %d bytes", ErrProtocol, len(pt))
		}
		c.kind = pt[0]
		c.epoch = binary.LittleEndian.Uint64(pt[1:9])
		want := 9
		if c.kind == rekeyRequest {
			want += tokenSize
		} else if c.kind != rekeyAck && c.kind != rekeySwitched {
			return c, fmt.Errorf("%w: rekey message type 0x%02x", ErrProtocol, c.kind)
		}
		if len(pt) != want {
			return c, fmt.Errorf("%w: rekey message type 0x%02x of %d bytes, want %d", ErrProtocol, c.kind, len(pt), want)
		}
		if c.epoch == 0 {
			return c, fmt.Errorf("%w: rekey to epoch 0", ErrProtocol)
		}
		if c.kind == rekeyRequest {
			c.token = append([]byte(nil), pt[9:]...) // pt is zeroed after parsing
		}
	default:
		return c, fmt.Errorf("%w: flag %v on the stream", ErrProtocol, flag)
	}
	return c, nil
}

// appendRekey appends a rekey message's plaintext.
func appendRekey(b []byte, kind byte, epoch uint64, token []byte) []byte {
	b = append(b, kind)
	b = binary.LittleEndian.AppendUint64(b, epoch)
	return append(b, token...)
}

// appendFragment appends an asymmetric ratchet fragment's plaintext.
func appendFragment(b []byte, offset int, frag []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(offset))
	return append(b, frag...)
}

// assembly reassembles one asymmetric ratchet message from its fragments
// (the stream reader's, in order).
type assembly struct {
	flag record.Flag
	buf  []byte
	need int
}

// add takes one fragment; it returns the complete message (LE64 epoch and
// payload) once the last fragment is in. need is the exact size of a
// message of the fragment's flag (0: not acceptable here).
func (a *assembly) add(ctl control, need int) ([]byte, error) {
	if a.buf == nil {
		if need == 0 {
			return nil, fmt.Errorf("%w: %v on this session", ErrProtocol, ctl.flag)
		}
		a.flag, a.need, a.buf = ctl.flag, need, make([]byte, 0, need)
	}
	if ctl.flag != a.flag || int(ctl.offset) != len(a.buf) || len(a.buf)+len(ctl.frag) > a.need {
		a.reset()
		return nil, fmt.Errorf("%w: ratchet fragment %v at %d out of order", ErrProtocol, ctl.flag, ctl.offset)
	}
	a.buf = append(a.buf, ctl.frag...)
	clear(ctl.frag)
	if len(a.buf) < a.need {
		return nil, nil
	}
	msg := a.buf
	a.buf, a.need = nil, 0
	return msg, nil
}

// busy reports a message in progress.
func (a *assembly) busy() bool { return a.buf != nil }

// reset drops a message in progress.
func (a *assembly) reset() {
	clear(a.buf)
	a.buf, a.need = nil, 0
}

// ratchetBody is the body of an asymmetric ratchet message.
func ratchetBody(epoch uint64, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(payload)), epoch)
	return append(b, payload...)
}

// parseRatchetBody splits a ratchet message body.
func parseRatchetBody(b []byte) (uint64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: ratchet message of %d bytes", ErrProtocol, len(b))
	}
	e := binary.LittleEndian.Uint64(b)
	if e == 0 {
		return 0, nil, fmt.Errorf("%w: ratchet to epoch 0", ErrProtocol)
	}
	return e, b[8:], nil
}
