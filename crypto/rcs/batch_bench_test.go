package rcs

import (
	"fmt"
	"testing"
)

// benchBatch seals or opens batches of n records of size bytes with ad
// bytes of associated data, each at its own nonce; the throughput counts
// the plaintext bytes of every record. With once set, the same records go
// one at a time through SealOnce or OpenOnce (the per-record yardstick).
func benchBatch(b *testing.B, keySize, n, size, ad int, once bool, open bool) {
	k, err := NewKey(make([]byte, keySize), nil)
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]OnceOp, n)
	for i := range ops {
		ops[i].Nonce[0], ops[i].Nonce[8] = byte(i), byte(i>>8)
		ops[i].AD = make([]byte, ad)
		pt := make([]byte, size)
		if open {
			ops[i].In = k.SealOnce(nil, &ops[i].Nonce, ops[i].AD, pt)
			ops[i].Dst = make([]byte, 0, size)
		} else {
			ops[i].In = pt
			ops[i].Dst = make([]byte, 0, size+TagSize512)
		}
	}
	b.SetBytes(int64(n * size))
	b.ReportAllocs()
	for b.Loop() {
		switch {
		case once && open:
			for i := range ops {
				op := &ops[i]
				op.Out, op.Err = k.OpenOnce(op.Dst, &op.Nonce, op.AD, op.In)
			}
		case once:
			for i := range ops {
				op := &ops[i]
				op.Out = k.SealOnce(op.Dst, &op.Nonce, op.AD, op.In)
			}
		case open:
			k.OpenOnceBatch(ops)
		default:
			k.SealOnceBatch(ops)
		}
	}
	if open {
		for i := range ops {
			if ops[i].Err != nil {
				b.Fatal(ops[i].Err)
			}
		}
	}
}

// benchBatchSizes runs batches of 8 and 64 records of size bytes, and the
// same eight records one at a time (once=8).
func benchBatchSizes(b *testing.B, keySize, size, ad int, open bool) {
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { benchBatch(b, keySize, n, size, ad, false, open) })
	}
	b.Run("once=8", func(b *testing.B) { benchBatch(b, keySize, 8, size, ad, true, open) })
}

// smallAD is the associated data of the small-record benchmarks: 25 bytes,
// whose KMAC input for a 64-byte RCS-256 record (25+4 + 32 + 64 + 8 = 133
// bytes, plus right_encode(256)) takes Finalize's two-block edge case.
// datagramAD is that of the datagram carrier (the 10-byte prefix and the
// 21-byte record header), 139 bytes for a 64-byte record: one full block
// and a final one.
const (
	smallAD    = 25
	datagramAD = 31
)

func BenchmarkRCS256SealOnceBatch1400(b *testing.B) {
	benchBatchSizes(b, KeySize256, benchLen, benchAD, false)
}
func BenchmarkRCS256OpenOnceBatch1400(b *testing.B) {
	benchBatchSizes(b, KeySize256, benchLen, benchAD, true)
}
func BenchmarkRCS512SealOnceBatch1400(b *testing.B) {
	benchBatchSizes(b, KeySize512, benchLen, benchAD, false)
}
func BenchmarkRCS512OpenOnceBatch1400(b *testing.B) {
	benchBatchSizes(b, KeySize512, benchLen, benchAD, true)
}

// The small-record benchmarks: 64- and 256-byte records with 25 bytes of
// associated data (the datagram-sized 31 bytes under ad=31), batched and
// one at a time (once=8).
func BenchmarkRCS256SealOnceBatch64(b *testing.B)  { benchSmall(b, KeySize256, 64, false) }
func BenchmarkRCS256OpenOnceBatch64(b *testing.B)  { benchSmall(b, KeySize256, 64, true) }
func BenchmarkRCS256SealOnceBatch256(b *testing.B) { benchSmall(b, KeySize256, 256, false) }
func BenchmarkRCS256OpenOnceBatch256(b *testing.B) { benchSmall(b, KeySize256, 256, true) }
func BenchmarkRCS512SealOnceBatch64(b *testing.B)  { benchSmall(b, KeySize512, 64, false) }
func BenchmarkRCS512OpenOnceBatch64(b *testing.B)  { benchSmall(b, KeySize512, 64, true) }

func benchSmall(b *testing.B, keySize, size int, open bool) {
	for _, ad := range []int{smallAD, datagramAD} {
		b.Run(fmt.Sprintf("ad=%d", ad), func(b *testing.B) { benchBatchSizes(b, keySize, size, ad, open) })
	}
}

// BenchmarkRCS256OpenOnce64 is the per-record yardstick of
// BenchmarkRCS256OpenOnceBatch64 (as BenchmarkRCS256SealOnce64 is for
// sealing), with 25 bytes of associated data.
func BenchmarkRCS256OpenOnce64(b *testing.B) { benchBatch(b, KeySize256, 1, 64, smallAD, true, true) }
