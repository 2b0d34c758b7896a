// Package rcs implements RCS-256 and RCS-512, the authenticated stream cipher
// of the QSC library that QSMP protects its traffic with (digest section 7).
//
// RCS is Rijndael with a 256-bit block (22 rounds for RCS-256, 30 for
// RCS-512) in counter mode, keyed by a cSHAKE key schedule, and authenticated
// by QSC's KMAC (rate 136 for RCS-256, the non-standard rate 72 for RCS-512).
// Two properties set it apart from an ordinary AEAD:
//
//   - The 32-byte nonce is a 256-bit little-endian block counter that runs on
//     across messages: message n+1 starts at the block after message n.
//   - The KMAC sponge is never reset: each tag covers the whole history of the
//     cipher state, so messages can only be opened in order.
//
// A [Cipher] is that running state (the stream record profile and the
// handshake use it). A [Key] is the immutable expanded key; its SealOnce and
// OpenOnce process one message on a fresh state at a caller-chosen nonce,
// which is what the datagram record profile needs.
//
// The block function has three implementations with identical output, all
// constant-time: on amd64, VAES on 512-bit registers (AVX-512 with VBMI) or
// AES-NI with SSE4.1 and SSSE3, whichever the CPU has; everywhere, a portable
// bitsliced one that uses no tables (build tag purego forces it).
package rcs

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"unsafe"

	"github.com/qsmp-go/qsmp/crypto/keccak"
)

// Sizes in bytes.
const (
	// NonceSize is the size of the nonce (the initial counter block).
	NonceSize = 32
	// BlockSize is the Rijndael-256 block size, the unit the counter counts.
	BlockSize = 32
	// KeySize256 is the key size of RCS-256.
	KeySize256 = 32
	// KeySize512 is the key size of RCS-512.
	KeySize512 = 64
	// TagSize256 is the tag size of RCS-256.
	TagSize256 = 32
	// TagSize512 is the tag size of RCS-512.
	TagSize512 = 64
)

const (
	rounds256 = 22
	rounds512 = 30
	maxRounds = rounds512
)

// Errors returned by this package; test with errors.Is.
var (
	// ErrKeySize reports a key that is neither 32 nor 64 bytes.
	ErrKeySize = errors.New("rcs: key must be 32 bytes (RCS-256) or 64 bytes (RCS-512)")
	// ErrNonceSize reports a nonce that is not 32 bytes.
	ErrNonceSize = errors.New("rcs: nonce must be 32 bytes")
	// ErrAuth reports a tag that does not match.
	ErrAuth = errors.New("rcs: message authentication failed")
	// ErrShort reports a ciphertext shorter than the tag. It is also an
	// authentication failure: errors.Is(ErrShort, ErrAuth) is true.
	ErrShort error = shortError{}
)

// shortError is the type of ErrShort.
type shortError struct{}

func (shortError) Error() string { return "rcs: ciphertext shorter than the tag" }

// Is makes ErrShort match ErrAuth as well.
func (shortError) Is(target error) bool { return target == ErrAuth }

// Cipher names: the cSHAKE function-name string N of the key schedule
// (digest 7.2): 0x01, eight zero bytes, 0x01 or 0x02, then "RCSK256" or
// "RCSK512".
var (
	name256 = []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 'R', 'C', 'S', 'K', '2', '5', '6'}
	name512 = []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 'R', 'C', 'S', 'K', '5', '1', '2'}
)

// Key is an expanded RCS key: the round keys and the KMAC keyed with the MAC
// key, about 1.4 KB. It is immutable after NewKey and safe for concurrent
// use; every message works on a copy of the keyed KMAC. The round keys are
// kept as bytes, the form AES-NI takes; the portable block function derives
// its bit planes from them on the stack for each call.
type Key struct {
	rounds  int
	tagSize int
	rk      [(maxRounds + 1) * BlockSize]byte
	mac     keccak.KMAC
	// refs counts the Ciphers that own k together: a Cipher from New and
	// its clones. The last one to be cleared clears k.
	refs atomic.Int32
}

