package datagram

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/netsim"
)

// TestHandshakeTamperedMessages drives a listener by hand with handshake
// messages an on-path attacker could alter (fragments are not
// authenticated): a connect request that fails the cheap checks ends its
// half-open session at once; an exchange request the machine rejects is
// counted and dropped, and the genuine copy completes the handshake;
// fragments and acks naming the wrong sender or length are dropped and
// counted, never acted upon.
func TestHandshakeTamperedMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := pairConfigs(t, false)
		pc := newCapturePC("127.0.0.1:4433")
		l, err := NewListener(pc, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ep := l.ep
		n, err := cli.normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		mp := DefaultMaxPayload
		plain := mp - wire.FragmentOverhead(false, false)
		withCookie := mp - wire.FragmentOverhead(true, false)
		cookieFor := func(a netip.AddrPort, cid uint64, msg0 []byte) []byte {
			ep.handle(fragments(msg0, 0, 0, cid, nil, nil, plain)[0], udp(a))
			cr, err := wire.ParseCookieReply(pc.take(a)[0])
			if err != nil {
				t.Fatal(err)
			}
			return cr.Cookie[:]
		}

		// A connect request that fails CheckConnectRequest.
		bad := netip.MustParseAddrPort("10.0.0.1:1000")
		m, _ := n.clientMachine()
		msg0, _ := m.Start()
		forged := append([]byte(nil), msg0...)
		forged[0] ^= 0xff // the header's flag
		ck := cookieFor(bad, 7, forged)
		for _, d := range fragments(forged, 0, 0, 7, ck, nil, withCookie) {
			ep.handle(d, udp(bad))
		}
		synctest.Wait()
		if st := l.Stats(); st.Rejected != 1 || st.HalfOpen != 0 || st.Sessions != 0 || st.ConnectRequests != 0 {
			t.Fatalf("forged connect request: %+v", st)
		}
		m.Abort()

		// A genuine handshake whose exchange request is altered first.
		a := netip.MustParseAddrPort("10.0.0.2:1000")
		const cid = 9
		m, _ = n.clientMachine()
		msg0, _ = m.Start()
		ck = cookieFor(a, cid, msg0)
		for _, d := range fragments(msg0, 0, 0, cid, ck, nil, withCookie) {
			ep.handle(d, udp(a))
		}
		synctest.Wait()
		msg1, sid, ok := reassemble(t, pc.take(a), 1)
		if !ok {
			t.Fatal("no connect response")
		}
		// Acks of the connect response from a sender id of 0 or another
		// session's are stale.
		stale := l.Stats().Stale
		for _, sender := range []uint64{0, cid + 1} {
			ack := wire.Ack{Receiver: sid, Sender: sender, Message: 1, Ranges: []wire.Range{{Start: 0, End: uint32(len(msg1))}}}
			ep.handle(ack.Append(nil), udp(a))
		}
		if got := l.Stats().Stale; got != stale+2 {
			t.Fatalf("acks from wrong senders: stale %d -> %d", stale, got)
		}
		msg2, err := m.Handle(msg1)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Abort()
		// A fragment of the exchange request with the wrong length, one
		// from the wrong sender.
		st0 := l.Stats()
		wrongLen := append(append([]byte(nil), msg2...), 0)
		ep.handle(fragments(wrongLen, 2, sid, cid, nil, nil, plain)[0], udp(a))
		ep.handle(fragments(msg2, 2, sid, cid+1, nil, nil, plain)[0], udp(a))
		if st := l.Stats(); st.Malformed != st0.Malformed+1 || st.Stale != st0.Stale+1 {
			t.Fatalf("wrong length and sender: %+v, before %+v", st, st0)
		}
		altered := append([]byte(nil), msg2...)
		altered[0] ^= 0xff // the header's flag
		for _, d := range fragments(altered, 2, sid, cid, nil, nil, plain) {
			ep.handle(d, udp(a))
		}
		synctest.Wait()
		if st := l.Stats(); st.Rejected != 2 || st.HalfOpen != 1 || st.Established != 0 {
			t.Fatalf("altered exchange request: %+v", st)
		}
		pc.take(a)
		// The connect request is again the last message completed: a
		// repeat of it is acked whole, not taken for a stale fragment.
		st0 = l.Stats()
		ep.handle(fragments(msg0, 0, 0, cid, ck, nil, withCookie)[0], udp(a))
		acked := false
		for _, d := range pc.take(a) {
			if ack, err := wire.ParseAck(d); err == nil && ack.Message == 0 && len(ack.Ranges) == 1 && ack.Ranges[0] == (wire.Range{Start: 0, End: uint32(len(msg0))}) {
				acked = true
			}
		}
		if st := l.Stats(); !acked || st.Stale != st0.Stale || st.Duplicates != st0.Duplicates+1 {
			t.Fatalf("repeat of the connect request after the rejection: acked %v, stats %+v, before %+v", acked, st, st0)
		}
		for _, d := range fragments(msg2, 2, sid, cid, nil, nil, plain) {
			ep.handle(d, udp(a))
		}
		synctest.Wait()
		msg3, _, ok := reassemble(t, pc.take(a), 3)
		if !ok {
			t.Fatal("no exchange response to the genuine exchange request")
		}
		if _, err := m.Handle(msg3); err != nil || !m.Done() {
			t.Fatalf("client machine on the exchange response: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := l.AcceptContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if st := s.Stats(); st.HandshakeRejected != 1 {
			t.Fatalf("session stats %+v", st)
		}
	})
}

// alterPC flips the last byte of the first fragment of handshake message
// msg that the socket reads: an on-path attacker's edit.
type alterPC struct {
	net.PacketConn
	msg     uint8
	altered atomic.Bool
}

func (p *alterPC) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := p.PacketConn.ReadFrom(b)
	if err == nil && !p.altered.Load() {
		if f, ferr := wire.ParseFragment(b[:n]); ferr == nil && f.Message == p.msg && len(f.Data) > 0 {
			b[n-1] ^= 1
			p.altered.Store(true)
		}
	}
	return n, a, err
}

// TestClientRejectsAlteredMessage: a client whose machine rejects the
// listener's connect response (altered on the path) fails the dial at
// once, naming the rejection, instead of waiting for its deadline (it
// acked the message whole, so the listener would not send it again); the
// machine is aborted. Control: without the alteration the dial succeeds.
func TestClientRejectsAlteredMessage(t *testing.T) {
	for _, alter := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 81, Delay: 5 * time.Millisecond})
			srv, cli := pairConfigs(t, false)
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				if c, err := l.Accept(); err == nil {
					defer c.Close()
				}
			}()
			pc := listenPC(t, n, "127.0.0.1:0")
			if alter {
				pc = &alterPC{PacketConn: pc, msg: 1}
			}
			start := time.Now()
			c, err := DialPacketConn(t.Context(), pc, l.Addr(), cli)
			took := time.Since(start)
			if !alter {
				if err != nil {
					t.Fatalf("genuine handshake: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("the dial succeeded with an altered connect response")
			}
			var herr *handshake.Error
			if errors.Is(err, ErrHandshakeTimeout) || !errors.As(err, &herr) || took > time.Second {
				t.Fatalf("dial after %v: %v; want a handshake error at once", took, err)
			}
			t.Logf("dial failed after %v: %v", took, err)
		})
	}
}
