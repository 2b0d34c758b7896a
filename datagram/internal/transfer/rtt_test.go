package transfer

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestRTTInitial(t *testing.T) {
	var r RTT
	if r.RTO() != InitialRTO || r.Smoothed() != 0 || r.Samples() != 0 || r.Min() != 0 {
		t.Fatalf("zero RTT: RTO %v smoothed %v", r.RTO(), r.Smoothed())
	}
	r.Backoff()
	if r.RTO() != 2*InitialRTO {
		t.Fatalf("backed-off initial RTO %v", r.RTO())
	}
}

func TestRTTUpdate(t *testing.T) {
	var r RTT
	r.Update(100 * ms) // first sample: SRTT = R, RTTVAR = R/2
	if r.Smoothed() != 100*ms || r.Variation() != 50*ms || r.RTO() != 300*ms {
		t.Fatalf("after 100 ms: srtt %v var %v rto %v", r.Smoothed(), r.Variation(), r.RTO())
	}
	r.Update(200 * ms) // RTTVAR = 3/4·50 + 1/4·100; SRTT = 7/8·100 + 1/8·200
	if r.Variation() != 62500*time.Microsecond || r.Smoothed() != 112500*time.Microsecond || r.RTO() != 362500*time.Microsecond {
		t.Fatalf("after 200 ms: srtt %v var %v rto %v", r.Smoothed(), r.Variation(), r.RTO())
	}
	if r.Min() != 100*ms || r.Latest() != 200*ms || r.Samples() != 2 {
		t.Fatalf("min %v latest %v samples %d", r.Min(), r.Latest(), r.Samples())
	}
	r.Update(-time.Second)
	if r.Samples() != 2 {
		t.Fatal("a negative sample was taken")
	}
}

func TestRTTBounds(t *testing.T) {
	var fast RTT
	for range 50 {
		fast.Update(ms)
	}
	if fast.RTO() != MinRTO {
		t.Fatalf("floor: RTO %v, want %v", fast.RTO(), MinRTO)
	}
	var slow RTT
	slow.Update(20 * time.Second)
	if slow.RTO() != MaxRTO {
		t.Fatalf("cap: RTO %v, want %v", slow.RTO(), MaxRTO)
	}
}

func TestRTTBackoff(t *testing.T) {
	var r RTT
	r.Update(100 * ms)
	want := 300 * ms
	for i := range 10 {
		if got := r.RTO(); got != min(want, MaxRTO) {
			t.Fatalf("after %d backoffs: RTO %v, want %v", i, got, min(want, MaxRTO))
		}
		r.Backoff()
		want *= 2
	}
	for range 100 {
		r.Backoff()
	}
	if r.RTO() != MaxRTO {
		t.Fatalf("long backoff: RTO %v", r.RTO())
	}
	r.ResetBackoff()
	if r.RTO() != 300*ms || r.Backoffs() != 0 {
		t.Fatalf("reset: RTO %v", r.RTO())
	}
}

func TestRTTLossDelay(t *testing.T) {
	var r RTT
	if r.lossDelay(9) != InitialRTO*9/8 {
		t.Fatal("loss delay before samples")
	}
	r.Update(80 * ms)
	r.Update(40 * ms) // srtt 75, latest 40
	if got := r.lossDelay(9); got != 75*ms*9/8 {
		t.Fatalf("loss delay %v", got)
	}
	r.Update(400 * ms) // latest above srtt
	if got := r.lossDelay(8); got != 400*ms {
		t.Fatalf("loss delay uses latest: %v", got)
	}
}

// TestRTTMaxRTO: SetMaxRTO caps the backoff, never the timeout itself, and
// is clamped to [MinRTO, MaxRTO].
func TestRTTMaxRTO(t *testing.T) {
	var r RTT
	r.SetMaxRTO(time.Second)
	if r.MaxBackoffRTO() != time.Second {
		t.Fatalf("cap %v", r.MaxBackoffRTO())
	}
	want := []time.Duration{InitialRTO, 2 * InitialRTO, time.Second, time.Second}
	for i, w := range want {
		if got := r.RTO(); got != w {
			t.Fatalf("after %d backoffs: RTO %v, want %v", i, got, w)
		}
		r.Backoff()
	}
	for range 20 {
		r.Backoff()
	}
	if r.RTO() != time.Second {
		t.Fatalf("long backoff: RTO %v", r.RTO())
	}
	// A path slower than the cap keeps its own timeout, without backoff.
	var slow RTT
	slow.SetMaxRTO(time.Second)
	slow.Update(1500 * ms)
	base := slow.RTO()
	slow.Backoff()
	if base <= time.Second || slow.RTO() != base {
		t.Fatalf("slow path: RTO %v, backed off %v", base, slow.RTO())
	}
	// Clamping and reset.
	r.SetMaxRTO(time.Nanosecond)
	if r.MaxBackoffRTO() != MinRTO {
		t.Fatalf("cap below MinRTO: %v", r.MaxBackoffRTO())
	}
	r.SetMaxRTO(time.Hour)
	if r.MaxBackoffRTO() != MaxRTO {
		t.Fatalf("cap above MaxRTO: %v", r.MaxBackoffRTO())
	}
	r.SetMaxRTO(0)
	if r.MaxBackoffRTO() != MaxRTO || r.RTO() != MaxRTO {
		t.Fatalf("reset cap: %v, RTO %v", r.MaxBackoffRTO(), r.RTO())
	}
}
