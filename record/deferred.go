package record

import (
	"fmt"
	"sync"

	"github.com/qsmp-go/qsmp/crypto/rcs"
)

// Deferred is a record whose header is written and whose plaintext is
// copied into place by Sealer.Defer, waiting to be encrypted and
// authenticated in place by SealDeferred, together with others. Its
// sequence number is taken, so it must be sealed (or its buffer dropped,
// which leaves a gap the receiver's window tolerates).
type Deferred struct {
	nonce [32]byte
	ad    [MaxBatchAD]byte
	adLen uint8
	ptOff int // where the plaintext starts in the record's buffer
	ptLen int
}

// Defer is Seal without the cryptography: it appends the header and the
// plaintext to dst, with room for the tag, and returns the record's buffer
// (its final length) and the sequence number; *d receives what
// SealDeferred needs. The AD (prefix ‖ header) must fit MaxBatchAD bytes.
// The record is not protected until SealDeferred seals it in place.
func (s *Sealer) Defer(d *Deferred, dst, prefix []byte, flag Flag, plaintext []byte, now uint64) ([]byte, uint64, error) {
	if !s.usable() {
		return dst, 0, fmt.Errorf("%w: sealer without keys", ErrClosed)
	}
	if len(plaintext) > DatagramMaxPlaintext {
		return dst, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), DatagramMaxPlaintext)
	}
	if len(prefix)+HeaderSize > MaxBatchAD {
		return dst, 0, fmt.Errorf("%w: prefix of %d bytes", ErrTooLarge, len(prefix))
	}
	seq, err := s.next()
	if err != nil {
		return dst, 0, err
	}
	tag := s.key.TagSize()
	h := Header{Flag: flag, MsgLen: uint32(len(plaintext) + tag), Sequence: seq, UTCTime: now}
	d.nonce = RecordNonce(&s.base, seq)
	d.adLen = uint8(len(prefix) + HeaderSize)
	start := len(dst)
	dst = h.Append(dst)
	copy(d.ad[:], prefix)
	copy(d.ad[len(prefix):], dst[start:start+HeaderSize])
	d.ptOff, d.ptLen = len(dst), len(plaintext)
	dst = append(dst, plaintext...)
	dst = append(dst, make([]byte, tag)...)
	return dst, seq, nil
}

// deferredScratch is SealDeferred's working space, pooled (the cipher's
// batch keeps pointers into it).
type deferredScratch struct {
	ops [batchWidth]rcs.OnceOp
	ads [batchWidth][MaxBatchAD]byte
}

var deferredPool = sync.Pool{New: func() any { return new(deferredScratch) }}

// SealDeferred seals records from Defer in place: bufs[i] is the buffer
// Defer returned with *ds[i], and each must come from this Sealer (its key).
// The result is byte for byte what Seal would have produced. Up to sixteen
// records are sealed together (their tags eight at a time).
func (s *Sealer) SealDeferred(bufs [][]byte, ds []*Deferred) {
	sc := deferredPool.Get().(*deferredScratch)
	defer deferredPool.Put(sc)
	for len(ds) > 0 {
		n := min(len(ds), batchWidth)
		for i := range n {
			d := ds[i]
			pt := bufs[i][d.ptOff : d.ptOff+d.ptLen]
			copy(sc.ads[i][:], d.ad[:d.adLen])
			sc.ops[i] = rcs.OnceOp{Dst: pt[:0], Nonce: d.nonce, AD: sc.ads[i][:d.adLen], In: pt}
		}
		s.key.SealOnceBatch(sc.ops[:n])
		clear(sc.ops[:n])
		bufs, ds = bufs[n:], ds[n:]
	}
}
