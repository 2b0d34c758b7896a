//go:build ignore

// Command genavx512 writes f1600_avx512_amd64.s, a single-state
// Keccak-f[1600] for amd64 CPUs with AVX-512F:
//
//	go run genavx512/main.go -out f1600_avx512_amd64.s
//
// Before writing anything it runs the generated instruction list through a
// small emulator of the instructions it uses and compares the result with a
// straightforward FIPS 202 permutation on random states, so a generator
// that produces a wrong program fails here rather than in the package tests.
//
// # Layout
//
// Lane (x, y) of the FIPS 202 state is point x+5y. The 25 lanes live in five
// zmm registers; qword l (l < 5) of every register always holds a lane of
// column x = l, and qwords 5..7 are ignored. Which row each qword comes from
// is the layout: the five registers hold the five lines of one slope s,
// register c holding the points (x, s·x+c mod 5). Slope 0 is the rows, the
// memory order, which the state is loaded from and stored back to.
//
// Because every register has one lane of each column in qword x, θ is cheap
// whatever the slope: the column parities C are the XOR of the five
// registers (two VPTERNLOGQ), C[x-1] and C[x+1] are two VPERMQ, and
// A ^= C[x-1] ^ rot(C[x+1], 1) is one VPTERNLOGQ per register. ρ is a
// VPROLVQ per register with the rotation counts of its points.
//
// π moves point (x, y) to (y, 2x+3y). It maps the lines of slope s onto the
// lines of slope t with s = 1/(1+3t) (mod 5): 3 -> 2 -> 4 -> 1 -> 0. χ needs,
// for each new line, the line itself and the line shifted by one and two
// columns (B[x+1], B[x+2] in qword x); after π each of these is one old line
// in some qword order, so π and the χ shifts together cost one VPERMQ per
// operand (15 per round, fewer when an operand is already in place: from
// slope 1 to slope 0 three are). χ itself is one VPTERNLOGQ (0xD2) per new
// line and ι one masked broadcast VPXORQ.
//
// The rows (slope 0) are a dead end of that cycle: π turns them into
// columns, which have no lane per column. A round that starts from the rows
// ("heavy") goes to lines of any slope, each of whose operands takes one
// lane from every row: seven VPERMI2Q first gather rows 0..3 so that every
// operand lies in two registers (the gathered one and row 4), then each
// operand is one VPERMI2Q. The 24 rounds are: heavy to slope 2, three plain
// rounds back to the rows, then four times heavy to slope 3 and four plain
// rounds, so the state starts and ends in memory order.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"strings"
)

// ---------------------------------------------------------------------------
// Keccak reference (FIPS 202), used to check the generated program.

func rho() [25]int {
	var r [25]int
	x, y := 1, 0
	for t := 0; t < 24; t++ {
		r[x+5*y] = ((t + 1) * (t + 2) / 2) % 64
		x, y = y, (2*x+3*y)%5
	}
	return r
}

func roundConstants() [24]uint64 {
	var rc [24]uint64
	lfsr := uint8(1)
	bit := func() uint64 {
		b := uint64(lfsr & 1)
		if lfsr&0x80 != 0 {
			lfsr = lfsr<<1 ^ 0x71
		} else {
			lfsr <<= 1
		}
		return b
	}
	for i := range rc {
		for j := 0; j < 7; j++ {
			if bit() == 1 {
				rc[i] |= 1 << ((1 << j) - 1)
			}
		}
	}
	return rc
}

func reference(a *[25]uint64) {
	rots, rc := rho(), roundConstants()
	for r := 0; r < 24; r++ {
		var c, d [5]uint64
		for x := 0; x < 5; x++ {
			c[x] = a[x] ^ a[x+5] ^ a[x+10] ^ a[x+15] ^ a[x+20]
		}
		for x := 0; x < 5; x++ {
			d[x] = c[(x+4)%5] ^ bits.RotateLeft64(c[(x+1)%5], 1)
		}
		var b [25]uint64
		for x := 0; x < 5; x++ {
			for y := 0; y < 5; y++ {
				b[y+5*((2*x+3*y)%5)] = bits.RotateLeft64(a[x+5*y]^d[x], rots[x+5*y])
			}
		}
		for x := 0; x < 5; x++ {
			for y := 0; y < 5; y++ {
				a[x+5*y] = b[x+5*y] ^ (^b[(x+1)%5+5*y] & b[(x+2)%5+5*y])
			}
		}
		a[0] ^= rc[r]
	}
}

