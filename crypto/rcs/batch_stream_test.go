package rcs

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// packCounter returns a random counter block, often one whose low words are
// all ones, so that a message's blocks carry into the next word (or wrap
// the whole counter).
func packCounter(r *rand.Rand) (c [32]byte) {
	copy(c[:], randBytes(r, 32))
	switch r.IntN(4) {
	case 0:
		for i := 0; i < 8; i++ {
			c[i] = 0xFF
		}
	case 1:
		for i := range c {
			c[i] = 0xFF
		}
		c[0] = byte(0xFF - r.IntN(8))
	}
	return c
}

// TestStreamPack feeds random messages (0..400 bytes, in place or not) to a
// streamPack, flushing at random, and compares each with xorKeyStream on
// its own, with every block function this CPU has. It checks that short
// messages are queued when packing pays, and that flush leaves no
// keystream behind.
func TestStreamPack(t *testing.T) {
	r := rand.New(rand.NewPCG(64, 256))
	eachImpl(t, func(name string) {
		queued, total := 0, 0
		for _, k := range batchKeys(t, r) {
			for iter := 0; iter < 60; iter++ {
				var p streamPack
				n := 1 + r.IntN(20)
				dsts, wants := make([][]byte, n), make([][]byte, n)
				for i := 0; i < n; i++ {
					l := r.IntN(packMaxBlocks*BlockSize + 1)
					if r.IntN(6) == 0 {
						l = packMaxBlocks*BlockSize + 1 + r.IntN(200)
					}
					src := randBytes(r, l)
					ctr := packCounter(r)
					before := ctr
					wants[i] = make([]byte, l)
					c := ctr
					xorKeyStreamGeneric(k, wants[i], src, &c)
					dst := make([]byte, l)
					if r.IntN(2) == 0 {
						dst = src // in place
					}
					dsts[i] = dst
					p.add(k, dst, src, &ctr)
					if ctr != before {
						t.Fatalf("%s: add modified the counter", name)
					}
					if p.nseg > 0 && l > 0 && &p.segs[p.nseg-1].src[0] == &src[0] {
						queued++
						if l > packMaxBlocks*BlockSize {
							t.Fatalf("%s: a message of %d bytes was queued", name, l)
						}
					}
					if r.IntN(5) == 0 {
						p.flush(k)
					}
				}
				p.flush(k)
				if p.n != 0 || p.nseg != 0 {
					t.Fatalf("%s: flush left %d blocks and %d messages queued", name, p.n, p.nseg)
				}
				if p.blocks != [packBlocks * BlockSize]byte{} {
					t.Fatalf("%s: flush left keystream behind", name)
				}
				for i := range p.segs {
					if p.segs[i].dst != nil || p.segs[i].src != nil {
						t.Fatalf("%s: flush left message %d referenced", name, i)
					}
				}
				for i := range dsts {
					if !bytes.Equal(dsts[i], wants[i]) {
						t.Fatalf("%s, tag size %d: message %d of %d (%d bytes) differs from xorKeyStream", name, k.TagSize(), i, n, len(wants[i]))
					}
				}
				total += n
			}
		}
		if packedStream() != (queued > 0) {
			t.Fatalf("%s: packing in force %v, but %d messages queued", name, packedStream(), queued)
		}
		t.Logf("%s: %d messages (%d queued for packing) equal xorKeyStream", name, total, queued)
	})
}

// TestEncryptGroups checks encryptGroups (the VAES-512 assembly where the
// CPU has it) against the portable block function on random blocks, for
// one to three groups, with every block function this CPU has.
func TestEncryptGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 32))
	eachImpl(t, func(name string) {
		for _, k := range batchKeys(t, r) {
			for groups := 1; groups <= 3; groups++ {
				b := randBytes(r, groups*packGroup*BlockSize+BlockSize)
				guard := bytes.Clone(b[groups*packGroup*BlockSize:])
				want := bytes.Clone(b)
				var zero [BlockSize]byte
				for i := 0; i < groups*packGroup; i++ {
					ctr := [BlockSize]byte(want[i*BlockSize:])
					xorKeyStreamGeneric(k, want[i*BlockSize:(i+1)*BlockSize], zero[:], &ctr)
				}
				encryptGroups(k, b, groups)
				if !bytes.Equal(b, want) {
					t.Fatalf("%s, tag size %d, %d groups: blocks differ from the portable block function", name, k.TagSize(), groups)
				}
				if !bytes.Equal(b[groups*packGroup*BlockSize:], guard) {
					t.Fatalf("%s: encryptGroups wrote past its groups", name)
				}
			}
		}
	})
}

// TestTagsEqual checks tagsEqual against bytes.Equal: equal tags, tags
// differing in any one bit, lengths that are not a multiple of 8, and
// tags of different lengths.
func TestTagsEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 7, 8, 31, 32, 64} {
		a := randBytes(r, n)
		if !tagsEqual(a, bytes.Clone(a)) {
			t.Fatalf("%d bytes: equal tags reported different", n)
		}
		for i := 0; i < 8*n; i++ {
			b := bytes.Clone(a)
			b[i/8] ^= 1 << (i % 8)
			if tagsEqual(a, b) {
				t.Fatalf("%d bytes: tags differing in bit %d reported equal", n, i)
			}
		}
		if n > 0 && tagsEqual(a, a[:n-1]) {
			t.Fatalf("%d bytes: a tag and its prefix reported equal", n)
		}
	}
}
