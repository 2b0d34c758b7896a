package cookie

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestPrefixOf(t *testing.T) {
	for _, c := range []struct{ addr, prefix string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	} {
		if got := PrefixOf(netip.MustParseAddr(c.addr)); got.String() != c.prefix {
			t.Errorf("PrefixOf(%s) = %s, want %s", c.addr, got, c.prefix)
		}
	}
	if PrefixOf(netip.Addr{}).IsValid() {
		t.Error("prefix of the zero address")
	}
}

func TestLimiterBurstAndRefill(t *testing.T) {
	l := NewPrefixLimiter(2, 5, 100) // 2 per second, bursts of 5
	a := netip.MustParseAddr("203.0.113.9")
	now := slot0
	for i := range 5 {
		if !l.Allow(a, now) {
			t.Fatalf("event %d of the burst denied", i)
		}
	}
	if l.Allow(a, now) {
		t.Fatal("burst exceeded")
	}
	if l.Allow(a, now.Add(499*time.Millisecond)) {
		t.Fatal("refilled too fast")
	}
	if !l.Allow(a, now.Add(500*time.Millisecond)) || l.Allow(a, now.Add(500*time.Millisecond)) {
		t.Fatal("one token after half a second")
	}
	// A long pause refills to the burst, not beyond.
	later := now.Add(time.Hour)
	n := 0
	for l.Allow(a, later) {
		n++
	}
	if n != 5 {
		t.Fatalf("after an hour %d events allowed, want 5", n)
	}
	// A clock going back adds nothing.
	if l.Allow(a, now) {
		t.Fatal("clock going back refilled the bucket")
	}
}

func TestLimiterPrefixes(t *testing.T) {
	l := NewPrefixLimiter(0, 1, 100) // one event per prefix, ever
	allow := func(s string) bool { return l.Allow(netip.MustParseAddr(s), slot0) }
	if !allow("192.0.2.1") || allow("192.0.2.200") || allow("::ffff:192.0.2.3") {
		t.Error("a /24 does not share one bucket")
	}
	if !allow("192.0.3.1") {
		t.Error("another /24 shares the bucket")
	}
	if !allow("2001:db8::1") || allow("2001:db8::ffff:1") {
		t.Error("a /64 does not share one bucket")
	}
	if !allow("2001:db8:0:1::1") {
		t.Error("another /64 shares the bucket")
	}
	if l.Allow(netip.Addr{}, slot0) {
		t.Error("invalid address allowed")
	}
	if l.Len() != 4 {
		t.Errorf("tracking %d prefixes, want 4", l.Len())
	}
}

func TestLimiterBounded(t *testing.T) {
	const max = 64
	l := NewPrefixLimiter(1, 1, max)
	keep := netip.MustParseAddr("198.51.100.1")
	l.Allow(keep, slot0) // its token is spent
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		if !l.Allow(a, slot0) {
			t.Fatalf("new prefix %s denied", a)
		}
		if i%8 == 0 {
			l.Allow(keep, slot0) // recently seen: never evicted
		}
		if l.Len() > max {
			t.Fatalf("tracking %d prefixes, limit %d", l.Len(), max)
		}
	}
	if l.Allow(keep, slot0) {
		t.Fatal("the recently used prefix was evicted and got a fresh bucket")
	}
	if l.Evicted() != 10_000+1-max {
		t.Fatalf("evicted %d", l.Evicted())
	}
	// The list and the map agree.
	n := 0
	for b := l.head; b != nil; b = b.next {
		if l.buckets[b.prefix] != b {
			t.Fatal("list and map disagree")
		}
		n++
	}
	if n != l.Len() {
		t.Fatalf("list of %d, map of %d", n, l.Len())
	}
}

func TestLimiterParameters(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	for _, rate := range []float64{-1, math.NaN(), 0} {
		l := NewPrefixLimiter(rate, 0, 0) // burst and table clamp to 1
		if !l.Allow(a, slot0) || l.Allow(a, slot0.Add(time.Hour)) {
			t.Errorf("rate %v: want exactly one event", rate)
		}
	}
	l := NewPrefixLimiter(math.Inf(1), 3, 1)
	l.Allow(a, slot0)
	l.Allow(a, slot0)
	l.Allow(a, slot0)
	if !l.Allow(a, slot0.Add(time.Nanosecond)) {
		t.Error("infinite rate did not refill")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewPrefixLimiter(100, 10, 50)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				a := netip.MustParseAddr(fmt.Sprintf("10.%d.%d.1", g, i%200))
				l.Allow(a, slot0.Add(time.Duration(i)*time.Millisecond))
			}
		}()
	}
	wg.Wait()
	if l.Len() > 50 {
		t.Fatalf("tracking %d prefixes", l.Len())
	}
}

func BenchmarkAllow(b *testing.B) {
	l := NewPrefixLimiter(1000, 100, 1<<16)
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
	}
	i := 0
	for b.Loop() {
		l.Allow(addrs[i%len(addrs)], slot0)
		i++
	}
}
