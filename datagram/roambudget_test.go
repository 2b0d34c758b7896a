package datagram

import (
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// TestCandidateChallengedAgainWithMoreBytes: a candidate address whose
// challenge budget (3x what came from it) ran out is challenged again as
// soon as more authentic bytes from it raise the budget, as it would be
// before its first challenge; the bound still holds, and its answer makes
// it the peer's address.
func TestCandidateChallengedAgainWithMoreBytes(t *testing.T) {
	c, pc := fuzzSession(t)
	defer c.Close()
	from := fuzzPeer[1]
	size := envelopeSize + record.HeaderSize + 1 + c.cfg.tagSize // a keep-alive
	in := 0
	feed := func(flag record.Flag, pt []byte, newHighest bool) {
		in += size
		c.acceptLocked(authRecord{flag: flag, buf: bufOf(pt), from: from, size: size,
			newHighest: newHighest, epoch: c.rk.latest}, c.ep.now())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	feed(flagKeepAlive, []byte{keepAlivePlain}, true)
	p := c.cand
	if p == nil || p.sent != 1 {
		t.Fatalf("candidate %+v after a record from a new address", p)
	}
	// The timer resends until the budget is spent.
	for i := 0; i < 4 && p.nextAt != 0; i++ {
		c.pathTimerLocked(p.nextAt)
	}
	if p.nextAt != 0 {
		t.Fatalf("budget never ran out: %d challenges", p.sent)
	}
	spent := p.sent
	if out := pc.sentTo(from); out > amplificationFactor*in || out+c.challengeSize() <= amplificationFactor*in {
		t.Fatalf("sent %d bytes for %d received before the budget ran out", out, in)
	}
	// More bytes from the candidate: its budget allows another challenge.
	feed(flagKeepAlive, []byte{keepAlivePlain}, false)
	if p.sent != spent+1 || p.nextAt == 0 {
		t.Fatalf("%d challenges (%d before) after more bytes came from the candidate", p.sent, spent)
	}
	if out := pc.sentTo(from); out > amplificationFactor*in {
		t.Fatalf("sent %d bytes for %d received", out, in)
	}
	if got := c.st.challenges.Load(); got != uint64(p.sent) {
		t.Fatalf("PathChallenges %d, %d sent", got, p.sent)
	}
	feed(flagPathResponse, append([]byte(nil), p.data[:]...), false)
	if c.peerAddr() != from || c.cand != nil || c.st.migrations.Load() != 1 {
		t.Fatalf("the answer did not move the peer: %v", c.peerAddr())
	}
}
