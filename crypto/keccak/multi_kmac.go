package keccak

import "encoding/binary"

// MultiMessage is one message of a batched KMAC (see KMAC.MultiSum): the
// pieces of the message, absorbed in order, and the buffer the tag goes to.
type MultiMessage struct {
	// Pieces are absorbed in order, as if each were passed to Write.
	Pieces [][]byte
	// Tag receives the tag; its length is the tag length, as for Finalize.
	Tag []byte
}

// The fewest messages worth a lockstep step once no more messages wait
// depend on the eight-lane implementation (x8MinLanes): below it the scalar
// path is faster.

// MultiSum computes the tags of several messages under the keyed state k:
// for each msgs[i] it writes to msgs[i].Tag exactly what
//
//	m := *k
//	for _, p := range msgs[i].Pieces {
//		m.Write(p)
//	}
//	m.Finalize(msgs[i].Tag)
//
// writes, QSC's finalization edge case included. k is not modified, and the
// tags may be of different lengths. Tags must not overlap the pieces of a
// message not yet finished.
//
// With the eight-lane permutation (see X8Accelerated) the messages go
// through eight sponges in lockstep: whole blocks are read straight from
// the pieces where a piece holds them, blocks that straddle pieces and the
// final blocks are assembled in a scratch buffer, and a lane whose message
// is done takes the next message. Messages of different lengths are
// handled in the same lockstep; when fewer messages remain than make a
// lockstep step pay (two on AVX-512, six on AVX2), they are finished with
// the scalar permutation. When every message is short (at most three
// blocks at rate 136 or five at rate 72, final blocks included), each lane
// instead gets all the blocks of its message built at once, and a batch of
// equal lengths takes one eight-lane absorb call. MultiSum allocates
// nothing, and it clears its scratch state (sponge states, assembled
// blocks) before it returns.
func (k *KMAC) MultiSum(msgs []MultiMessage) {
	k.multiSum(msgs, useX8, false, true)
}

// multiDriver names the way multiSum computed a batch.
type multiDriver int

const (
	driverScalar  multiDriver = iota // one message after the other, no lockstep
	driverGeneral                    // multiWork: any lengths, blocks read in place
	driverSmall                      // smallWork: every message fits a lane
)

// multiSum is MultiSum with the lockstep path chosen by the caller, with
// the portable eight-lane absorb when generic is set, and with the
// small-message driver allowed when small is set (tests run every driver
// on both absorbs). It returns the driver that ran.
func (k *KMAC) multiSum(msgs []MultiMessage, lockstep, generic, small bool) multiDriver {
	rate := k.s.rate
	if !lockstep || len(msgs) < x8MinLanes() || rate < 16 {
		for i := range msgs {
			m := *k
			for _, p := range msgs[i].Pieces {
				m.Write(p)
			}
			m.Finalize(msgs[i].Tag)
			m.Clear()
		}
		return driverScalar
	}
	if small && k.smallFits(msgs) {
		var w smallWork
		w.run(k, msgs, generic)
		w.clear()
		return driverSmall
	}
	var w multiWork
	w.run(k, msgs, generic)
	w.clear()
	return driverGeneral
}

// multiWork is the scratch state of one MultiSum: the eight interleaved
// sponge states and the lanes feeding them. It holds no pointers, so that
// nothing the caller passes escapes through it to the heap; each lane
// names its message by index.
type multiWork struct {
	a     [200]uint64
	lanes [8]multiLane
}

// clear zeroes the sponge states and the assembled blocks.
func (w *multiWork) clear() {
	clear(w.a[:])
	for j := range w.lanes {
		w.lanes[j] = multiLane{}
	}
}

