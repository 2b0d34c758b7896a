//go:build ignore

// Command gen8 writes f1600x8_amd64.s, the eight-lane AVX-512 Keccak-f[1600]:
//
//	go run gen8/main.go -out f1600x8_amd64.s
//
// It emits one function,
//
//	func f1600x8AVX512(a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int)
//
// which runs blocks times: for each state j whose bit is set in mask, XOR
// words little-endian 64-bit words read from ptrs[j] + 8*words*block into
// the first words lanes of state j; then apply Keccak-f[1600] to all eight
// states. With words = 0 and blocks = 1 it is the bare permutation
// (ptrs may then be nil).
//
// Layout. The eight states are lane-interleaved: a[8*i+j] is lane i of state
// j, so the 64-byte row a[8*i : 8*i+8] is lane i of all eight states and
// fits one zmm register. Lanes are numbered x+5y as in FIPS 202.
//
// Registers. The 25 lanes live in zmm registers for the whole call: they are
// loaded once and stored once. Z30 holds the eight block pointers; the six
// other registers (Z25..Z29, Z31) are scratch. The generator keeps a map from
// lane position to register:
//
//   - θ: C[x] = A[x,0]^A[x,1]^A[x,2]^A[x,3]^A[x,4] with a VPXORQ, a
//     VPTERNLOGQ (0x96, three-way XOR) and a VPXORQ into five scratch
//     registers; then for
//     each column T = rot(C[x+1], 1) and A[x,y] ^= C[x-1] ^ T with one
//     VPTERNLOGQ per lane (D[x] is never formed);
//   - ρ: VPROLQ in place;
//   - π: no instruction at all: the register holding A[x,y] is renamed to
//     position (y, 2x+3y);
//   - χ: per plane, E[X] = B[X] ^ (^B[X+1] & B[X+2]) is one VPTERNLOGQ
//     (0xD2) written over B[X] for X = 0, 1, 2, after E[3] and E[4] have
//     been formed in two scratch registers (VPANDNQ then VPXORQ), which
//     then take over positions 3 and 4 while the old B[3], B[4] registers
//     become scratch;
//   - ι: VPXORQ with the round constant broadcast from roundConstants.
//
// After 24 rounds the generator emits register moves that bring the map back
// to its starting assignment, so the block loop can run the same code again.
//
// Absorption uses VPGATHERQQ with the block pointers as the index vector and
// the running block offset as the base; a fresh mask register (K1..K7 in
// turn, loaded from the lane mask) and a zeroed destination per word keep
// the gathers independent, and masked-off lanes read no memory.
package main

import (
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/keccak/internal/asmgen"
)

const (
	ptrReg = 30 // Z30: the eight block pointers
	maxW   = 21 // largest rate in words (168 bytes)
)

type gen struct {
	w    *asmgen.Writer
	m    [25]int // lane position -> zmm register number
	free []int   // scratch registers
}

func z(r int) string { return fmt.Sprintf("Z%d", r) }

func (g *gen) ins(format string, args ...any) { g.w.Ins(format, args...) }

// take removes and returns a scratch register.
func (g *gen) take() int {
	r := g.free[0]
	g.free = g.free[1:]
	return r
}

func (g *gen) give(r ...int) { g.free = append(g.free, r...) }

// round emits round number r (0..23).
func (g *gen) round(r int) {
	a := func(x, y int) string { return z(g.m[(x%5)+5*(y%5)]) }
	// θ
	var c [5]int
	for x := 0; x < 5; x++ {
		c[x] = g.take()
		g.ins("VPXORQ %s, %s, %s", a(x, 1), a(x, 0), z(c[x]))
		g.ins("VPTERNLOGQ $0x96, %s, %s, %s", a(x, 3), a(x, 2), z(c[x]))
		g.ins("VPXORQ %s, %s, %s", a(x, 4), z(c[x]), z(c[x]))
	}
	t := g.take()
	for x := 0; x < 5; x++ {
		g.ins("VPROLQ $1, %s, %s", z(c[(x+1)%5]), z(t))
		for y := 0; y < 5; y++ {
			g.ins("VPTERNLOGQ $0x96, %s, %s, %s", z(t), z(c[(x+4)%5]), a(x, y))
		}
	}
	g.give(c[:]...)
	g.give(t)
	// ρ
	for i := 0; i < 25; i++ {
		if r := asmgen.Rho(i); r != 0 {
			g.ins("VPROLQ $%d, %s, %s", r, z(g.m[i]), z(g.m[i]))
		}
	}
	// π: (x, y) -> (y, 2x+3y)
	var n [25]int
	for i := 0; i < 25; i++ {
		n[i] = g.m[asmgen.PiSource(i)]
	}
	g.m = n
	// χ
	for y := 0; y < 5; y++ {
		b := func(x int) string { return z(g.m[(x%5)+5*y]) }
		e3, e4 := g.take(), g.take()
		// E3 = B3 ^ (^B4 & B0) and E4 = B4 ^ (^B0 & B1) on copies of B3, B4.
		g.ins("VMOVDQA64 %s, %s", b(3), z(e3))
		g.ins("VPTERNLOGQ $0xD2, %s, %s, %s", b(0), b(4), z(e3))
		g.ins("VMOVDQA64 %s, %s", b(4), z(e4))
		g.ins("VPTERNLOGQ $0xD2, %s, %s, %s", b(1), b(0), z(e4))
		for x := 0; x < 3; x++ {
			// dst = dst ^ (^src2 & src3): truth table 0xD2.
			g.ins("VPTERNLOGQ $0xD2, %s, %s, %s", b(x+2), b(x+1), b(x))
		}
		g.give(g.m[3+5*y], g.m[4+5*y])
		g.m[3+5*y], g.m[4+5*y] = e3, e4
	}
	// ι
	g.ins("VPXORQ.BCST %d(R9), %s, %s", 8*r, z(g.m[0]), z(g.m[0]))
}

