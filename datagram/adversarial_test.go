package datagram

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

func udp(a netip.AddrPort) net.Addr { return net.UDPAddrFromAddrPort(a) }

// countingRand counts the bytes drawn from crypto randomness: every key
// generation and signature of the handshake draws from Config.Rand.
type countingRand struct {
	n atomic.Int64
	r io.Reader
}

func (c *countingRand) Read(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return c.r.Read(b)
}

// startClient makes cli's client handshake machine and starts it: the
// machine and its connect request, for a test that drives a listener by
// hand.
func startClient(t *testing.T, cli *Config) (handshake.Machine, []byte) {
	t.Helper()
	n, err := cli.normalize(false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.clientMachine()
	if err != nil {
		t.Fatal(err)
	}
	msg0, err := m.Start()
	if err != nil {
		t.Fatal(err)
	}
	return m, msg0
}

// TestDrivenHandshakeAdversarial drives a QSMD listener datagram by
// datagram and checks, each time with a positive control, that: a cookie
// is answered with no more bytes than the request; a cookie stolen by
// another address makes no state; an unknown initiator key makes no state;
// conflicting fragment copies are dropped and counted; fragments, acks and
// records from another address than the validated one are ignored;
// unauthenticated close and error packets are ignored; replays are dropped.
func TestDrivenHandshakeAdversarial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, cli := pairConfigs(t, true)
		_, client, other := testKeys(t)
		pc := newCapturePC("127.0.0.1:4433")
		l, err := NewListener(pc, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ep := l.ep
		A := netip.MustParseAddrPort("127.0.0.1:5000")
		B := netip.MustParseAddrPort("127.0.0.66:5000")
		m, msg0 := startClient(t, cli)
		const cid = 0x1111
		kid := client.KeyID
		mp := DefaultMaxPayload

		// 1. No cookie: a cookie reply, no larger than the request.
		noCookie := fragments(msg0, 0, 0, cid, nil, &kid, mp-wire.FragmentOverhead(false, true))
		ep.handle(noCookie[0], udp(A))
		got := pc.take(A)
		if len(got) != 1 || len(got[0]) > len(noCookie[0]) {
			t.Fatalf("cookie request answered with %d datagrams", len(got))
		}
		cr, err := wire.ParseCookieReply(got[0])
		if err != nil || cr.Echo != cid {
			t.Fatalf("cookie reply %+v, %v", cr, err)
		}
		withCookie := fragments(msg0, 0, 0, cid, cr.Cookie[:], &kid, mp-wire.FragmentOverhead(true, true))
		if len(withCookie) < 3 {
			t.Fatalf("QSMD connect request in %d fragments; the test needs several", len(withCookie))
		}

		// 2. The cookie used from another address: no state.
		ep.handle(withCookie[0], udp(B))
		if st := l.Stats(); st.CookieBad != 1 || st.HalfOpen != 0 {
			t.Fatalf("stolen cookie: %+v", st)
		}
		for _, d := range pc.take(B) {
			if _, err := wire.ParseCookieReply(d); err != nil {
				t.Fatalf("something other than a cookie reply sent to B")
			}
		}
		// 2b. An unknown initiator key: no state either.
		otherID := other.KeyID
		unknown := fragments(msg0, 0, 0, cid+1, nil, &otherID, mp-wire.FragmentOverhead(false, true))
		ep.handle(unknown[0], udp(A))
		cr2, _ := wire.ParseCookieReply(pc.take(A)[0])
		unknown = fragments(msg0, 0, 0, cid+1, cr2.Cookie[:], &otherID, mp-wire.FragmentOverhead(true, true))
		ep.handle(unknown[0], udp(A))
		if st := l.Stats(); st.UnknownKey != 1 || st.HalfOpen != 0 || len(pc.take(A)) != 0 {
			t.Fatalf("unknown initiator key: %+v", st)
		}

		// 3. The cookie from its own address: a half-open session and an ack.
		ep.handle(withCookie[0], udp(A))
		if st := l.Stats(); st.HalfOpen != 1 {
			t.Fatalf("valid cookie: %+v", st)
		}
		ack, err := wire.ParseAck(pc.take(A)[0])
		if err != nil || ack.Receiver != cid || len(ack.Ranges) != 1 || ack.Ranges[0].Start != 0 {
			t.Fatalf("ack %+v, %v", ack, err)
		}
		sid := ack.Sender
		first := ack.Ranges[0]

		// 4. A conflicting copy is dropped and counted; the bytes held stay.
		bad := append([]byte(nil), withCookie[0]...)
		bad[len(bad)-1] ^= 1
		ep.handle(bad, udp(A))
		if st := l.Stats(); st.Conflicts != 1 {
			t.Fatalf("conflict not counted: %+v", st)
		}
		if a, _ := wire.ParseAck(pc.take(A)[0]); len(a.Ranges) != 1 || a.Ranges[0] != first {
			t.Fatalf("ack after a conflict: %+v", a)
		}

		// 5. A fragment naming the session from another address is ignored.
		rest := fragments(msg0, 0, sid, cid, cr.Cookie[:], &kid, mp-wire.FragmentOverhead(true, true))
		before := l.Stats().WrongAddress
		ep.handle(rest[1], udp(B))
		if l.Stats().WrongAddress != before+1 || pc.sentTo(B) != 0 && len(pc.take(B)) != 0 {
			t.Fatalf("forged fragment from B not ignored: %+v", l.Stats())
		}
		// Positive control: the same fragment from A is taken.
		ep.handle(rest[1], udp(A))
		if a, _ := wire.ParseAck(pc.take(A)[0]); a.Ranges[0].End <= first.End {
			t.Fatalf("fragment from A not taken: %+v", a)
		}
		for _, d := range rest[2:] {
			ep.handle(d, udp(A))
		}
		synctest.Wait() // the worker generates and signs
		if st := l.Stats(); st.ConnectRequests != 1 {
			t.Fatalf("connect request not processed: %+v", st)
		}
		msg1, sender, ok := reassemble(t, pc.take(A), 1)
		if !ok || sender != sid {
			t.Fatalf("no connect response")
		}

		// 6. A forged ack from B does not stop the retransmissions; the
		// real one from A does.
		full := wire.Ack{Receiver: sid, Sender: cid, Message: 1, Ranges: []wire.Range{{Start: 0, End: uint32(len(msg1))}}}
		before = l.Stats().WrongAddress
		ep.handle(full.Append(nil), udp(B))
		if l.Stats().WrongAddress != before+1 {
			t.Fatalf("forged ack not counted")
		}
		time.Sleep(3 * time.Second)
		if k := countFragments(pc.take(A), 1); k == 0 {
			t.Fatalf("connect response not retransmitted after a forged ack")
		}
		ep.handle(full.Append(nil), udp(A))
		time.Sleep(5 * time.Second)
		if dgs := pc.take(A); len(dgs) != 0 {
			t.Fatalf("%d datagrams after the real ack", len(dgs))
		}

		// The rest of the handshake, from A.
		msg2, err := m.Handle(msg1)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range fragments(msg2, 2, sid, cid, nil, nil, mp-wire.FragmentOverhead(false, false)) {
			ep.handle(d, udp(A))
		}
		synctest.Wait()
		msg3, _, ok := reassemble(t, pc.take(A), 3)
		if !ok {
			t.Fatal("no exchange response")
		}
		msg4, err := m.Handle(msg3)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range fragments(msg4, 4, sid, cid, nil, nil, mp-wire.FragmentOverhead(false, false)) {
			ep.handle(d, udp(A))
		}
		synctest.Wait()
		msg5, _, ok := reassemble(t, pc.take(A), 5)
		if !ok {
			t.Fatal("no establish response")
		}
		if _, err := m.Handle(msg5); err != nil || !m.Done() {
			t.Fatalf("client machine: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := l.AcceptContext(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// 7. Records: from B ignored, from A accepted, a replay dropped.
		sess := m.Session()
		key, base, err := record.DatagramKeys(true, sess.DatagramSecret, record.ClientToServer, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ctr atomic.Uint64
		sealer := record.NewSealer(key, base, &ctr)
		prefix := wire.RecordPrefix(sid, false)
		pkt, _, err := sealer.Seal(prefix[:], prefix[:], record.FlagEncryptedMessage, []byte("data"), record.UnixTime(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		// A fresh record is authentic wherever it comes from: delivered,
		// and B becomes a candidate address that gets one encrypted path
		// challenge (no more than 3x what it sent) while the session's
		// address stays A, since B cannot answer.
		pc.take(A)
		ep.handle(pkt, udp(B))
		deadlineRead(t, s, "data")
		toB := pc.take(B)
		if len(toB) != 1 || len(toB[0]) > 3*len(pkt) || s.Stats().PathChallenges != 1 {
			t.Fatalf("candidate B got %d datagrams (%v), stats %+v", len(toB), toB, s.Stats())
		}
		if s.RemoteAddr().String() != A.String() {
			t.Fatalf("address moved to %v without validation", s.RemoteAddr())
		}
		ep.handle(pkt, udp(A))
		if d := s.Stats().Drops; d.Duplicate != 1 {
			t.Fatalf("replay not dropped: %+v", d)
		}
		// Unauthenticated close (0x03) and error (0x14) packets, in a record
		// envelope, fail authentication and change nothing.
		for _, f := range []record.Flag{record.FlagConnectionTerminate, record.FlagErrorCondition} {
			h := record.Header{Flag: f, MsgLen: 1, Sequence: 100, UTCTime: record.UnixTime(time.Now())}
			plain := append(h.Append(prefix[:len(prefix):len(prefix)]), 0)
			ep.handle(plain, udp(A))
		}
		if d := s.Stats().Drops; d.Auth != 2 {
			t.Fatalf("plaintext close/error not dropped: %+v", d)
		}
		pkt2, _, _ := sealer.Seal(prefix[:], prefix[:], record.FlagEncryptedMessage, []byte("still open"), record.UnixTime(time.Now()))
		ep.handle(pkt2, udp(A))
		deadlineRead(t, s, "still open")
		// Records still go to A, and B got nothing more.
		if _, err := s.Write([]byte("to A")); err != nil {
			t.Fatal(err)
		}
		if got := pc.take(A); len(got) != 1 {
			t.Fatalf("%d datagrams to A after a write", len(got))
		}
		if got := pc.take(B); len(got) != 0 {
			t.Fatalf("%d more datagrams to B", len(got))
		}
		s.Close()
	})
}

// TestAmplificationLimit sends fuzzed datagrams of every kind from many
// spoofed source addresses and checks that no address that has not echoed
// a cookie ever receives more bytes than it sent. Positive control: the
// listener does answer (cookie replies), and one legitimate client on the
// same listener completes the cookie exchange and gets its acks.
func TestAmplificationLimit(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		t.Run(fmt.Sprintf("duplex=%v", duplex), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, cli := pairConfigs(t, duplex)
				pc := newCapturePC("127.0.0.1:4433")
				l, err := NewListener(pc, srv)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				ep := l.ep
				_, client, _ := testKeys(t)
				n, _ := cli.normalize(false)
				m, _ := n.clientMachine()
				msg0, _ := m.Start()
				kid := client.KeyID

				// A legitimate client at L gets a session, so that datagrams
				// naming a real session id are part of the mix.
				L := netip.MustParseAddrPort("127.0.0.1:6000")
				const lid = 0x2222
				req := fragments(msg0, 0, 0, lid, nil, &kid, 1200-wire.FragmentOverhead(false, true))
				ep.handle(req[0], udp(L))
				cr, err := wire.ParseCookieReply(pc.take(L)[0])
				if err != nil {
					t.Fatal(err)
				}
				good := fragments(msg0, 0, 0, lid, cr.Cookie[:], &kid, 1200-wire.FragmentOverhead(true, true))
				ep.handle(good[0], udp(L))
				// The ack; the worker may already have sent the connect
				// response's fragments too.
				var ack []byte
				got := pc.take(L)
				for _, d := range got {
					if k, _, err := wire.Peek(d); err == nil && k == wire.KindAck {
						ack = d
						break
					}
				}
				if ack == nil {
					t.Fatalf("legitimate client got %d datagrams, none an ack", len(got))
				}
				acks := [][]byte{ack}
				a, _ := wire.ParseAck(ack)
				sid := a.Sender

				// Templates of every kind.
				rec := wire.AppendRecord(nil, sid, false, make([]byte, 80))
				templates := [][]byte{
					req[0], good[0], acks[0], rec, wire.AppendRecord(nil, sid, true, make([]byte, 30)),
					(&wire.CookieReply{Echo: 5}).Append(nil),
					(&wire.Ack{Receiver: sid, Sender: lid, Message: 1, Ranges: []wire.Range{{Start: 0, End: 9}}}).Append(nil),
				}
				templates = append(templates, fragments(msg0, 0, sid, lid, cr.Cookie[:], &kid, 1200-wire.FragmentOverhead(true, true))...)
				rng := rand.New(rand.NewPCG(1, 2))
				in := make(map[netip.AddrPort]int)
				for i := range 20000 {
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(rng.IntN(40)), byte(1 + rng.IntN(200))}), uint16(1000+rng.IntN(4)))
					d := mutate(rng, templates[rng.IntN(len(templates))])
					in[src] += len(d)
					ep.handle(d, udp(src))
					if i%1000 == 0 {
						synctest.Wait()
					}
				}
				synctest.Wait()
				answered := 0
				for src, k := range in {
					out := pc.sentTo(src)
					if out > k {
						t.Errorf("%v sent %d bytes and received %d", src, k, out)
					}
					if out > 0 {
						answered++
					}
				}
				st := l.Stats()
				t.Logf("%d spoofed sources, %d answered (cookie replies only); listener %+v", len(in), answered, st)
				if answered == 0 || st.CookiesSent < 2 {
					t.Fatalf("the listener answered nobody: the check shows nothing")
				}
				// Only the legitimate client's request is ever processed
				// (QSMS's fits one fragment; QSMD's is still incomplete).
				want := uint64(0)
				if len(good) == 1 {
					want = 1
				}
				if st.ConnectRequests != want {
					t.Fatalf("%d connect requests processed, want %d (the legitimate one)", st.ConnectRequests, want)
				}
			})
		})
	}
}

