package netsim

import (
	"net"
	"testing"
	"time"
)

// BenchmarkNetworkPerfect measures one WriteTo plus ReadFrom of a 1200-byte
// datagram on a perfect in-memory link.
func BenchmarkNetworkPerfect(b *testing.B) {
	benchNetwork(b, Config{})
}

// BenchmarkNetworkFaults is the same with loss, bursts, duplication,
// corruption and reordering enabled (no delay, so delivery stays synchronous
// except for reordered datagrams).
func BenchmarkNetworkFaults(b *testing.B) {
	benchNetwork(b, Config{Seed: 1, Loss: 0.01, Duplicate: 0.01, Corrupt: 0.01, MTU: 1500,
		Burst: &GilbertElliott{GoodToBad: 0.01, BadToGood: 0.3, LossBad: 0.5}})
}

func benchNetwork(b *testing.B, cfg Config) {
	n := newNet(b, cfg)
	x, y := listen(b, n, ":0"), listen(b, n, ":0")
	dst := y.LocalAddr()
	p := make([]byte, 1200)
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		x.WriteTo(p, dst)
		if n.Stats().Delivered > 0 {
			// Drain whatever arrived (loss may have dropped this one).
			for range y.(*memConn).queued() {
				y.ReadFrom(buf)
			}
		}
	}
}

// BenchmarkDecide measures the fault engine alone: the draws and the decision
// for one datagram with every fault enabled.
func BenchmarkDecide(b *testing.B) {
	cfg := everything(1)
	cfg.Bandwidth = 0 // no queue build-up in a tight loop
	ls := newLinkState(1, "bench")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		ls.decide(&cfg, now, 900)
	}
}

// BenchmarkWrapLoopback measures WriteTo through a perfect Wrap over a real
// loopback UDP socket (the underlying write dominates).
func BenchmarkWrapLoopback(b *testing.B) {
	src, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	dst, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	w, _ := Wrap(src, Config{})
	defer w.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := dst.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	p := make([]byte, 1200)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		w.WriteTo(p, dst.LocalAddr())
	}
}
