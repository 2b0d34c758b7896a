package kyber

import (
	"crypto/sha3"
	"testing"
)

// Micro-benchmarks of the building blocks, to see where the time goes.

func BenchmarkNTT(b *testing.B) {
	var f poly
	for i := range f {
		f[i] = int16(i % 5)
	}
	loop(b, func() {
		g := f
		g.ntt()
	})
}

func BenchmarkInvNTT(b *testing.B) {
	var f poly
	for i := range f {
		f[i] = int16(i * 13 % q)
	}
	loop(b, func() {
		g := f
		g.invNTT()
	})
}

func BenchmarkBasemulAcc(b *testing.B) {
	var f, g poly
	var acc accumulator
	for i := range f {
		f[i] = int16(i * 13 % q)
		g[i] = int16(i*7%q) - q/2
	}
	loop(b, func() {
		basemulAcc(&acc, &f, &g)
		clear(acc[:])
	})
}

func BenchmarkSampleNTT(b *testing.B) {
	var f poly
	xof := sha3.NewSHAKE128()
	rho := make([]byte, 32)
	loop(b, func() {
		sampleNTT(&f, xof, rho, 1, 2)
	})
}

func BenchmarkCBD2(b *testing.B) {
	var f poly
	buf := make([]byte, 128)
	h := sha3.NewSHAKE256()
	seed := make([]byte, 32)
	loop(b, func() {
		prf(buf, h, seed, 1)
		sampleCBD(&f, buf, 2)
	})
}

func BenchmarkEncodeCompressed11(b *testing.B) {
	var f poly
	for i := range f {
		f[i] = int16(i * 13 % q)
	}
	dst := make([]byte, 352)
	loop(b, func() {
		encodeCompressed(dst, &f, 11)
	})
}

func BenchmarkSHA3Of1568(b *testing.B) {
	buf := make([]byte, 1568)
	loop(b, func() { sha3.Sum256(buf) })
}
