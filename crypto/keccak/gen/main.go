//go:build ignore

// Command gen writes f1600_amd64.s, the amd64 assembly Keccak-f[1600]:
//
//	go run gen/main.go > f1600_amd64.s
//
// or, as go generate does, go run gen/main.go -out f1600_amd64.s.
//
// It emits two functions with the same round structure:
//
//   - permuteAsm uses only base x86-64 instructions (χ as MOV, NOT, AND, XOR);
//   - permuteAsmBMI uses BMI1 ANDN for χ and BMI2 RORX for θ, and must only
//     be called when the CPU has both (f1600_amd64.go checks).
//
// Layout. Lane (x, y) of the FIPS 202 state is a[x+5y]. A round reads the
// 25 lanes from one buffer and writes the 25 new lanes to the other: the
// caller's state at (DI) and a 200-byte scratch state at 0(SP) alternate,
// and an even number of rounds per loop iteration leaves the result in the
// caller's state. Within a round:
//
//   - θ: the column parities C[x] are computed from memory into R8..R12,
//     then D[x] = C[x-1] ^ rot(C[x+1], 1) into AX, BX, CX, DX, SI;
//   - ρ, π: for each output row Y, the five lanes that π moves into it are
//     loaded, XORed with their D and rotated, giving B[0..4] in R8..R12;
//   - χ: E[X] = B[X] ^ (^B[X+1] & B[X+2]) is built in R13 and stored;
//   - ι: the round constant, read through R14 from roundConstants, is XORed
//     into lane (0, 0) before it is stored.
//
// Row 0 is processed last so that D is dead by the time ι needs a register.
// The ρ offsets and the π lane order come from internal/asmgen.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/qsmp-go/qsmp/crypto/keccak/internal/asmgen"
)

var (
	dReg = [5]string{"AX", "BX", "CX", "DX", "SI"}
	bReg = [5]string{"R8", "R9", "R10", "R11", "R12"}
)

const (
	tReg  = "R13" // χ output
	rcReg = "R14" // pointer to the next round constant
	frame = 200   // scratch state (25 lanes); the loop bound is kept at 200(SP)
)

type gen struct {
	w   *asmgen.Writer
	bmi bool
}

func (g *gen) ins(format string, args ...any) { g.w.Ins(format, args...) }

// operand returns the memory operand of lane i in the caller's state (DI)
// or in the scratch state on the stack.
func operand(onStack bool, i int) string {
	if onStack {
		return fmt.Sprintf("%d(SP)", 8*i)
	}
	return fmt.Sprintf("%d(DI)", 8*i)
}

// round emits one round reading from src and writing to dst (true = stack).
func (g *gen) round(src, dst bool, rcOff int) {
	// θ: column parities.
	for x := 0; x < 5; x++ {
		g.ins("MOVQ %s, %s", operand(src, x), bReg[x])
		for y := 1; y < 5; y++ {
			g.ins("XORQ %s, %s", operand(src, x+5*y), bReg[x])
		}
	}
	for x := 0; x < 5; x++ {
		c1, c4 := bReg[(x+1)%5], bReg[(x+4)%5]
		if g.bmi {
			g.ins("RORXQ $63, %s, %s", c1, dReg[x])
		} else {
			g.ins("MOVQ %s, %s", c1, dReg[x])
			g.ins("ROLQ $1, %s", dReg[x])
		}
		g.ins("XORQ %s, %s", c4, dReg[x])
	}
	for _, Y := range []int{1, 2, 3, 4, 0} {
		// π moves lane (x, y) to (y, 2x+3y): output (X, Y) comes from
		// lane i = asmgen.PiSource(X+5Y), in column x = i mod 5.
		for X := 0; X < 5; X++ {
			i := asmgen.PiSource(X + 5*Y)
			g.ins("MOVQ %s, %s", operand(src, i), bReg[X])
			g.ins("XORQ %s, %s", dReg[i%5], bReg[X])
			if r := asmgen.Rho(i); r != 0 {
				g.ins("ROLQ $%d, %s", r, bReg[X])
			}
		}
		for X := 0; X < 5; X++ {
			b0, b1, b2 := bReg[X], bReg[(X+1)%5], bReg[(X+2)%5]
			if g.bmi {
				g.ins("ANDNQ %s, %s, %s", b2, b1, tReg)
			} else {
				g.ins("MOVQ %s, %s", b1, tReg)
				g.ins("NOTQ %s", tReg)
				g.ins("ANDQ %s, %s", b2, tReg)
			}
			g.ins("XORQ %s, %s", b0, tReg)
			if X == 0 && Y == 0 {
				g.ins("XORQ %d(%s), %s", rcOff, rcReg, tReg)
			}
			g.ins("MOVQ %s, %s", tReg, operand(dst, X+5*Y))
		}
	}
}

// function emits one complete permutation function.
func (g *gen) function(name string, unroll int) {
	g.w.Text(name, "a *[25]uint64", "NOSPLIT", frame+8, 8)
	g.ins("MOVQ a+0(FP), DI")
	g.ins("LEAQ ·roundConstants(SB), %s", rcReg)
	g.ins("LEAQ %d(%s), AX", 8*asmgen.Rounds, rcReg)
	g.ins("MOVQ AX, %d(SP)", frame)
	g.w.Label(name + "_loop")
	for r := 0; r < unroll; r++ {
		src := r%2 == 1
		g.round(src, !src, 8*r)
	}
	g.ins("ADDQ $%d, %s", 8*unroll, rcReg)
	g.ins("CMPQ %s, %d(SP)", rcReg, frame)
	g.ins("JNE %s_loop", name)
	g.ins("RET")
}

func main() {
	unroll := flag.Int("unroll", 2, "rounds per loop iteration (even, divides 24)")
	asmgen.Main("gen", func(w *asmgen.Writer) error {
		if *unroll%2 != 0 || asmgen.Rounds%*unroll != 0 {
			fmt.Fprintln(os.Stderr, "gen: -unroll must be even and divide 24")
			os.Exit(2)
		}
		w.Header("gen/main.go",
			"Keccak-f[1600] (FIPS 202) for amd64. The register and memory layout is",
			"described in gen/main.go.")
		(&gen{w: w}).function("permuteAsm", *unroll)
		(&gen{w: w, bmi: true}).function("permuteAsmBMI", *unroll)
		return nil
	})
}
