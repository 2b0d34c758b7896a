package record

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/window"
)

// DatagramMaxPlaintext is the largest plaintext of a datagram-profile record:
// each record owns 2^11 counter blocks of 32 bytes, less one block of slack
// so that a record's blocks never reach its successor's (65,504 bytes).
const DatagramMaxPlaintext = (1<<11)*32 - 32

// datagramLabel is the function name of the datagram-profile key derivation;
// the version is part of it.
var datagramLabel = []byte("qsmp-go datagram v1")

// Direction names a traffic direction in the datagram profile.
type Direction uint8

// Directions.
const (
	ClientToServer Direction = 1
	ServerToClient Direction = 2
)

// DatagramKeys derives the RCS key and base nonce of one direction and epoch
// from the datagram secret (docs/DATAGRAM.md):
//
//	cSHAKE(rate, X = secret, N = "qsmp-go datagram v1", S = dir ‖ LE64(epoch))
//
// read as key (32 bytes QSMS at rate 136, 64 bytes QSMD at rate 72) ‖ base
// nonce (32 bytes).
func DatagramKeys(wide bool, secret []byte, dir Direction, epoch uint64) (*rcs.Key, [32]byte, error) {
	var base [32]byte
	if len(secret) != DatagramSecretSize {
		return nil, base, fmt.Errorf("record: datagram secret of %d bytes, want %d", len(secret), DatagramSecretSize)
	}
	if dir != ClientToServer && dir != ServerToClient {
		return nil, base, fmt.Errorf("record: bad direction %d", dir)
	}
	keyLen := 32
	if wide {
		keyLen = 64
	}
	sp := datagramSponge(wide, secret, dir, epoch)
	buf := make([]byte, keyLen+32)
	sp.Read(buf)
	sp.Clear()
	key, err := rcs.NewKey(buf[:keyLen], nil)
	copy(base[:], buf[keyLen:])
	clear(buf)
	return key, base, err
}

// datagramSponge returns the XOF of DatagramKeys, ready to read.
func datagramSponge(wide bool, secret []byte, dir Direction, epoch uint64) keccak.Sponge {
	rate := keccak.Rate256
	if wide {
		rate = keccak.Rate512
	}
	var custom [9]byte
	custom[0] = byte(dir)
	binary.LittleEndian.PutUint64(custom[1:], epoch)
	sp, _ := keccak.NewCSHAKE(rate, datagramLabel, custom[:])
	sp.Write(secret)
	return sp
}

// RecordNonce returns the RCS counter at which record seq starts:
// base + seq·2^11 as 256-bit little-endian integers.
func RecordNonce(base *[32]byte, seq uint64) [32]byte {
	// seq·2^11 spans bits 11..74: add it limb by limb with carry.
	var n [32]byte
	l0, c := bits.Add64(binary.LittleEndian.Uint64(base[0:]), seq<<11, 0)
	l1, c := bits.Add64(binary.LittleEndian.Uint64(base[8:]), seq>>53, c)
	l2, c := bits.Add64(binary.LittleEndian.Uint64(base[16:]), 0, c)
	l3, _ := bits.Add64(binary.LittleEndian.Uint64(base[24:]), 0, c)
	binary.LittleEndian.PutUint64(n[0:], l0)
	binary.LittleEndian.PutUint64(n[8:], l1)
	binary.LittleEndian.PutUint64(n[16:], l2)
	binary.LittleEndian.PutUint64(n[24:], l3)
	return n
}

// Sealer seals the datagram-profile records of one direction and epoch. The
// sequence counter belongs to the direction and is shared across epochs; Seal
// takes the next number from it, so no caller can choose or repeat one.
// Sealer is safe for concurrent use.
type Sealer struct {
	key     *rcs.Key
	base    [32]byte
	counter *atomic.Uint64
}

// NewSealer returns a sealer over key and base nonce drawing sequence numbers
// from counter (the last number used; the first record carries counter+1).
func NewSealer(key *rcs.Key, base [32]byte, counter *atomic.Uint64) *Sealer {
	return &Sealer{key: key, base: base, counter: counter}
}

// usable reports whether s has a key that is not cleared and a counter:
// nil and zero-value Sealers are refused with ErrClosed rather than a panic.
func (s *Sealer) usable() bool {
	return s != nil && s.key != nil && s.key.TagSize() != 0 && s.counter != nil
}

// next takes the next sequence number. The last one is 2^64-1; after it
// every call fails and the counter stays at 2^64-1. It never lets the
// counter wrap, not even for an instant, so that concurrent callers can
// never be handed a number (1, 2, ...) that was used before.
func (s *Sealer) next() (uint64, error) {
	for {
		cur := s.counter.Load()
		if cur == ^uint64(0) { // 2^64-1 records: never reuse a nonce
			return 0, fmt.Errorf("%w: sequence numbers exhausted", ErrTooLarge)
		}
		if s.counter.CompareAndSwap(cur, cur+1) {
			return cur + 1, nil
		}
	}
}

// Overhead returns header plus tag bytes added to each plaintext.
func (s *Sealer) Overhead() int { return HeaderSize + s.key.TagSize() }

