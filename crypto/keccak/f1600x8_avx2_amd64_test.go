//go:build amd64 && !purego

package keccak

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"
)

// setX8Path makes x8Absorb (and so F1600x8 and MultiSum) run implementation
// k until the test ends. It skips the test, saying so, if this CPU cannot
// run k.
func setX8Path(t testing.TB, k x8Kind) {
	t.Helper()
	switch {
	case k == x8AVX2 && !cpu.X86.HasAVX2:
		t.Skip("this CPU has no AVX2: the AVX2 eight-lane path cannot run here")
	case k == x8AVX512 && !cpu.X86.HasAVX512F:
		t.Skip("this CPU has no AVX-512F: the AVX-512 eight-lane path cannot run here")
	}
	path, use := x8Path, useX8
	t.Cleanup(func() { x8Path, useX8 = path, use })
	x8Path, useX8 = k, k != x8Scalar
}

// guardedPages maps n+1 pages and makes the last one inaccessible, so that
// a read past the first n pages, or of the last page, faults.
func guardedPages(t *testing.T, n int) (mem, guard []byte) {
	t.Helper()
	ps := unix.Getpagesize()
	m, err := unix.Mmap(-1, 0, (n+1)*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	if err := unix.Mprotect(m[n*ps:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return m[:n*ps], m[n*ps:]
}

// scalarAbsorb is the reference for x8Absorb: blocks times, XOR the next
// 8*words bytes of src[j] into state j where mask has bit j, then permute
// every state with permuteGeneric.
func scalarAbsorb(a *[200]uint64, src *[8][]byte, mask, words, blocks int) {
	rate := 8 * words
	for j := 0; j < 8; j++ {
		var s [25]uint64
		x8Get(a, j, &s)
		for b := 0; b < blocks; b++ {
			if mask>>j&1 == 1 {
				xorWords(&s, src[j][b*rate:(b+1)*rate])
			}
			permuteGeneric(&s)
		}
		x8Set(a, j, &s)
	}
}

// TestF1600x8AVX2MatchesScalar checks the bare AVX2 permutation (no words
// absorbed, ptrs nil) against permuteGeneric on every lane of random,
// all-zero and all-one states, and on states chained through repeated
// permutation.
func TestF1600x8AVX2MatchesScalar(t *testing.T) {
	setX8Path(t, x8AVX2)
	r := rand.New(rand.NewPCG(82, 2))
	const sets = 500
	for n := 0; n < sets; n++ {
		var a [200]uint64
		switch n {
		case 0:
		case 1:
			for i := range a {
				a[i] = ^uint64(0)
			}
		default:
			randomX8(r, &a)
		}
		want, got := a, a
		scalarAbsorb(&want, nil, 0, 0, 1)
		f1600x8AVX2(&got, nil, 0, 0, 1)
		for j := 0; j < 8; j++ {
			var w, g [25]uint64
			x8Get(&want, j, &w)
			x8Get(&got, j, &g)
			if w != g {
				t.Fatalf("set %d, state %d: got %x\nwant %x", n, j, g, w)
			}
		}
	}
	var a [200]uint64
	randomX8(r, &a)
	want := a
	for n := 0; n < 200; n++ {
		f1600x8AVX2(&a, nil, 0, 0, 1)
		scalarAbsorb(&want, nil, 0, 0, 1)
		if a != want {
			t.Fatalf("chained permutation %d disagrees", n)
		}
	}
	want = a
	f1600x8AVX2(&a, nil, 0, 0, 5)
	scalarAbsorb(&want, nil, 0, 0, 5)
	if a != want {
		t.Fatal("five permutations in one call disagree")
	}
	t.Logf("f1600x8AVX2 agrees with permuteGeneric on %d sets of 8 states, 200 chained permutations and one 5-block call", sets)
}

// TestX8AbsorbAVX2EveryMask runs the AVX2 absorb for every one of the 256
// lane masks at rates 136 and 72 (and at 8 and 168 bytes, the extremes),
// with 0 to 3 blocks per call, and compares every state with the scalar
// sponge. Each lane's input ends at the last byte before an inaccessible
// page, and each masked-off lane's pointer points into that page, so a
// read past a lane's blocks or of a masked lane faults.
func TestX8AbsorbAVX2EveryMask(t *testing.T) {
	setX8Path(t, x8AVX2)
	r := rand.New(rand.NewPCG(82, 72))
	const maxBlocks = 3
	// Eight page-aligned areas, each followed by its own guard page would
	// cost sixteen mappings; one area of eight pages and a guard page after
	// each lane's area is what matters, so map eight lanes separately.
	var lanes [8][]byte
	var guards [8][]byte
	for j := range lanes {
		lanes[j], guards[j] = guardedPages(t, 1)
	}
	cases := 0
	for _, rate := range []int{Rate256, Rate512, 8, maxRate} {
		words := rate / 8
		for mask := 0; mask < 256; mask++ {
			blocks := r.IntN(maxBlocks + 1)
			if mask%17 == 0 {
				blocks = maxBlocks
			}
			var a [200]uint64
			randomX8(r, &a)
			var src [8][]byte
			var ptrs [8]*byte
			for j := range src {
				if mask>>j&1 == 0 {
					ptrs[j] = &guards[j][r.IntN(64)]
					continue
				}
				n := blocks * rate
				src[j] = lanes[j][len(lanes[j])-n:]
				for i := range src[j] {
					src[j][i] = byte(r.Uint32())
				}
				if n > 0 {
					ptrs[j] = &src[j][0]
				} else {
					ptrs[j] = &guards[j][0] // zero blocks: nothing may be read
				}
			}
			want, got := a, a
			scalarAbsorb(&want, &src, mask, words, blocks)
			f1600x8AVX2(&got, &ptrs, mask, words, blocks)
			for j := 0; j < 8; j++ {
				var w, g [25]uint64
				x8Get(&want, j, &w)
				x8Get(&got, j, &g)
				if w != g {
					t.Fatalf("rate %d, mask %08b, %d blocks: state %d differs", rate, mask, blocks, j)
				}
			}
			cases++
		}
	}
	t.Logf("%d absorb calls (every mask at rates 136, 72, 8 and 168, up to %d blocks) agree with the scalar sponge; no lane read past its blocks or while masked",
		cases, maxBlocks)
}

// TestX8AbsorbAVX2Unaligned checks the AVX2 absorb through x8Absorb with
// lanes that start at every alignment and hold more than their blocks.
func TestX8AbsorbAVX2Unaligned(t *testing.T) {
	setX8Path(t, x8AVX2)
	r := rand.New(rand.NewPCG(82, 82))
	cases := 0
	for _, rate := range []int{Rate256, Rate512} {
		for iter := 0; iter < 100; iter++ {
			blocks := 1 + r.IntN(6)
			mask := r.IntN(256)
			var src [8][]byte
			for j := range src {
				if mask>>j&1 == 1 {
					skew := (iter + j) % 32
					src[j] = randomBytes(r, skew+blocks*rate+r.IntN(9))[skew:]
				}
			}
			var a [200]uint64
			randomX8(r, &a)
			want, got := a, a
			scalarAbsorb(&want, &src, mask, rate/8, blocks)
			x8Absorb(&got, &src, rate/8, blocks)
			if got != want {
				t.Fatalf("rate %d, mask %08b, %d blocks: wrong states", rate, mask, blocks)
			}
			cases++
		}
	}
	t.Logf("%d unaligned absorb cases agree with the scalar sponge", cases)
}

// TestX8PathsAVX2 runs the eight-lane tests and the MultiSum tests with
// the AVX2 path forced, so that the lockstep driver is checked on it too.
func TestX8PathsAVX2(t *testing.T) {
	setX8Path(t, x8AVX2)
	for _, tt := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"F1600x8MatchesScalar", TestF1600x8MatchesScalar},
		{"X8AbsorbMatchesScalar", TestX8AbsorbMatchesScalar},
		{"X8AbsorbShortLanePanics", TestX8AbsorbShortLanePanics},
		{"MultiSumMatchesKMAC", TestMultiSumMatchesKMAC},
		{"MultiSumEdgeLengths", TestMultiSumEdgeLengths},
		{"MultiSumClearsScratch", TestMultiSumClearsScratch},
		{"MultiSumAllocs", TestMultiSumAllocs},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if x8Path != x8AVX2 || !useX8 {
				t.Fatal("the AVX2 path is not in force")
			}
			tt.f(t)
		})
	}
}