// ---------------------------------------------------------------------------
// Instructions. The generator builds a list, then prints it and emulates it.

type opKind int

const (
	opLoadState  opKind = iota // VMOVDQU64.Z off(DI), K1, dst (qwords 0..4 of a row)
	opStoreState               // VMOVDQU64 a, K1, off(DI)
	opLoadConst                // VMOVDQU64 const, dst
	opMove                     // VMOVDQA64 a, dst
	opTernlog                  // VPTERNLOGQ $imm, c, b, dst (dst is also operand a)
	opPerm                     // VPERMQ a(table), b(index), dst
	opPerm2                    // VPERMI2Q b(table2), a(table1), dst(index)
	opRolConst                 // VPROLQ $imm, a, dst
	opRolVar                   // VPROLVQ const, a, dst
	opIota                     // VPXORQ.BCST roundConstants+8*imm, dst, K2, dst
)

type insn struct {
	kind    opKind
	dst     int // register number
	a, b, c int
	imm     int
	off     int // state byte offset or constant offset
	comment string
}

// ---------------------------------------------------------------------------
// Generator state.

const (
	nRegs   = 32
	unused  = -1
	kLanes  = 5
	vecSize = 64
)

// val is a register value: what point each qword holds (unused if none).
type val struct {
	reg   int
	lanes [8]int
}

type gen struct {
	prog   []insn
	free   []int
	consts [][8]uint64 // constant pool, 64 bytes each
	rots   [25]int
	nround int
}

func newGen() *gen {
	g := &gen{rots: rho()}
	for r := 0; r < nRegs; r++ {
		g.free = append(g.free, r)
	}
	return g
}

func (g *gen) alloc() int {
	if len(g.free) == 0 {
		panic("genavx512: out of registers")
	}
	r := g.free[0]
	g.free = g.free[1:]
	return r
}

func (g *gen) release(r int) {
	for _, f := range g.free {
		if f == r {
			panic(fmt.Sprintf("genavx512: Z%d released twice", r))
		}
	}
	g.free = append(g.free, r)
}

func (g *gen) emit(i insn) { g.prog = append(g.prog, i) }

// constant returns the byte offset of a 64-byte constant in the pool.
func (g *gen) constant(v [8]uint64) int {
	for i, c := range g.consts {
		if c == v {
			return i * vecSize
		}
	}
	g.consts = append(g.consts, v)
	return (len(g.consts) - 1) * vecSize
}

func (g *gen) loadConst(v [8]uint64) int {
	r := g.alloc()
	g.emit(insn{kind: opLoadConst, dst: r, off: g.constant(v)})
	return r
}

// line returns the points of line c of slope s, qword l holding the point
// of column a·l (a is not 0 mod 5).
func line(s, c, a int) [8]int {
	var l [8]int
	for i := range l {
		l[i] = unused
	}
	for q := 0; q < 5; q++ {
		x := a * q % 5
		l[q] = x + 5*((s*x+c)%5)
	}
	return l
}

// preimage returns the point that π moves to point p.
func preimage(p int) int {
	x, y := p%5, p/5
	return (x+3*y)%5 + 5*x
}

// find returns the qword of v holding point p, or -1.
func find(v *val, p int) int {
	for i, q := range v.lanes {
		if q == p && p != unused {
			return i
		}
	}
	return -1
}

