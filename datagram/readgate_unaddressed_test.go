package datagram

import (
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// TestGateConnectRequestInTurn: the fragments of one connect request read
// by two socket readers are handled in their turn (reader.finish), in
// arrival order, never while the readers open their chunks: the first
// starts the half-open session and the second joins it, where two readers
// handling them at once raced to start it. Taking the chunks changes
// nothing; finishing them makes one half-open session, with no conflict,
// that acknowledges what it got.
func TestGateConnectRequestInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := pairConfigs(t, true)
		pc := newCapturePC("127.0.0.1:4433")
		l, err := NewListener(pc, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		A := netip.MustParseAddrPort("127.0.0.1:5000")
		_, client, _ := testKeys(t)
		_, msg0 := startClient(t, cli)
		const cid = 0x2222
		kid := client.KeyID
		mp := DefaultMaxPayload
		l.ep.handle(fragments(msg0, 0, 0, cid, nil, &kid, mp-wire.FragmentOverhead(false, true))[0], udp(A))
		cr, err := wire.ParseCookieReply(pc.take(A)[0])
		if err != nil {
			t.Fatal(err)
		}
		frags := fragments(msg0, 0, 0, cid, cr.Cookie[:], &kid, mp-wire.FragmentOverhead(true, true))
		if len(frags) < 2 {
			t.Fatalf("connect request in %d fragments; the test needs two", len(frags))
		}

		s := l.ep.socks[0]
		var ra, rb reader
		rb.take(s, chunk(A, frags[1:]...)) // the later chunk, opened first
		ra.take(s, chunk(A, frags[0]))
		if st := l.Stats(); st.HalfOpen != 0 || st.ConnectRequests != 0 {
			t.Fatalf("handled before its turn: %+v", st)
		}
		ra.finish()
		rb.finish()
		synctest.Wait()
		st := l.Stats()
		if st.HalfOpen != 1 || st.Conflicts != 0 || st.CookieBad != 0 {
			t.Fatalf("after both turns: %+v; want one half-open session, no conflict", st)
		}
		if len(pc.take(A)) == 0 {
			t.Fatal("the half-open session answered nothing")
		}
	})
}
