package datagram

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// TestFinalFlightResentOnRepeat: when the client's exchange request
// arrives again (it did not get the exchange response), the listener
// resends the unacked fragments of its final flight at once through the
// sender's Probe, at most once per half round trip, and not at all once the
// client has acked the response.
func TestFinalFlightResentOnRepeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := pairConfigs(t, false)
		srv.PrefixRate = -1
		pc := newCapturePC("127.0.0.1:4433")
		l, err := NewListener(pc, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		a := netip.MustParseAddrPort("127.0.0.9:999")
		const cid = 77
		h := driveToFinal(t, l, pc, cli, a, cid)
		ep, frags2, msg3, sid := l.ep, h.frags2, h.msg3, h.sid
		// The response "was lost": the client sends its request again.
		resent := func() [][]byte {
			ep.handle(frags2[0], udp(a))
			synctest.Wait()
			var out [][]byte
			for _, d := range pc.take(a) {
				if f, err := wire.ParseFragment(d); err == nil && f.Message == 3 {
					out = append(out, d)
				}
			}
			return out
		}
		got := resent()
		if len(got) == 0 {
			t.Fatal("the repeated request did not bring the final flight again")
		}
		if again, _, ok := reassemble(t, got, 3); !ok || string(again) != string(msg3) {
			t.Fatalf("resent final flight: ok %v, %d bytes, want the %d-byte response", ok, len(again), len(msg3))
		}
		if d := resent(); len(d) != 0 {
			t.Fatalf("a second repeat within half a round trip brought %d fragments", len(d))
		}
		time.Sleep(time.Second)
		if d := resent(); len(d) == 0 {
			t.Fatal("a repeat a second later brought nothing")
		}
		// Once acked whole, the flight is not sent again.
		ack := wire.Ack{Receiver: sid, Sender: cid, Message: 3, Ranges: []wire.Range{{Start: 0, End: uint32(len(msg3))}}}
		ep.handle(ack.Append(nil), udp(a))
		synctest.Wait()
		pc.take(a)
		time.Sleep(time.Second)
		if d := resent(); len(d) != 0 {
			t.Fatalf("after the ack, a repeat brought %d fragments", len(d))
		}
	})
}
