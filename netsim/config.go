package netsim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults used when the corresponding Config field is zero.
const (
	// DefaultReorderDelay is how long a reordered datagram is held back when
	// Config.ReorderDelay is zero.
	DefaultReorderDelay = 10 * time.Millisecond
	// DefaultQueueLimit is the bandwidth queue size in bytes when Config.Bandwidth
	// is set and Config.QueueLimit is zero.
	DefaultQueueLimit = 64 << 10
	// DefaultRecvQueue is the receive queue length of an in-memory endpoint, in
	// datagrams, when Config.RecvQueue is zero.
	DefaultRecvQueue = 1024
	// DefaultMaxInFlight is the number of datagrams a link may hold scheduled
	// (delayed, queued or held back) when Config.MaxInFlight is zero.
	DefaultMaxInFlight = 8192
	// MaxDatagramSize is the largest payload WriteTo accepts (the IPv4 UDP limit);
	// longer writes fail with ErrMessageTooLong, as a UDP socket would.
	MaxDatagramSize = 65507
)

// Errors returned by this package. Errors from the conns are *net.OpError values
// wrapping one of these, net.ErrClosed or os.ErrDeadlineExceeded; test them with
// errors.Is.
var (
	// ErrInvalidConfig reports a Config field out of range.
	ErrInvalidConfig = errors.New("netsim: invalid configuration")
	// ErrInvalidAddr reports an address that is not an IP literal and port.
	ErrInvalidAddr = errors.New("netsim: invalid address")
	// ErrAddrInUse reports an address already bound in the Network, or no free
	// port left.
	ErrAddrInUse = errors.New("netsim: address already in use")
	// ErrForeignConn reports a net.PacketConn that was not created by this Network.
	ErrForeignConn = errors.New("netsim: conn does not belong to this network")
	// ErrMessageTooLong reports a write longer than MaxDatagramSize.
	ErrMessageTooLong = errors.New("netsim: message too long")
)

// GilbertElliott is a two-state Markov model of bursty loss. The chain is in a
// good or a bad state; each datagram is lost with probability LossGood or
// LossBad according to the current state, then the chain steps: good to bad
// with probability GoodToBad, bad to good with probability BadToGood. It starts
// in the good state.
//
// In the long run the chain is bad a fraction GoodToBad/(GoodToBad+BadToGood)
// of the time, a bad spell lasts 1/BadToGood datagrams on average, and the loss
// rate is (BadToGood*LossGood + GoodToBad*LossBad)/(GoodToBad+BadToGood). With
// LossGood = 0 and LossBad = 1 it is the simple Gilbert model.
type GilbertElliott struct {
	GoodToBad float64 // P(good -> bad) per datagram
	BadToGood float64 // P(bad -> good) per datagram
	LossGood  float64 // loss probability in the good state
	LossBad   float64 // loss probability in the bad state
}

// LossRate returns the long-run loss rate of the chain on its own.
func (g GilbertElliott) LossRate() float64 {
	s := g.GoodToBad + g.BadToGood
	if s == 0 {
		return g.LossGood // never leaves the good state
	}
	return (g.BadToGood*g.LossGood + g.GoodToBad*g.LossBad) / s
}

// Config describes the faults of a link. The zero Config is a perfect link
// (no loss, no delay, unlimited bandwidth). See the package documentation for
// the order in which the faults apply.
type Config struct {
	// Seed seeds the random sources. For a Network only the seed given to
	// NewNetwork is used (links are seeded from it and their endpoints);
	// Seed in SetDefault and SetLink is ignored. For Wrap it seeds the conn.
	Seed int64

	// Loss is the probability that a datagram is lost, independently of others.
	Loss float64
	// Burst, if not nil, adds bursty loss on top of Loss.
	Burst *GilbertElliott

	// Reorder is the probability that a datagram is held back for ReorderDelay
	// (DefaultReorderDelay if zero) so that later datagrams overtake it.
	Reorder      float64
	ReorderDelay time.Duration

	// Duplicate is the probability that a datagram arrives twice.
	Duplicate float64

	// Delay is the one-way propagation delay; each datagram gets Delay plus a
	// uniform value in [-Jitter, +Jitter] (the total is never negative).
	Delay  time.Duration
	Jitter time.Duration

	// Corrupt is the probability that one random bit of a datagram is flipped.
	Corrupt float64

	// MTU, if positive, is the largest datagram carried; longer ones are dropped.
	MTU int

	// Bandwidth, if positive, limits the link to that many payload bytes per
	// second. QueueLimit is the byte size of the queue in front of it
	// (DefaultQueueLimit if zero); datagrams that do not fit are dropped.
	Bandwidth  int
	QueueLimit int

	// MaxInFlight bounds the datagrams a link holds scheduled (delayed, queued
	// or held back); DefaultMaxInFlight if zero. Excess ones are dropped and
	// counted as QueueDropped.
	MaxInFlight int

	// RecvQueue is the receive queue length, in datagrams, of an in-memory
	// endpoint (DefaultRecvQueue if zero); datagrams arriving at a full queue are
	// dropped (Stats.RecvDropped). A Network reads it from its default Config
	// when an endpoint is created. Unused by Wrap.
	RecvQueue int
}

// Validate reports whether every field is in range: probabilities in [0, 1],
// durations and sizes not negative. The error wraps ErrInvalidConfig.
func (c *Config) Validate() error {
	type prob struct {
		name string
		v    float64
	}
	probs := []prob{{"Loss", c.Loss}, {"Reorder", c.Reorder}, {"Duplicate", c.Duplicate}, {"Corrupt", c.Corrupt}}
	if g := c.Burst; g != nil {
		probs = append(probs, prob{"Burst.GoodToBad", g.GoodToBad}, prob{"Burst.BadToGood", g.BadToGood},
			prob{"Burst.LossGood", g.LossGood}, prob{"Burst.LossBad", g.LossBad})
	}
	for _, p := range probs {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("%w: %s = %v is not a probability in [0, 1]", ErrInvalidConfig, p.name, p.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReorderDelay", c.ReorderDelay}, {"Delay", c.Delay}, {"Jitter", c.Jitter}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s = %v is negative", ErrInvalidConfig, d.name, d.v)
		}
	}
	for _, i := range []struct {
		name string
		v    int
	}{{"MTU", c.MTU}, {"Bandwidth", c.Bandwidth}, {"QueueLimit", c.QueueLimit},
		{"MaxInFlight", c.MaxInFlight}, {"RecvQueue", c.RecvQueue}} {
		if i.v < 0 {
			return fmt.Errorf("%w: %s = %d is negative", ErrInvalidConfig, i.name, i.v)
		}
	}
	return nil
}

func (c *Config) reorderDelay() time.Duration {
	if c.ReorderDelay == 0 {
		return DefaultReorderDelay
	}
	return c.ReorderDelay
}

func (c *Config) queueLimit() int {
	if c.QueueLimit == 0 {
		return DefaultQueueLimit
	}
	return c.QueueLimit
}

func (c *Config) maxInFlight() int {
	if c.MaxInFlight == 0 {
		return DefaultMaxInFlight
	}
	return c.MaxInFlight
}

func (c *Config) recvQueue() int {
	if c.RecvQueue == 0 {
		return DefaultRecvQueue
	}
	return c.RecvQueue
}

// clone returns a deep copy (Burst is copied), so later changes by the caller
// do not reach the simulator.
func (c Config) clone() *Config {
	if c.Burst != nil {
		b := *c.Burst
		c.Burst = &b
	}
	return &c
}
