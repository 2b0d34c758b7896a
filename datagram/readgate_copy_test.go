package datagram

import (
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
)

// TestGateCopyOpenedFirstNotNewHighest: a copy of the peer's record,
// re-sent from another address right after the original, is no new
// highest from that address when another socket reader opens it before
// the original: the original, in the earlier chunk, is then refused as a
// duplicate, and the copy accepted in its place must not make its address
// a candidate (no path challenge goes there). Whichever chunk was opened
// first, the record is read once. A copy that arrives before the original
// (the earlier chunk) is a fresh record from elsewhere, and still makes
// its address a candidate: the control that the test tells the cases
// apart.
func TestGateCopyOpenedFirstNotNewHighest(t *testing.T) {
	other := netip.MustParseAddrPort("127.0.0.67:6767")
	for _, copyFirst := range []bool{false, true} {
		for _, bFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("copyArrivedFirst=%v/laterChunkOpenedFirst=%v", copyFirst, bFirst), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := newGatePair(t, 42)
					defer p.close()
					rec := p.seal(t, "record")
					var a, b []batchio.Message
					if copyFirst {
						a, b = chunk(other, rec), chunk(p.peer, rec)
					} else {
						a, b = chunk(p.peer, rec), chunk(other, rec)
					}
					p.gateRun(a, b, bFirst)
					readInOrder(t, p.server, "record")
					p.server.mu.Lock()
					cand := p.server.cand
					q := p.server.queue.len()
					p.server.mu.Unlock()
					st := p.server.Stats()
					if q != 0 || st.RecordsIn != 1 {
						t.Fatalf("the record was queued %d times", st.RecordsIn)
					}
					if !copyFirst && (cand != nil || st.PathChallenges != 0) {
						t.Fatalf("a copy that arrived after the original made %v a candidate (%d challenges)", other, st.PathChallenges)
					}
					if copyFirst && !bFirst && (cand == nil || cand.ap != other) {
						t.Fatalf("a copy that arrived and was opened before the original did not make %v a candidate", other)
					}
				})
			})
		}
	}
}
