package transfer

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkReassemble measures reassembling a 1.4 MB message from 1,200-byte
// fragments arriving in reverse order.
func BenchmarkReassemble(b *testing.B) {
	msg := testMessage(1_400_000, 1)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r, err := NewReassembler(len(msg), nil)
		if err != nil {
			b.Fatal(err)
		}
		for off := (len(msg) - 1) / simPayload * simPayload; off >= 0; off -= simPayload {
			if _, err := r.Add(uint32(off), msg[off:min(off+simPayload, len(msg))]); err != nil {
				b.Fatal(err)
			}
		}
		if !r.Complete() {
			b.Fatal("incomplete")
		}
		r.Release()
	}
}

// BenchmarkSender measures the sender's own work for a 1.4 MB message on a
// clean path: every Poll and every per-fragment ack.
func BenchmarkSender(b *testing.B) {
	msg := testMessage(1_400_000, 1)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		s := NewSender(msg, simPayload, nil, nil)
		now := t0
		for !s.Done() {
			out := s.Poll(now)
			now = now.Add(time.Millisecond)
			for _, f := range out {
				s.OnAck([]Range{{Start: 0, End: f.Offset + uint32(len(f.Data))}}, now)
			}
		}
	}
}

// BenchmarkSimulatedTransfer runs whole transfers over the simulated path
// and reports the simulated round trips they took (rtts/op) next to the CPU
// time.
func BenchmarkSimulatedTransfer(b *testing.B) {
	for _, size := range []int{71, 65536, 1_400_000} {
		for _, loss := range []float64{0, 0.01, 0.05, 0.2} {
			b.Run(fmt.Sprintf("size=%d/loss=%.0f%%", size, loss*100), func(b *testing.B) {
				msg := testMessage(size, 1)
				p := path{loss: loss, reorder: 0.1, delay: 25 * time.Millisecond}
				var rtts float64
				seed := uint64(0)
				for b.Loop() {
					seed++
					rtts += simulate(b, msg, p, seed).rtts
				}
				b.ReportMetric(rtts/float64(b.N), "rtts/op")
			})
		}
	}
}
