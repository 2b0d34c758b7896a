package transfer

import "time"

// Retransmission timer bounds (RFC 6298, with a lower floor than its 1 s,
// since handshake fragments are acked immediately).
const (
	// InitialRTO is the retransmission timeout before any RTT sample.
	InitialRTO = 500 * time.Millisecond
	// MinRTO is the floor of the retransmission timeout.
	MinRTO = 50 * time.Millisecond
	// MaxRTO is the cap of the retransmission timeout, backoff included.
	MaxRTO = 10 * time.Second
	// granularity is the clock granularity G of RFC 6298.
	granularity = time.Millisecond
	// maxBackoff bounds the backoff exponent (2^7 × 50 ms already exceeds
	// MaxRTO).
	maxBackoff = 16
)

// RTT is a round-trip time estimator and retransmission timer as in RFC 6298:
// smoothed RTT and variation from samples, RTO = SRTT + max(G, 4·RTTVAR)
// clamped to [MinRTO, MaxRTO], doubled by each Backoff until ResetBackoff,
// up to MaxRTO or the lower cap set by SetMaxRTO. It also keeps the minimum
// and latest samples, for loss detection.
//
// The zero value is ready to use. An RTT is not safe for concurrent use; one
// session shares one RTT among the senders of its messages.
type RTT struct {
	srtt, rttvar   time.Duration
	minRTT, latest time.Duration
	samples        int
	backoff        int
	maxRTO         time.Duration // cap of the backoff; 0: MaxRTO
}

// SetMaxRTO caps how far Backoff raises the timeout: RTO returns at most d,
// or the timeout without backoff when that is larger (a timer must not fire
// before an ack could plausibly arrive). d is clamped to [MinRTO, MaxRTO];
// d <= 0 restores the default cap, MaxRTO.
//
// A handshake whose deadline is tens of seconds caps its backoff at a second
// or two: at heavy loss, timeouts in a row would otherwise leave it idle for
// 4 to 10 s, long enough to miss the deadline. The cost is small, as each
// expiry resends at most MaxProbes fragments, never the whole message.
func (r *RTT) SetMaxRTO(d time.Duration) {
	if d <= 0 {
		r.maxRTO = 0
		return
	}
	r.maxRTO = min(max(d, MinRTO), MaxRTO)
}

// MaxBackoffRTO returns the cap of the backed-off timeout: the value set by
// SetMaxRTO, or MaxRTO.
func (r *RTT) MaxBackoffRTO() time.Duration {
	if r.maxRTO == 0 {
		return MaxRTO
	}
	return r.maxRTO
}

// Update adds a round-trip sample. Samples must come from fragments sent only
// once (Karn's algorithm); the Sender takes care of that. A negative sample is
// ignored; a zero sample counts as one nanosecond.
func (r *RTT) Update(sample time.Duration) {
	if sample < 0 {
		return
	}
	if sample == 0 {
		sample = 1
	}
	r.latest = sample
	if r.samples == 0 || sample < r.minRTT {
		r.minRTT = sample
	}
	if r.samples == 0 {
		r.srtt = sample
		r.rttvar = sample / 2
	} else {
		d := r.srtt - sample
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + sample) / 8
	}
	r.samples++
}

// base returns the RTO without backoff.
func (r *RTT) base() time.Duration {
	if r.samples == 0 {
		return InitialRTO
	}
	return min(max(r.srtt+max(granularity, 4*r.rttvar), MinRTO), MaxRTO)
}

// RTO returns the current retransmission timeout, backoff included.
func (r *RTT) RTO() time.Duration {
	d := r.base()
	limit := max(r.MaxBackoffRTO(), d)
	for range r.backoff {
		d *= 2
		if d >= limit {
			return limit
		}
	}
	return d
}

// Backoff doubles the retransmission timeout (up to MaxRTO or the cap set by
// SetMaxRTO), after a timeout.
func (r *RTT) Backoff() {
	if r.backoff < maxBackoff {
		r.backoff++
	}
}

// ResetBackoff undoes every Backoff, when acks show progress.
func (r *RTT) ResetBackoff() { r.backoff = 0 }

// Backoffs returns how many times the timeout is currently doubled.
func (r *RTT) Backoffs() int { return r.backoff }

// Smoothed returns the smoothed RTT, or 0 before the first sample.
func (r *RTT) Smoothed() time.Duration { return r.srtt }

// Variation returns the RTT variation (RTTVAR), or 0 before the first
// sample.
func (r *RTT) Variation() time.Duration { return r.rttvar }

// Min returns the smallest sample, or 0 before the first sample.
func (r *RTT) Min() time.Duration { return r.minRTT }

// Latest returns the most recent sample, or 0 before the first sample.
func (r *RTT) Latest() time.Duration { return r.latest }

// Samples returns how many samples have been taken.
func (r *RTT) Samples() int { return r.samples }

// lossDelay is the time threshold of loss detection (as QUIC, RFC 9002
// section 6.1.2): eighths/8 of the larger of the smoothed and latest RTT, or
// of InitialRTO before any sample, and at least the clock granularity.
func (r *RTT) lossDelay(eighths int) time.Duration {
	if r.samples == 0 {
		return InitialRTO * time.Duration(eighths) / 8
	}
	return max(max(r.srtt, r.latest)*time.Duration(eighths)/8, granularity)
}