// NewKey expands key with the customization string info (S of the key
// schedule's cSHAKE; QSMP always uses an empty info). A 32-byte key selects
// RCS-256 and a 64-byte key RCS-512; any other length is ErrKeySize.
//
// The schedule (digest 7.2): cSHAKE with X = key, N = the 17-byte cipher name
// and S = info, at rate 136 (RCS-256) or 72 (RCS-512). The first 32·(R+1)
// output bytes are the round keys, taken byte for byte; the MAC key is the
// start of the next whole output block (stream offset 816 for RCS-256, 1008
// for RCS-512); the KMAC is keyed with it at the same rate with an empty
// customization.
func NewKey(key, info []byte) (*Key, error) {
	k := new(Key)
	if err := k.init(key, info); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Key) init(key, info []byte) error {
	var rate int
	var name []byte
	switch len(key) {
	case KeySize256:
		rate, name, k.rounds, k.tagSize = keccak.Rate256, name256, rounds256, TagSize256
	case KeySize512:
		rate, name, k.rounds, k.tagSize = keccak.Rate512, name512, rounds512, TagSize512
	default:
		return ErrKeySize
	}
	xof, err := keccak.NewCSHAKE(rate, name, info)
	if err != nil {
		return err
	}
	xof.Write(key)
	n := (k.rounds + 1) * BlockSize
	xof.Read(k.rk[:n])
	// Discard the rest of the last block of round-key material.
	var skip [keccak.Rate256]byte
	if r := n % rate; r != 0 {
		xof.Read(skip[:rate-r])
	}
	var mk [KeySize512]byte
	xof.Read(mk[:k.tagSize])
	k.mac, err = keccak.NewKMAC(rate, mk[:k.tagSize], nil)
	clear(mk[:])
	clear(skip[:])
	xof.Clear()
	return err
}

// TagSize returns the tag size: 32 for RCS-256, 64 for RCS-512.
func (k *Key) TagSize() int { return k.tagSize }

// Wide reports whether k is an RCS-512 key.
func (k *Key) Wide() bool { return k.rounds == rounds512 }

// Clear zeroes the key schedule and the keyed MAC. The key must not be used
// afterwards, neither directly nor by a Cipher sharing it.
func (k *Key) Clear() {
	*k = Key{}
}

// XORKeyStream XORs src with the keystream starting at counter block *ctr
// and writes the result to dst, which must be at least as long as src and
// may be src itself (but must not overlap it otherwise). The counter is a
// 256-bit little-endian integer; it advances by ceil(len(src)/32) blocks,
// the unused end of a final partial block being discarded.
//
// Like crypto/cipher.Stream, XORKeyStream panics if dst is shorter than src
// or overlaps it inexactly: both are programming errors, not bad input.
func (k *Key) XORKeyStream(dst, src []byte, ctr *[32]byte) {
	k.mustBeExpanded()
	if len(dst) < len(src) {
		panic("rcs: output smaller than input")
	}
	if inexactOverlap(dst[:len(src)], src) {
		panic("rcs: invalid buffer overlap")
	}
	xorKeyStream(k, dst[:len(src)], src, ctr)
}

// mustBeExpanded panics on a zero or cleared Key (a programming error),
// which would otherwise run the block function with zero rounds.
func (k *Key) mustBeExpanded() {
	if k.rounds == 0 {
		panic("rcs: Key not made by NewKey, or cleared")
	}
}

// absorbAD absorbs AD ‖ LE32(len(AD)) when AD is not empty
// (qsc_rcs_set_associated).
func absorbAD(mac *keccak.KMAC, ad []byte) {
	if len(ad) == 0 {
		return
	}
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(ad)))
	mac.Write(ad)
	mac.Write(l[:])
}

// absorbLength absorbs LE64(32 + ctrBytes + 8), the trailing length field of
// each message (digest 7.5 step 5).
func absorbLength(mac *keccak.KMAC, ctrBytes uint64) {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], NonceSize+ctrBytes+8)
	mac.Write(l[:])
}

// seal encrypts pt into out[:len(pt)] and writes the tag to
// out[len(pt):len(pt)+tagSize], advancing mac, nonce and ctrBytes
// (digest 7.6, Encrypt).
func (k *Key) seal(mac *keccak.KMAC, nonce *[32]byte, ctrBytes *uint64, out, ad, pt []byte) {
	k.mustBeExpanded()
	absorbAD(mac, ad)
	*ctrBytes += uint64(len(pt))
	mac.Write(nonce[:])
	ct := out[:len(pt)]
	xorKeyStream(k, ct, pt, nonce)
	mac.Write(ct)
	absorbLength(mac, *ctrBytes)
	mac.Finalize(out[len(pt) : len(pt)+k.tagSize])
}

