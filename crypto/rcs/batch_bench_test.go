package rcs

import (
	"fmt"
	"testing"
)

// benchBatch seals or opens batches of n records of benchLen bytes with
// benchAD bytes of associated data, each at its own nonce; the throughput
// counts the plaintext bytes of every record. Compare with
// BenchmarkRCS256SealOnce1400 and BenchmarkRCS256OpenOnce1400, the same
// records one at a time.
func benchBatch(b *testing.B, keySize, n int, open bool) {
	k, err := NewKey(make([]byte, keySize), nil)
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]OnceOp, n)
	for i := range ops {
		ops[i].Nonce[0], ops[i].Nonce[8] = byte(i), byte(i>>8)
		ops[i].AD = make([]byte, benchAD)
		pt := make([]byte, benchLen)
		if open {
			ops[i].In = k.SealOnce(nil, &ops[i].Nonce, ops[i].AD, pt)
			ops[i].Dst = make([]byte, 0, benchLen)
		} else {
			ops[i].In = pt
			ops[i].Dst = make([]byte, 0, benchLen+TagSize512)
		}
	}
	b.SetBytes(int64(n * benchLen))
	b.ReportAllocs()
	for b.Loop() {
		if open {
			k.OpenOnceBatch(ops)
		} else {
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

func benchBatchSizes(b *testing.B, keySize int, open bool) {
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { benchBatch(b, keySize, n, open) })
	}
}

func BenchmarkRCS256SealOnceBatch1400(b *testing.B) { benchBatchSizes(b, KeySize256, false) }
func BenchmarkRCS256OpenOnceBatch1400(b *testing.B) { benchBatchSizes(b, KeySize256, true) }
func BenchmarkRCS512SealOnceBatch1400(b *testing.B) { benchBatchSizes(b, KeySize512, false) }
func BenchmarkRCS512OpenOnceBatch1400(b *testing.B) { benchBatchSizes(b, KeySize512, true) }
