package netsim

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse hammers one network from many goroutines at once
// (writers, readers, rebinding, reconfiguring, closing) in real time, for the
// race detector and for deadlocks; afterwards every datagram is accounted for.
func TestConcurrentUse(t *testing.T) {
	n := newNet(t, Config{Seed: 1, Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, ReorderDelay: time.Millisecond,
		Delay: time.Millisecond, Jitter: time.Millisecond, Bandwidth: 50_000_000, QueueLimit: 1 << 16, RecvQueue: 64})
	const E = 6
	eps := make([]net.PacketConn, E)
	for i := range eps {
		eps[i] = listen(t, n, ":0")
	}
	var readers, others sync.WaitGroup
	for _, c := range eps {
		readers.Go(func() {
			buf := make([]byte, 256)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
			}
		})
	}
	for i, c := range eps {
		others.Go(func() {
			p := make([]byte, 100)
			for j := range 400 {
				c.WriteTo(p, eps[(i+j)%E].LocalAddr())
				switch {
				case j%97 == 0 && i == 0:
					n.Rebind(eps[1])
				case j%89 == 0 && i == 2:
					n.SetLink(eps[2], nil, Config{Loss: 0.5})
				case j%83 == 0 && i == 3:
					n.ClearLink(eps[2], nil)
					n.SetDefault(Config{Delay: 2 * time.Millisecond})
				case j == 300 && i == 4:
					eps[5].Close() // its writer and reader must cope
				}
				n.Stats()
			}
		})
	}
	others.Wait()
	time.Sleep(20 * time.Millisecond)
	st := n.Stats()
	checkConservation(t, st)
	n.Close()
	readers.Wait()
	st = n.Stats()
	checkConservation(t, st)
	if st.InFlight != 0 || st.Sent == 0 || st.Delivered == 0 {
		t.Fatalf("%+v", st)
	}
	t.Logf("%+v", st)
}
