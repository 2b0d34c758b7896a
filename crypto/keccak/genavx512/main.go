//go:build ignore

// Command genavx512 writes f1600_avx512_amd64.s, a single-state
// Keccak-f[1600] for amd64 CPUs with AVX-512F:
//
//	go run genavx512/main.go -out f1600_avx512_amd64.s
//
// Before writing anything it runs the generated instruction list through an
// emulator of the few instructions it uses and compares the result with a
// plain FIPS 202 permutation on random states, so a generator that produces
// a wrong program fails here rather than in the package tests.
//
// # Layout
//
// Lane (x, y) of the FIPS 202 state is point x+5y. The 25 lanes live in five
// zmm registers of five qwords each (qwords 5..7 are ignored). Usually the
// registers hold the five lines of one slope s, register c holding the
// points (x, s·x+c mod 5), and qword q of every register holds the point of
// column a·q for a multiplier a that changes from round to round. Slope 0
// with a = 1 is the rows in memory order, which the state is loaded from and
// stored back to with masked moves.
//
// Because every register has one lane of each column, in the same qword, θ
// costs the same whatever the slope: the column parities C are the XOR of
// the five registers (two VPTERNLOGQ), C[x-1] and rot(C[x+1], 1) are two
// VPERMQ in the registers' qword order, and one VPTERNLOGQ per register XORs
// both in. ρ is one VPROLVQ per register, its counts following the points.
//
// π moves point (x, y) to (y, 2x+3y). It maps the lines of slope s onto
// the lines of slope t with s·(1+3t) = 1 (mod 5): 3 -> 2 -> 4 -> 1 -> 0. χ
// needs, for each new line, the line itself and the line shifted by one and
// by two columns (B[x+1] and B[x+2] in the qword of B[x]). After π each of
// these fifteen operands is one old line in some qword order, so π and the
// χ shifts together cost one VPERMQ per operand. Going from multiplier a to
// s·a, three operands are old registers exactly as they are (those of lines
// 0, 1, 2 as shifts 0, 1, 2), which leaves twelve VPERMQ per round. χ is
// then one VPTERNLOGQ (0xD2) per new line and ι one masked VPXORQ of the
// broadcast round constant.
//
// The rows are a dead end of that cycle: π turns them into the columns,
// which have no lane per column. So a round from the rows ("column round")
// keeps the columns: each row becomes its column with one VPERMQ (none for
// row 0), qword q of each column holding the same row, and χ works column
// against column with no shifted copies at all. A transposition then gathers
// the lines of slope 3 (or 2) from the columns, one lane from each: VPERMI2Q
// build registers holding four points of two lines each (seven of them, in
// two levels), and each line is one more VPERMI2Q of such a register and
// column 4. The 24 rounds are four times: column round, transposition to
// slope 3, rounds 3 -> 2 -> 4 -> 1 -> 0; then column round, transposition to
// slope 2, rounds 2 -> 4 -> 1 -> 0. The transpositions choose the
// multiplier that makes each group end on the rows with a = 1.
//
// # Constants
//
// The VPERMQ/VPERMI2Q indices and the VPROLVQ counts are 64-byte constants
// read with one load each. The linker aligns a data symbol to 32 bytes only
// and a load that straddles two cache lines is slow, so the table is stored
// twice, the second copy 32 bytes off the first's alignment, and the
// function reads the copy that is 64-byte aligned.
package main

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/qsmp-go/qsmp/crypto/keccak/internal/asmgen"
)

// ---------------------------------------------------------------------------
// Keccak reference (FIPS 202 section 3), used to check the generated program.