// open checks the tag of ct and, only if it matches, decrypts ct into out
// (digest 7.6, Decrypt). The MAC and ctrBytes advance in any case; the nonce
// advances only on success.
func (k *Key) open(mac *keccak.KMAC, nonce *[32]byte, ctrBytes *uint64, out, ad, ct, tag []byte) error {
	k.mustBeExpanded()
	absorbAD(mac, ad)
	*ctrBytes += uint64(len(ct))
	mac.Write(nonce[:])
	mac.Write(ct)
	absorbLength(mac, *ctrBytes)
	var want [TagSize512]byte
	mac.Finalize(want[:k.tagSize])
	ok := subtle.ConstantTimeCompare(want[:k.tagSize], tag) == 1
	clear(want[:])
	if !ok {
		return ErrAuth
	}
	xorKeyStream(k, out, ct, nonce)
	return nil
}

// SealOnce encrypts and authenticates one message on a fresh cipher state at
// the given nonce and appends ciphertext ‖ tag to dst: the output equals that
// of New(key, nonce) followed by one Seal. *nonce is not modified. dst may be
// plaintext[:0]; otherwise it must not overlap plaintext.
//
// SealOnce does no key schedule and allocates only when dst lacks capacity.
func (k *Key) SealOnce(dst []byte, nonce *[32]byte, ad, plaintext []byte) []byte {
	ret, out := sliceForAppend(dst, len(plaintext)+k.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("rcs: invalid buffer overlap")
	}
	mac := k.mac
	n := *nonce
	ctrBytes := uint64(1)
	k.seal(&mac, &n, &ctrBytes, out, ad, plaintext)
	mac.Clear()
	return ret
}

// OpenOnce checks and decrypts one message sealed by SealOnce (or by the
// first Seal of a fresh Cipher) at the given nonce, appending the plaintext
// to dst. It returns ErrShort if the input is shorter than the tag and
// ErrAuth if the tag does not match; then nothing is written. *nonce is not
// modified. dst may be ciphertextAndTag[:0]; otherwise it must not overlap
// the input.
func (k *Key) OpenOnce(dst []byte, nonce *[32]byte, ad, ciphertextAndTag []byte) ([]byte, error) {
	if len(ciphertextAndTag) < k.tagSize {
		return nil, ErrShort
	}
	ct := ciphertextAndTag[:len(ciphertextAndTag)-k.tagSize]
	tag := ciphertextAndTag[len(ct):]
	ret, out := sliceForAppend(dst, len(ct))
	if inexactOverlap(out, ciphertextAndTag) {
		panic("rcs: invalid buffer overlap")
	}
	mac := k.mac
	n := *nonce
	ctrBytes := uint64(1)
	err := k.open(&mac, &n, &ctrBytes, out, ad, ct, tag)
	mac.Clear()
	if err != nil {
		return nil, err
	}
	return ret, nil
}

// Cipher is a running RCS state, as qsc_rcs_state is: the key, the current
// nonce (counter), the running KMAC and the byte counter ctr_bytes. Each
// Seal or Open advances it, so the two ends must process the same messages
// in the same order. A Cipher is not safe for concurrent use.
type Cipher struct {
	key      *Key
	ownsKey  bool
	nonce    [NonceSize]byte
	mac      keccak.KMAC
	ctrBytes uint64
}

// New returns a Cipher for key (32 bytes: RCS-256, 64 bytes: RCS-512) with an
// empty info string, as QSMP uses it, starting at nonce (32 bytes).
func New(key, nonce []byte) (*Cipher, error) {
	return NewWithInfo(key, nonce, nil)
}

// NewWithInfo is New with a customization string info for the key schedule.
func NewWithInfo(key, nonce, info []byte) (*Cipher, error) {
	if len(key) != KeySize256 && len(key) != KeySize512 {
		return nil, ErrKeySize
	}
	if len(nonce) != NonceSize {
		return nil, ErrNonceSize
	}
	k, err := NewKey(key, info)
	if err != nil {
		return nil, err
	}
	c := k.NewCipher((*[NonceSize]byte)(nonce))
	c.ownsKey = true
	k.refs.Store(1)
	return c, nil
}

// NewCipher returns a fresh Cipher at nonce that shares k (which must then
// stay uncleared while the Cipher is in use).
func (k *Key) NewCipher(nonce *[32]byte) *Cipher {
	return &Cipher{key: k, nonce: *nonce, mac: k.mac, ctrBytes: 1}
}

// TagSize returns the tag size: 32 for RCS-256, 64 for RCS-512.
func (c *Cipher) TagSize() int { return c.key.tagSize }

// Wide reports whether c is an RCS-512 cipher.
func (c *Cipher) Wide() bool { return c.key.Wide() }

