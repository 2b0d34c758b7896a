package record

import (
	"errors"
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/rcs"
)

// Errors of the record profiles.
var (
	// ErrAuth reports a record whose tag does not verify.
	ErrAuth = errors.New("record: authentication failed")
	// ErrTooLarge reports a plaintext above the profile's limit.
	ErrTooLarge = errors.New("record: message too large")
	// ErrEmpty reports an empty data message, which the C implementation refuses.
	ErrEmpty = errors.New("record: empty message")
	// ErrClosed reports use of a profile state after Clear, or of a nil or
	// zero-value one, or of one whose keys were cleared.
	ErrClosed = errors.New("record: state cleared")
)

// AsymmetricRatchetMax bounds the plaintext of an asymmetric-ratchet record
// (the largest, a McEliece 8192128 request with an SLH-DSA-256s signature, is
// about 1.39 MB).
const AsymmetricRatchetMax = 2 << 20

// StreamMaxPlaintext returns the largest plaintext of a stream record whose
// tag is tagSize bytes: msglen may not exceed MessageMax.
func StreamMaxPlaintext(tagSize int) int { return MessageMax - tagSize }

// Stream is the reference-exact record profile (digest 8.1): each direction's
// RCS state runs on across records, the sender pre-increments its sequence
// number, and the receiver accepts only rx+1.
//
// Open is transactional where the C code is not: a record that fails any
// check leaves the state as it was (rcs.Cipher.TryOpen), so a
// caller may report the failure and still close cleanly. Stream is not safe
// for concurrent use of the same direction; Seal and Open may run
// concurrently with each other.
type Stream struct {
	tx, rx       *rcs.Cipher
	prevRx       *rcs.Cipher // the receive cipher before the last re-key, until a record opens under the new one
	txSeq, rxSeq uint64
	tagSize      int
	server       bool // the receiver role of digest 8.2: rx = pair 1
	cfg          [34]byte
	rtcs         []byte
	threshold    uint64
	// datagramSecret is refreshed by every ratchet, for carriers that derive
	// datagram keys from it.
	datagramSecret []byte
}

// StreamConfig holds what a Stream needs besides its two ciphers.
type StreamConfig struct {
	// TxSeq and RxSeq are the counters after the handshake (2 for QSMS, 3
	// for QSMD); the first data record carries TxSeq+1.
	TxSeq, RxSeq uint64
	// Server is true on the QSMS server and the QSMD listener: the side that
	// receives on ratchet pair 1.
	Server bool
	// Config is the 34-byte configuration string, the ratchet KDF's name.
	Config [34]byte
	// RTCS is the ratchet seed (32 bytes QSMS, 64 QSMD).
	RTCS []byte
	// DatagramSecret is the datagram-profile secret of the current keys.
	DatagramSecret []byte
	// Threshold is the time window in seconds (0 disables the check).
	Threshold uint64
}

// NewStream returns a stream-profile state over the two ciphers, which it
// takes ownership of. Either may be nil for a state that only seals or only
// opens (tests, captures).
func NewStream(tx, rx *rcs.Cipher, cfg StreamConfig) *Stream {
	tag := 0
	if tx != nil {
		tag = tx.TagSize()
	} else if rx != nil {
		tag = rx.TagSize()
	}
	return &Stream{
		tx: tx, rx: rx,
		txSeq: cfg.TxSeq, rxSeq: cfg.RxSeq,
		tagSize:        tag,
		server:         cfg.Server,
		cfg:            cfg.Config,
		rtcs:           append([]byte(nil), cfg.RTCS...),
		datagramSecret: append([]byte(nil), cfg.DatagramSecret...),
		threshold:      cfg.Threshold,
	}
}

// The methods of a nil *Stream do not panic: the accessors return zero
// values and the others ErrClosed (or nothing, for Clear).

// TagSize returns the RCS tag size: 32 (QSMS) or 64 (QSMD).
func (s *Stream) TagSize() int {
	if s == nil {
		return 0
	}
	return s.tagSize
}

// TxSeq returns the sequence number of the last record sealed.
func (s *Stream) TxSeq() uint64 {
	if s == nil {
		return 0
	}
	return s.txSeq
}

// RxSeq returns the sequence number of the last record opened.
func (s *Stream) RxSeq() uint64 {
	if s == nil {
		return 0
	}
	return s.rxSeq
}

// DatagramSecret returns a copy of the datagram-profile secret that goes with
// the current keys.
func (s *Stream) DatagramSecret() []byte {
	if s == nil {
		return nil
	}
	return append([]byte(nil), s.datagramSecret...)
}