// reference is Keccak-f[1600] written from the step mappings.
func reference(a *[25]uint64) {
	for r := 0; r < asmgen.Rounds; r++ {
		var c, d [5]uint64
		for x := 0; x < 5; x++ {
			c[x] = a[x] ^ a[x+5] ^ a[x+10] ^ a[x+15] ^ a[x+20]
		}
		for x := 0; x < 5; x++ {
			d[x] = c[(x+4)%5] ^ bits.RotateLeft64(c[(x+1)%5], 1)
		}
		var b [25]uint64
		for i := 0; i < 25; i++ {
			b[asmgen.Pi(i)] = bits.RotateLeft64(a[i]^d[i%5], asmgen.Rho(i))
		}
		for x := 0; x < 5; x++ {
			for y := 0; y < 5; y++ {
				a[x+5*y] = b[x+5*y] ^ (^b[(x+1)%5+5*y] & b[(x+2)%5+5*y])
			}
		}
		a[0] ^= asmgen.RoundConstant(r)
	}
}

// ---------------------------------------------------------------------------
// Instructions. The generator builds a list, then emulates and prints it.

type opKind int

const (
	opComment    opKind = iota // a comment line only
	opLoadState                // VMOVDQU64.Z off(DI), K1, dst (qwords 0..4 of a row)
	opStoreState               // VMOVDQU64 a, K1, off(DI)
	opLoadConst                // VMOVDQU64 off(R8), dst
	opMove                     // VMOVDQA64 a, dst
	opTernlog                  // VPTERNLOGQ $imm, c, b, dst (dst is also operand a)
	opPerm                     // VPERMQ a(table), b(index), dst
	opPerm2                    // VPERMI2Q b(table 2), a(table 1), dst(index)
	opRolConst                 // VPROLQ $imm, a, dst
	opRolVar                   // VPROLVQ off(R8), a, dst
	opIota                     // VPXORQ.BCST ·roundConstants+8*imm(SB), dst, K2, dst
)

type insn struct {
	kind    opKind
	dst     int // register numbers
	a, b, c int
	imm     int
	off     int // state or constant byte offset
	comment string
}

const (
	nRegs   = 32
	unused  = -1
	vecSize = 64
)

// val is a register value: the point each qword holds (unused if none).
type val struct {
	reg   int
	lanes [8]int
}

// shared is a VPERMQ index loaded once in a round.
type shared struct {
	v   [8]uint64
	reg int
}

type gen struct {
	prog   []insn
	free   []int
	consts [][8]uint64 // constant pool, 64 bytes each
	idx    []shared    // indices loaded in the current round
	nround int
}

