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
// The rotation offsets are derived here from FIPS 202 section 3.2.2.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
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

// rho returns the ρ rotation offsets of FIPS 202 Algorithm 2, indexed x+5y.
func rho() [25]int {
	var r [25]int
	x, y := 1, 0
	for t := 0; t < 24; t++ {
		r[x+5*y] = ((t + 1) * (t + 2) / 2) % 64
		x, y = y, (2*x+3*y)%5
	}
	return r
}

type gen struct {
	w    *bufio.Writer
	bmi  bool
	rots [25]int
}

func (g *gen) ins(format string, args ...any) {
	fmt.Fprintf(g.w, "\t"+format+"\n", args...)
}

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
		// π moves lane (x, y) to (y, 2x+3y); so output (X, Y) comes from
		// x = 3(Y - 3X) mod 5, y = X (3 is the inverse of 2 mod 5).
		for X := 0; X < 5; X++ {
			x, y := ((3*(Y-3*X))%5+5)%5, X
			i := x + 5*y
			g.ins("MOVQ %s, %s", operand(src, i), bReg[X])
			g.ins("XORQ %s, %s", dReg[x], bReg[X])
			if r := g.rots[i]; r != 0 {
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
	fmt.Fprintf(g.w, "\n// func %s(a *[25]uint64)\n", name)
	fmt.Fprintf(g.w, "TEXT ·%s(SB), NOSPLIT, $%d-8\n", name, frame+8)
	g.ins("MOVQ a+0(FP), DI")
	g.ins("LEAQ ·roundConstants(SB), %s", rcReg)
	g.ins("LEAQ 192(%s), AX", rcReg)
	g.ins("MOVQ AX, %d(SP)", frame)
	fmt.Fprintf(g.w, "\n%s_loop:\n", name)
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
	out := flag.String("out", "", "output file (default standard output)")
	flag.Parse()
	if *unroll%2 != 0 || 24%*unroll != 0 {
		fmt.Fprintln(os.Stderr, "gen: -unroll must be even and divide 24")
		os.Exit(2)
	}
	f := os.Stdout
	if *out != "" {
		var err error
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
	w := bufio.NewWriter(f)
	generate(w, *unroll)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// generate writes the whole assembly file to w.
func generate(w *bufio.Writer, unroll int) {
	fmt.Fprintln(w, "// Code generated by gen/main.go; DO NOT EDIT.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "//go:build amd64 && !purego")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "// Keccak-f[1600] (FIPS 202) for amd64. The register and memory layout is")
	fmt.Fprintln(w, "// described in gen/main.go.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "#include \"textflag.h\"")
	rots := rho()
	(&gen{w: w, rots: rots}).function("permuteAsm", unroll)
	(&gen{w: w, rots: rots, bmi: true}).function("permuteAsmBMI", unroll)
}