// run computes the tags of msgs, with the portable absorb if generic is set.
// Direct calls (not a function value) keep w on the caller's stack.
func (w *multiWork) run(k *KMAC, msgs []MultiMessage, generic bool) {
	rate := k.s.rate
	var src [8][]byte // each lane's offer
	next := 0         // next message to start
	for {
		active := 0
		for j := range w.lanes {
			l := &w.lanes[j]
			if !l.busy && next < len(msgs) {
				l.start(k, &msgs[next], next)
				x8Set(&w.a, j, &k.s.a)
				next++
			}
			if l.busy {
				active++
			}
		}
		if active == 0 {
			return
		}
		if next == len(msgs) && active < x8MinLanes() {
			for j := range w.lanes {
				if w.lanes[j].busy {
					w.finishScalar(k, msgs, j)
				}
			}
			return
		}
		n := int(^uint(0) >> 1)
		for j := range w.lanes {
			src[j] = nil
			if l := &w.lanes[j]; l.busy {
				src[j] = l.next(k, &msgs[l.idx])
				n = min(n, len(src[j])/rate)
			}
		}
		if generic {
			x8AbsorbGeneric(&w.a, &src, rate/8, n)
		} else {
			x8Absorb(&w.a, &src, rate/8, n)
		}
		for j := range w.lanes {
			if l := &w.lanes[j]; l.busy && l.consumed(k, &msgs[l.idx], n) {
				var s [25]uint64
				x8Get(&w.a, j, &s)
				squeezeTag(&s, rate, msgs[l.idx].Tag)
				clear(s[:])
				l.busy = false
			}
		}
	}
}

// finishScalar completes lane j's message with the scalar permutation.
func (w *multiWork) finishScalar(k *KMAC, msgs []MultiMessage, j int) {
	rate := k.s.rate
	l := &w.lanes[j]
	m := &msgs[l.idx]
	var s [25]uint64
	x8Get(&w.a, j, &s)
	for {
		blk := l.next(k, m)
		n := len(blk) / rate
		for b := 0; b < n; b++ {
			xorWords(&s, blk[b*rate:(b+1)*rate])
			permute(&s)
		}
		if l.consumed(k, m, n) {
			break
		}
	}
	squeezeTag(&s, rate, m.Tag)
	clear(s[:])
	l.busy = false
}

// multiLane feeds one message m to one sponge, block by block: first the
// full blocks of the message (the base's pending input followed by the
// pieces), then the one or two final blocks that Finalize would absorb.
// Its methods take the keyed state k and the message m, which the lane
// does not store.
type multiLane struct {
	busy    bool // the lane holds a message
	idx     int  // that message's index in the batch
	pre     int  // bytes of the base's pending input already read
	pi, off int  // next unread byte of the pieces: m.Pieces[pi][off]
	full    int  // full message blocks not yet absorbed
	fin     int  // final blocks in buf (1 or 2), once full is 0
	finDone int  // final blocks absorbed
	offered int  // blocks offered by next, not yet consumed
	direct  bool // the offer is read in place from a piece
	buf     [2 * maxRate]byte
}

// pending returns the base's pending input not yet read. A squeezing
// sponge has none (see absorb).
func (l *multiLane) pending(k *KMAC) []byte {
	if k.s.squeezing {
		return nil
	}
	return k.s.buf[l.pre:k.s.n]
}

// start sets the lane up for message idx, m, on top of the keyed state k.
func (l *multiLane) start(k *KMAC, m *MultiMessage, idx int) {
	*l = multiLane{busy: true, idx: idx, buf: l.buf}
	total := len(l.pending(k))
	for _, p := range m.Pieces {
		total += len(p)
	}
	l.full = total / k.s.rate
	if l.full == 0 {
		l.buildFinal(k, m)
	}
}

// read copies the next len(dst) message bytes into dst.
func (l *multiLane) read(k *KMAC, m *MultiMessage, dst []byte) {
	n := copy(dst, l.pending(k))
	l.pre += n
	dst = dst[n:]
	for len(dst) > 0 {
		p := m.Pieces[l.pi][l.off:]
		n := copy(dst, p)
		dst = dst[n:]
		l.off += n
		if n == len(p) {
			l.pi++
			l.off = 0
		}
	}
}

