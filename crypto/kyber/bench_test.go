package kyber

import (
	"runtime"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
)

// The benchmarks compare K5 with this package's own k = 4 build (ML-KEM-1024)
// and with circl's ML-KEM-1024, which has amd64 assembly.
//
// circl parses a key once into an expanded form (its UnmarshalBinary samples
// the matrix Â and hashes the key), so BenchmarkCirclMLKEM1024 measures
// operations on parsed keys, while this package works from the encoded bytes
// on every call. BenchmarkCirclMLKEM1024Bytes includes the parsing, as
// crypto/suite uses circl: that is the like-for-like comparison.

// loop runs op b.N times and reports, besides wall time, the CPU time of
// the benchmark's thread per operation (cpu-ns/op) where the platform has it.
func loop(b *testing.B, op func()) {
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		op()
	}
	if start != 0 {
		b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func benchParams(b *testing.B, p *Params) {
	seed := make([]byte, SeedSize)
	m := make([]byte, MessageSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	pk, sk, err := p.NewKeyFromSeed(seed)
	if err != nil {
		b.Fatal(err)
	}
	ct, _, err := p.EncapsulateDeterministic(pk, m)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("KeyGen", func(b *testing.B) {
		loop(b, func() {
			if _, _, err := p.NewKeyFromSeed(seed); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Encaps", func(b *testing.B) {
		loop(b, func() {
			if _, _, err := p.EncapsulateDeterministic(pk, m); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Decaps", func(b *testing.B) {
		loop(b, func() {
			if _, err := p.Decapsulate(sk, ct); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func BenchmarkK5(b *testing.B) { benchParams(b, &K5) }

func BenchmarkK4(b *testing.B) { benchParams(b, &K4) }

func BenchmarkCirclMLKEM1024(b *testing.B) {
	s := mlkem1024.Scheme()
	seed := make([]byte, s.SeedSize())
	m := make([]byte, s.EncapsulationSeedSize())
	pk, sk := s.DeriveKeyPair(seed)
	ct, _, err := s.EncapsulateDeterministically(pk, m)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("KeyGen", func(b *testing.B) {
		loop(b, func() {
			s.DeriveKeyPair(seed)
		})
	})
	b.Run("Encaps", func(b *testing.B) {
		loop(b, func() {
			if _, _, err := s.EncapsulateDeterministically(pk, m); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Decaps", func(b *testing.B) {
		loop(b, func() {
			if _, err := s.Decapsulate(sk, ct); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func BenchmarkCirclMLKEM1024Bytes(b *testing.B) {
	s := mlkem1024.Scheme()
	seed := make([]byte, s.SeedSize())
	m := make([]byte, s.EncapsulationSeedSize())
	pk, sk := s.DeriveKeyPair(seed)
	ct, _, err := s.EncapsulateDeterministically(pk, m)
	if err != nil {
		b.Fatal(err)
	}
	pkb, _ := pk.MarshalBinary()
	skb, _ := sk.MarshalBinary()
	b.Run("KeyGen", func(b *testing.B) {
		loop(b, func() {
			pk, sk := s.DeriveKeyPair(seed)
			if _, err := pk.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
			if _, err := sk.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Encaps", func(b *testing.B) {
		loop(b, func() {
			pk, err := s.UnmarshalBinaryPublicKey(pkb)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := s.EncapsulateDeterministically(pk, m); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Decaps", func(b *testing.B) {
		loop(b, func() {
			sk, err := s.UnmarshalBinaryPrivateKey(skb)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Decapsulate(sk, ct); err != nil {
				b.Fatal(err)
			}
		})
	})
}
