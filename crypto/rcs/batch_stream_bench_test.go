package rcs

import (
	"fmt"
	"testing"
)

// BenchmarkRCS256KeyStreamSmall measures the keystream of eight messages
// of 64 or 256 bytes, each at its own counter: one at a time
// (xorKeyStream, with the block function this CPU selects) and packed
// (streamPack, as the batch functions do).
func BenchmarkRCS256KeyStreamSmall(b *testing.B) {
	k, err := NewKey(make([]byte, KeySize256), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{64, 256} {
		var bufs [8][]byte
		var ctrs [8][32]byte
		for i := range bufs {
			bufs[i] = make([]byte, size)
			ctrs[i][8] = byte(i)
		}
		b.Run(fmt.Sprintf("size=%d/each", size), func(b *testing.B) {
			b.SetBytes(int64(8 * size))
			for b.Loop() {
				for i := range bufs {
					c := ctrs[i]
					xorKeyStream(k, bufs[i], bufs[i], &c)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/packed", size), func(b *testing.B) {
			b.SetBytes(int64(8 * size))
			for b.Loop() {
				var p streamPack
				for i := range bufs {
					p.add(k, bufs[i], bufs[i], &ctrs[i])
				}
				p.flush(k)
			}
		})
	}
}
