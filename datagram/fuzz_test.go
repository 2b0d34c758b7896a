package datagram

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// fuzzAddrs are the source addresses fuzzed datagrams come from.
var fuzzAddrs = [4]netip.AddrPort{
	netip.MustParseAddrPort("127.0.0.1:5000"),
	netip.MustParseAddrPort("127.0.0.2:5000"),
	netip.MustParseAddrPort("[::1]:5000"),
	netip.MustParseAddrPort("127.0.0.1:5001"),
}

// fuzzDatagram is one datagram of a fuzz input.
type fuzzDatagram struct {
	from  int
	flags byte
	data  []byte
}

// splitFuzz reads a fuzz input as datagrams: source selector (1 byte),
// flags (1 byte), length (2 bytes, little-endian), bytes; at most 64.
func splitFuzz(b []byte) []fuzzDatagram {
	var out []fuzzDatagram
	for len(b) >= 4 && len(out) < 64 {
		n := int(binary.LittleEndian.Uint16(b[2:4]))
		d := fuzzDatagram{from: int(b[0]) % len(fuzzAddrs), flags: b[1]}
		b = b[4:]
		n = min(n, len(b))
		d.data, b = b[:n], b[n:]
		out = append(out, d)
	}
	return out
}

// joinFuzz is the inverse of splitFuzz, for seeds.
func joinFuzz(ds ...fuzzDatagram) []byte {
	var b []byte
	for _, d := range ds {
		b = append(b, byte(d.from), d.flags)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(d.data)))
		b = append(b, d.data...)
	}
	return b
}

// fuzzSeeds returns inputs that reach each path: a cookie request, a
// connect request with a cookie to be made valid (flag 1), an ack and a
// record naming a session (flag 2), a cookie reply, garbage.
func fuzzSeeds(t testing.TB, duplex bool) [][]byte {
	_, cli := pairConfigs(t, duplex)
	cli.Now = func() time.Time { return time.Unix(1_750_000_000, 0) }
	n, err := cli.normalize(false)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := n.clientMachine()
	msg0, _ := m.Start()
	_, client, _ := testKeys(t)
	kid := &client.KeyID
	if !duplex {
		kid = nil
	}
	var zero [wire.CookieSize]byte
	req := fragments(msg0, 0, 0, 42, nil, kid, 1100)
	withCookie := fragments(msg0, 0, 0, 42, zero[:], kid, 1100)
	ack := (&wire.Ack{Receiver: 1, Sender: 42, Message: 1, Ranges: []wire.Range{{Start: 0, End: 100}}}).Append(nil)
	rec := wire.AppendRecord(nil, 1, false, make([]byte, 60))
	cr := (&wire.CookieReply{Echo: 42}).Append(nil)
	frag1 := fragments(make([]byte, 3000), 1, 1, 42, nil, nil, 1100)
	var seeds [][]byte
	var all []fuzzDatagram
	for _, d := range withCookie {
		all = append(all, fuzzDatagram{0, 1, d})
	}
	seeds = append(seeds,
		joinFuzz(fuzzDatagram{0, 0, req[0]}),
		joinFuzz(all...),
		joinFuzz(append(all, fuzzDatagram{0, 2, ack}, fuzzDatagram{0, 2, rec}, fuzzDatagram{1, 2, rec})...),
		joinFuzz(fuzzDatagram{0, 1, cr}, fuzzDatagram{0, 1, frag1[0]}, fuzzDatagram{0, 1, frag1[1]}, fuzzDatagram{0, 1, frag1[2]}),
		joinFuzz(fuzzDatagram{2, 0, []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0}}, fuzzDatagram{3, 0, []byte("garbage")}),
	)
	return seeds
}

// FuzzListenerInput feeds datagrams to a listener's receive path. Flag 1
// makes a fragment's cookie valid for its source (which then counts as
// validated); flag 2 points a datagram at a live session. Invariants: no
// panic, and no unvalidated source ever receives more bytes than it sent.
func FuzzListenerInput(f *testing.F) {
	for _, s := range fuzzSeeds(f, false) {
		f.Add(s)
	}
	srv, _ := pairConfigs(f, false)
	srv.TimeThreshold = -1
	f.Fuzz(func(t *testing.T, b []byte) {
		pc := newCapturePC("127.0.0.1:4433")
		l, err := NewListener(pc, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ep := l.ep
		in := make(map[netip.AddrPort]int)
		validated := make(map[netip.AddrPort]bool)
		for _, d := range splitFuzz(b) {
			src := fuzzAddrs[d.from]
			data := append([]byte(nil), d.data...)
			if d.flags&1 != 0 {
				if fr, err := wire.ParseFragment(data); err == nil && fr.Cookie != nil {
					c := ep.jar.Make(src, fr.Sender, time.Now())
					copy(data[wire.FragmentOverhead(false, false):], c[:])
					validated[src] = true
				}
			}
			if d.flags&2 != 0 && len(data) >= wire.HeaderSize {
				ep.mu.Lock()
				for id := range ep.sessions {
					binary.LittleEndian.PutUint64(data[2:10], id)
					break
				}
				ep.mu.Unlock()
			}
			in[src] += len(data)
			ep.handle(data, udp(src))
		}
		for src, k := range in {
			if out := pc.sentTo(src); !validated[src] && out > k {
				t.Fatalf("unvalidated %v sent %d bytes and received %d", src, k, out)
			}
		}
	})
}

// FuzzClientInput feeds datagrams to a dialing client's receive path (its
// handshake running). Flag 1 addresses a datagram to the client's session
// id (the echo of a cookie reply, or the receiver id). Invariants: no
// panic, and the client sends to nobody but the listener.
func FuzzClientInput(f *testing.F) {
	for _, s := range fuzzSeeds(f, false) {
		f.Add(s)
	}
	_, cli := pairConfigs(f, false)
	cli.TimeThreshold = -1
	server := fuzzAddrs[0]
	f.Fuzz(func(t *testing.T, b []byte) {
		pc := newCapturePC("127.0.0.1:6000")
		ctx, cancel := context.WithCancel(context.Background())
		c, err := newClient(pc, udp(server), cli, ctx)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.clientHandshake(ctx) }()
		for _, d := range splitFuzz(b) {
			data := append([]byte(nil), d.data...)
			if d.flags&1 != 0 {
				if k, _, err := wire.Peek(data); err == nil && k == wire.KindCookie && len(data) >= 26 {
					binary.LittleEndian.PutUint64(data[18:26], c.localID)
				} else if len(data) >= wire.HeaderSize {
					binary.LittleEndian.PutUint64(data[2:10], c.localID)
				}
			}
			c.ep.handle(data, udp(fuzzAddrs[d.from]))
		}
		cancel()
		<-done
		c.Close()
		pc.mu.Lock()
		defer pc.mu.Unlock()
		for to := range pc.bytes {
			if to != server {
				t.Fatalf("client sent to %v", to)
			}
		}
	})
}
