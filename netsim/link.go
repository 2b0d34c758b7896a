package netsim

import (
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"time"
)

// linkState is the fault engine of one directed link: its random source, the
// Gilbert-Elliott state and the timing state. The owner's mutex guards it.
type linkState struct {
	rng       *rand.Rand
	bad       bool      // Gilbert-Elliott chain in the bad state
	busyUntil time.Time // when the bandwidth queue will be empty
	lastAt    time.Time // arrival time of the last in-order datagram
	inFlight  int       // datagrams of this link scheduled, not yet delivered
}

func newLinkState(seed int64, name string) linkState {
	h := fnv.New64a()
	h.Write([]byte(name))
	return linkState{rng: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

// verdict is the fate of one datagram.
type verdict struct {
	drop      counter // cSent means "not dropped"
	at        time.Time
	bit       int // bit to flip, or -1
	duplicate bool
	reordered bool
}

// decide takes the datagram's random draws, steps the Gilbert-Elliott chain
// and decides the datagram's fate, updating the timing state. The draws are
// the same in number and order for every datagram, so decisions do not depend
// on timing.
func (l *linkState) decide(cfg *Config, now time.Time, size int) verdict {
	r := l.rng
	uLoss := r.Float64()
	uGELoss := r.Float64()
	uGEStep := r.Float64()
	uCorrupt := r.Float64()
	bit := r.Uint64()
	uDup := r.Float64()
	uReorder := r.Float64()
	uJitter := r.Float64()

	lost := uLoss < cfg.Loss
	if g := cfg.Burst; g != nil {
		if l.bad {
			lost = lost || uGELoss < g.LossBad
			if uGEStep < g.BadToGood {
				l.bad = false
			}
		} else {
			lost = lost || uGELoss < g.LossGood
			if uGEStep < g.GoodToBad {
				l.bad = true
			}
		}
	}

	v := verdict{drop: cSent, bit: -1}
	if cfg.MTU > 0 && size > cfg.MTU {
		v.drop = cTooBig
		return v
	}
	if l.inFlight >= cfg.maxInFlight() {
		v.drop = cQueueDropped
		return v
	}
	depart := now
	if bw := cfg.Bandwidth; bw > 0 {
		start := now
		if l.busyUntil.After(now) {
			start = l.busyUntil
			if backlog := bytesIn(start.Sub(now), bw); backlog+uint64(size) > uint64(cfg.queueLimit()) {
				v.drop = cQueueDropped
				return v
			}
		}
		l.busyUntil = start.Add(txTime(size, bw))
		depart = l.busyUntil
	}
	if lost {
		v.drop = cLost
		return v
	}
	if size > 0 && uCorrupt < cfg.Corrupt {
		v.bit = int(bit % uint64(size*8))
	}

	d := cfg.Delay
	if cfg.Jitter > 0 {
		d += time.Duration((2*uJitter - 1) * float64(cfg.Jitter))
		if d < 0 {
			d = 0
		}
	}
	v.at = depart.Add(d)
	if uReorder < cfg.Reorder {
		v.reordered = true
		v.at = v.at.Add(cfg.reorderDelay())
	} else {
		if v.at.Before(l.lastAt) {
			v.at = l.lastAt
		}
		l.lastAt = v.at
	}
	v.duplicate = uDup < cfg.Duplicate
	return v
}

// bytesIn returns how many bytes a link of bw bytes per second carries in d,
// rounded down, saturating instead of overflowing.
func bytesIn(d time.Duration, bw int) uint64 {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), uint64(bw))
	if hi >= uint64(time.Second) {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	return q
}

// txTime returns how long a link of bw bytes per second takes to send size
// bytes, rounded up to the nanosecond.
func txTime(size, bw int) time.Duration {
	hi, lo := bits.Mul64(uint64(size), uint64(time.Second))
	q, rem := bits.Div64(hi, lo, uint64(bw)) // size <= MaxDatagramSize, so hi < bw
	if rem != 0 {
		q++
	}
	return time.Duration(q)
}

// flipBit returns data with bit i flipped (bit 0 is the low bit of byte 0).
func flipBit(data []byte, i int) {
	data[i/8] ^= 1 << (i % 8)
}
