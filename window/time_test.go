package window

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// refCheckTime is the rule of CheckTime written with unbounded integers.
func refCheckTime(local, utctime, threshold uint64) bool {
	if threshold == 0 {
		return true
	}
	l, u, th := new(big.Int).SetUint64(local), new(big.Int).SetUint64(utctime), new(big.Int).SetUint64(threshold)
	maxU := new(big.Int).SetUint64(math.MaxUint64)
	lo, hi := new(big.Int).Sub(u, th), new(big.Int).Add(u, th)
	return local != 0 && u.Cmp(th) >= 0 && u.Cmp(new(big.Int).Sub(maxU, th)) <= 0 &&
		lo.Cmp(l) <= 0 && l.Cmp(hi) <= 0
}

func TestCheckTimeTable(t *testing.T) {
	const now = 1_700_000_000
	const m = math.MaxUint64
	for _, c := range []struct {
		local, utctime, threshold uint64
		ok                        bool
	}{
		{now, now, 60, true},
		{now, now - 60, 60, true},  // packet 60 s old: inclusive
		{now, now - 61, 60, false}, // 61 s old
		{now, now + 60, 60, true},  // 60 s in the future: inclusive
		{now, now + 61, 60, false},
		{0, 0, 60, false},   // local clock 0
		{0, 60, 60, false},  // local clock 0 even if within range
		{60, 59, 60, false}, // utctime below threshold
		{60, 60, 60, true},  // utctime equal to threshold
		{1, 60, 60, true},   // interval [0, 120] holds 1
		{1, 62, 60, false},  // interval [2, 122] does not
		{m - 60, m - 60, 60, true},
		{m - 60, m - 59, 60, false}, // utctime above 2^64-1-threshold
		{m, m - 60, 60, true},
		{now, 0, 60, false}, // QSMD ratchet packets carry 0
		{now, 0, 0, true},   // disabled
		{0, 0, 0, true},     // disabled, even local 0
		{now, now - 3600, 0, true},
		{now, now - 3600, 3600, true},
		{now, now - 3601, 3600, false},
		{m, m, m, false}, // utctime > 0 = 2^64-1-threshold
		{1, m / 2, m / 2, true},
		{m - 1, m / 2, m / 2, true}, // upper end of [0, 2^64-2]
		{m, m / 2, m / 2, false},
		{m, m/2 + 1, m / 2, true}, // utctime = 2^64-1-threshold exactly
		{m, m/2 + 2, m / 2, false},
	} {
		if refCheckTime(c.local, c.utctime, c.threshold) != c.ok {
			t.Fatalf("table row %+v disagrees with the reference", c)
		}
		err := CheckTime(c.local, c.utctime, c.threshold)
		if (err == nil) != c.ok {
			t.Errorf("CheckTime(%d, %d, %d) = %v, want ok=%v", c.local, c.utctime, c.threshold, err, c.ok)
		}
		if err != nil && err != ErrTime {
			t.Errorf("CheckTime error %v is not ErrTime", err)
		}
	}
}

// TestCheckTimeRandom compares CheckTime with the unbounded-integer reference on random inputs
// concentrated near the interval edges and the ends of the uint64 range.
func TestCheckTimeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() uint64 {
		switch r.IntN(4) {
		case 0:
			return r.Uint64N(200)
		case 1:
			return math.MaxUint64 - r.Uint64N(200)
		case 2:
			return r.Uint64()
		}
		return 1_700_000_000 + r.Uint64N(400) - 200
	}
	var pass, fail int
	for range 200000 {
		th := pick()
		if r.IntN(2) == 0 {
			th = uint64(r.IntN(130))
		}
		u := pick()
		var l uint64
		switch r.IntN(3) {
		case 0:
			l = u + th + uint64(r.IntN(5)) - 2 // near the upper edge (may wrap)
		case 1:
			l = u - th + uint64(r.IntN(5)) - 2 // near the lower edge (may wrap)
		default:
			l = pick()
		}
		want := refCheckTime(l, u, th)
		err := CheckTime(l, u, th)
		if (err == nil) != want {
			t.Fatalf("CheckTime(%d, %d, %d) = %v, reference ok=%v", l, u, th, err, want)
		}
		if want {
			pass++
		} else {
			fail++
		}
	}
	if pass < 10000 || fail < 10000 {
		t.Fatalf("unbalanced sample: %d pass, %d fail", pass, fail)
	}
}
