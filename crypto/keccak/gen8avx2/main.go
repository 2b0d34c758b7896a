//go:build ignore

// Command gen8avx2 writes f1600x8_avx2_amd64.s, the eight-lane
// Keccak-f[1600] for CPUs with AVX2 but without AVX-512:
//
//	go run gen8avx2/main.go -out f1600x8_avx2_amd64.s
//
// It emits one function with the contract of f1600x8AVX512 (gen8/main.go),
//
//	func f1600x8AVX2(a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int)
//
// which runs blocks times: for each state j whose bit is set in mask, XOR
// words little-endian 64-bit words read from ptrs[j] + 8*words*block into
// the first words lanes of state j; then apply Keccak-f[1600] to all eight
// states. A lane whose mask bit is clear absorbs nothing and its pointer is
// never read; with words = 0, ptrs is not read at all (it may be nil).
//
// Layout. The states are lane-interleaved as for AVX-512: a[8*i+j] is lane
// i of state j, so the 64-byte row a[8*i : 8*i+8] holds lane i of the eight
// states. A ymm register holds four of them, so the function works on two
// groups of four states, the first 32 bytes of every row (states 0..3) and
// then the last 32 (states 4..7). Each group runs all of its blocks before
// the next group starts.
//
// Registers. Sixteen ymm registers cannot hold 25 lanes plus temporaries,
// so the state lives in memory and each round reads one copy and writes the
// other. A group's 25 half-rows are first copied to a 25x32-byte buffer in
// the frame, aligned to 32 bytes (base BX), so that no access splits a
// cache line whatever the caller's alignment; a second such buffer follows
// it. Rounds alternate between the two, two rounds per loop iteration, so
// after 24 rounds the state is back in the first buffer; blocks are
// absorbed into it, and after the group's last block it is copied back to
// the caller's rows. One round:
//
//   - θ: C[x] (Y0..Y4) is one load and four VPXORs with memory operands;
//     D[x] = C[x-1] ^ rot(C[x+1], 1) (Y5..Y9), the rotation as VPADDQ (the
//     shift left by one) and VPSRLQ $63, both XORed in;
//   - ρ and π: for each output plane, the five lanes B[X] = rot(A[X+3Y, X]
//     ^ D[X+3Y], r) are loaded with their D XORed in (one VPXOR with a memory
//     operand) into Y0..Y4, and rotated with VPSLLQ (VPADDQ for a shift by
//     one), VPSRLQ and VPOR; the rotations by 8 and 56 are one VPSHUFB each;
//   - χ: E[X] = B[X] ^ (^B[X+1] & B[X+2]) is a VPANDN and a VPXOR, stored to
//     the other copy;
//   - ι: the round constant, broadcast once per round (VPBROADCASTQ), is
//     XORed into E[0,0] before its store.
//
// Absorption loads and transposes instead of gathering (VPGATHERQQ is slow
// on AMD Zen 2 and on Intel cores with the gather data sampling
// mitigation): for four words of the four states of a group, two 128-bit
// loads from states 0 and 2 (1 and 3) joined with VINSERTI128 and two
// VPUNPCKLQDQ/VPUNPCKHQDQ give the four words as four rows; a word left
// over (the rates are 17, 9, 21 words) is two VMOVQ and two VPINSRQ joined
// with VINSERTI128. A lane whose mask bit is clear reads a static block of
// zeros instead of its pointer, with a pointer step of zero, so its state
// absorbs nothing and its memory is never read.
//
// Before returning, the function overwrites both frame buffers (which held
// the states) with zeros and clears every ymm register
// (VZEROALL).
package main

import (
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/keccak/internal/asmgen"
)

const (
	maxW      = 21                       // largest rate in words (168 bytes)
	stepOff   = 0                        // four pointer steps
	groupOff  = 32                       // groups left
	bufOff    = 40                       // the two state copies, once aligned
	copySize  = 25 * 32                  // one copy of a group's four states
	frameSize = bufOff + 24 + 2*copySize // SP is 8-byte aligned: at most 24 bytes to skip
)

type gen struct {
	w *asmgen.Writer
}

func y(r int) string { return fmt.Sprintf("Y%d", r) }

func (g *gen) ins(format string, args ...any) { g.w.Ins(format, args...) }

func (g *gen) label(l string) { g.w.Label(l) }

// copyOf is one copy of the four-state group: a base register and the
// distance between lanes.
type copyOf struct {
	base   string
	off    int
	stride int
}

func (c copyOf) lane(i int) string { return fmt.Sprintf("%d(%s)", c.off+c.stride*i, c.base) }