// TestChooseX8 checks the dispatch order: AVX-512 first, then AVX2 (which
// pays, see x8AVX2Speedup), else scalar.
func TestChooseX8(t *testing.T) {
	for _, c := range []struct {
		avx512, avx2 bool
		want         x8Kind
	}{
		{true, true, x8AVX512},
		{true, false, x8AVX512},
		{false, true, x8AVX2},
		{false, false, x8Scalar},
	} {
		if got := chooseX8(c.avx512, c.avx2); got != c.want {
			t.Errorf("chooseX8(avx512 %v, avx2 %v) = %d, want %d", c.avx512, c.avx2, got, c.want)
		}
	}
}

// FuzzX8AbsorbAVX2 checks the AVX2 absorb against the scalar sponge on
// fuzzed states, inputs, masks and block geometries.
func FuzzX8AbsorbAVX2(f *testing.F) {
	f.Add(uint8(0xff), uint8(17), uint8(1), []byte("seed"))
	f.Add(uint8(0x5a), uint8(9), uint8(3), make([]byte, 300))
	f.Add(uint8(0x81), uint8(21), uint8(2), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, mask, words, blocks uint8, data []byte) {
		setX8Path(t, x8AVX2)
		w := int(words) % (maxRate/8 + 1)
		nb := int(blocks) % 5
		var a [200]uint64
		for i := range a {
			if len(data) > 0 {
				a[i] = uint64(data[i%len(data)]) * 0x9e3779b97f4a7c15 * uint64(i+1)
			}
		}
		var src [8][]byte
		m := 0
		if w > 0 {
			m = int(mask)
		}
		for j := range src {
			if m>>j&1 == 1 {
				src[j] = make([]byte, nb*8*w+j%3)
				for i := range src[j] {
					if len(data) > 0 {
						src[j][i] = data[(i+j)%len(data)] ^ byte(i*j)
					}
				}
			}
		}
		if nb == 0 || w == 0 {
			m = 0
			for j := range src {
				src[j] = nil
			}
		}
		want, got := a, a
		scalarAbsorb(&want, &src, m, w, nb)
		var ptrs [8]*byte
		for j := range src {
			if m>>j&1 == 1 {
				ptrs[j] = unsafe.SliceData(src[j])
			}
		}
		f1600x8AVX2(&got, &ptrs, m, w, nb)
		if got != want {
			t.Fatalf("mask %08b, %d words, %d blocks: wrong states", m, w, nb)
		}
	})
}

// BenchmarkF1600x8AVX2 measures one eight-state permutation on the AVX2
// path; compare with BenchmarkF1600x8 (the path this CPU selects) and
// BenchmarkF1600x8Scalar (eight scalar permutations).
func BenchmarkF1600x8AVX2(b *testing.B) {
	setX8Path(b, x8AVX2)
	var a [200]uint64
	for b.Loop() {
		F1600x8(&a)
	}
}

// BenchmarkX8Absorb136AVX2 is BenchmarkX8Absorb136 on the AVX2 path.
func BenchmarkX8Absorb136AVX2(b *testing.B) {
	setX8Path(b, x8AVX2)
	BenchmarkX8Absorb136(b)
}
