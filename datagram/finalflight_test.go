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
		n, err := cli.normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := n.clientMachine()
		msg0, _ := m.Start()
		ep := l.ep
		mp := DefaultMaxPayload
		plain := mp - wire.FragmentOverhead(false, false)
		ep.handle(fragments(msg0, 0, 0, cid, nil, nil, plain)[0], udp(a))
		cr, err := wire.ParseCookieReply(pc.take(a)[0])
		if err != nil {
			t.Fatal(err)
		}
		ep.handle(fragments(msg0, 0, 0, cid, cr.Cookie[:], nil, mp-wire.FragmentOverhead(true, false))[0], udp(a))
		synctest.Wait()
		msg1, sid, ok := reassemble(t, pc.take(a), 1)
		if !ok {
			t.Fatal("no connect response")
		}
		msg2, err := m.Handle(msg1)
		if err != nil {
			t.Fatal(err)
		}
		frags2 := fragments(msg2, 2, sid, cid, nil, nil, plain)
		for _, d := range frags2 {
			ep.handle(d, udp(a))
		}
		synctest.Wait()
		msg3, _, ok := reassemble(t, pc.take(a), 3)
		if !ok {
			t.Fatal("no exchange response")
		}
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
