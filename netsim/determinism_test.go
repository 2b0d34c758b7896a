package netsim

import (
	"net"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// everything turns on every fault at once.
func everything(seed int64) Config {
	return Config{
		Seed: seed, Loss: 0.05, Reorder: 0.05, ReorderDelay: 3 * time.Millisecond, Duplicate: 0.03,
		Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Corrupt: 0.03, MTU: 1000,
		Bandwidth: 5_000_000, QueueLimit: 20_000, RecvQueue: 10_000,
		Burst: &GilbertElliott{GoodToBad: 0.02, BadToGood: 0.3, LossGood: 0.01, LossBad: 0.6},
	}
}

type arrival struct {
	At   time.Duration // virtual time since the start
	Data string
}

type outcome struct {
	FromA, FromB []arrival // per sender, in arrival order
	LinkA, LinkB Stats
}

// scenario runs two senders into one receiver concurrently with every fault
// on, and records each link's arrivals (virtual time and bytes) and counts.
// Goroutine interleaving is not deterministic, but each link's fate is.
func scenario(t *testing.T, seed int64) (out outcome) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, everything(seed))
		a, b, r := listen(t, n, ":0"), listen(t, n, ":0"), listen(t, n, ":0")
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				k, from, err := r.ReadFrom(buf)
				if err != nil {
					return
				}
				x := arrival{time.Since(start), string(buf[:k])}
				if from.String() == a.LocalAddr().String() {
					out.FromA = append(out.FromA, x)
				} else {
					out.FromB = append(out.FromB, x)
				}
			}
		})
		var senders sync.WaitGroup
		for id, c := range []net.PacketConn{a, b} {
			senders.Go(func() {
				for i := range 3000 {
					size := 50 + (i*37+id*11)%1100 // some above the MTU
					c.WriteTo(seqPayload(uint64(id<<32|i), size), r.LocalAddr())
					if i%7 == 0 {
						time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
					}
				}
			})
		}
		senders.Wait()
		time.Sleep(time.Second) // everything in flight arrives
		st := n.Stats()
		checkConservation(t, st)
		if st.InFlight != 0 || st.RecvDropped != 0 {
			t.Errorf("after draining: %+v", st)
		}
		out.LinkA, out.LinkB = n.LinkStats(a, r), n.LinkStats(b, r)
		r.Close()
		wg.Wait()
		if got := uint64(len(out.FromA) + len(out.FromB)); got != st.Delivered {
			t.Errorf("read %d, delivered %d", got, st.Delivered)
		}
	})
	return out
}

func TestDeterminism(t *testing.T) {
	x, y := scenario(t, 42), scenario(t, 42)
	for _, s := range []Stats{x.LinkA, x.LinkB} {
		if s.Lost == 0 || s.Reordered == 0 || s.Duplicated == 0 || s.Corrupted == 0 ||
			s.TooBig == 0 || s.QueueDropped == 0 {
			t.Fatalf("scenario does not exercise every fault: %+v", s)
		}
	}
	t.Logf("link a: %+v", x.LinkA)
	t.Logf("link b: %+v", x.LinkB)
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("same seed, different outcomes:\n%+v\n%+v", x.LinkA, y.LinkA)
	}
	if x.LinkA == x.LinkB {
		t.Fatal("the two links made identical decisions: they share a random stream")
	}
	z := scenario(t, 43)
	if reflect.DeepEqual(x.FromA, z.FromA) || x.LinkA == z.LinkA {
		t.Fatal("a different seed gave the same outcome")
	}
}

// TestDecisionsIndependentOfTiming checks that loss, duplication and
// corruption decisions of a link depend only on the sequence of writes, not
// on when they happen (real time, no synctest).
func TestDecisionsIndependentOfTiming(t *testing.T) {
	cfg := Config{Seed: 9, Loss: 0.2, Duplicate: 0.1, Corrupt: 0.1,
		Burst: &GilbertElliott{GoodToBad: 0.1, BadToGood: 0.3, LossBad: 0.8}}
	run := func(pause bool) []string {
		got, _ := pumpWith(t, cfg, 500, 40, pause)
		s := make([]string, len(got))
		for i, p := range got {
			s[i] = string(p)
		}
		return s
	}
	if !reflect.DeepEqual(run(false), run(true)) {
		t.Fatal("decisions changed with the timing of the writes")
	}
}

func pumpWith(t *testing.T, cfg Config, count, size int, pause bool) ([][]byte, Stats) {
	cfg.RecvQueue = 3 * count
	n := newNet(t, cfg)
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	for i := range count {
		a.WriteTo(seqPayload(uint64(i), size), b.LocalAddr())
		if pause && i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	st := n.Stats()
	var got [][]byte
	buf := make([]byte, 2048)
	for range st.Delivered {
		k, _, _ := b.ReadFrom(buf)
		got = append(got, append([]byte(nil), buf[:k]...))
	}
	return got, st
}