// Seal appends header ‖ ciphertext ‖ tag to dst. The AD is prefix ‖ header,
// where prefix is the carrier's envelope (it may be empty). It returns the
// sequence number used.
func (s *Sealer) Seal(dst, prefix []byte, flag Flag, plaintext []byte, now uint64) ([]byte, uint64, error) {
	if !s.usable() {
		return dst, 0, fmt.Errorf("%w: sealer without keys", ErrClosed)
	}
	if len(plaintext) > DatagramMaxPlaintext {
		return dst, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), DatagramMaxPlaintext)
	}
	seq, err := s.next()
	if err != nil {
		return dst, 0, err
	}
	h := Header{Flag: flag, MsgLen: uint32(len(plaintext) + s.key.TagSize()), Sequence: seq, UTCTime: now}
	nonce := RecordNonce(&s.base, seq)
	start := len(dst)
	dst = h.Append(dst)
	var adBuf [256]byte
	ad := append(append(adBuf[:0], prefix...), dst[start:start+HeaderSize]...)
	dst = s.key.SealOnce(dst, &nonce, ad, plaintext)
	return dst, seq, nil
}

// Opener opens the datagram-profile records of one direction and epoch,
// with the direction's acceptance window (shared across epochs).
type Opener struct {
	key       *rcs.Key
	base      [32]byte
	win       *window.Sync
	drops     *window.Drops
	threshold uint64
}

// NewOpener returns an opener over key and base nonce; win is the
// direction's window, drops counts rejections by reason (may be nil), and
// threshold is the time window in seconds (0 disables it).
func NewOpener(key *rcs.Key, base [32]byte, win *window.Sync, drops *window.Drops, threshold uint64) *Opener {
	return &Opener{key: key, base: base, win: win, drops: drops, threshold: threshold}
}

// usable reports whether o has a key that is not cleared and a window:
// nil and zero-value Openers are refused with ErrClosed rather than a
// panic, and count nothing.
func (o *Opener) usable() bool {
	return o != nil && o.key != nil && o.key.TagSize() != 0 && o.win != nil
}

// errNoKeys is the error of an Opener that is not usable.
var errNoKeys = fmt.Errorf("%w: opener without keys", ErrClosed)

func (o *Opener) drop(r window.Reason) {
	if o.drops != nil {
		o.drops.Add(r)
	}
}

// Reopen opens a copy of a record the window has already accepted (the
// window calls it a duplicate), checking the time and the tag as Open does
// but neither consulting nor moving the window, and counting nothing. It
// is for a carrier that must learn whether a copy that came from
// somewhere else is authentic (an attacker's copy may have overtaken the
// original; docs/DATAGRAM.md 7.5). The plaintext is appended to dst.
func (o *Opener) Reopen(dst, prefix, pkt []byte, now uint64) (Header, []byte, error) {
	if !o.usable() {
		return Header{}, dst, errNoKeys
	}
	h, msg, err := o.parse(pkt)
	if err != nil {
		return h, dst, err
	}
	if err := CheckTime(now, h.UTCTime, o.threshold); err != nil {
		return h, dst, err
	}
	out, err := o.openMessage(dst, prefix, pkt, msg, h.Sequence)
	return h, out, err
}

// parse parses a record and checks its message size (checkSize); it
// returns the header and the message (ciphertext ‖ tag).
func (o *Opener) parse(pkt []byte) (Header, []byte, error) {
	p, err := ParsePacket(pkt)
	if err != nil {
		return Header{}, nil, err
	}
	if err := o.checkSize(p.Header.MsgLen); err != nil {
		return p.Header, nil, err
	}
	return p.Header, p.Message, nil
}

// checkSize checks that a message of msglen bytes holds a tag and at most
// DatagramMaxPlaintext bytes besides: a longer record, even an authentic
// one, would run its counter blocks into those of the next sequence number.
func (o *Opener) checkSize(msglen uint32) error {
	tag := o.key.TagSize()
	if int(msglen) < tag || int(msglen) > DatagramMaxPlaintext+tag {
		return fmt.Errorf("%w: %d", ErrMessageSize, msglen)
	}
	return nil
}

// openMessage verifies and decrypts the message of record pkt (sequence
// seq), its AD prefix ‖ header, appending the plaintext to dst.
func (o *Opener) openMessage(dst, prefix, pkt, msg []byte, seq uint64) ([]byte, error) {
	nonce := RecordNonce(&o.base, seq)
	var adBuf [256]byte
	ad := append(append(adBuf[:0], prefix...), pkt[:HeaderSize]...)
	out, err := o.key.OpenOnce(dst, &nonce, ad, msg)
	if err != nil {
		return dst, fmt.Errorf("%w: sequence %d", ErrAuth, seq)
	}
	return out, nil
}

// Open verifies one record in the order of RFC 4303: parse; read-only window
// pre-check (replays are dropped before any cryptography); time; tag; then
// the atomic check-and-set of the window. An unverified sequence number
// never moves anything. The plaintext is appended to dst.
func (o *Opener) Open(dst, prefix, pkt []byte, now uint64) (Header, []byte, error) {
	if !o.usable() {
		return Header{}, dst, errNoKeys
	}
	h, msg, err := o.parse(pkt)
	if err != nil {
		return h, dst, err
	}
	if err := o.win.Check(h.Sequence); err != nil {
		if r, ok := window.ReasonOf(err); ok {
			o.drop(r)
		}
		return h, dst, err
	}
	if err := CheckTime(now, h.UTCTime, o.threshold); err != nil {
		o.drop(window.ReasonTime)
		return h, dst, err
	}
	out, err := o.openMessage(dst, prefix, pkt, msg, h.Sequence)
	if err != nil {
		o.drop(window.ReasonAuth)
		return h, dst, err
	}
	if err := o.win.CheckAndSet(h.Sequence); err != nil {
		// A concurrent receiver accepted the same record first.
		if r, ok := window.ReasonOf(err); ok {
			o.drop(r)
		}
		clear(out[len(dst):])
		return h, dst, err
	}
	return h, out, nil
}
