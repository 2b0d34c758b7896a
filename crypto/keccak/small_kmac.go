package keccak

import (
	"encoding/binary"
	"math/bits"
)

// smallLaneBytes is the most input one lane of MultiSum's small-message
// path holds: every block its message absorbs, final blocks included. That
// is three blocks at rate 136 and five at rate 72: a record of up to 256
// bytes with RCS's framing (AD, nonce and lengths, about 70 bytes).
const smallLaneBytes = 3 * Rate256

// smallBlocks returns how many blocks KMAC.Finalize absorbs for a message of
// total bytes (the base's pending input included) and a tag of tagLen
// bytes: the full blocks, then one final block, or two when the pending
// bytes and right_encode(8*tagLen) fill the last one (QSC's edge case).
func smallBlocks(total, tagLen, rate int) int {
	full := total / rate
	if total-full*rate+rightEncodeLen(uint64(tagLen)*8) >= rate {
		return full + 2
	}
	return full + 1
}

// rightEncodeLen returns len(rightEncode(nil, x)).
func rightEncodeLen(x uint64) int {
	return max(1, (bits.Len64(x)+7)/8) + 1
}

// smallFits reports whether every message of msgs on top of the keyed
// state k fits a lane of the small-message path.
func (k *KMAC) smallFits(msgs []MultiMessage) bool {
	rate := k.s.rate
	pre := len(k.pending())
	for i := range msgs {
		total := pre
		for _, p := range msgs[i].Pieces {
			total += len(p)
		}
		if total > smallLaneBytes || smallBlocks(total, len(msgs[i].Tag), rate)*rate > smallLaneBytes {
			return false
		}
	}
	return true
}

// pending returns the keyed state's pending input, which every message of
// a MultiSum starts with. A squeezing sponge has none (see absorb).
func (k *KMAC) pending() []byte {
	if k.s.squeezing {
		return nil
	}
	return k.s.buf[:k.s.n]
}

// smallWork is the scratch state of MultiSum's small-message path: the
// eight interleaved sponge states and, for each lane, every block its
// message absorbs, built in one go (the message, then the final block or
// blocks of Finalize), so that a step of the lockstep is one x8Absorb call
// with no per-block bookkeeping. Like multiWork it holds no pointers.
type smallWork struct {
	a      [200]uint64
	buf    [8][smallLaneBytes]byte
	busy   [8]bool // the lane holds a message
	idx    [8]int  // that message's index in the batch
	blocks [8]int  // its blocks in buf
	done   [8]int  // blocks absorbed
	used   [8]int  // bytes of buf written since the last clear
	// right_encode(8*encTag), the tag length of the last message loaded
	// (most batches have one tag length), valid if encOK.
	enc    [9]byte
	encLen int
	encTag int
	encOK  bool
}

// clear zeroes the sponge states and the bytes written to the lanes.
func (w *smallWork) clear() {
	clear(w.a[:])
	for j := range w.buf {
		clear(w.buf[j][:w.used[j]])
		w.used[j] = 0
	}
}

// load builds in lane j every block of message m on top of k, and sets
// state j to k's keyed state. m must fit (see smallFits).
func (w *smallWork) load(k *KMAC, j, idx int, m *MultiMessage) {
	rate := k.s.rate
	b := w.buf[j][:]
	n := copy(b, k.pending())
	for _, p := range m.Pieces {
		n += copy(b[n:], p)
	}
	full := n / rate
	p := n - full*rate
	f := b[full*rate:]
	if !w.encOK || w.encTag != len(m.Tag) {
		w.encLen = len(rightEncode(w.enc[:0], uint64(len(m.Tag))*8))
		w.encTag, w.encOK = len(m.Tag), true
	}
	enc := w.enc[:w.encLen]
	if p+len(enc) >= rate {
		// QSC's edge case (see Finalize): the pending bytes zero-padded,
		// then a final block over the stale buffer, whose bytes
		// len(enc)+1 .. p still hold the pending input.
		clear(f[p:rate])
		g := f[rate : 2*rate]
		copy(g, enc)
		g[len(enc)] = dsCSHAKE
		stale := len(enc) + 1
		if p > stale {
			copy(g[stale:p], f[stale:p])
			stale = p
		}
		clear(g[stale:])
		g[rate-1] |= 0x80
		w.blocks[j] = full + 2
	} else {
		copy(f[p:], enc)
		f[p+len(enc)] = dsCSHAKE
		clear(f[p+len(enc)+1 : rate])
		f[rate-1] |= 0x80
		w.blocks[j] = full + 1
	}
	w.used[j] = max(w.used[j], w.blocks[j]*rate)
	w.busy[j], w.idx[j], w.done[j] = true, idx, 0
	x8Set(&w.a, j, &k.s.a)
}

// run computes the tags of msgs, which must all fit (see smallFits), with
// the portable absorb if generic is set: lanes take the next message as
// soon as theirs is done, and every step absorbs as many blocks as the
// shortest remaining message has in one x8Absorb call.
func (w *smallWork) run(k *KMAC, msgs []MultiMessage, generic bool) {
	rate := k.s.rate
	var src [8][]byte
	next := 0
	for {
		active := 0
		for j := range w.busy {
			if !w.busy[j] && next < len(msgs) {
				w.load(k, j, next, &msgs[next])
				next++
			}
			if w.busy[j] {
				active++
			}
		}
		if active == 0 {
			return
		}
		if next == len(msgs) && active < x8MinLanes() {
			for j := range w.busy {
				if w.busy[j] {
					w.finishScalar(rate, j, msgs[w.idx[j]].Tag)
				}
			}
			return
		}
		n := smallLaneBytes
		for j := range w.busy {
			src[j] = nil
			if w.busy[j] {
				src[j] = w.buf[j][w.done[j]*rate : w.blocks[j]*rate]
				n = min(n, w.blocks[j]-w.done[j])
			}
		}
		if generic {
			x8AbsorbGeneric(&w.a, &src, rate/8, n)
		} else {
			x8Absorb(&w.a, &src, rate/8, n)
		}
		for j := range w.busy {
			if !w.busy[j] {
				continue
			}
			w.done[j] += n
			if w.done[j] == w.blocks[j] {
				w.squeeze(rate, j, msgs[w.idx[j]].Tag)
				w.busy[j] = false
			}
		}
	}
}

// squeeze writes the tag of lane j, whose final block is absorbed, to out:
// straight from the interleaved state when it fits in one block, else as
// squeezeTag does.
func (w *smallWork) squeeze(rate, j int, out []byte) {
	if len(out) > rate {
		var s [25]uint64
		x8Get(&w.a, j, &s)
		squeezeTag(&s, rate, out)
		clear(s[:])
		return
	}
	i := 0
	for ; i+8 <= len(out); i += 8 {
		binary.LittleEndian.PutUint64(out[i:], w.a[i+j])
	}
	if i < len(out) {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], w.a[i+j])
		copy(out[i:], t[:])
		clear(t[:])
	}
}

// finishScalar absorbs lane j's remaining blocks with the scalar
// permutation and writes its tag to out.
func (w *smallWork) finishScalar(rate, j int, out []byte) {
	var s [25]uint64
	x8Get(&w.a, j, &s)
	for b := w.done[j]; b < w.blocks[j]; b++ {
		xorWords(&s, w.buf[j][b*rate:(b+1)*rate])
		permute(&s)
	}
	squeezeTag(&s, rate, out)
	clear(s[:])
	w.busy[j] = false
}
