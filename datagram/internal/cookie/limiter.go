package cookie

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// Prefix lengths that share one rate-limit bucket: a household or small
// network behind one IPv4 /24, or one IPv6 /64 (what a single host or LAN
// is usually given).
const (
	PrefixBitsIPv4 = 24
	PrefixBitsIPv6 = 64
)

// PrefixOf returns the prefix addr is rate limited under: its /24 for IPv4
// (IPv4-mapped IPv6 addresses included), its /64 for IPv6. It returns the
// zero Prefix for an invalid address.
func PrefixOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	bits := PrefixBitsIPv6
	if addr.Is4() {
		bits = PrefixBitsIPv4
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// bucket is one prefix's token bucket, on the limiter's LRU list.
type bucket struct {
	prefix     netip.Prefix
	tokens     float64
	last       time.Time
	prev, next *bucket
}

// PrefixLimiter limits the rate of events per address prefix (see PrefixOf)
// with one token bucket per prefix: rate tokens per second, at most burst
// banked. It tracks at most maxPrefixes prefixes: when a new one comes and
// the table is full, the least recently seen prefix is forgotten (a
// forgotten prefix starts again with a full bucket, so a flood spread over
// more prefixes than the table holds is limited only by the table size;
// size it above the number of prefixes expected at once). It is safe for
// concurrent use.
type PrefixLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	max     int
	buckets map[netip.Prefix]*bucket
	head    *bucket // most recently seen
	tail    *bucket // least recently seen
	evicted uint64
}

// NewPrefixLimiter returns a limiter of rate events per second per prefix,
// with bursts of up to burst events, tracking at most maxPrefixes prefixes.
// A rate below zero (or NaN) counts as zero (no refill), a burst below 1 as
// 1, and maxPrefixes below 1 as 1.
func NewPrefixLimiter(rate float64, burst int, maxPrefixes int) *PrefixLimiter {
	switch {
	case math.IsInf(rate, 1):
		rate = math.MaxFloat64
	case !(rate > 0): // negative or NaN
		rate = 0
	}
	return &PrefixLimiter{
		rate:    rate,
		burst:   float64(max(burst, 1)),
		max:     max(maxPrefixes, 1),
		buckets: make(map[netip.Prefix]*bucket),
	}
}

// Allow reports whether an event from addr at time now is within its
// prefix's rate, and counts it if so. It returns false for an invalid
// address. A clock that goes back adds no tokens.
func (l *PrefixLimiter) Allow(addr netip.Addr, now time.Time) bool {
	p := PrefixOf(addr)
	if !p.IsValid() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	switch {
	case b != nil:
		l.unlink(b)
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
			b.last = now
		}
	case len(l.buckets) >= l.max:
		b = l.tail // reuse the least recently seen bucket
		l.unlink(b)
		delete(l.buckets, b.prefix)
		l.evicted++
		*b = bucket{prefix: p, tokens: l.burst, last: now}
		l.buckets[p] = b
	default:
		b = &bucket{prefix: p, tokens: l.burst, last: now}
		l.buckets[p] = b
	}
	l.pushFront(b)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len returns the number of prefixes tracked.
func (l *PrefixLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Evicted returns how many prefixes were forgotten to make room.
func (l *PrefixLimiter) Evicted() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted
}

func (l *PrefixLimiter) unlink(b *bucket) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		l.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		l.tail = b.prev
	}
	b.prev, b.next = nil, nil
}

func (l *PrefixLimiter) pushFront(b *bucket) {
	b.next = l.head
	if l.head != nil {
		l.head.prev = b
	}
	l.head = b
	if l.tail == nil {
		l.tail = b
	}
}