// Seal protects a data message (flag 0x04) with the current time.
func (s *Stream) Seal(plaintext []byte, now uint64) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, ErrEmpty
	}
	return s.SealFlag(FlagEncryptedMessage, plaintext, now)
}

// SealFlag protects any encrypted record: the sequence number is
// pre-incremented, the header (flag, |P|+T, seq, utctime) is the AD, and the
// message is ciphertext ‖ tag (digest 8.1). QSMD ratchet records pass
// utctime 0, as the C code does. The last sequence number is 2^64-1: after
// it SealFlag fails with ErrTooLarge rather than wrap to 0.
func (s *Stream) SealFlag(flag Flag, plaintext []byte, utctime uint64) ([]byte, error) {
	if s == nil || s.tx == nil {
		return nil, ErrClosed
	}
	if s.txSeq == ^uint64(0) {
		return nil, fmt.Errorf("%w: sequence numbers exhausted", ErrTooLarge)
	}
	limit := s.maxPlaintext(flag)
	if len(plaintext) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), limit)
	}
	h := Header{Flag: flag, MsgLen: uint32(len(plaintext) + s.tagSize), Sequence: s.txSeq + 1, UTCTime: utctime}
	out := make([]byte, HeaderSize, HeaderSize+len(plaintext)+s.tagSize)
	h.Put(out)
	out = s.tx.Seal(out, out[:HeaderSize], plaintext)
	s.txSeq++
	return out, nil
}

// maxPlaintext returns the largest plaintext of a record with this flag:
// StreamMaxPlaintext, or AsymmetricRatchetMax for asymmetric-ratchet
// records (a McEliece ratchet request is far above the C limit; the C code
// cannot carry it at all, we can: docs/COMPATIBILITY.md).
func (s *Stream) maxPlaintext(flag Flag) int {
	if flag == FlagAsymmetricRatchetRequest || flag == FlagAsymmetricRatchetResponse {
		return AsymmetricRatchetMax
	}
	return StreamMaxPlaintext(s.tagSize)
}

// isRatchet reports the flags whose records the C code does not time-check.
func isRatchet(f Flag) bool {
	return f == FlagAsymmetricRatchetRequest || f == FlagAsymmetricRatchetResponse || f == FlagSymmetricRatchetRequest
}

// Open verifies and decrypts one whole record, with the checks in the C
// order (digest 8.1): sequence rx+1 (there is none after 2^64-1), time
// (not for ratchet records), msglen above the tag (exactly 1 + T for error
// packets) and within the limit SealFlag enforces, then the tag. Errors
// wrap a sentinel of this package and the Code the C code would report.
func (s *Stream) Open(pkt []byte, now uint64) (Header, []byte, error) {
	if s == nil || s.rx == nil {
		return Header{}, nil, ErrClosed
	}
	p, err := ParsePacket(pkt)
	if err != nil {
		return Header{}, nil, fmt.Errorf("%w (%w)", err, CodeReceiveFailure)
	}
	h := p.Header
	if h.Sequence != s.rxSeq+1 || s.rxSeq == ^uint64(0) {
		return h, nil, fmt.Errorf("%w: %d, want %d (%w)", ErrSequence, h.Sequence, s.rxSeq+1, CodePacketUnsequenced)
	}
	if !isRatchet(h.Flag) {
		if err := CheckTime(now, h.UTCTime, s.threshold); err != nil {
			return h, nil, fmt.Errorf("%w (%w)", err, CodeMessageTimeInvalid)
		}
	}
	if int(h.MsgLen) <= s.tagSize || int(h.MsgLen) > s.maxPlaintext(h.Flag)+s.tagSize ||
		(h.Flag == FlagErrorCondition && int(h.MsgLen) != 1+s.tagSize) {
		return h, nil, fmt.Errorf("%w: %d (%w)", ErrMessageSize, h.MsgLen, CodeReceiveFailure)
	}
	// TryOpen leaves the cipher unchanged when the tag does not verify.
	pt, err := s.rx.TryOpen(nil, pkt[:HeaderSize], p.Message)
	if err == nil {
		if s.prevRx != nil { // the peer has moved to the new keys
			s.prevRx.Clear()
			s.prevRx = nil
		}
		s.rxSeq++
		return h, pt, nil
	}
	if s.prevRx != nil {
		// A record the peer sealed before it saw our re-key (see Rekey).
		if pt, err := s.prevRx.TryOpen(nil, pkt[:HeaderSize], p.Message); err == nil {
			s.rxSeq++
			return h, pt, nil
		}
	}
	return h, nil, fmt.Errorf("%w (%w)", ErrAuth, CodeAuthenticationFailure)
}

