package rcs

import (
	"encoding/binary"

	"github.com/qsmp-go/qsmp/crypto/keccak"
)

// OnceOp is one message of a batch: the arguments of SealOnce/OpenOnce and its result.
type OnceOp struct {
	Dst   []byte   // as the dst argument of SealOnce/OpenOnce
	Nonce [32]byte // as *nonce
	AD    []byte
	In    []byte // plaintext (seal) or ciphertext ‖ tag (open)
	Out   []byte // result: what SealOnce/OpenOnce would return
	Err   error  // OpenOnceBatch only: ErrShort, ErrAuth or nil (then Out is nil)
}

// batchChunk is the most messages one keccak.KMAC.MultiSum call takes. It
// bounds the scratch space on the stack (the expected tags of OpenOnceBatch
// and the lists of KMAC pieces); MultiSum keeps its eight lanes busy across
// the whole chunk, taking the next message as soon as one finishes.
const batchChunk = 32

// SealOnceBatch seals every op of ops as SealOnce(op.Dst, &op.Nonce,
// op.AD, op.In) does and stores the result in op.Out (op.Err is set to
// nil). The outputs are byte for byte those of SealOnce; op.Nonce is not
// modified.
//
// The tags of up to eight messages are computed together with the
// eight-lane Keccak permutation (see keccak.KMAC.MultiSum), which is where
// a single SealOnce spends most of its time; a batch of one message takes
// the SealOnce path. SealOnceBatch allocates nothing when every Dst has the
// capacity for its output.
//
// As for SealOnce, op.Dst may be op.In[:0]; otherwise an op's output must
// not overlap its input (SealOnce panics on an inexact overlap, and so does
// SealOnceBatch). The output of one op must not overlap the input or
// output of another.
func (k *Key) SealOnceBatch(ops []OnceOp) {
	k.mustBeExpanded()
	for len(ops) > 0 {
		if n := smallRun(ops, 0); n > 1 {
			k.sealSmall(ops[:n])
			ops = ops[n:]
			continue
		}
		n := generalRun(ops, 0)
		k.sealChunk(ops[:n])
		ops = ops[n:]
	}
}

// OpenOnceBatch opens every op of ops as OpenOnce(op.Dst, &op.Nonce, op.AD,
// op.In) does, storing its results in op.Out and op.Err: the plaintext and
// nil, or nil and ErrShort (input shorter than the tag) or ErrAuth (tag
// mismatch). Each op succeeds or fails on its own: a tampered message in a
// batch fails alone. As with OpenOnce, a message is decrypted only after
// its tag matched (compared in constant time), so an op that fails writes
// nothing to its Dst region. op.Nonce is not modified.
//
// The tags of up to eight messages are computed together with the
// eight-lane Keccak permutation (see keccak.KMAC.MultiSum); a batch of one
// message takes the OpenOnce path. OpenOnceBatch allocates nothing when
// every Dst has the capacity for its output.
//
// As for OpenOnce, op.Dst may be op.In[:0]; otherwise an op's output must
// not overlap its input (OpenOnceBatch panics on an inexact overlap, as
// OpenOnce does). The output of one op must not overlap the input or
// output of another.
func (k *Key) OpenOnceBatch(ops []OnceOp) {
	k.mustBeExpanded()
	for len(ops) > 0 {
		if n := smallRun(ops, k.tagSize); n > 1 {
			k.openSmall(ops[:n])
			ops = ops[n:]
			continue
		}
		n := generalRun(ops, k.tagSize)
		k.openChunk(ops[:n])
		ops = ops[n:]
	}
}

// macScratch is the scratch space of one chunk: for message i, the KMAC
// input of SealOnce/OpenOnce on a fresh state (digest 7.5, as seal and open
// absorb it) in pieces[i]: AD ‖ LE32(len(AD)) when AD is not empty, the
// nonce, the ciphertext, and LE64(32 + ctr_bytes + 8) with ctr_bytes =
// 1 + len(ct). Its arrays are assigned to directly (never through a slice or a
// pointer), so that it stays on the caller's stack.
type macScratch struct {
	pieces [batchChunk][5][]byte
	adLen  [batchChunk][4]byte
	ctLen  [batchChunk][8]byte
	msgs   [batchChunk]keccak.MultiMessage
}

