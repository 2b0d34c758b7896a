package record

import (
	"testing"

	"github.com/qsmp-go/qsmp/window"
)

// The target: datagram-profile seal and open of 1400-byte records at
// >= 0.9x the stream profile's throughput in the same run.

func BenchmarkStreamSeal1400(b *testing.B) {
	c, _ := newStreamPair(false)
	msg := make([]byte, 1400)
	b.SetBytes(1400)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Seal(msg, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamOpen1400(b *testing.B) {
	c, s := newStreamPair(false)
	msg := make([]byte, 1400)
	recs := make([][]byte, 0, 1024)
	b.SetBytes(1400)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(recs) {
			b.StopTimer()
			recs = recs[:0]
			for range cap(recs) {
				r, _ := c.Seal(msg, 1000)
				recs = append(recs, r)
			}
			i = 0
			b.StartTimer()
		}
		if _, _, err := s.Open(recs[i], 1000); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkDatagramSeal1400(b *testing.B) {
	s, _, _ := datagramPair(b, false, ClientToServer, 0)
	msg := make([]byte, 1400)
	buf := make([]byte, 0, 2048)
	env := make([]byte, 10)
	b.SetBytes(1400)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Seal(buf[:0], env, FlagEncryptedMessage, msg, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDatagramOpen1400(b *testing.B) {
	s, _, _ := datagramPair(b, false, ClientToServer, 0)
	key, base := s.key, s.base
	win, _ := window.NewSync(window.DefaultSize)
	o := NewOpener(key, base, win, nil, 60)
	msg := make([]byte, 1400)
	env := make([]byte, 10)
	recs := make([][]byte, 0, 1024)
	out := make([]byte, 0, 2048)
	b.SetBytes(1400)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(recs) {
			b.StopTimer()
			recs = recs[:0]
			for range cap(recs) {
				r, _, _ := s.Seal(nil, env, FlagEncryptedMessage, msg, 1000)
				recs = append(recs, r)
			}
			i = 0
			b.StartTimer()
		}
		if _, _, err := o.Open(out[:0], env, recs[i], 1000); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDatagramOpenBatch1400 is BenchmarkDatagramOpen1400 through
// OpenBatch, 16 records per call: compare the MB/s.
func BenchmarkDatagramOpenBatch1400(b *testing.B) {
	s, _, _ := datagramPair(b, false, ClientToServer, 0)
	win, _ := window.NewSync(window.DefaultSize)
	o := NewOpener(s.key, s.base, win, nil, 60)
	msg := make([]byte, 1400)
	env := make([]byte, 10)
	const per = 16
	recs := make([][]byte, 0, 1024)
	outs := make([][]byte, per)
	for i := range outs {
		outs[i] = make([]byte, 0, 2048)
	}
	items := make([]OpenItem, per)
	b.SetBytes(1400 * per)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(recs) {
			b.StopTimer()
			recs = recs[:0]
			for range cap(recs) {
				r, _, _ := s.Seal(nil, env, FlagEncryptedMessage, msg, 1000)
				recs = append(recs, r)
			}
			i = 0
			b.StartTimer()
		}
		for j := range items {
			items[j] = OpenItem{Dst: outs[j][:0], Prefix: env, Pkt: recs[i+j]}
		}
		o.OpenBatch(items, 1000)
		for j := range items {
			if items[j].Err != nil {
				b.Fatal(items[j].Err)
			}
		}
		i += per
	}
}