// SealClose returns the encrypted error packet that ends a session (digest
// 2.4): flag 0x14 carrying the one-byte code; CodeNone is the normal close.
func (s *Stream) SealClose(code Code, now uint64) ([]byte, error) {
	return s.SealFlag(FlagErrorCondition, []byte{byte(code)}, now)
}

// SealRatchetRequest sends a symmetric ratchet request carrying the 32-byte
// token (digest 8.2) and then re-keys both directions. QSMS records carry the
// time, QSMD records carry 0 as in the C code.
func (s *Stream) SealRatchetRequest(token []byte, now uint64) ([]byte, error) {
	if len(token) != 32 {
		return nil, fmt.Errorf("%w: ratchet token of %d bytes", ErrMessageSize, len(token))
	}
	if s == nil || s.tx == nil || s.rx == nil {
		// Refused before sealing: a request that cannot be followed by the
		// re-key must not consume a sequence number or cipher state.
		return nil, ErrClosed
	}
	if s.tagSize == 64 {
		now = 0
	}
	out, err := s.SealFlag(FlagSymmetricRatchetRequest, token, now)
	if err != nil {
		return nil, err
	}
	if err := s.Rekey(token); err != nil {
		return nil, err
	}
	return out, nil
}

// Rekey re-initializes both ciphers from secret (a ratchet token or an
// asymmetric-ratchet KEM secret) as digest 8.2 says, with the role mapping
// made consistent in QSMS too: the server receives on pair 1. Sequence
// numbers carry on.
//
// Records the peer sealed before it learned of the re-key are still in
// flight (digest 12.12). The previous receive cipher is therefore kept and
// tried when a record fails under the new one, until the first record opens
// under the new keys; on an ordered stream that is exactly the records sent
// before the peer switched. See docs/COMPATIBILITY.md.
func (s *Stream) Rekey(secret []byte) error {
	if s == nil || s.tx == nil || s.rx == nil {
		return ErrClosed
	}
	k := DeriveRatchet(s.tagSize == 64, secret, s.cfg[:], s.rtcs)
	defer k.Clear()
	c2s, err := rcs.New(k.C2SKey, k.C2SNonce)
	if err != nil {
		return err
	}
	s2c, err := rcs.New(k.S2CKey, k.S2CNonce)
	if err != nil {
		c2s.Clear()
		return err
	}
	s.tx.Clear()
	if s.prevRx != nil {
		s.prevRx.Clear()
	}
	s.prevRx = s.rx
	if s.server {
		s.rx, s.tx = c2s, s2c
	} else {
		s.tx, s.rx = c2s, s2c
	}
	clear(s.rtcs)
	clear(s.datagramSecret)
	s.rtcs = append(s.rtcs[:0], k.RTCS...)
	s.datagramSecret = append(s.datagramSecret[:0], k.DatagramSecret...)
	return nil
}

// Clear zeroes both ciphers and the ratchet seed; the state is unusable after.
func (s *Stream) Clear() {
	if s == nil {
		return
	}
	if s.tx != nil {
		s.tx.Clear()
	}
	if s.rx != nil {
		s.rx.Clear()
	}
	if s.prevRx != nil {
		s.prevRx.Clear()
	}
	s.tx, s.rx, s.prevRx = nil, nil, nil
	clear(s.rtcs)
	clear(s.datagramSecret)
}

// PlainError returns the 22-byte unencrypted error packet of the handshake
// (digest 2.3): flag 0x14, msglen 1, sequence 0xFF00000000000000.
func PlainError(code Code, now uint64) []byte {
	h := Header{Flag: FlagErrorCondition, MsgLen: 1, Sequence: ErrorSequence, UTCTime: now}
	return append(h.Append(make([]byte, 0, HeaderSize+1)), byte(code))
}

// ParsePlainError recognizes an unencrypted error packet and returns its code.
func ParsePlainError(pkt []byte) (Code, error) {
	p, err := ParsePacket(pkt)
	if err != nil {
		return 0, err
	}
	if p.Flag != FlagErrorCondition || p.MsgLen != 1 || p.Sequence != ErrorSequence {
		return 0, fmt.Errorf("%w: not an unencrypted error packet", ErrFlag)
	}
	return Code(p.Message[0]), nil
}