// macPieces returns the pieces of one message (see macScratch) and how
// many there are, encoding the lengths into adLen and ctLen. It returns the
// pieces rather than storing them through a pointer, which would move the
// scratch space to the heap.
func macPieces(adLen *[4]byte, ctLen *[8]byte, ad []byte, nonce *[32]byte, ct []byte) (p [5][]byte, n int) {
	if len(ad) > 0 {
		binary.LittleEndian.PutUint32(adLen[:], uint32(len(ad)))
		p[0], p[1] = ad, adLen[:]
		n = 2
	}
	binary.LittleEndian.PutUint64(ctLen[:], NonceSize+1+uint64(len(ct))+8)
	p[n], p[n+1], p[n+2] = nonce[:], ct, ctLen[:]
	return p, n + 3
}

// sealOutput returns, as SealOnce sizes them, op's result (op.Dst with
// room for ciphertext and tag) and the room itself; it panics on an
// inexact overlap with the input, as SealOnce does.
func (k *Key) sealOutput(op *OnceOp) (ret, out []byte) {
	ret, out = sliceForAppend(op.Dst, len(op.In)+k.tagSize)
	if inexactOverlap(out, op.In) {
		panic("rcs: invalid buffer overlap")
	}
	return ret, out
}

// openInput starts opening op with tags of ts bytes: it clears its result,
// fails it with ErrShort if the input is shorter than a tag (ok false), and
// otherwise sets op.Out to op.Dst with room for the plaintext (written only
// once the tag matched) and returns the ciphertext. It panics on an inexact
// overlap, as OpenOnce does.
func openInput(op *OnceOp, ts int) (ct []byte, ok bool) {
	op.Out, op.Err = nil, nil
	if len(op.In) < ts {
		op.Err = ErrShort
		return nil, false
	}
	ct = op.In[:len(op.In)-ts]
	ret, out := sliceForAppend(op.Dst, len(ct))
	if inexactOverlap(out, op.In) {
		panic("rcs: invalid buffer overlap")
	}
	op.Out = ret
	return ct, true
}

// sealChunk seals up to batchChunk ops: every keystream first, then all
// the tags in one MultiSum.
func (k *Key) sealChunk(ops []OnceOp) {
	if len(ops) == 1 {
		op := &ops[0]
		op.Out, op.Err = k.SealOnce(op.Dst, &op.Nonce, op.AD, op.In), nil
		return
	}
	var b macScratch
	for i := range ops {
		op := &ops[i]
		ret, out := k.sealOutput(op)
		ct := out[:len(op.In)]
		ctr := op.Nonce
		xorKeyStream(k, ct, op.In, &ctr)
		var np int
		b.pieces[i], np = macPieces(&b.adLen[i], &b.ctLen[i], op.AD, &op.Nonce, ct)
		b.msgs[i] = keccak.MultiMessage{Pieces: b.pieces[i][:np], Tag: out[len(ct):]}
		op.Out, op.Err = ret, nil
	}
	k.mac.MultiSum(b.msgs[:len(ops)])
}

// openChunk opens up to batchChunk ops: all the tags in one MultiSum, then
// the constant-time comparisons and the decryption of the ops that passed.
func (k *Key) openChunk(ops []OnceOp) {
	if len(ops) == 1 {
		op := &ops[0]
		op.Out, op.Err = k.OpenOnce(op.Dst, &op.Nonce, op.AD, op.In)
		return
	}
	var (
		b    macScratch
		want [batchChunk][TagSize512]byte
		idx  [batchChunk]int // the op of each message
	)
	ts := k.tagSize
	n := 0
	for i := range ops {
		op := &ops[i]
		ct, ok := openInput(op, ts)
		if !ok {
			continue
		}
		var np int
		b.pieces[n], np = macPieces(&b.adLen[n], &b.ctLen[n], op.AD, &op.Nonce, ct)
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
		ctr := op.Nonce
		xorKeyStream(k, op.Out[len(op.Out)-len(ct):], ct, &ctr)
	}
	clear(want[:n])
}