// Nonce returns the current nonce: the counter block the next message
// starts at.
func (c *Cipher) Nonce() [32]byte { return c.nonce }

// Seal encrypts and authenticates plaintext with associated data ad,
// appends ciphertext ‖ tag to dst and returns the result, advancing the
// state. An empty ad is not absorbed at all (QSMP always passes the 21-byte
// header). dst may be plaintext[:0]; otherwise it must not overlap
// plaintext.
func (c *Cipher) Seal(dst, ad, plaintext []byte) []byte {
	ret, out := sliceForAppend(dst, len(plaintext)+c.key.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("rcs: invalid buffer overlap")
	}
	c.key.seal(&c.mac, &c.nonce, &c.ctrBytes, out, ad, plaintext)
	return ret
}

// Open checks the tag of ciphertextAndTag and, if it matches, decrypts it,
// appends the plaintext to dst and returns the result. dst may be
// ciphertextAndTag[:0]; otherwise it must not overlap the input.
//
// As in the C implementation, a failed Open still advances the state: the
// MAC has absorbed the message and produced its tag, and ctr_bytes has grown
// by the ciphertext length, while the nonce has not moved. The state then no
// longer matches the sender's, so every later message fails as well. Open a
// Clone when a failure must leave the state untouched. An input shorter than
// the tag is rejected with ErrShort before anything changes.
func (c *Cipher) Open(dst, ad, ciphertextAndTag []byte) ([]byte, error) {
	ts := c.key.tagSize
	if len(ciphertextAndTag) < ts {
		return nil, ErrShort
	}
	ct := ciphertextAndTag[:len(ciphertextAndTag)-ts]
	tag := ciphertextAndTag[len(ct):]
	ret, out := sliceForAppend(dst, len(ct))
	if inexactOverlap(out, ciphertextAndTag) {
		panic("rcs: invalid buffer overlap")
	}
	if err := c.key.open(&c.mac, &c.nonce, &c.ctrBytes, out, ad, ct, tag); err != nil {
		return nil, err
	}
	return ret, nil
}

// TryOpen is Open, except that a failure leaves c exactly as it was: the
// running MAC and the byte counter advance only when the tag matches. It is
// what opening a Clone and keeping it only on success does, without the
// Clone: it allocates nothing beyond dst's growth.
func (c *Cipher) TryOpen(dst, ad, ciphertextAndTag []byte) ([]byte, error) {
	ts := c.key.tagSize
	if len(ciphertextAndTag) < ts {
		return nil, ErrShort
	}
	ct := ciphertextAndTag[:len(ciphertextAndTag)-ts]
	tag := ciphertextAndTag[len(ct):]
	ret, out := sliceForAppend(dst, len(ct))
	if inexactOverlap(out, ciphertextAndTag) {
		panic("rcs: invalid buffer overlap")
	}
	mac, nonce, ctrBytes := c.mac, c.nonce, c.ctrBytes
	err := c.key.open(&mac, &nonce, &ctrBytes, out, ad, ct, tag)
	if err == nil {
		c.mac, c.nonce, c.ctrBytes = mac, nonce, ctrBytes
	}
	mac.Clear()
	if err != nil {
		return nil, err
	}
	return ret, nil
}

// Clone returns an independent copy of c: its own nonce, running MAC and
// byte counter (one allocation of about 450 bytes), sharing c's immutable
// Key. Clones of a Cipher from New own the Key together with it: clearing
// one of them leaves the Key to the others, and the last one cleared
// zeroes it. A Cipher from Key.NewCipher and its clones never clear the
// Key.
func (c *Cipher) Clone() *Cipher {
	d := *c
	if c.ownsKey && c.key != nil {
		c.key.refs.Add(1)
	}
	return &d
}

// Clear zeroes the state: nonce and running MAC, and the Key when c is the
// last Cipher that owns it (see Clone). The Cipher must not be used
// afterwards; clearing it again does nothing.
func (c *Cipher) Clear() {
	if c.ownsKey && c.key != nil && c.key.refs.Add(-1) == 0 {
		c.key.Clear()
	}
	c.mac.Clear()
	*c = Cipher{}
}

// sliceForAppend extends in by n bytes, reusing its capacity when it can, and
// returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}

// inexactOverlap reports whether x and y share memory at different offsets.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	x0, y0 := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	return x0 <= y0+uintptr(len(y)-1) && y0 <= x0+uintptr(len(x)-1)
}