func newGen() *gen {
	g := &gen{}
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

func (g *gen) comment(s string) { g.emit(insn{kind: opComment, comment: s}) }

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

// sharedIndex returns a register holding the constant v, loading it the
// first time the current round asks for it.
func (g *gen) sharedIndex(v [8]uint64) int {
	for _, s := range g.idx {
		if s.v == v {
			return s.reg
		}
	}
	r := g.alloc()
	g.emit(insn{kind: opLoadConst, dst: r, off: g.constant(v)})
	g.idx = append(g.idx, shared{v, r})
	return r
}

func (g *gen) releaseShared() {
	for _, s := range g.idx {
		g.release(s.reg)
	}
	g.idx = nil
}

// rotCounts returns the offset of the VPROLVQ counts of v's points.
func (g *gen) rotCounts(v *val) int {
	var counts [8]uint64
	for q, p := range v.lanes {
		if p != unused {
			counts[q] = uint64(asmgen.Rho(p))
		}
	}
	return g.constant(counts)
}

// ---------------------------------------------------------------------------
// Geometry.

// blank returns qwords all unused.
func blank() [8]int {
	var l [8]int
	for i := range l {
		l[i] = unused
	}
	return l
}

// line returns the points of line c of slope s, qword q holding the point
// of column a·q (a is not 0 mod 5).
func line(s, c, a int) [8]int {
	l := blank()
	for q := 0; q < 5; q++ {
		x := a * q % 5
		l[q] = x + 5*((s*x+c)%5)
	}
	return l
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

// inverse returns the inverse of a mod 5.
func inverse(a int) int {
	for b := 1; b < 5; b++ {
		if a*b%5 == 1 {
			return b
		}
	}
	panic("genavx512: 0 has no inverse")
}

// slopeAfter returns the slope π maps lines of slope s to (s ≠ 0).
func slopeAfter(s int) int {
	for t := 0; t < 5; t++ {
		if s*(1+3*t)%5 == 1 {
			return t
		}
	}
	panic("genavx512: π maps the rows to the columns")
}

// ternImm returns the VPTERNLOGQ immediate computing f of the instruction's
// operands (a, b, c) = (destination, second source, third source).
func ternImm(f func(a, b, c bool) bool) int {
	imm := 0
	for i := 0; i < 8; i++ {
		if f(i&4 != 0, i&2 != 0, i&1 != 0) {
			imm |= 1 << i
		}
	}
	return imm
}

var (
	xor3 = ternImm(func(a, b, c bool) bool { return a != b != c })
	chi  = ternImm(func(a, b, c bool) bool { return a != (!b && c) })
)

// ---------------------------------------------------------------------------
// Code generation.

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
			ir := g.sharedIndex(idx)
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

// thetaRho applies θ and ρ in place to the five state registers, which
// must agree on the column of each of qwords 0..4.
func (g *gen) thetaRho(st []*val) {
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
	idxM1, idxP1 := g.sharedIndex(m1), g.sharedIndex(p1)
	c := g.alloc()
	g.emit(insn{kind: opMove, dst: c, a: st[0].reg, comment: "θ"})
	g.emit(insn{kind: opTernlog, dst: c, b: st[1].reg, c: st[2].reg, imm: xor3})
	g.emit(insn{kind: opTernlog, dst: c, b: st[3].reg, c: st[4].reg, imm: xor3})
	cm, cp := g.alloc(), g.alloc()
	g.emit(insn{kind: opRolConst, dst: cp, a: c, imm: 1})
	g.emit(insn{kind: opPerm, dst: cm, a: c, b: idxM1})
	g.emit(insn{kind: opPerm, dst: cp, a: cp, b: idxP1})
	for i, v := range st {
		com := ""
		if i == 0 {
			com = "θ, ρ"
		}
		g.emit(insn{kind: opTernlog, dst: v.reg, b: cm, c: cp, imm: xor3, comment: com})
		g.emit(insn{kind: opRolVar, dst: v.reg, a: v.reg, off: g.rotCounts(v)})
	}
	g.release(c)
	g.release(cm)
	g.release(cp)
}

// iota emits ι on whichever new register holds point (0, 0) in qword 0.
func (g *gen) iota(out []*val) {
	for _, v := range out {
		if v.lanes[0] == 0 {
			g.emit(insn{kind: opIota, dst: v.reg, imm: g.nround, comment: "ι"})
			return
		}
	}
	panic("genavx512: point (0, 0) is not in a qword 0")
}

// round emits a round from the lines of slope s (multiplier a/s) to the
// lines of slope slopeAfter(s) with multiplier a.
func (g *gen) round(st []*val, s, a int) []*val {
	t := slopeAfter(s)
	g.comment(fmt.Sprintf("round %d: slope %d -> %d", g.nround, s, t))
	g.thetaRho(st)
	out := make([]*val, 5)
	for c := 0; c < 5; c++ {
		nl := line(t, c, a)
		var ops [3]*val
		var tmp [3]bool
		for k := 0; k < 3; k++ {
			want := blank()
			for q := 0; q < 5; q++ {
				p := nl[q]
				want[q] = asmgen.PiSource((p%5+k)%5 + 5*(p/5))
			}
			com := ""
			if c == 0 && k == 0 {
				com = "π, χ operands"
			}
			ops[k], tmp[k] = g.gather(want, st, com)
		}
		// VPTERNLOGQ overwrites its first operand: make it a temporary.
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
			ops[0], tmp[0], d = &val{reg: r, lanes: ops[0].lanes}, true, 0
		}
		o := [3]int{d, (d + 1) % 3, (d + 2) % 3} // instruction operand -> χ operand
		imm := ternImm(func(a, b, c bool) bool {
			var v [3]bool
			v[o[0]], v[o[1]], v[o[2]] = a, b, c
			return v[0] != (!v[1] && v[2])
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
		if c == 0 {
			g.iota(out[:1])
		}
	}
	g.releaseShared()
	for _, v := range st {
		g.release(v.reg)
	}
	g.nround++
	return out
}

// columnRound emits a round from the rows that leaves the state in the
// columns: register x holds column x, qword q holding row 2·col(q), where
// col(q) is the column in qword q of the rows (so row 0 becomes column 0
// without a permutation).
func (g *gen) columnRound(st []*val) []*val {
	g.comment(fmt.Sprintf("round %d: rows -> columns", g.nround))
	for y, v := range st {
		for q := 0; q < 5; q++ {
			if v.lanes[q]/5 != y {
				panic("genavx512: the column round needs the rows")
			}
		}
	}
	var rowOf [5]int
	for q := 0; q < 5; q++ {
		rowOf[q] = 2 * (st[0].lanes[q] % 5) % 5
	}
	g.thetaRho(st)
	var cols [5]*val
	for x := 0; x < 5; x++ {
		want := blank()
		for q := 0; q < 5; q++ {
			want[q] = asmgen.PiSource(x + 5*rowOf[q])
		}
		com := ""
		if x == 0 {
			com = "π: row x becomes column x"
		}
		v, tmp := g.gather(want, st, com)
		if !tmp {
			r := g.alloc()
			g.emit(insn{kind: opMove, dst: r, a: v.reg})
			v = &val{reg: r, lanes: want}
		}
		cols[x] = v
	}
	out := make([]*val, 5)
	for x := 0; x < 5; x++ {
		r := g.alloc()
		com := ""
		if x == 0 {
			com = "χ"
		}
		g.emit(insn{kind: opMove, dst: r, a: cols[x].reg, comment: com})
		g.emit(insn{kind: opTernlog, dst: r, b: cols[(x+1)%5].reg, c: cols[(x+2)%5].reg, imm: chi})
		lanes := blank()
		for q := 0; q < 5; q++ {
			lanes[q] = x + 5*rowOf[q]
		}
		out[x] = &val{reg: r, lanes: lanes}
	}
	g.iota(out)
	g.releaseShared()
	for x := 0; x < 5; x++ {
		g.release(cols[x].reg)
		g.release(st[x].reg)
	}
	g.nround++
	return out
}

// transpose moves the state from the columns to the lines of slope s with
// multiplier a. Each line takes one lane of every column: U and V gather
// the points of lines 0..3 in columns 0, 1 and in columns 2, 3, M1 and M2
// combine them into lines 0, 1 and lines 2, 3 without column 4, W, X and M3
// do the same for line 4, and each line is one VPERMI2Q of an M and column 4.
func (g *gen) transpose(st []*val, s, a int) []*val {
	g.comment(fmt.Sprintf("columns -> lines of slope %d", s))
	for x, v := range st {
		for q := 0; q < 5; q++ {
			if v.lanes[q]%5 != x {
				panic("genavx512: the transposition needs the columns")
			}
		}
	}
	var lines [5][8]int
	for c := 0; c < 5; c++ {
		lines[c] = line(s, c, a)
	}
	pts := func(ls []int, cols ...int) [8]int {
		w := blank()
		n := 0
		for _, l := range ls {
			for _, p := range lines[l][:5] {
				for _, c := range cols {
					if p%5 == c {
						w[n] = p
						n++
					}
				}
			}
		}
		return w
	}
	get := func(want [8]int, a, b *val) *val {
		v, _ := g.gather(want, []*val{a, b}, "")
		return v
	}
	u := get(pts([]int{0, 1, 2, 3}, 0, 1), st[0], st[1])
	v := get(pts([]int{0, 1, 2, 3}, 2, 3), st[2], st[3])
	m1 := get(pts([]int{0, 1}, 0, 1, 2, 3), u, v)
	m2 := get(pts([]int{2, 3}, 0, 1, 2, 3), u, v)
	w := get(pts([]int{4}, 0, 1), st[0], st[1])
	x := get(pts([]int{4}, 2, 3), st[2], st[3])
	m3 := get(pts([]int{4}, 0, 1, 2, 3), w, x)
	for _, r := range []*val{u, v, w, x} {
		g.release(r.reg)
	}
	out := make([]*val, 5)
	for c := 0; c < 5; c++ {
		out[c], _ = g.gather(lines[c], []*val{m1, m2, m3, st[4]}, "")
	}
	for _, r := range []*val{m1, m2, m3} {
		g.release(r.reg)
	}
	for _, r := range st {
		g.release(r.reg)
	}
	g.releaseShared()
	return out
}

// program builds the whole permutation.
func (g *gen) program() {
	st := make([]*val, 5)
	for y := 0; y < 5; y++ {
		r := g.alloc()
		g.emit(insn{kind: opLoadState, dst: r, off: 40 * y})
		st[y] = &val{reg: r, lanes: line(0, y, 1)}
	}
	for _, t := range []int{3, 3, 3, 3, 2} {
		// A round from slope s with multiplier a/s goes to multiplier a;
		// the transposition picks the one that ends on the rows with a = 1.
		prod := 1
		for s := t; s != 0; s = slopeAfter(s) {
			prod = prod * s % 5
		}
		a := inverse(prod)
		st = g.columnRound(st)
		st = g.transpose(st, t, a)
		for s := t; s != 0; s = slopeAfter(s) {
			a = a * s % 5
			st = g.round(st, s, a)
		}
	}
	if g.nround != asmgen.Rounds {
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

// emulate runs the program on the state a.
func (g *gen) emulate(a *[25]uint64) {
	var z [nRegs][8]uint64
	mem := make([]uint64, 25+8)
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
				if i := z[in.dst][q] & 15; i < 8 {
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
			z[in.dst][0] ^= asmgen.RoundConstant(in.imm)
		}
	}
	copy(a[:], mem)
}

// ---------------------------------------------------------------------------
// Output.

func z(r int) string { return fmt.Sprintf("Z%d", r) }

func (g *gen) write(w *asmgen.Writer) {
	p, ins := w.Line, w.Ins
	w.Header("genavx512/main.go",
		"Keccak-f[1600] (FIPS 202) for amd64 with AVX-512F, one state in five zmm",
		"registers. The layout, the round schedule and the constant table are",
		"described in genavx512/main.go.")
	w.Blank()
	size := len(g.consts) * vecSize
	p("// VPERMQ/VPERMI2Q indices and VPROLVQ counts, stored twice: the second copy")
	p("// starts %d bytes in, so one of the two is 64-byte aligned.", size+32)
	for _, base := range []int{0, size + 32} {
		for i, c := range g.consts {
			for q, v := range c {
				w.Data("avx512consts", base+i*vecSize+8*q, v)
			}
		}
	}
	w.Global("avx512consts", 2*size+32)
	w.Text("permuteAVX512", "a *[25]uint64", "NOSPLIT", 0, 8)
	ins("MOVQ a+0(FP), DI")
	ins("LEAQ avx512consts<>(SB), R8")
	ins("TESTQ $32, R8")
	ins("JZ aligned")
	ins("ADDQ $%d, R8", size+32)
	w.Label("aligned")
	ins("MOVQ $0x1f, AX")
	ins("KMOVW AX, K1") // qwords 0..4
	ins("MOVQ $1, AX")
	ins("KMOVW AX, K2") // qword 0
	for _, in := range g.prog {
		if in.kind == opComment {
			w.Blank()
			ins("// %s", in.comment)
			continue
		}
		if in.comment != "" {
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

func main() {
	asmgen.Main("genavx512", func(w *asmgen.Writer) error {
		g := newGen()
		g.program()
		r := rand.New(rand.NewPCG(1, 2))
		for n := 0; n < 200; n++ {
			var a [25]uint64
			for i := range a {
				a[i] = r.Uint64()
			}
			want, got := a, a
			reference(&want)
			g.emulate(&got)
			if got != want {
				return fmt.Errorf("the emulated program disagrees with FIPS 202 on state %d", n)
			}
		}
		g.write(w)
		return nil
	})
}
