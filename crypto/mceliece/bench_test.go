package mceliece

import (
	"crypto/sha3"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"
)

var (
	keygenStats   = flag.Int("keygenstats", 0, "TestKeygenStats: number of seeds per set (0 skips; at least 20 for a p95)")
	keygenStatSet = flag.String("keygenset", "", "TestKeygenStats: only this set, such as mceliece348864 (default all)")
)

func seededReader(label string) *sha3.SHAKE {
	h := sha3.NewSHAKE256()
	h.Write([]byte(label))
	return h
}

// loopCPU runs f in the benchmark loop and also reports the thread CPU time
// per operation (cpu-ns/op), which other load on the machine does not
// inflate.
func loopCPU(b *testing.B, f func()) {
	defer lockThread()()
	start := threadCPU()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkKeyGen(b *testing.B) {
	for _, p := range All() {
		b.Run(p.Name(), func(b *testing.B) {
			rng := seededReader("bench keygen " + p.Name())
			loopCPU(b, func() {
				if _, _, err := p.GenerateKey(rng); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkEncapsulate(b *testing.B) {
	for _, p := range All() {
		b.Run(p.Name(), func(b *testing.B) {
			rng := seededReader("bench encaps " + p.Name())
			pk, _, err := p.GenerateKey(rng)
			if err != nil {
				b.Fatal(err)
			}
			loopCPU(b, func() {
				if _, _, err := p.Encapsulate(rng, pk); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkDecapsulate(b *testing.B) {
	for _, p := range All() {
		b.Run(p.Name(), func(b *testing.B) {
			rng := seededReader("bench decaps " + p.Name())
			pk, sk, err := p.GenerateKey(rng)
			if err != nil {
				b.Fatal(err)
			}
			ct, _, err := p.Encapsulate(rng, pk)
			if err != nil {
				b.Fatal(err)
			}
			loopCPU(b, func() {
				if _, err := p.Decapsulate(sk, ct); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// TestKeygenStats prints the mean and 95th percentile of the CPU time of key
// generation over -keygenstats seeds per set (key generation retries a
// random number of times, so its time varies from seed to seed):
//
//	go test -run TestKeygenStats -keygenstats 40 [-keygenset mceliece348864] -v ./crypto/mceliece
func TestKeygenStats(t *testing.T) {
	if *keygenStats == 0 {
		t.Skip("statistics only with -keygenstats N")
	}
	for _, p := range All() {
		if *keygenStatSet != "" && p.Name() != *keygenStatSet {
			continue
		}
		var d []time.Duration
		var wall time.Duration
		attempts := 0
		for i := range *keygenStats {
			rng := seededReader(fmt.Sprintf("keygen stats %s %d", p.Name(), i))
			unlock := lockThread()
			start, startWall := threadCPU(), time.Now()
			_, _, n, err := p.newKey(rng)
			d = append(d, threadCPU()-start)
			wall += time.Since(startWall)
			unlock()
			if err != nil {
				t.Fatal(err)
			}
			attempts += n
		}
		slices.Sort(d)
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		p95 := d[(len(d)*95+99)/100-1]
		n := time.Duration(len(d))
		t.Logf("%-16s keygen CPU time over %d seeds: mean %v  p95 %v  max %v  (wall mean %v; %.2f attempts per key)",
			p.Name(), len(d), (sum / n).Round(time.Millisecond), p95.Round(time.Millisecond),
			d[len(d)-1].Round(time.Millisecond), (wall / n).Round(time.Millisecond), float64(attempts)/float64(len(d)))
	}
}
