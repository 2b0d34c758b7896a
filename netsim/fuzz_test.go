package netsim

import (
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// FuzzListen feeds arbitrary addresses to Listen and RebindTo: they must not
// panic, must fail only with the package's sentinel errors, and a bound
// address must round-trip (listening on it again reports it in use).
func FuzzListen(f *testing.F) {
	for _, s := range []string{":0", "127.0.0.1:4000", "[::1]:0", "0.0.0.0:1", "[::]:65535",
		"localhost:80", "1.2.3.4:99999", "[fe80::1%lo]:1", "::1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, _ := NewNetwork(Config{})
		defer n.Close()
		c, err := n.Listen(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddr) && !errors.Is(err, ErrAddrInUse) {
				t.Fatalf("Listen(%q): unexpected error %v", s, err)
			}
			return
		}
		bound := c.LocalAddr().String()
		if _, err := n.Listen(bound); !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("Listen(%q) bound %s; listening there again: %v", s, bound, err)
		}
		other, _ := n.Listen(":0")
		if a, err := n.RebindTo(other, s); err == nil {
			if a.String() == bound {
				t.Fatalf("RebindTo(%q) took %s, which is in use", s, bound)
			}
		} else if !errors.Is(err, ErrInvalidAddr) && !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("RebindTo(%q): unexpected error %v", s, err)
		}
	})
}

// FuzzFaults derives a configuration and a sequence of writes from the input,
// runs them twice on virtual time, and checks that every datagram is
// accounted for, that the two runs agree, and that what arrives respects the
// MTU and differs from what was sent by at most one bit.
func FuzzFaults(f *testing.F) {
	f.Add([]byte("\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x05\x04\x03\x02\x01hello, world"))
	f.Add(make([]byte, 40))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 16 {
			return
		}
		cfg, writes := fuzzConfig(data)
		x := fuzzRun(t, cfg, writes)
		y := fuzzRun(t, cfg, writes)
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("two runs of the same input differ:\n%+v\n%+v", x.st, y.st)
		}
	})
}

func fuzzConfig(d []byte) (Config, []int) {
	p := func(b byte) float64 { return float64(b) / 255 }
	cfg := Config{
		Seed:         int64(d[0]),
		Loss:         p(d[1]) / 2,
		Reorder:      p(d[2]),
		ReorderDelay: time.Duration(d[3]) * 100 * time.Microsecond,
		Duplicate:    p(d[4]),
		Delay:        time.Duration(d[5]) * 100 * time.Microsecond,
		Jitter:       time.Duration(d[6]) * 100 * time.Microsecond,
		Corrupt:      p(d[7]),
		MTU:          int(d[8]) * 4,
		Bandwidth:    int(d[9]) * 1000,
		QueueLimit:   int(d[10]) * 50,
		MaxInFlight:  int(d[11]),
		RecvQueue:    int(d[12]),
	}
	if d[13]&1 == 1 {
		cfg.Burst = &GilbertElliott{GoodToBad: p(d[13]), BadToGood: p(d[14]), LossGood: p(d[15]) / 4, LossBad: p(d[15])}
	}
	var writes []int
	for _, b := range d[16:] {
		writes = append(writes, int(b)*3)
	}
	return cfg, writes
}

type fuzzResult struct {
	st   Stats
	recv []arrival
}

func fuzzRun(t *testing.T, cfg Config, writes []int) (res fuzzResult) {
	synctest.Test(t, func(t *testing.T) {
		n, err := NewNetwork(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		a, _ := n.Listen(":0")
		b, _ := n.Listen(":0")
		start := time.Now()
		sent := map[uint16][]byte{}
		for i, size := range writes {
			p := make([]byte, max(size, 2))
			binary.BigEndian.PutUint16(p, uint16(i))
			for j := 2; j < len(p); j++ {
				p[j] = byte(i + j)
			}
			sent[uint16(i)] = p
			if _, err := a.WriteTo(p, b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			if size%2 == 1 {
				time.Sleep(time.Duration(size) * 10 * time.Microsecond)
			}
			if i%4 == 3 {
				res.recv = append(res.recv, drain(t, b, start)...)
			}
		}
		time.Sleep(time.Minute)
		res.recv = append(res.recv, drain(t, b, start)...)
		res.st = n.Stats()
		checkConservation(t, res.st)
		if res.st.InFlight != 0 || uint64(len(res.recv)) != res.st.Delivered {
			t.Fatalf("read %d, stats %+v", len(res.recv), res.st)
		}
		for _, r := range res.recv {
			if cfg.MTU > 0 && len(r.Data) > cfg.MTU {
				t.Fatalf("%d-byte datagram passed an MTU of %d", len(r.Data), cfg.MTU)
			}
			// One datagram sent must be within one bit of it. Its sequence
			// number is then within one bit of the one received, so looking
			// up that number and its 16 one-bit neighbours finds it (a scan
			// of everything sent made long inputs quadratic, past the fuzz
			// worker's 10 s limit per input).
			if len(r.Data) < 2 {
				t.Fatalf("received a %d-byte datagram; every one sent has 2 or more", len(r.Data))
			}
			ok := false
			seq := binary.BigEndian.Uint16([]byte(r.Data))
			for k := -1; k < 16 && !ok; k++ {
				s := seq
				if k >= 0 {
					s ^= 1 << k
				}
				p, found := sent[s]
				ok = found && len(p) == len(r.Data) && hamming(p, []byte(r.Data)) <= 1
			}
			if !ok {
				t.Fatalf("received a datagram that matches nothing sent within one bit")
			}
		}
	})
	return res
}

// drain reads what is queued at c without blocking.
func drain(t *testing.T, c net.PacketConn, start time.Time) []arrival {
	var out []arrival
	buf := make([]byte, 1024)
	for c.(*memConn).queued() > 0 {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, arrival{time.Since(start), string(buf[:k])})
	}
	return out
}

func hamming(a, b []byte) int {
	d := 0
	for i := range a {
		for x := a[i] ^ b[i]; x != 0; x &= x - 1 {
			d++
		}
	}
	return d
}
