package rcs

import (
	"crypto/subtle"
	"encoding/binary"

	"github.com/qsmp-go/qsmp/crypto/keccak"
)

// The small-message path of SealOnceBatch and OpenOnceBatch: runs of up to
// smallGroup ops whose messages are at most smallMaxLen bytes are processed
// with a scratch space a quarter of sealChunk's (zeroing it is a cost
// comparable to the work at these sizes) and with their keystreams packed
// together (see streamPack). keccak.KMAC.MultiSum takes such messages on its
// own small-message path: every lane's blocks built at once and absorbed
// in one eight-lane call.
const (
	smallGroup  = 8
	smallMaxLen = 256
)

// smallRun returns how many ops at the start of ops, at most smallGroup,
// have a message (In without its last extra bytes: 0 when sealing, the tag
// size when opening) of at most smallMaxLen bytes.
func smallRun(ops []OnceOp, extra int) int {
	n := 0
	for n < len(ops) && n < smallGroup && len(ops[n].In) <= smallMaxLen+extra {
		n++
	}
	return n
}

// generalRun returns how many ops at the start of ops, at least one and at
// most batchChunk, go to the general path: up to the first two
// consecutive short ops (which start a small-message run).
func generalRun(ops []OnceOp, extra int) int {
	n := 1
	for n < len(ops) && n < batchChunk {
		if n+1 < len(ops) && len(ops[n].In) <= smallMaxLen+extra && len(ops[n+1].In) <= smallMaxLen+extra {
			break
		}
		n++
	}
	return n
}

// smallScratch is macScratch for smallGroup messages.
type smallScratch struct {
	pieces [smallGroup][5][]byte
	adLen  [smallGroup][4]byte
	ctLen  [smallGroup][8]byte
	msgs   [smallGroup]keccak.MultiMessage
}

// sealSmall seals up to smallGroup short ops, as sealChunk does: every
// keystream first (packed), then all the tags in one MultiSum.
func (k *Key) sealSmall(ops []OnceOp) {
	var (
		b  smallScratch
		sp streamPack
	)
	for i := range ops {
		op := &ops[i]
		ret, out := k.sealOutput(op)
		ct := out[:len(op.In)]
		sp.add(k, ct, op.In, &op.Nonce)
		// The pieces of macPieces, written in place.
		binary.LittleEndian.PutUint32(b.adLen[i][:], uint32(len(op.AD)))
		binary.LittleEndian.PutUint64(b.ctLen[i][:], NonceSize+1+uint64(len(ct))+8)
		np := 3
		if len(op.AD) > 0 {
			b.pieces[i][0], b.pieces[i][1] = op.AD, b.adLen[i][:]
			np = 5
		}
		b.pieces[i][np-3], b.pieces[i][np-2], b.pieces[i][np-1] = op.Nonce[:], ct, b.ctLen[i][:]
		b.msgs[i] = keccak.MultiMessage{Pieces: b.pieces[i][:np], Tag: out[len(ct):]}
		op.Out, op.Err = ret, nil
	}
	sp.flush(k)
	k.mac.MultiSum(b.msgs[:len(ops)])
}

// openSmall opens up to smallGroup short ops, as openChunk does: all the
// tags in one MultiSum, the constant-time comparisons, then the keystreams
// of the ops that passed (packed).
func (k *Key) openSmall(ops []OnceOp) {
	var (
		b    smallScratch
		want [smallGroup][TagSize512]byte
		idx  [smallGroup]int // the op of each message
		sp   streamPack
	)
	ts := k.tagSize
	n := 0
	for i := range ops {
		op := &ops[i]
		ct, ok := openInput(op, ts)
		if !ok {
			continue
		}
		binary.LittleEndian.PutUint32(b.adLen[n][:], uint32(len(op.AD)))
		binary.LittleEndian.PutUint64(b.ctLen[n][:], NonceSize+1+uint64(len(ct))+8)
		np := 3
		if len(op.AD) > 0 {
			b.pieces[n][0], b.pieces[n][1] = op.AD, b.adLen[n][:]
			np = 5
		}
		b.pieces[n][np-3], b.pieces[n][np-2], b.pieces[n][np-1] = op.Nonce[:], ct, b.ctLen[n][:]
		b.msgs[n] = keccak.MultiMessage{Pieces: b.pieces[n][:np], Tag: want[n][:ts]}
		idx[n] = i
		n++
	}
	k.mac.MultiSum(b.msgs[:n])
	for m := 0; m < n; m++ {
		op := &ops[idx[m]]
		ct, tag := op.In[:len(op.In)-ts], op.In[len(op.In)-ts:]
		if !tagsEqual(want[m][:ts], tag) {
			op.Out, op.Err = nil, ErrAuth
			continue
		}
		sp.add(k, op.Out[len(op.Out)-len(ct):], ct, &op.Nonce)
	}
	sp.flush(k)
	clear(want[:n])
}

// tagsEqual reports whether the tags a and b are equal, in time that
// depends only on their lengths: subtle.ConstantTimeCompare, eight bytes at
// a time for the tag sizes of RCS.
func tagsEqual(a, b []byte) bool {
	if len(a) != len(b) || len(a)%8 != 0 {
		return subtle.ConstantTimeCompare(a, b) == 1
	}
	var v uint64
	for i := 0; i < len(a); i += 8 {
		v |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	return subtle.ConstantTimeEq(int32(uint32(v)|uint32(v>>32)), 0) == 1
}
