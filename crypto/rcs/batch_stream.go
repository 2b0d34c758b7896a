package rcs

import (
	"crypto/subtle"
	"encoding/binary"
)

// Geometry of a streamPack: the block function runs on groups of packGroup
// blocks (sixteen on VAES-512: eight registers of two blocks), and a pack
// holds packGroups groups and the messages of at most packSegs ops.
const (
	packGroup  = 16
	packGroups = 2
	packBlocks = packGroup * packGroups
	packSegs   = smallGroup
	// packMaxBlocks is the longest message a pack takes, in blocks: a
	// longer one loses little to the block function's group size on its
	// own (a message of 256 bytes fills half a group).
	packMaxBlocks = 8
)

// streamPack computes the CTR keystream of several short messages
// together: their counter blocks are laid out one after the other, the
// block function encrypts them in whole groups (one call for up to
// packBlocks blocks), and each message is XORed with its part. On VAES-512
// a call costs the same for one block as for sixteen, so that eight
// 64-byte messages (two blocks each) take the time of one. The output is
// that of xorKeyStream, message by message.
//
// A streamPack is used by one batch and then discarded; flush clears the
// keystream it held.
type streamPack struct {
	blocks [packBlocks * BlockSize]byte // counter blocks, then their keystream
	n      int                          // blocks in use
	segs   [packSegs]struct{ dst, src []byte }
	nseg   int
}

// add XORs src with the keystream from counter block *ctr into dst (as
// xorKeyStream does, without advancing *ctr). A short message is queued
// until flush when packing pays (packedStream); any other message is
// processed at once. dst must have room for src and overlap it exactly or
// not at all; neither may be touched until flush.
func (p *streamPack) add(k *Key, dst, src []byte, ctr *[32]byte) {
	nb := (len(src) + BlockSize - 1) / BlockSize
	if nb == 0 || nb > packMaxBlocks || !packedStream() {
		c := *ctr
		xorKeyStream(k, dst[:len(src)], src, &c)
		return
	}
	if p.n+nb > packBlocks || p.nseg == packSegs {
		p.flush(k)
	}
	if lo := binary.LittleEndian.Uint64(ctr[:8]); lo <= ^uint64(0)-uint64(nb-1) {
		// No carry out of the low word: each block is the counter with
		// its low word advanced.
		w1 := binary.LittleEndian.Uint64(ctr[8:])
		w2 := binary.LittleEndian.Uint64(ctr[16:])
		w3 := binary.LittleEndian.Uint64(ctr[24:])
		for b := 0; b < nb; b++ {
			blk := (*[BlockSize]byte)(p.blocks[(p.n+b)*BlockSize:])
			binary.LittleEndian.PutUint64(blk[0:], lo+uint64(b))
			binary.LittleEndian.PutUint64(blk[8:], w1)
			binary.LittleEndian.PutUint64(blk[16:], w2)
			binary.LittleEndian.PutUint64(blk[24:], w3)
		}
	} else {
		c := loadCounter(ctr)
		for b := 0; b < nb; b++ {
			storeCounter((*[BlockSize]byte)(p.blocks[(p.n+b)*BlockSize:]), &c)
			increment(&c)
		}
	}
	p.segs[p.nseg].dst, p.segs[p.nseg].src = dst[:len(src)], src
	p.nseg++
	p.n += nb
}

// flush encrypts the queued counter blocks, XORs every queued message with
// its keystream and clears the keystream.
func (p *streamPack) flush(k *Key) {
	if p.nseg == 0 {
		return
	}
	groups := (p.n + packGroup - 1) / packGroup
	// Blocks past p.n in the last group are zero or the counters of an
	// earlier flush: encrypted for nothing, cleared below.
	b := p.blocks[:groups*packGroup*BlockSize]
	encryptGroups(k, b, groups)
	off := 0
	for i := 0; i < p.nseg; i++ {
		s := &p.segs[i]
		subtle.XORBytes(s.dst, s.src, b[off:off+len(s.src)])
		off += (len(s.src) + BlockSize - 1) / BlockSize * BlockSize
		s.dst, s.src = nil, nil
	}
	clear(b)
	p.n, p.nseg = 0, 0
}

// encryptGroupsGeneric encrypts, in place, the first groups groups of
// packGroup blocks of b, each as the keystream block of its counter.
func encryptGroupsGeneric(k *Key, b []byte, groups int) {
	var zero [BlockSize]byte
	for i := 0; i < groups*packGroup; i++ {
		blk := b[i*BlockSize : (i+1)*BlockSize]
		ctr := *(*[BlockSize]byte)(blk)
		xorKeyStream(k, blk, zero[:], &ctr)
	}
}
