//go:build amd64 && !purego

package rcs

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestAESNIMatchesGeneric checks that the AES-NI path and the bitsliced path
// produce the same keystream and the same final counter, on random keys,
// counters and lengths, both calling the implementations directly.
func TestAESNIMatchesGeneric(t *testing.T) {
	if !useAESNI {
		t.Skip("CPU lacks AES-NI, SSE4.1 or SSSE3: only the portable path exists here")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	lengths := append([]int{}, testLengths...)
	for i := 0; i < 40; i++ {
		lengths = append(lengths, rng.IntN(3000))
	}
	checked := 0
	for _, size := range []int{KeySize256, KeySize512} {
		for trial := 0; trial < 4; trial++ {
			k := randomKey(t, rng, size)
			for _, n := range lengths {
				var ctr [32]byte
				for i := range ctr {
					ctr[i] = byte(rng.Uint32())
				}
				switch n % 4 {
				case 0: // carry out of the low word inside a batch
					for i := 0; i < 8; i++ {
						ctr[i] = 0xFF
					}
					ctr[0] = 0xFD
				case 1: // carry through every byte
					for i := range ctr {
						ctr[i] = 0xFF
					}
				}
				src := make([]byte, n)
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				g, a := make([]byte, n), make([]byte, n)
				cg, ca := ctr, ctr
				xorKeyStreamGeneric(k, g, src, &cg)
				xorKeyStreamAESNI(k, a, src, &ca)
				if !bytes.Equal(g, a) {
					t.Fatalf("key size %d, len %d, ctr %x: AES-NI output differs from portable", size, n, ctr)
				}
				if cg != ca {
					t.Fatalf("key size %d, len %d: counters differ: %x vs %x", size, n, cg, ca)
				}
				checked++
			}
		}
	}
	t.Logf("%d random messages identical on both paths", checked)
}

// TestAESNIInPlace checks XORKeyStream with dst == src on the AES-NI path.
func TestAESNIInPlace(t *testing.T) {
	if !useAESNI {
		t.Skip("CPU lacks AES-NI, SSE4.1 or SSSE3")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	k := randomKey(t, rng, KeySize256)
	buf := make([]byte, 1000)
	for i := range buf {
		buf[i] = byte(i)
	}
	want := make([]byte, len(buf))
	var c1, c2 [32]byte
	xorKeyStreamGeneric(k, want, buf, &c1)
	xorKeyStreamAESNI(k, buf, buf, &c2)
	if !bytes.Equal(buf, want) {
		t.Fatal("in-place AES-NI output differs")
	}
}