// mutate returns a fuzzed copy of d: bit flips, truncation, extension,
// a changed kind or ids, or random bytes.
func mutate(rng *rand.Rand, d []byte) []byte {
	b := append([]byte(nil), d...)
	switch rng.IntN(8) {
	case 0: // unchanged (a replay from a spoofed address)
	case 1:
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(b))
			b[i] ^= byte(1 << rng.IntN(8))
		}
	case 2:
		b = b[:rng.IntN(len(b))]
	case 3:
		b = append(b, make([]byte, rng.IntN(1200))...)
	case 4:
		if len(b) > 1 {
			b[1] = byte(rng.IntN(6)) | byte(rng.IntN(2))<<7
		}
	case 5:
		if len(b) >= 18 {
			for i := 2; i < 18; i++ {
				b[i] = byte(rng.Uint32())
			}
		}
	case 6:
		b = make([]byte, rng.IntN(1300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if len(b) > 1 {
			b[0] = wire.Version
		}
	case 7: // a different cookie
		if len(b) > 60 {
			for i := 28; i < 60; i++ {
				b[i] = byte(rng.Uint32())
			}
		}
	}
	return b
}

// TestSpoofedConnectFlood floods a listener with connect requests from
// spoofed addresses (without cookies, and with a cookie obtained at another
// address) while a legitimate client connects: the flood causes no key
// generation or signing (no handshake randomness is drawn), the client
// connects, and only its request is processed.
func TestSpoofedConnectFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 9, Delay: 2 * time.Millisecond, RecvQueue: 1 << 15})
		srv, cli := pairConfigs(t, false)
		cr := &countingRand{r: srv.Rand}
		if cr.r == nil {
			cr.r = cryptoReader()
		}
		srv.Rand = cr
		l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		nc, _ := cli.normalize(false)
		m, _ := nc.clientMachine()
		msg0, _ := m.Start()

		// One attacker address obtains a real cookie for itself.
		thief := listenPC(t, n, "127.0.2.1:7000")
		req := fragments(msg0, 0, 0, 77, nil, nil, 1100)[0]
		thief.WriteTo(req, l.Addr())
		buf := make([]byte, 2000)
		thief.SetReadDeadline(time.Now().Add(time.Second))
		k, _, err := thief.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		stolen, err := wire.ParseCookieReply(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		withStolen := fragments(msg0, 0, 0, 77, stolen.Cookie[:], nil, 1100)[0]

		var spoofers []net.PacketConn
		for i := range 100 {
			spoofers = append(spoofers, listenPC(t, n, fmt.Sprintf("127.0.%d.%d:9000", 10+i/50, 1+i%50)))
		}
		stop := make(chan struct{})
		flooded := make(chan int)
		go func() {
			sent := 0
			for round := 0; ; round++ {
				select {
				case <-stop:
					flooded <- sent
					return
				default:
				}
				for i, s := range spoofers {
					d := req
					if (round+i)%2 == 0 {
						d = withStolen
					}
					s.WriteTo(d, l.Addr())
					sent++
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		time.Sleep(200 * time.Millisecond)
		if drawn := cr.n.Load(); drawn != 0 {
			t.Fatalf("the flood drew %d bytes of handshake randomness", drawn)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() {
			if s, err := l.AcceptContext(ctx); err == nil {
				s.Close()
			}
		}()
		c, err := DialPacketConn(ctx, listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
		close(stop)
		sent := <-flooded
		if err != nil {
			t.Fatalf("legitimate client during the flood: %v", err)
		}
		c.Close()
		st := l.Stats()
		t.Logf("%d spoofed connect requests; listener %+v; handshake randomness drawn %d bytes", sent, st, cr.n.Load())
		if st.ConnectRequests != 1 || st.Established != 1 {
			t.Fatalf("connect requests processed %d, established %d; want 1 and 1", st.ConnectRequests, st.Established)
		}
		if cr.n.Load() == 0 {
			t.Fatal("positive control: the legitimate handshake drew no randomness")
		}
		if st.CookieBad == 0 || st.CookiesSent < uint64(sent)/2 {
			t.Fatalf("the flood was not seen: %+v", st)
		}
	})
}

// countFragments counts the fragment datagrams of message idx.
func countFragments(dgs [][]byte, idx uint8) int {
	n := 0
	for _, d := range dgs {
		if f, err := wire.ParseFragment(d); err == nil && f.Message == idx {
			n++
		}
	}
	return n
}
