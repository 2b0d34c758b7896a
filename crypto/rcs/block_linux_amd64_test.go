//go:build !purego

package rcs

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// guardedTail returns the last n bytes of a readable and writable page
// that is followed by an inaccessible one: an access past the slice's end
// faults.
func guardedTail(t *testing.T, n int) []byte {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	return mem[page-n : page]
}

// TestAsmGuardPage runs each assembly path on messages that end exactly at
// an inaccessible page, source and destination both: the masked loads and
// stores of a final partial group must not touch a byte past the end.
func TestAsmGuardPage(t *testing.T) {
	impls := asmImpls(t)
	rng := rand.New(rand.NewPCG(11, 12))
	k := randomKey(t, rng, KeySize256)
	const maxLen = 600
	srcPage, dstPage := guardedTail(t, maxLen), guardedTail(t, maxLen)
	checked := 0
	for name, which := range impls {
		for n := 0; n <= maxLen; n++ {
			src, dst := srcPage[maxLen-n:], dstPage[maxLen-n:]
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			want := make([]byte, n)
			var cg, ca [32]byte
			cg[0], ca[0] = byte(n), byte(n)
			xorKeyStreamGeneric(k, want, src, &cg)
			xorKeyStreamImpl(which, k, dst, src, &ca)
			if !bytes.Equal(dst, want) || ca != cg {
				t.Fatalf("%s: len %d at a page end: output differs from portable", name, n)
			}
			checked++
		}
	}
	t.Logf("%d messages of 0..%d bytes ending at a guard page identical to the portable path", checked, maxLen)
}