// round emits one round from src to dst, XORing the round constant at
// rc(R12) into lane 0.
func (g *gen) round(src, dst copyOf, rc int) {
	// θ: C[x] in Y0..Y4.
	for x := 0; x < 5; x++ {
		g.ins("VMOVDQA %s, %s", src.lane(x), y(x))
		for yy := 1; yy < 5; yy++ {
			g.ins("VPXOR %s, %s, %s", src.lane(x+5*yy), y(x), y(x))
		}
	}
	g.ins("VPBROADCASTQ %d(R12), Y15", rc)
	// D[x] = C[x-1] ^ rot(C[x+1], 1) in Y5..Y9.
	for x := 0; x < 5; x++ {
		c1, c4 := y((x+1)%5), y((x+4)%5)
		t, u := y(10+2*(x%2)), y(11+2*(x%2))
		g.ins("VPADDQ %s, %s, %s", c1, c1, t)
		g.ins("VPSRLQ $63, %s, %s", c1, u)
		g.ins("VPXOR %s, %s, %s", c4, t, y(5+x))
		g.ins("VPXOR %s, %s, %s", u, y(5+x), y(5+x))
	}
	// ρ, π, χ, ι plane by plane: B[X] in Y0..Y4.
	for py := 0; py < 5; py++ {
		for bx := 0; bx < 5; bx++ {
			l := asmgen.PiSource(bx + 5*py)
			b := y(bx)
			g.ins("VPXOR %s, %s, %s", src.lane(l), y(5+l%5), b)
			switch r := asmgen.Rho(l); r {
			case 0:
			case 1:
				t := y(10 + bx)
				g.ins("VPADDQ %s, %s, %s", b, b, t)
				g.ins("VPSRLQ $63, %s, %s", b, b)
				g.ins("VPOR %s, %s, %s", t, b, b)
			case 8:
				g.ins("VPSHUFB rotl8<>(SB), %s, %s", b, b)
			case 56:
				g.ins("VPSHUFB rotl56<>(SB), %s, %s", b, b)
			default:
				t := y(10 + bx)
				g.ins("VPSLLQ $%d, %s, %s", r, b, t)
				g.ins("VPSRLQ $%d, %s, %s", 64-r, b, b)
				g.ins("VPOR %s, %s, %s", t, b, b)
			}
		}
		for bx := 0; bx < 5; bx++ {
			t := y(10 + bx)
			g.ins("VPANDN %s, %s, %s", y((bx+2)%5), y((bx+1)%5), t)
			g.ins("VPXOR %s, %s, %s", y(bx), t, t)
			if bx == 0 && py == 0 {
				g.ins("VPXOR Y15, %s, %s", t, t)
			}
			g.ins("VMOVDQA %s, %s", t, dst.lane(bx+5*py))
		}
	}
}

// quad emits the absorption of words 4k..4k+3 of the group's four states.
func (g *gen) quad(k int) {
	o := 32 * k
	g.ins("VMOVDQU %d(R8), X0", o)
	g.ins("VINSERTI128 $1, %d(R10), Y0, Y0", o)
	g.ins("VMOVDQU %d(R9), X1", o)
	g.ins("VINSERTI128 $1, %d(R11), Y1, Y1", o)
	g.ins("VMOVDQU %d(R8), X2", o+16)
	g.ins("VINSERTI128 $1, %d(R10), Y2, Y2", o+16)
	g.ins("VMOVDQU %d(R9), X3", o+16)
	g.ins("VINSERTI128 $1, %d(R11), Y3, Y3", o+16)
	g.ins("VPUNPCKLQDQ Y1, Y0, Y4")
	g.ins("VPUNPCKHQDQ Y1, Y0, Y5")
	g.ins("VPUNPCKLQDQ Y3, Y2, Y6")
	g.ins("VPUNPCKHQDQ Y3, Y2, Y7")
	for m := 0; m < 4; m++ {
		i := 4*k + m
		g.ins("VPXOR %d(BX), %s, %s", 32*i, y(4+m), y(4+m))
		g.ins("VMOVDQA %s, %d(BX)", y(4+m), 32*i)
	}
}

// single emits the absorption of word i of the group's four states.
func (g *gen) single(i int) {
	o := 8 * i
	g.ins("VMOVQ %d(R8), X0", o)
	g.ins("VPINSRQ $1, %d(R9), X0, X0", o)
	g.ins("VMOVQ %d(R10), X1", o)
	g.ins("VPINSRQ $1, %d(R11), X1, X1", o)
	g.ins("VINSERTI128 $1, X1, Y0, Y0")
	g.ins("VPXOR %d(BX), Y0, Y0", 32*i)
	g.ins("VMOVDQA Y0, %d(BX)", 32*i)
}

// absorb emits the absorption of CX (1..maxW) words of the group's states,
// ending at label absorbed.
func (g *gen) absorb() {
	const quads = maxW / 4
	for k := 0; k < quads; k++ {
		g.ins("CMPQ CX, $%d", 4*k+4)
		g.ins("JLT tail%d", k)
		g.quad(k)
	}
	g.ins("JMP tail%d", quads)
	for k := 0; k <= quads; k++ {
		g.label(fmt.Sprintf("tail%d", k))
		for i := 4 * k; i < 4*k+3 && i < maxW; i++ {
			g.ins("CMPQ CX, $%d", i)
			g.ins("JLE absorbed")
			g.single(i)
		}
		g.ins("JMP absorbed")
	}
}