// next returns the next blocks to absorb: one or more whole blocks, read in
// place from a piece when it holds them, else one block assembled in buf.
// It returns the same blocks until consumed is called.
func (l *multiLane) next(k *KMAC, m *MultiMessage) []byte {
	rate := k.s.rate
	if l.full == 0 {
		return l.buf[l.finDone*rate : l.fin*rate]
	}
	if l.offered == 0 {
		l.direct = false
		if len(l.pending(k)) == 0 {
			ps := m.Pieces
			for l.pi < len(ps) && l.off == len(ps[l.pi]) {
				l.pi++
				l.off = 0
			}
			if l.pi < len(ps) {
				if n := min((len(ps[l.pi])-l.off)/rate, l.full); n > 0 {
					l.offered, l.direct = n, true
				}
			}
		}
		if !l.direct {
			l.read(k, m, l.buf[:rate])
			l.offered = 1
		}
	}
	if l.direct {
		return m.Pieces[l.pi][l.off : l.off+l.offered*rate]
	}
	return l.buf[:rate]
}

// consumed records that the first n blocks of the last offer were absorbed
// and reports whether the message is complete (its final block absorbed).
func (l *multiLane) consumed(k *KMAC, m *MultiMessage, n int) bool {
	l.offered = 0
	if l.full > 0 {
		if l.direct {
			l.off += n * k.s.rate
		}
		l.full -= n
		if l.full == 0 {
			l.buildFinal(k, m)
		}
		return false
	}
	l.finDone += n
	return l.finDone == l.fin
}

// buildFinal reads the message's last partial block and builds in buf the
// final block(s) of KMAC.Finalize for a tag of len(m.Tag) bytes.
func (l *multiLane) buildFinal(k *KMAC, m *MultiMessage) {
	rate := k.s.rate
	b := l.buf[:2*rate]
	clear(b)
	p := len(l.pending(k)) - l.off
	for i := l.pi; i < len(m.Pieces); i++ {
		p += len(m.Pieces[i])
	}
	l.read(k, m, b[:p])
	var re [9]byte
	enc := rightEncode(re[:0], uint64(len(m.Tag))*8)
	if p+len(enc) >= rate {
		// QSC's edge case (see Finalize): the pending bytes are absorbed
		// unpadded, then the final block is built over the stale buffer,
		// whose bytes len(enc)+1 .. p still hold the pending input.
		f := b[rate:]
		copy(f, enc)
		f[len(enc)] = dsCSHAKE
		if p > len(enc)+1 {
			copy(f[len(enc)+1:p], b[len(enc)+1:p])
		}
		f[rate-1] |= 0x80
		l.fin = 2
	} else {
		copy(b[p:], enc)
		b[p+len(enc)] = dsCSHAKE
		b[rate-1] |= 0x80
		l.fin = 1
	}
	l.finDone = 0
}

// xorWords XORs the block p (a multiple of 8 bytes, at most maxRate) into
// the first len(p)/8 lanes of s, little-endian.
func xorWords(s *[25]uint64, p []byte) {
	for i := 0; i < len(p)/8; i++ {
		s[i] ^= binary.LittleEndian.Uint64(p[8*i:])
	}
}

// squeezeTag writes the sponge output of s at the given rate to out, as
// Finalize does after its last absorbed block: the rate part of the state,
// then one more permutation for every further block.
func squeezeTag(s *[25]uint64, rate int, out []byte) {
	var blk [maxRate]byte
	for len(out) > 0 {
		for i := 0; i < rate/8; i++ {
			binary.LittleEndian.PutUint64(blk[8*i:], s[i])
		}
		n := copy(out, blk[:rate])
		out = out[n:]
		if len(out) > 0 {
			permute(s)
		}
	}
	clear(blk[:])
}
