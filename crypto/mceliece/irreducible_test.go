package mceliece

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// irreducibleBySolve is the specification's formulation, used as an oracle:
// solve Σ_{j<t} g_j β^j = β^t by Gaussian elimination over GF(2^m).
func irreducibleBySolve(p *Params, r []byte) ([]gf, bool) {
	f, t := p.fld, p.t
	mulMod := func(a, b []gf) []gf {
		prod := make([]gf, 2*t-1)
		for i := range a {
			for j := range b {
				prod[i+j] ^= f.mul(a[i], b[j])
			}
		}
		for k := 2*t - 2; k >= t; k-- {
			for _, tm := range p.fpol {
				prod[k-t+tm.exp] ^= f.mul(prod[k], tm.coef)
			}
		}
		return prod[:t]
	}
	pows := make([][]gf, t+1)
	pows[0] = make([]gf, t)
	pows[0][0] = 1
	pows[1] = make([]gf, t)
	for i := range t {
		pows[1][i] = gf(binary.LittleEndian.Uint16(r[2*i:])) & gf(f.mask)
	}
	for j := 2; j <= t; j++ {
		pows[j] = mulMod(pows[j-1], pows[1])
	}
	sys := make([][]gf, t)
	for i := range sys {
		sys[i] = make([]gf, t+1)
		for j := 0; j <= t; j++ {
			sys[i][j] = pows[j][i]
		}
	}
	for j := 0; j < t; j++ {
		piv := -1
		for k := j; k < t; k++ {
			if sys[k][j] != 0 {
				piv = k
				break
			}
		}
		if piv < 0 {
			return nil, false
		}
		sys[j], sys[piv] = sys[piv], sys[j]
		inv := f.inv(sys[j][j])
		for c := range sys[j] {
			sys[j][c] = f.mul(sys[j][c], inv)
		}
		for k := 0; k < t; k++ {
			if k != j {
				fac := sys[k][j]
				for c := range sys[k] {
					sys[k][c] ^= f.mul(fac, sys[j][c])
				}
			}
		}
	}
	g := make([]gf, t+1)
	for i := range t {
		g[i] = sys[i][t]
	}
	g[t] = 1
	return g, true
}

func TestIrreducibleMatchesLinearSolve(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, p := range All() {
		if raceEnabled && p.t > 96 {
			continue // the cubic oracle is too slow under the race detector
		}
		ks := newKeyScratch(p)
		trials := 3
		if testing.Short() || raceEnabled {
			trials = 1
		}
		for trial := 0; trial < trials+3; trial++ {
			in := make([]byte, 2*p.t)
			for i := range in {
				in[i] = byte(r.Uint32())
			}
			switch trial {
			case trials: // β in GF(2^m): minimal polynomial of degree 1
				clear(in[2:])
			case trials + 1: // β = 0
				clear(in)
			case trials + 2: // β = y: its minimal polynomial is F itself
				clear(in)
				in[2] = 1
			}
			g := make([]gf, p.t+1)
			ok := p.irreducible(g, in, ks)
			want, wantOK := irreducibleBySolve(p, in)
			if ok != wantOK || (ok && !slices.Equal(g, want)) {
				t.Fatalf("%s trial %d: got %v %v, want %v %v", p.Name(), trial, ok, g, wantOK, want)
			}
			if trial == trials+2 {
				if !ok {
					t.Fatalf("%s: β = y rejected", p.Name())
				}
				for _, tm := range p.fpol {
					if g[tm.exp] != tm.coef {
						t.Fatalf("%s: minimal polynomial of y is not F", p.Name())
					}
				}
			}
		}
	}
}
