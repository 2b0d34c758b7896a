package rcs

import (
	"testing"

	"github.com/qsmp-go/qsmp/crypto/keccak"
)

var sink [64]byte

// BenchmarkKeccakSHAKE256_1400 is a copy of crypto/keccak's benchmark of the
// same name, the yardstick for the RCS figures: SHAKE-256 over 1400 bytes.
func BenchmarkKeccakSHAKE256_1400(b *testing.B) {
	msg := make([]byte, 1400)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		s := keccak.NewSHAKE256()
		s.Write(msg)
		s.Read(sink[:32])
	}
}

const benchLen, benchAD = 1400, 21

func benchSeal(b *testing.B, keySize int) {
	c, err := New(make([]byte, keySize), make([]byte, NonceSize))
	if err != nil {
		b.Fatal(err)
	}
	ad, pt := make([]byte, benchAD), make([]byte, benchLen)
	dst := make([]byte, 0, benchLen+TagSize512)
	b.SetBytes(benchLen)
	b.ReportAllocs()
	for b.Loop() {
		c.Seal(dst, ad, pt)
	}
}

// benchOpen opens one genuine record per iteration; the state is reset to
// the sender's before each Open (a copy of about 450 bytes).
func benchOpen(b *testing.B, keySize int) {
	c, err := New(make([]byte, keySize), make([]byte, NonceSize))
	if err != nil {
		b.Fatal(err)
	}
	ad, pt := make([]byte, benchAD), make([]byte, benchLen)
	start := *c
	rec := c.Clone().Seal(nil, ad, pt)
	dst := make([]byte, 0, benchLen)
	b.SetBytes(benchLen)
	b.ReportAllocs()
	for b.Loop() {
		*c = start
		if _, err := c.Open(dst, ad, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSealOnce(b *testing.B, keySize int) {
	k, err := NewKey(make([]byte, keySize), nil)
	if err != nil {
		b.Fatal(err)
	}
	var nonce [32]byte
	ad, pt := make([]byte, benchAD), make([]byte, benchLen)
	dst := make([]byte, 0, benchLen+TagSize512)
	b.SetBytes(benchLen)
	b.ReportAllocs()
	for b.Loop() {
		nonce[0]++
		k.SealOnce(dst, &nonce, ad, pt)
	}
}

func benchOpenOnce(b *testing.B, keySize int) {
	k, err := NewKey(make([]byte, keySize), nil)
	if err != nil {
		b.Fatal(err)
	}
	var nonce [32]byte
	ad, pt := make([]byte, benchAD), make([]byte, benchLen)
	rec := k.SealOnce(nil, &nonce, ad, pt)
	dst := make([]byte, 0, benchLen)
	b.SetBytes(benchLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.OpenOnce(dst, &nonce, ad, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// benchKeyStream measures the Rijndael-256 CTR part alone.
func benchKeyStream(b *testing.B, keySize int) {
	k, err := NewKey(make([]byte, keySize), nil)
	if err != nil {
		b.Fatal(err)
	}
	var ctr [32]byte
	buf := make([]byte, benchLen)
	b.SetBytes(benchLen)
	b.ReportAllocs()
	for b.Loop() {
		k.XORKeyStream(buf, buf, &ctr)
	}
}

func BenchmarkRCS256Seal1400(b *testing.B)      { benchSeal(b, KeySize256) }
func BenchmarkRCS256Open1400(b *testing.B)      { benchOpen(b, KeySize256) }
func BenchmarkRCS256SealOnce1400(b *testing.B)  { benchSealOnce(b, KeySize256) }
func BenchmarkRCS256OpenOnce1400(b *testing.B)  { benchOpenOnce(b, KeySize256) }
func BenchmarkRCS256KeyStream1400(b *testing.B) { benchKeyStream(b, KeySize256) }
func BenchmarkRCS512Seal1400(b *testing.B)      { benchSeal(b, KeySize512) }
func BenchmarkRCS512Open1400(b *testing.B)      { benchOpen(b, KeySize512) }
func BenchmarkRCS512SealOnce1400(b *testing.B)  { benchSealOnce(b, KeySize512) }
func BenchmarkRCS512OpenOnce1400(b *testing.B)  { benchOpenOnce(b, KeySize512) }
func BenchmarkRCS512KeyStream1400(b *testing.B) { benchKeyStream(b, KeySize512) }

func BenchmarkNewKey256(b *testing.B) {
	key := make([]byte, KeySize256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewKey(key, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSealOnceSmall measures a small record, where a fixed per-call cost
// weighs most.
func benchSealOnceSmall(b *testing.B, keySize, n int) {
	k, err := NewKey(make([]byte, keySize), nil)
	if err != nil {
		b.Fatal(err)
	}
	var nonce [32]byte
	ad, pt := make([]byte, benchAD), make([]byte, n)
	dst := make([]byte, 0, n+TagSize512)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		nonce[0]++
		k.SealOnce(dst, &nonce, ad, pt)
	}
}

func BenchmarkRCS256SealOnce64(b *testing.B) { benchSealOnceSmall(b, KeySize256, 64) }
func BenchmarkRCS512SealOnce64(b *testing.B) { benchSealOnceSmall(b, KeySize512, 64) }

// BenchmarkCipherClone measures Clone of a Cipher from New (which owns its
// key), as the stream record profile clones its receive cipher per record.
func BenchmarkCipherClone(b *testing.B) {
	c, err := New(make([]byte, KeySize256), make([]byte, NonceSize))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cloneSink = c.Clone()
		cloneSink.Clear()
	}
}

// cloneSink makes the clones escape, as a Cipher kept in a struct does.
var cloneSink *Cipher
