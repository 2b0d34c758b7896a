package mceliece

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func randomPerm(r *rand.Rand, n int) []uint16 {
	pi := make([]uint16, n)
	for i, v := range r.Perm(n) {
		pi[i] = uint16(v)
	}
	return pi
}

// TestControlBits checks, for permutations of 2^w indices, that the
// sorting-network computation of the control bits equals the direct
// (indexing) one, and that the network they define realizes π: applied to
// the identity it gives π back.
func TestControlBits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	maxW := 13
	if testing.Short() || raceEnabled {
		maxW = 10
	}
	for w := 1; w <= maxW; w++ {
		n := 1 << w
		size := ((2*w-1)<<(w-1) + 7) / 8
		perms := [][]uint16{randomPerm(r, n), randomPerm(r, n)}
		ident := make([]uint16, n)
		rev := make([]uint16, n)
		for i := range ident {
			ident[i] = uint16(i)
			rev[i] = uint16(n - 1 - i)
		}
		perms = append(perms, ident, rev)
		for _, pi := range perms {
			got := make([]byte, size)
			controlBits(got, pi, w)
			want := make([]byte, size)
			s := &cbState{out: want, half: n / 2, direct: true}
			s.rec(0, 1, pi)
			if !bytes.Equal(got, want) {
				t.Fatalf("w=%d: sorting and indexing give different control bits", w)
			}
			a := make([]gf, n)
			for i := range a {
				a[i] = gf(i)
			}
			applyBenes(a, got, w)
			for i := range a {
				if a[i] != pi[i] {
					t.Fatalf("w=%d: network gives %d at %d, want %d", w, a[i], i, pi[i])
				}
			}
		}
	}
}