func (g *gen) function() {
	const name = "f1600x8AVX2"
	g.w.Text(name, "a *[200]uint64, ptrs *[8]*byte, mask, words, blocks int", "0", frameSize, 40,
		fmt.Sprintf("Frame: %d(SP) the pointer steps, %d(SP) the groups left, then the", stepOff, groupOff),
		fmt.Sprintf("two state copies at BX, the first 32-byte boundary from %d(SP) on.", bufOff))
	g.ins("MOVQ a+0(FP), DI")
	g.ins("MOVQ ptrs+8(FP), SI")
	g.ins("MOVQ mask+16(FP), R13")
	g.ins("MOVQ words+24(FP), CX")
	g.ins("CMPQ blocks+32(FP), $0")
	g.ins("JLE done")
	g.ins("MOVQ $2, %d(SP)", groupOff)
	g.ins("LEAQ %d(SP), BX", bufOff+31)
	g.ins("ANDQ $-32, BX // the state copies, 32-byte aligned")

	g.label("group")
	for i := 0; i < 25; i++ {
		g.ins("VMOVDQU %d(DI), Y%d", 64*i, i%16)
		g.ins("VMOVDQA Y%d, %d(BX)", i%16, 32*i)
	}
	g.ins("TESTQ CX, CX")
	g.ins("JZ blocks")
	g.ins("LEAQ x8zero<>(SB), AX")
	g.ins("MOVQ CX, DX")
	g.ins("SHLQ $3, DX // block size in bytes")
	for j := 0; j < 4; j++ {
		r := fmt.Sprintf("R%d", 8+j)
		g.ins("MOVQ %d(SI), %s", 8*j, r)
		g.ins("XORL R12, R12")
		g.ins("BTQ $%d, R13", j)
		g.ins("CMOVQCC AX, %s // masked: read zeros", r)
		g.ins("CMOVQCS DX, R12")
		g.ins("MOVQ R12, %d(SP)", stepOff+8*j)
	}

	g.label("blocks")
	g.ins("MOVQ blocks+32(FP), DX")

	g.label("block")
	g.ins("TESTQ CX, CX")
	g.ins("JZ permute")
	g.absorb()
	g.label("absorbed")
	for j := 0; j < 4; j++ {
		g.ins("ADDQ %d(SP), R%d", stepOff+8*j, 8+j)
	}

	g.label("permute")
	g.ins("LEAQ ·roundConstants(SB), R12")
	g.ins("MOVQ $12, AX")
	g.label("rounds")
	a := copyOf{"BX", 0, 32}
	e := copyOf{"BX", copySize, 32}
	g.round(a, e, 0)
	g.round(e, a, 8)
	g.ins("ADDQ $16, R12")
	g.ins("DECQ AX")
	g.ins("JNZ rounds")
	g.ins("DECQ DX")
	g.ins("JNZ block")

	for i := 0; i < 25; i++ {
		g.ins("VMOVDQA %d(BX), Y%d", 32*i, i%16)
		g.ins("VMOVDQU Y%d, %d(DI)", i%16, 64*i)
	}
	g.ins("ADDQ $32, DI // the next group: states 4..7")
	g.ins("ADDQ $32, SI")
	g.ins("SHRQ $4, R13")
	g.ins("DECQ %d(SP)", groupOff)
	g.ins("JNZ group")

	g.ins("VPXOR Y0, Y0, Y0")
	for i := 0; i < 50; i++ {
		g.ins("VMOVDQA Y0, %d(BX)", 32*i)
	}
	g.label("done")
	g.ins("VZEROALL")
	g.ins("RET")
}

// data emits the VPSHUFB masks and the block of zeros.
func (g *gen) data() {
	g.w.Blank()
	g.w.Line("// VPSHUFB masks rotating each 64-bit lane left by 8 and by 56 bits.")
	for _, m := range []struct {
		name   string
		lo, hi uint64
	}{
		{"rotl8", 0x0605040302010007, 0x0e0d0c0b0a09080f},
		{"rotl56", 0x0007060504030201, 0x080f0e0d0c0b0a09},
	} {
		for k := 0; k < 4; k++ {
			v := m.lo
			if k%2 == 1 {
				v = m.hi
			}
			g.w.DataHex(m.name, 8*k, v)
		}
		g.w.Global(m.name, 32)
	}
	g.w.Blank()
	g.w.Line("// A block of zeros that masked-off lanes absorb.")
	for k := 0; k < maxW; k++ {
		g.w.Data("x8zero", 8*k, 0)
	}
	g.w.Global("x8zero", 8*maxW)
}

func main() {
	asmgen.Main("gen8avx2", func(w *asmgen.Writer) error {
		w.Header("gen8avx2/main.go",
			"Eight-lane Keccak-f[1600] (FIPS 202) with AVX2, as two groups of four",
			"states. The register and memory layout is described in gen8avx2/main.go.")
		g := &gen{w: w}
		g.data()
		g.function()
		return nil
	})
}
