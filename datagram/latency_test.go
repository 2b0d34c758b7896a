package datagram

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures the round-trip time of a 64-byte record over
// loopback, one at a time: the client writes, the server's reader echoes
// it, the client reads it back; qsmp over UDP, qsmp-quic over QUIC
// datagrams. raw does the same with two plain UDP sockets, quic-go with
// quic-go's own DATAGRAM frames (no QSMP). Each reports the median, 90th and 99th percentile in
// microseconds (the machine's thread wake-ups set the tail; GOMAXPROCS=1
// shows the path without them):
//
//	go test -run XXX -bench RoundTrip -benchtime 20000x ./datagram/
func BenchmarkRoundTrip(b *testing.B) {
	const size = 64
	b.Run("raw", func(b *testing.B) {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		e, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		go func() {
			buf := make([]byte, 2000)
			for {
				k, from, err := e.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				e.WriteToUDPAddrPort(buf[:k], from)
			}
		}()
		to := e.LocalAddr().(*net.UDPAddr).AddrPort()
		roundTrips(b, size, func(msg, buf []byte) error {
			if _, err := a.WriteToUDPAddrPort(msg, to); err != nil {
				return err
			}
			_, _, err := a.ReadFromUDPAddrPort(buf)
			return err
		})
	})
	b.Run("quic-go", func(b *testing.B) {
		cli, srv, closeAll := rawQUIC(b)
		defer closeAll()
		ctx := context.Background()
		go func() {
			for {
				m, err := srv.ReceiveDatagram(ctx)
				if err != nil {
					return
				}
				srv.SendDatagram(m)
			}
		}()
		roundTrips(b, size, func(msg, buf []byte) error {
			if err := cli.SendDatagram(msg); err != nil {
				return err
			}
			_, err := cli.ReceiveDatagram(ctx)
			return err
		})
	})
	for _, network := range []string{"udp4", "quic4"} {
		name := map[string]string{"udp4": "qsmp", "quic4": "qsmp-quic"}[network]
		b.Run(name, func(b *testing.B) { roundTripQSMP(b, network, size) })
	}
}

// roundTripQSMP is BenchmarkRoundTrip over one session on network.
func roundTripQSMP(b *testing.B, network string, size int) {
	srv, cli := pairConfigs(b, false)
	l, err := Listen(network, "127.0.0.1:0", srv)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, s := dialLoopback(b, ctx, l, network, cli)
	defer c.Close()
	go func() {
		buf := make([]byte, 2000)
		for {
			k, err := s.Read(buf)
			if err != nil {
				return
			}
			s.Write(buf[:k])
		}
	}()
	roundTrips(b, size, func(msg, buf []byte) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := c.Read(buf)
		return err
	})
}

// roundTrips times b.N calls of rt and reports their percentiles.
func roundTrips(b *testing.B, size int, rt func(msg, buf []byte) error) {
	msg, buf := make([]byte, size), make([]byte, 2000)
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := rt(msg, buf); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	slices.Sort(rtts)
	at := func(q float64) float64 { return float64(rtts[int(q*float64(len(rtts)-1))]) / 1e3 }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.9), "p90-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