// restore emits moves that put lane i back in register want[i].
func (g *gen) restore(want [25]int) {
	for {
		// Move any lane whose target register is free.
		moved := false
		for i := 0; i < 25; i++ {
			if g.m[i] == want[i] {
				continue
			}
			for k, f := range g.free {
				if f == want[i] {
					g.ins("VMOVDQA64 %s, %s", z(g.m[i]), z(f))
					g.free[k] = g.m[i]
					g.m[i] = f
					moved = true
					break
				}
			}
		}
		if !moved {
			break
		}
	}
	for i := 0; i < 25; i++ {
		if g.m[i] != want[i] {
			// A cycle: break it through a scratch register.
			t := g.take()
			g.ins("VMOVDQA64 %s, %s", z(g.m[i]), z(t))
			g.give(g.m[i])
			g.m[i] = t
			g.restore(want)
			return
		}
	}
}

func (g *gen) function() {
	const name = "f1600x8AVX512"
	g.w.Text(name, "a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int", "NOSPLIT", 0, 40)
	g.ins("MOVQ a+0(FP), DI")
	g.ins("MOVQ ptrs+8(FP), SI")
	g.ins("MOVQ mask+16(FP), R10")
	g.ins("MOVQ words+24(FP), CX")
	g.ins("MOVQ blocks+32(FP), DX")
	g.ins("LEAQ ·roundConstants(SB), R9")
	var start [25]int
	for i := 0; i < 25; i++ {
		start[i] = i
		g.m[i] = i
		g.ins("VMOVDQU64 %d(DI), %s", 64*i, z(i))
	}
	g.free = []int{25, 26, 27, 28, 29, 31}
	g.ins("XORQ BX, BX // offset of the current block")
	g.ins("MOVQ CX, R8")
	g.ins("SHLQ $3, R8 // block size in bytes")
	g.ins("TESTQ CX, CX")
	g.ins("JZ loop")
	g.ins("VMOVDQU64 (SI), %s", z(ptrReg))
	g.w.Label("loop")
	g.ins("TESTQ DX, DX")
	g.ins("JZ done")
	for i := 0; i < maxW; i++ {
		g.ins("CMPQ CX, $%d", i)
		g.ins("JLE absorbed")
		k := 1 + i%7
		d := g.free[i%len(g.free)]
		g.ins("KMOVW R10, K%d", k)
		g.ins("VPXORQ %s, %s, %s", z(d), z(d), z(d))
		g.ins("VPGATHERQQ %d(BX)(%s*1), K%d, %s", 8*i, z(ptrReg), k, z(d))
		g.ins("VPXORQ %s, %s, %s", z(d), z(g.m[i]), z(g.m[i]))
	}
	g.w.Label("absorbed")
	g.ins("ADDQ R8, BX")
	for r := 0; r < asmgen.Rounds; r++ {
		g.ins("// round %d", r)
		g.round(r)
	}
	g.restore(start)
	g.ins("DECQ DX")
	g.ins("JMP loop")
	g.w.Label("done")
	for i := 0; i < 25; i++ {
		g.ins("VMOVDQU64 %s, %d(DI)", z(g.m[i]), 64*i)
	}
	g.ins("VZEROUPPER")
	g.ins("RET")
}

func main() {
	asmgen.Main("gen8", func(w *asmgen.Writer) error {
		w.Header("gen8/main.go",
			"Eight-lane Keccak-f[1600] (FIPS 202) with AVX-512F. The register and",
			"memory layout is described in gen8/main.go.")
		(&gen{w: w}).function()
		return nil
	})
}
