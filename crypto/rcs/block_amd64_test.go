//go:build amd64 && !purego

package rcs

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"testing"
)

// asmImpls lists the assembly implementations this CPU can run.
func asmImpls(t *testing.T) map[string]int {
	m := map[string]int{}
	if hasAESNI {
		m["AES-NI"] = implAESNI
	}
	if hasVAES512 {
		m["VAES-512"] = implVAES512
	}
	if len(m) == 0 {
		t.Skip("CPU lacks AES-NI, SSE4.1 or SSSE3: only the portable path exists here")
	}
	return m
}

// TestAsmMatchesGeneric checks that every assembly path and the bitsliced
// path produce the same output and the same final counter, on random keys,
// counters and lengths, calling each implementation directly.
func TestAsmMatchesGeneric(t *testing.T) {
	impls := asmImpls(t)
	rng := rand.New(rand.NewPCG(5, 6))
	lengths := append([]int{}, testLengths...)
	lengths = append(lengths, 480, 511, 512, 513, 543, 544, 1023, 1024, 1025, 1536, 2047, 2048, 2049)
	for i := 0; i < 40; i++ {
		lengths = append(lengths, rng.IntN(3000))
	}
	for name, which := range impls {
		checked := 0
		for _, size := range []int{KeySize256, KeySize512} {
			for trial := 0; trial < 3; trial++ {
				k := randomKey(t, rng, size)
				for li, n := range lengths {
					var ctr [32]byte
					for i := range ctr {
						ctr[i] = byte(rng.Uint32())
					}
					switch li % 4 {
					case 0: // the low word wraps inside the message
						for i := 0; i < 8; i++ {
							ctr[i] = 0xFF
						}
						ctr[0] = byte(0xFF - rng.IntN(20))
					case 1: // carry through every byte
						for i := range ctr {
							ctr[i] = 0xFF
						}
					}
					src := make([]byte, n+1)
					for i := range src {
						src[i] = byte(rng.Uint32())
					}
					g := make([]byte, n+1)
					a := make([]byte, n+1)
					a[n], g[n] = 0xA5, 0xA5 // guard byte past the end
					cg, ca := ctr, ctr
					xorKeyStreamGeneric(k, g[:n], src[:n], &cg)
					xorKeyStreamImpl(which, k, a[:n], src[:n], &ca)
					if !bytes.Equal(g, a) {
						t.Fatalf("%s: key size %d, len %d, ctr %x: output differs from portable", name, size, n, ctr)
					}
					if cg != ca {
						t.Fatalf("%s: key size %d, len %d: counters differ: %x vs %x", name, size, n, cg, ca)
					}
					checked++
				}
			}
		}
		t.Logf("%s: %d random messages identical to the portable path", name, checked)
	}
}

// TestAsmInPlace checks dst == src on each assembly path.
func TestAsmInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	k := randomKey(t, rng, KeySize256)
	for name, which := range asmImpls(t) {
		for _, n := range []int{33, 1000, 1400} {
			buf := seq(0, n)
			want := make([]byte, n)
			var c1, c2 [32]byte
			xorKeyStreamGeneric(k, want, buf, &c1)
			xorKeyStreamImpl(which, k, buf, buf, &c2)
			if !bytes.Equal(buf, want) {
				t.Fatalf("%s: in-place output differs (len %d)", name, n)
			}
		}
	}
}

// eachImpl runs f once with every block function this CPU has selected in
// turn, the portable one included, not only the one it would pick.
func eachImpl(t *testing.T, f func(name string)) {
	saved := impl
	defer func() { impl = saved }()
	names := []string{"portable"}
	impls := []int{implGeneric}
	if hasAESNI {
		names, impls = append(names, "AES-NI"), append(impls, implAESNI)
	}
	if hasVAES512 {
		names, impls = append(names, "VAES-512"), append(impls, implVAES512)
	}
	for i, which := range impls {
		impl = which
		f(names[i])
	}
}

// withImpl runs a benchmark with the given block function selected, or
// skips it when the CPU lacks it.
func withImpl(b *testing.B, which int, ok bool, f func(*testing.B)) {
	if !ok {
		b.Skip("CPU lacks this block function")
	}
	saved := impl
	impl = which
	defer func() { impl = saved }()
	f(b)
}

func BenchmarkRCS256Seal1400AESNI(b *testing.B) {
	withImpl(b, implAESNI, hasAESNI, func(b *testing.B) { benchSeal(b, KeySize256) })
}

func BenchmarkRCS256KeyStream1400AESNI(b *testing.B) {
	withImpl(b, implAESNI, hasAESNI, func(b *testing.B) { benchKeyStream(b, KeySize256) })
}

