package datagram

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRecordRate measures records per second of one QSMS session over
// loopback UDP for small records (telemetry) and large ones: one goroutine
// writes b.N records of each size as fast as Write takes them, another
// reads them. It reports krecords/s (delivered records over the time from
// the first Write to the last Read), MB/s of payload and the fraction
// delivered.
//
//	go test -run XXX -bench RecordRate -benchtime 300000x ./datagram/
func BenchmarkRecordRate(b *testing.B) {
	for _, size := range []int{64, 256, 1400} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			srv, cli := pairConfigs(b, false)
			srv.PrefixRate = -1
			srv.ReceiveQueue = 4096
			srv.MaxPayload, cli.MaxPayload = goodputPayload, goodputPayload
			l, err := Listen("udp4", "127.0.0.1:0", srv)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, s := dialLoopback(b, ctx, l, "udp4", cli)
			defer c.Close()
			defer s.Close()
			type result struct {
				got  int
				last time.Time
			}
			done := make(chan result, 1)
			go func() {
				buf := make([]byte, 2*size)
				var r result
				for {
					if r.got%1024 == 0 {
						s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					}
					if _, err := s.Read(buf); err != nil {
						done <- r
						return
					}
					r.got++
					if r.got%64 == 0 || r.got == b.N {
						r.last = time.Now()
					}
				}
			}()
			msg := make([]byte, size)
			start := time.Now()
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			r := <-done
			el := r.last.Sub(start).Seconds()
			if r.got == 0 || el <= 0 {
				b.Fatalf("%d records delivered", r.got)
			}
			b.ReportMetric(float64(r.got)/el/1e3, "krecords/s")
			b.ReportMetric(float64(r.got*size)/el/1e6, "MB/s")
			b.ReportMetric(float64(r.got)/float64(b.N), "delivered")
			b.ReportMetric(0, "ns/op")
		})
	}
}
