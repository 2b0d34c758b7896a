package netsim

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newNet returns a Network closed at the end of the test.
func newNet(t testing.TB, cfg Config) *Network {
	t.Helper()
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatalf("NewNetwork: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func listen(t testing.TB, n *Network, addr string) net.PacketConn {
	t.Helper()
	c, err := n.Listen(addr)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	return c
}

// checkConservation asserts that every datagram is accounted for once.
func checkConservation(t testing.TB, s Stats) {
	t.Helper()
	in := s.Sent + s.Duplicated
	out := s.TooBig + s.QueueDropped + s.Lost + s.Unreachable + s.RecvDropped + s.Discarded +
		s.WriteErrors + s.Delivered + s.InFlight
	if in != out {
		t.Errorf("conservation broken: Sent+Duplicated = %d, outcomes = %d (%+v)", in, out, s)
	}
}

// seqPayload returns a datagram of size bytes (at least 8) starting with seq.
func seqPayload(seq uint64, size int) []byte {
	p := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(p, seq)
	for i := 8; i < len(p); i++ {
		p[i] = byte(seq*31 + uint64(i)*7)
	}
	return p
}

func seqOf(p []byte) uint64 { return binary.BigEndian.Uint64(p) }

// within asserts that got is within k standard deviations of a binomial
// proportion p over n trials.
func within(t testing.TB, what string, got float64, p float64, n int, k float64) {
	t.Helper()
	sd := math.Sqrt(p * (1 - p) / float64(n))
	if math.Abs(got-p) > k*sd {
		t.Errorf("%s = %.4f, want %.4f ± %.4f (%g sd over %d)", what, got, p, k*sd, k, n)
	} else {
		t.Logf("%s = %.4f (want %.4f ± %.4f)", what, got, p, k*sd)
	}
}

func mustErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one wrapping %v", err, target)
	}
}