// gather returns a register holding the points want (unused = don't care)
// in qword order, made from at most two of the candidates by one VPERMQ or
// VPERMI2Q, or a candidate itself when it already has them in place. The
// bool reports whether the register is a new temporary.
func (g *gen) gather(want [8]int, cands []*val, comment string) (*val, bool) {
	covers := func(vs ...*val) bool {
		for _, p := range want {
			if p == unused {
				continue
			}
			ok := false
			for _, v := range vs {
				if find(v, p) >= 0 {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	for _, v := range cands {
		inPlace := true
		for i, p := range want {
			if p != unused && v.lanes[i] != p {
				inPlace = false
			}
		}
		if inPlace {
			return v, false
		}
	}
	for _, v := range cands {
		if covers(v) {
			var idx [8]uint64
			for i, p := range want {
				if p != unused {
					idx[i] = uint64(find(v, p))
				}
			}
			ir := g.loadConstShared(idx)
			d := g.alloc()
			g.emit(insn{kind: opPerm, dst: d, a: v.reg, b: ir, comment: comment})
			return &val{reg: d, lanes: want}, true
		}
	}
	for i, v := range cands {
		for _, w := range cands[i+1:] {
			if !covers(v, w) {
				continue
			}
			var idx [8]uint64
			for i, p := range want {
				if p == unused {
					continue
				}
				if j := find(v, p); j >= 0 {
					idx[i] = uint64(j)
				} else {
					idx[i] = uint64(8 + find(w, p))
				}
			}
			d := g.alloc()
			g.emit(insn{kind: opLoadConst, dst: d, off: g.constant(idx), comment: comment})
			g.emit(insn{kind: opPerm2, dst: d, a: v.reg, b: w.reg})
			return &val{reg: d, lanes: want}, true
		}
	}
	panic("genavx512: no two candidates cover " + comment)
}

// shared VPERMQ indices of the current round, loaded once into a register.
type sharedIdx struct {
	v   [8]uint64
	reg int
}

var roundIdx []sharedIdx

func (g *gen) loadConstShared(v [8]uint64) int {
	for _, s := range roundIdx {
		if s.v == v {
			return s.reg
		}
	}
	r := g.loadConst(v)
	roundIdx = append(roundIdx, sharedIdx{v, r})
	return r
}

func (g *gen) releaseShared() {
	for _, s := range roundIdx {
		g.release(s.reg)
	}
	roundIdx = nil
}

// ternImm returns the VPTERNLOGQ immediate computing f over the operands
// (a, b, c) = the register order of the instruction.
func ternImm(f func(a, b, c bool) bool) int {
	imm := 0
	for i := 0; i < 8; i++ {
		if f(i&4 != 0, i&2 != 0, i&1 != 0) {
			imm |= 1 << i
		}
	}
	return imm
}

// theta applies θ and ρ in place to the five state registers.
func (g *gen) thetaRho(st []*val) {
	// Every register must hold the same column in each qword.
	var col, lane [5]int
	for q := 0; q < 5; q++ {
		col[q] = st[0].lanes[q] % 5
		lane[col[q]] = q
		for _, v := range st {
			if v.lanes[q]%5 != col[q] {
				panic("genavx512: state registers disagree on the column of a qword")
			}
		}
	}
	var m1, p1 [8]uint64
	for q := 0; q < 5; q++ {
		m1[q] = uint64(lane[(col[q]+4)%5])
		p1[q] = uint64(lane[(col[q]+1)%5])
	}
	idxM1 := g.loadConstShared(m1)
	idxP1 := g.loadConstShared(p1)
	xor3 := ternImm(func(a, b, c bool) bool { return a != b != c })
	c := g.alloc()
	g.emit(insn{kind: opMove, dst: c, a: st[0].reg, comment: "θ: column parities"})
	g.emit(insn{kind: opTernlog, dst: c, b: st[1].reg, c: st[2].reg, imm: xor3})
	g.emit(insn{kind: opTernlog, dst: c, b: st[3].reg, c: st[4].reg, imm: xor3})
	cm := g.alloc()
	cp := g.alloc()
	// rot(C, 1) first, so that both permutations start as soon as they can.
	g.emit(insn{kind: opRolConst, dst: cp, a: c, imm: 1})
	g.emit(insn{kind: opPerm, dst: cm, a: c, b: idxM1})
	g.emit(insn{kind: opPerm, dst: cp, a: cp, b: idxP1})
	for i, v := range st {
		g.emit(insn{kind: opTernlog, dst: v.reg, b: cm, c: cp, imm: xor3})
		var counts [8]uint64
		for q, p := range v.lanes {
			if p != unused {
				counts[q] = uint64(g.rots[p])
			}
		}
		com := ""
		if i == 0 {
			com = "ρ"
		}
		g.emit(insn{kind: opRolVar, dst: v.reg, a: v.reg, off: g.constant(counts), comment: com})
	}
	g.release(c)
	g.release(cm)
	g.release(cp)
}

// chiIota builds the new lines of slope t from the operand sources and
// applies χ and ι; it releases nothing.
func (g *gen) chiIota(t, a int, srcs []*val, round int) []*val {
	out := make([]*val, 5)
	chi := func(b0, b1, b2 bool) bool { return b0 != (!b1 && b2) }
	for c := 0; c < 5; c++ {
		nl := line(t, c, a)
		var ops [3]*val
		var tmp [3]bool
		for k := 0; k < 3; k++ {
			var want [8]int
			for i := range want {
				want[i] = unused
			}
			for x := 0; x < 5; x++ {
				p := nl[x]
				shifted := (p%5+k)%5 + 5*(p/5)
				want[x] = preimage(shifted)
			}
			com := ""
			if c == 0 && k == 0 {
				com = fmt.Sprintf("π, χ operands for slope %d", t)
			}
			ops[k], tmp[k] = g.gather(want, srcs, com)
		}
		// The destination must be a temporary (it is overwritten).
		d := -1
		for k := 0; k < 3; k++ {
			if tmp[k] {
				d = k
				break
			}
		}
		if d < 0 {
			r := g.alloc()
			g.emit(insn{kind: opMove, dst: r, a: ops[0].reg})
			ops[0] = &val{reg: r, lanes: ops[0].lanes}
			tmp[0] = true
			d = 0
		}
		o := [3]int{d, (d + 1) % 3, (d + 2) % 3} // instruction operand a, b, c -> operand index
		imm := ternImm(func(a, b, c bool) bool {
			var v [3]bool
			v[o[0]], v[o[1]], v[o[2]] = a, b, c
			return chi(v[0], v[1], v[2])
		})
		com := ""
		if c == 0 {
			com = "χ"
		}
		g.emit(insn{kind: opTernlog, dst: ops[o[0]].reg, b: ops[o[1]].reg, c: ops[o[2]].reg, imm: imm, comment: com})
		for k := 0; k < 3; k++ {
			if tmp[k] && k != d {
				g.release(ops[k].reg)
			}
		}
		out[c] = &val{reg: ops[d].reg, lanes: nl}
		if nl[0] == 0 {
			g.emit(insn{kind: opIota, dst: ops[d].reg, imm: round % 24, comment: "ι"})
		}
	}
	return out
}

// round emits one round from the state st (lines of slope s) to lines of
// slope t and returns the new state.
func (g *gen) round(st []*val, s, t, a int) []*val {
	g.emitComment(fmt.Sprintf("round %d: slope %d -> %d", g.nround, s, t))
	g.thetaRho(st)
	var srcs []*val
	var extra []*val
	if s == 0 {
		// Heavy round: gather rows 0..3 so that every operand lies in one
		// gathered register and row 4.
		lines := g.operandLines(t, a)
		pts := func(ls []int, rows ...int) [8]int {
			var w [8]int
			for i := range w {
				w[i] = unused
			}
			n := 0
			for _, l := range ls {
				for _, p := range lines[l] {
					for _, r := range rows {
						if p/5 == r {
							w[n] = p
							n++
						}
					}
				}
			}
			return w
		}
		get := func(want [8]int, a, b *val, com string) *val {
			v, _ := g.gather(want, []*val{a, b}, com)
			extra = append(extra, v)
			return v
		}
		u := get(pts([]int{0, 1, 2, 3}, 0, 1), st[0], st[1], "gather rows 0..3 of the operand lines")
		v := get(pts([]int{0, 1, 2, 3}, 2, 3), st[2], st[3], "")
		m1 := get(pts([]int{0, 1}, 0, 1, 2, 3), u, v, "")
		m2 := get(pts([]int{2, 3}, 0, 1, 2, 3), u, v, "")
		w := get(pts([]int{4}, 0, 1), st[0], st[1], "")
		x := get(pts([]int{4}, 2, 3), st[2], st[3], "")
		m3 := get(pts([]int{4}, 0, 1, 2, 3), w, x, "")
		srcs = []*val{m1, m2, m3, st[4]}
	} else {
		if t != slopeAfter(s) {
			panic("genavx512: plain round to the wrong slope")
		}
		srcs = st
	}
	out := g.chiIota(t, a, srcs, g.nround)
	g.releaseShared()
	for _, v := range extra {
		g.release(v.reg)
	}
	for _, v := range st {
		g.release(v.reg)
	}
	g.nround++
	return out
}

// operandLines returns the five distinct point sets (in old coordinates)
// of the χ operands of lines of slope t.
func (g *gen) operandLines(t, a int) [][]int {
	var ls [][]int
	seen := map[[25]bool]bool{}
	for c := 0; c < 5; c++ {
		nl := line(t, c, a)
		for k := 0; k < 3; k++ {
			var set [25]bool
			var l []int
			for x := 0; x < 5; x++ {
				p := nl[x]
				q := preimage((p%5+k)%5 + 5*(p/5))
				set[q] = true
				l = append(l, q)
			}
			if !seen[set] {
				seen[set] = true
				ls = append(ls, l)
			}
		}
	}
	if len(ls) != 5 {
		panic("genavx512: operands are not five lines")
	}
	return ls
}

// inverse returns the inverse of a mod 5.
func inverse(a int) int {
	for b := 1; b < 5; b++ {
		if a*b%5 == 1 {
			return b
		}
	}
	panic("genavx512: no inverse")
}

// slopeAfter returns the slope π maps lines of slope s to.
func slopeAfter(s int) int {
	for t := 0; t < 5; t++ {
		if (s*(1+3*t))%5 == 1 {
			return t
		}
	}
	return -1 // s = 0: π makes columns
}

func (g *gen) emitComment(s string) { g.emit(insn{kind: -1, comment: s}) }

// program builds the whole permutation.
func (g *gen) program() {
	st := make([]*val, 5)
	for y := 0; y < 5; y++ {
		r := g.alloc()
		g.emit(insn{kind: opLoadState, dst: r, off: 40 * y})
		st[y] = &val{reg: r, lanes: line(0, y, 1)}
	}
	s := 0
	targets := []int{2, 3, 3, 3, 3}
	if *repeat > 1 {
		var tt []int
		for i := 0; i < *repeat; i++ {
			tt = append(tt, targets...)
		}
		targets = tt
	}
	for _, t := range targets {
		// Qword q of the lines of slope s holds column a·q. A plain round
		// from slope s with multiplier a goes to multiplier s·a, which makes
		// three of its operands old registers as they are; the heavy round
		// picks the multiplier that brings the rows back to a = 1.
		prod := 1
		for s = t; s != 0; s = slopeAfter(s) {
			prod = prod * s % 5
		}
		a := inverse(prod)
		st = g.round(st, 0, t, a)
		for s = t; s != 0; s = slopeAfter(s) {
			a = a * s % 5
			st = g.round(st, s, slopeAfter(s), a)
		}
	}
	if g.nround != 24 && *repeat == 1 {
		panic(fmt.Sprintf("genavx512: %d rounds", g.nround))
	}
	for y := 0; y < 5; y++ {
		if st[y].lanes != line(0, y, 1) {
			panic("genavx512: final state is not in memory order")
		}
		g.emit(insn{kind: opStoreState, a: st[y].reg, off: 40 * y})
	}
}

// ---------------------------------------------------------------------------
// Emulation.

func (g *gen) emulate(a *[25]uint64) {
	var z [nRegs][8]uint64
	rc := roundConstants()
	mem := make([]uint64, 32)
	copy(mem, a[:])
	for _, in := range g.prog {
		switch in.kind {
		case opLoadState:
			var v [8]uint64
			copy(v[:5], mem[in.off/8:])
			z[in.dst] = v
		case opStoreState:
			copy(mem[in.off/8:in.off/8+5], z[in.a][:5])
		case opLoadConst:
			z[in.dst] = g.consts[in.off/vecSize]
		case opMove:
			z[in.dst] = z[in.a]
		case opTernlog:
			var v [8]uint64
			for q := 0; q < 8; q++ {
				for bit := 0; bit < 64; bit++ {
					i := (z[in.dst][q]>>bit&1)<<2 | (z[in.b][q]>>bit&1)<<1 | z[in.c][q]>>bit&1
					v[q] |= uint64(in.imm>>i&1) << bit
				}
			}
			z[in.dst] = v
		case opPerm:
			var v [8]uint64
			for q := 0; q < 8; q++ {
				v[q] = z[in.a][z[in.b][q]&7]
			}
			z[in.dst] = v
		case opPerm2:
			var v [8]uint64
			for q := 0; q < 8; q++ {
				i := z[in.dst][q] & 15
				if i < 8 {
					v[q] = z[in.a][i]
				} else {
					v[q] = z[in.b][i-8]
				}
			}
			z[in.dst] = v
		case opRolConst:
			for q := 0; q < 8; q++ {
				z[in.dst][q] = bits.RotateLeft64(z[in.a][q], in.imm)
			}
		case opRolVar:
			c := g.consts[in.off/vecSize]
			for q := 0; q < 8; q++ {
				z[in.dst][q] = bits.RotateLeft64(z[in.a][q], int(c[q]&63))
			}
		case opIota:
			z[in.dst][0] ^= rc[in.imm]
		}
	}
	copy(a[:], mem)
}

// ---------------------------------------------------------------------------
// Output.

func z(r int) string { return fmt.Sprintf("Z%d", r) }

func (g *gen) write(w *bufio.Writer) {
	fmt.Fprintln(w, "// Code generated by genavx512/main.go; DO NOT EDIT.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "//go:build amd64 && !purego")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "// Keccak-f[1600] (FIPS 202) for amd64 with AVX-512F, one state in five zmm")
	fmt.Fprintln(w, "// registers. The layout and the round schedule are described in")
	fmt.Fprintln(w, "// genavx512/main.go.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "#include \"textflag.h\"")
	fmt.Fprintln(w)
	// The constants are read 64 bytes at a time, so they must not straddle
	// cache lines, but the linker aligns a data symbol to 32 bytes only.
	// The table is therefore stored twice, the second copy 32 bytes off
	// the first's alignment; the function uses the copy that is 64-byte
	// aligned.
	size := len(g.consts) * vecSize
	fmt.Fprintln(w, "// Constants: VPERMQ/VPERMI2Q indices and VPROLVQ counts, stored twice (see")
	fmt.Fprintln(w, "// genavx512/main.go).")
	for _, base := range []int{0, size + 32} {
		for i, c := range g.consts {
			for q, v := range c {
				fmt.Fprintf(w, "DATA avx512consts<>+%d(SB)/8, $%d\n", base+i*vecSize+8*q, v)
			}
		}
	}
	fmt.Fprintf(w, "GLOBL avx512consts<>(SB), RODATA|NOPTR, $%d\n", 2*size+32)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "// func permuteAVX512(a *[25]uint64)")
	fmt.Fprintln(w, "TEXT ·permuteAVX512(SB), NOSPLIT, $0-8")
	ins := func(s string, args ...any) { fmt.Fprintf(w, "\t"+s+"\n", args...) }
	ins("MOVQ a+0(FP), DI")
	ins("LEAQ avx512consts<>(SB), R8")
	ins("TESTQ $32, R8")
	ins("JZ aligned")
	ins("ADDQ $%d, R8", size+32)
	fmt.Fprintln(w, "aligned:")
	ins("MOVQ $0x1f, AX")
	ins("KMOVW AX, K1")
	ins("MOVQ $1, AX")
	ins("KMOVW AX, K2")
	for _, in := range g.prog {
		if in.comment != "" {
			if in.kind < 0 {
				fmt.Fprintf(w, "\n\t// %s\n", in.comment)
				continue
			}
			ins("// %s", in.comment)
		}
		switch in.kind {
		case opLoadState:
			ins("VMOVDQU64.Z %d(DI), K1, %s", in.off, z(in.dst))
		case opStoreState:
			ins("VMOVDQU64 %s, K1, %d(DI)", z(in.a), in.off)
		case opLoadConst:
			ins("VMOVDQU64 %d(R8), %s", in.off, z(in.dst))
		case opMove:
			ins("VMOVDQA64 %s, %s", z(in.a), z(in.dst))
		case opTernlog:
			ins("VPTERNLOGQ $0x%02x, %s, %s, %s", in.imm, z(in.c), z(in.b), z(in.dst))
		case opPerm:
			ins("VPERMQ %s, %s, %s", z(in.a), z(in.b), z(in.dst))
		case opPerm2:
			ins("VPERMI2Q %s, %s, %s", z(in.b), z(in.a), z(in.dst))
		case opRolConst:
			ins("VPROLQ $%d, %s, %s", in.imm, z(in.a), z(in.dst))
		case opRolVar:
			ins("VPROLVQ %d(R8), %s, %s", in.off, z(in.a), z(in.dst))
		case opIota:
			ins("VPXORQ.BCST ·roundConstants+%d(SB), %s, K2, %s", 8*in.imm, z(in.dst), z(in.dst))
		}
	}
	ins("VZEROUPPER")
	ins("RET")
}

var repeat = flag.Int("repeat", 1, "experiment: emit the 24 rounds this many times (wrong result)")

func main() {
	out := flag.String("out", "", "output file (default standard output)")
	flag.Parse()
	g := newGen()
	g.program()
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200 && *repeat == 1; n++ {
		var a [25]uint64
		for i := range a {
			a[i] = r.Uint64()
		}
		want, got := a, a
		reference(&want)
		g.emulate(&got)
		if got != want {
			fmt.Fprintf(os.Stderr, "genavx512: emulated program disagrees with FIPS 202 on state %d\n", n)
			os.Exit(1)
		}
	}
	var sb strings.Builder
	bw := bufio.NewWriter(&sb)
	g.write(bw)
	bw.Flush()
	f := os.Stdout
	if *out != "" {
		var err error
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(os.Stderr, "genavx512:", err)
			os.Exit(1)
		}
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		fmt.Fprintln(os.Stderr, "genavx512:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genavx512:", err)
		os.Exit(1)
	}
}
