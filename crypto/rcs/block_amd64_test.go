//go:build amd64 && !purego

package rcs

import (
	"bytes"
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