func BenchmarkRCS256KeyStream1400Portable(b *testing.B) {
	withImpl(b, implGeneric, true, func(b *testing.B) { benchKeyStream(b, KeySize256) })
}

// TestAsmEveryLength checks every message length from 0 to 1100 bytes on
// each assembly path against the portable one, at counters whose low words
// carry into the next word (once, through several words, and around 2^256)
// as well as at ordinary ones, with guard bytes on both sides and in place.
// It covers the VAES-512 path's short final groups (one, two and four
// registers under byte masks) at every length they take, after zero, one
// and two full groups, so that a block too few or too many, a wrong mask or
// a wrong counter step fails.
func TestAsmEveryLength(t *testing.T) {
	const maxLen, pad = 1100, 8
	impls := asmImpls(t)
	rng := rand.New(rand.NewPCG(9, 10))
	words := func(w0, w1, w2, w3 uint64) (c [32]byte) {
		binary.LittleEndian.PutUint64(c[0:], w0)
		binary.LittleEndian.PutUint64(c[8:], w1)
		binary.LittleEndian.PutUint64(c[16:], w2)
		binary.LittleEndian.PutUint64(c[24:], w3)
		return c
	}
	ones := ^uint64(0)
	src := make([]byte, maxLen+2*pad)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	g := make([]byte, maxLen+2*pad)
	a := make([]byte, maxLen+2*pad)
	checked := 0
	for _, size := range []int{KeySize256, KeySize512} {
		k := randomKey(t, rng, size)
		counters := []struct {
			name string
			ctr  func(n int) [32]byte
		}{
			{"zero", func(int) [32]byte { return [32]byte{} }},
			{"random", func(int) [32]byte { return words(rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()) }},
			// The low word wraps after 1..37 blocks, into word 1.
			{"low word wraps", func(n int) [32]byte { return words(ones-uint64(n%37), 5, ones, 7) }},
			// Words 0 and 1 wrap together after one to three blocks,
			// carrying into word 2.
			{"two words wrap", func(n int) [32]byte { return words(ones-uint64(n%3), ones, 0x1234, 0) }},
			// The whole counter wraps around 2^256 after one or two blocks.
			{"all ones", func(n int) [32]byte { return words(ones-uint64(n%2), ones, ones, ones) }},
		}
		for _, cs := range counters {
			for n := 0; n <= maxLen; n++ {
				ctr := cs.ctr(n)
				want := addBlocks(ctr, (n+BlockSize-1)/BlockSize)
				for i := range g {
					g[i] = 0xA5
				}
				cg := ctr
				xorKeyStreamGeneric(k, g[pad:pad+n], src[pad:pad+n], &cg)
				if cg != want {
					t.Fatalf("portable: key %d, %s, len %d: counter %x, want %x", size, cs.name, n, cg, want)
				}
				for name, which := range impls {
					for i := range a {
						a[i] = 0xA5
					}
					ca := ctr
					xorKeyStreamImpl(which, k, a[pad:pad+n], src[pad:pad+n], &ca)
					if !bytes.Equal(a, g) {
						t.Fatalf("%s: key %d, %s counter %x, len %d: output (or the guard bytes) differs from portable",
							name, size, cs.name, ctr, n)
					}
					if ca != want {
						t.Fatalf("%s: key %d, %s, len %d: counter %x, want %x", name, size, cs.name, n, ca, want)
					}
					// In place.
					copy(a, src)
					ca = ctr
					xorKeyStreamImpl(which, k, a[pad:pad+n], a[pad:pad+n], &ca)
					if !bytes.Equal(a[pad:pad+n], g[pad:pad+n]) || !bytes.Equal(a[:pad], src[:pad]) ||
						!bytes.Equal(a[pad+n:], src[pad+n:]) || ca != want {
						t.Fatalf("%s: key %d, %s, len %d: in-place output differs from portable", name, size, cs.name, n)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d messages (lengths 0..%d, 5 counters, 2 key sizes) identical to the portable path", checked, maxLen)
}

// addBlocks returns the 256-bit little-endian counter ctr advanced by n
// blocks, modulo 2^256, computed with math/big.
func addBlocks(ctr [32]byte, n int) (out [32]byte) {
	var be [32]byte
	for i := range ctr {
		be[31-i] = ctr[i]
	}
	x := new(big.Int).SetBytes(be[:])
	x.Add(x, big.NewInt(int64(n)))
	x.Mod(x, new(big.Int).Lsh(big.NewInt(1), 256))
	x.FillBytes(be[:])
	for i := range be {
		out[31-i] = be[i]
	}
	return out
}
