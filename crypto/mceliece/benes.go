package mceliece

// The private key stores the field ordering as the control bits of a Beneš
// network on 2^w positions: 2w−1 layers of 2^(w−1) conditional swaps. Layer
// i (0 ≤ i < 2w−1) swaps positions that differ in bit d = min(i, 2w−2−i);
// its bit b controls the pair whose lower position is b with a zero bit
// inserted at position d. Bit k of the whole sequence is bit k%8 of byte k/8.
//
// Applied to a list A (each layer replacing A[x] by A[x'] where x' is x's
// partner when the switch is set), the network for π yields A∘π, so applied
// to the identity it yields π. The control bits are the ones defined by
// Bernstein's formulas ("Verified fast formulas for control bits for
// permutation networks", 2020), which the Classic McEliece key format uses.

// applyBenes applies the network with control bits cb to a (len 2^w). The
// memory accesses depend only on w.
func applyBenes(a []gf, cb []byte, w int) {
	half := 1 << (w - 1)
	layer := 0
	do := func(d int) {
		base := layer * half
		low := 1<<d - 1
		for b := 0; b < half; b++ {
			k := base + b
			bit := gf(cb[k>>3]>>(k&7)) & 1
			lo := (b>>d)<<(d+1) | b&low
			hi := lo | 1<<d
			x := (a[lo] ^ a[hi]) & -bit
			a[lo] ^= x
			a[hi] ^= x
		}
		layer++
	}
	for d := 0; d < w; d++ {
		do(d)
	}
	for d := w - 2; d >= 0; d-- {
		do(d)
	}
}

// cbState computes control bits; out receives them and half is the number
// of bits per layer of the whole network.
type cbState struct {
	out    []byte
	half   int
	buf    []uint32
	buf64  []uint64
	direct bool // tests only: compose by indexing instead of sorting
}

// controlBits writes the control bits of the permutation pi of 2^w indices
// into out ((2w−1)·2^(w−1)/8 bytes, which must be zero on entry). The
// permutation is composed by sorting with a sorting network, so neither the
// branches nor the memory accesses depend on pi.
func controlBits(out []byte, pi []uint16, w int) {
	s := &cbState{out: out, half: 1 << (w - 1), buf: make([]uint32, 1<<w), buf64: make([]uint64, 1<<w)}
	s.rec(0, 1, pi)
	clear(s.buf)
	clear(s.buf64)
}

// composeInv sets r = c∘π⁻¹, that is r[π[x]] = c[x]. r must not alias c or pi.
func (s *cbState) composeInv(r, c, pi []uint16) {
	if s.direct {
		for x, y := range pi {
			r[y] = c[x]
		}
		return
	}
	b := s.buf[:len(pi)]
	for x := range b {
		b[x] = uint32(pi[x])<<16 | uint32(c[x])
	}
	sortU32(b)
	for k := range b {
		r[k] = uint16(b[k])
	}
}

// composeInv2 sets r1 = c1∘π⁻¹ and r2 = c2∘π⁻¹ with one sort.
func (s *cbState) composeInv2(r1, r2, c1, c2, pi []uint16) {
	if s.direct {
		s.composeInv(r1, c1, pi)
		s.composeInv(r2, c2, pi)
		return
	}
	b := s.buf64[:len(pi)]
	for x := range b {
		b[x] = uint64(pi[x])<<32 | uint64(c1[x])<<16 | uint64(c2[x])
	}
	sortU64(b)
	for k := range b {
		r1[k] = uint16(b[k] >> 16)
		r2[k] = uint16(b[k])
	}
}

func (s *cbState) setBit(pos int, bit uint16) {
	s.out[pos>>3] |= byte(bit&1) << (pos & 7)
}

// min16 returns the smaller of a and b without branching.
func min16(a, b uint16) uint16 {
	mask := uint16((int32(a) - int32(b)) >> 31) // a < b
	return b ^ (a^b)&mask
}

// rec writes the bits of the subnetwork for pi whose first layer's bit j is
// at global position pos + j·step.
func (s *cbState) rec(pos, step int, pi []uint16) {
	n := len(pi)
	if n == 2 {
		s.setBit(pos, pi[0])
		return
	}
	w := 0
	for 1<<w < n {
		w++
	}
	arr := make([]uint16, 8*n)
	p, q, p2, q2 := arr[:n], arr[n:2*n], arr[2*n:3*n], arr[3*n:4*n]
	piinv, c, cp, tmp := arr[4*n:5*n], arr[5*n:6*n], arr[6*n:7*n], arr[7*n:]
	for x := range n {
		p[x] = pi[x^1]
		q[x] = pi[x] ^ 1
		tmp[x] = uint16(x)
	}
	s.composeInv(piinv, tmp, pi)
	step2 := func() { // p, q = p∘q⁻¹, q∘p⁻¹
		s.composeInv(p2, p, q)
		s.composeInv(q2, q, p)
		p, p2 = p2, p
		q, q2 = q2, q
	}
	step2()
	for x := range n {
		c[x] = min16(uint16(x), p[x])
	}
	step2()
	for i := 1; i < w-1; i++ {
		// cp, p, q = c∘q⁻¹, p∘q⁻¹, q∘p⁻¹ with two sorts.
		s.composeInv2(cp, p2, c, p, q)
		s.composeInv(q2, q, p)
		p, p2 = p2, p
		q, q2 = q2, q
		for x := range n {
			c[x] = min16(c[x], cp[x])
		}
	}
	// First layer: f[j] = c[2j] mod 2; F = x ⊕ f[x/2].
	for j := 0; j < n/2; j++ {
		f := c[2*j] & 1
		s.setBit(pos+j*step, f)
		tmp[2*j] = uint16(2*j) ^ f
		tmp[2*j+1] = uint16(2*j+1) ^ f
	}
	fpi := cp
	s.composeInv(fpi, tmp, piinv) // F∘π
	// Last layer: l[k] = Fπ[2k] mod 2; L = y ⊕ l[y/2].
	last := pos + (2*w-2)*s.half
	for k := 0; k < n/2; k++ {
		l := fpi[2*k] & 1
		s.setBit(last+k*step, l)
		tmp[2*k] = uint16(2*k) ^ l
		tmp[2*k+1] = uint16(2*k+1) ^ l
	}
	mm := p2
	s.composeInv(mm, fpi, tmp) // M = Fπ∘L
	sub0, sub1 := q2[:n/2], q2[n/2:]
	for j := 0; j < n/2; j++ {
		sub0[j] = mm[2*j] >> 1
		sub1[j] = mm[2*j+1] >> 1
	}
	s.rec(pos+s.half, 2*step, sub0)
	s.rec(pos+s.half+step, 2*step, sub1)
	clear(arr)
}
