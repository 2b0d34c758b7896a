package mceliece

// berlekampMassey finds the shortest linear recurrence of the 2t values s,
// in constant time: it writes the connection polynomial C (c[0] = 1, t+1
// coefficients, C_0 u_k + C_1 u_(k−1) + … = 0) and returns its length L.
// When L ≤ t the recurrence is unique. The buffers b and tmp hold t+1
// elements each.
func (f field) berlekampMassey(c, b, tmp, s []gf, t int) int {
	clear(c)
	clear(b)
	c[0], b[1] = 1, 1 // b holds x^k·B, the previous C shifted
	var l uint32
	bInv := gf(1)
	for n := 0; n < 2*t; n++ {
		var disc gf
		for i := 0; i <= min(n, t); i++ {
			disc ^= f.mul(c[i], s[n-i])
		}
		nonzero := ^isZeroMask(disc)
		// grow: disc ≠ 0 and n ≥ 2L
		grow := nonzero & gf(int32(uint32(n)-2*l)>>31^-1)
		grow32 := uint32(int32(int16(grow)))
		fac := f.mul(disc, bInv)
		copy(tmp, c)
		for i := range c {
			c[i] ^= f.mul(fac, b[i])
		}
		l = l&^grow32 | (uint32(n)+1-l)&grow32
		for i := range b {
			b[i] = b[i]&^grow | tmp[i]&grow
		}
		bInv = bInv&^grow | f.inv(disc)&grow
		copy(b[1:], b[:t])
		b[0] = 0
	}
	return int(l)
}
