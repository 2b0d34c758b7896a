package batchio

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestRoundTrip sends the same batches through every pair of sender and
// receiver configurations, from two senders to two receivers, and checks
// that every datagram arrives once with its exact contents, size and
// source address.
func TestRoundTrip(t *testing.T) {
	for _, lb := range loopbacks {
		for _, sc := range configs {
			for _, rcfg := range configs {
				t.Run(lb.network+"/"+sc.name+"->"+rcfg.name, func(t *testing.T) {
					roundTrip(t, lb.network, lb.addr, sc.opts, rcfg.opts)
				})
			}
		}
	}
}

func roundTrip(t *testing.T, network, addr string, sopts, ropts []Option) {
	var rx [2]*net.UDPConn
	var rc [2]*Conn
	var tx [2]*Conn
	var to []netip.AddrPort
	exp := [2]*expect{newExpect(), newExpect()}
	for i := range rx {
		rx[i] = listen(t, network, addr)
		rc[i] = New(rx[i], 0, ropts...)
		to = append(to, addrOf(rx[i]))
	}
	var batches [2][]Message
	for i := range tx {
		uc := listen(t, network, addr)
		tx[i] = New(uc, 32, sopts...)
		batches[i] = plan(i, to)
		for _, m := range batches[i] {
			r := 0
			if m.Addr == to[1] {
				r = 1
			}
			exp[r].add(addrOf(uc), m.Buf)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range rc {
		wg.Go(func() { errs[i] = receive(rc[i], rx[i], exp[i], 16, 1<<16, 10*time.Second) })
	}
	for i := range tx {
		n, err := tx[i].WriteBatch(batches[i])
		if err != nil || n != len(batches[i]) {
			t.Errorf("sender %d: WriteBatch = %d, %v; want %d", i, n, err, len(batches[i]))
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("receiver %d (%v): %v", i, rc[i].Capabilities(), err)
		}
	}
	t.Logf("sender %v, receiver %v", tx[0].Capabilities(), rc[0].Capabilities())
}

// TestCapsOptions checks that options turn facilities off.
func TestCapsOptions(t *testing.T) {
	uc := listen(t, "udp4", "127.0.0.1:0")
	if c := New(uc, 8, WithoutMMsg()).Capabilities(); c != (Caps{}) || c.String() != "loop" {
		t.Errorf("WithoutMMsg: %+v %q", c, c)
	}
	if c := New(uc, 8, WithoutGSO(), WithoutGRO()).Capabilities(); c.GSO || c.GRO {
		t.Errorf("WithoutGSO, WithoutGRO: %+v", c)
	}
	if c := New(opaque{uc}, 8).Capabilities(); c != (Caps{}) {
		t.Errorf("a PacketConn that is not a *net.UDPConn: %+v", c)
	}
	if got := (Caps{MMsg: true, GSO: true, GRO: true}).String(); got != "mmsg+gso+gro" {
		t.Errorf("String = %q", got)
	}
	if got := (Caps{MMsg: true, GRO: true}).String(); got != "mmsg+gro" {
		t.Errorf("String = %q", got)
	}
}

// TestOpaquePacketConn runs batches over a net.PacketConn that is not a
// *net.UDPConn: the loop fallback through ReadFrom and WriteTo.
func TestOpaquePacketConn(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.network, func(t *testing.T) {
			rx := listen(t, lb.network, lb.addr)
			txu := listen(t, lb.network, lb.addr)
			r, w := New(opaque{rx}, 16), New(opaque{txu}, 16)
			msgs := plan(3, []netip.AddrPort{addrOf(rx)})
			e := newExpect()
			for _, m := range msgs {
				e.add(addrOf(txu), m.Buf)
			}
			if n, err := w.WriteBatch(msgs); n != len(msgs) || err != nil {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			if err := receive(r, rx, e, 4, 1<<16, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTruncate checks that a datagram longer than its buffer is cut to the
// buffer, coalesced or not.
func TestTruncate(t *testing.T) {
	for _, rcfg := range configs {
		t.Run(rcfg.name, func(t *testing.T) {
			rx := listen(t, "udp4", "127.0.0.1:0")
			txu := listen(t, "udp4", "127.0.0.1:0")
			r, w := New(rx, 8, rcfg.opts...), New(txu, 8)
			var msgs []Message
			for i := range 5 {
				msgs = append(msgs, Message{Buf: payload(1, i, 1000), Addr: addrOf(rx)})
			}
			if n, err := w.WriteBatch(msgs); n != 5 || err != nil {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			got := make([]Message, 8)
			for i := range got {
				got[i].Buf = make([]byte, 100)
			}
			seen := map[string]bool{}
			for len(seen) < 5 {
				_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := r.ReadBatch(got)
				if err != nil {
					t.Fatalf("ReadBatch after %d: %v", len(seen), err)
				}
				for _, m := range got[:n] {
					if m.N != 100 || m.Addr != addrOf(txu) {
						t.Fatalf("N = %d from %v; want 100 from %v", m.N, m.Addr, addrOf(txu))
					}
					seen[string(m.Buf)] = true
				}
			}
			for _, m := range msgs {
				if !seen[string(m.Buf[:100])] {
					t.Errorf("no datagram starting % x", m.Buf[:8])
				}
			}
		})
	}
}

// TestDeadlineAndClose checks that ReadBatch honours read deadlines, that
// Close wakes a blocked ReadBatch, and that both methods then report
// net.ErrClosed.
func TestDeadlineAndClose(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			uc := listen(t, "udp4", "127.0.0.1:0")
			c := New(uc, 8, cfg.opts...)
			msgs := []Message{{Buf: make([]byte, 1500)}, {Buf: make([]byte, 1500)}}

			start := time.Now()
			if err := uc.SetReadDeadline(start.Add(30 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			n, err := c.ReadBatch(msgs)
			if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ReadBatch past the deadline = %d, %v", n, err)
			}
			if d := time.Since(start); d < 25*time.Millisecond {
				t.Errorf("ReadBatch returned after %v, before the deadline", d)
			}
			if err := uc.SetReadDeadline(time.Time{}); err != nil {
				t.Fatal(err)
			}

			done := make(chan error, 1)
			go func() {
				_, err := c.ReadBatch(msgs)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked ReadBatch after Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not wake ReadBatch")
			}
			if n, err := c.ReadBatch(msgs); n != 0 || !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadBatch after Close = %d, %v", n, err)
			}
			out := []Message{{Buf: []byte("x"), Addr: netip.MustParseAddrPort("127.0.0.1:9")}}
			if n, err := c.WriteBatch(out); n != 0 || !errors.Is(err, net.ErrClosed) {
				t.Errorf("WriteBatch after Close = %d, %v", n, err)
			}
		})
	}
}

// TestEmpty checks that empty batches do nothing.
func TestEmpty(t *testing.T) {
	uc := listen(t, "udp4", "127.0.0.1:0")
	c := New(uc, 8)
	if n, err := c.ReadBatch(nil); n != 0 || err != nil {
		t.Errorf("ReadBatch(nil) = %d, %v", n, err)
	}
	if n, err := c.WriteBatch(nil); n != 0 || err != nil {
		t.Errorf("WriteBatch(nil) = %d, %v", n, err)
	}
}

// TestWriteErrors checks that WriteBatch stops at a datagram it cannot
// send, reports its index, and has sent the ones before it.
func TestWriteErrors(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			rx := listen(t, "udp4", "127.0.0.1:0")
			txu := listen(t, "udp4", "127.0.0.1:0")
			r, w := New(rx, 8), New(txu, 8, cfg.opts...)
			to := addrOf(rx)
			e := newExpect()
			var msgs []Message
			for i := range 3 {
				msgs = append(msgs, Message{Buf: payload(2, i, 800), Addr: to})
				e.add(addrOf(txu), msgs[i].Buf)
			}
			msgs = append(msgs, Message{Buf: payload(2, 3, 800)}, Message{Buf: payload(2, 4, 800), Addr: to})
			n, err := w.WriteBatch(msgs)
			if n != 3 || !errors.Is(err, ErrBadAddr) {
				t.Errorf("WriteBatch with a zero address at 3 = %d, %v", n, err)
			}
			if err := receive(r, rx, e, 8, 2048, 5*time.Second); err != nil {
				t.Error(err)
			}
			v6 := []Message{{Buf: []byte("v6"), Addr: netip.MustParseAddrPort("[::1]:9")}}
			if n, err := w.WriteBatch(v6); n != 0 || err == nil {
				t.Errorf("WriteBatch to IPv6 on an IPv4 socket = %d, %v", n, err)
			}
		})
	}
}

// TestConcurrent writes from several goroutines at once while one reads.
func TestConcurrent(t *testing.T) {
	rx := listen(t, "udp6", "[::1]:0")
	txu := listen(t, "udp6", "[::1]:0")
	r, w := New(rx, 16), New(txu, 16)
	e := newExpect()
	const writers, per = 4, 40
	batches := make([][]Message, writers)
	for g := range writers {
		for i := range per {
			m := Message{Buf: payload(g, i, 200+g*100), Addr: addrOf(rx)}
			batches[g] = append(batches[g], m)
			e.add(addrOf(txu), m.Buf)
		}
	}
	var wg sync.WaitGroup
	var rerr error
	wg.Go(func() { rerr = receive(r, rx, e, 16, 2048, 10*time.Second) })
	for g := range writers {
		wg.Go(func() {
			for i := 0; i < per; i += 10 {
				if n, err := w.WriteBatch(batches[g][i : i+10]); n != 10 || err != nil {
					t.Errorf("writer %d: WriteBatch = %d, %v", g, n, err)
				}
			}
		})
	}
	wg.Wait()
	if rerr != nil {
		t.Fatal(rerr)
	}
}

// TestListenReusePort opens n sockets on one address and has many senders,
// each from its own port, send to it: on Linux every socket must get some
// of the flows, and together they get every datagram.
func TestListenReusePort(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.network, func(t *testing.T) {
			const n, senders, each = 4, 64, 3
			conns, err := ListenReusePort(context.Background(), lb.network, lb.addr, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range conns {
				bigBuffers(t, c.(*net.UDPConn))
				t.Cleanup(func() { _ = c.Close() })
			}
			want := n
			if runtime.GOOS != "linux" {
				want = 1
			}
			if len(conns) != want {
				t.Fatalf("got %d sockets, want %d", len(conns), want)
			}
			to := addrOf(conns[0])
			if to.Port() == 0 {
				t.Fatal("no port")
			}
			for _, c := range conns[1:] {
				if addrOf(c) != to {
					t.Fatalf("socket bound to %v, first to %v", addrOf(c), to)
				}
			}
			e := newExpect()
			for s := range senders {
				uc := listen(t, lb.network, lb.addr)
				var msgs []Message
				for i := range each {
					m := Message{Buf: payload(s, i, 100), Addr: to}
					msgs = append(msgs, m)
					e.add(addrOf(uc), m.Buf)
				}
				if n, err := New(uc, 8).WriteBatch(msgs); n != each || err != nil {
					t.Fatalf("sender %d: WriteBatch = %d, %v", s, n, err)
				}
			}
			got := make([]int, len(conns))
			msgs := make([]Message, 16)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 2048)
			}
			deadline := time.Now().Add(5 * time.Second)
			for i, pc := range conns {
				uc := pc.(*net.UDPConn)
				c := New(uc, 16)
				for {
					_ = uc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					k, err := c.ReadBatch(msgs)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						if e.remaining() == 0 || time.Now().After(deadline) || got[i] > 0 {
							break
						}
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range msgs[:k] {
						if err := e.take(m.Addr, m.Buf[:m.N]); err != nil {
							t.Fatal(err)
						}
					}
					got[i] += k
				}
			}
			t.Logf("datagrams per socket: %v", got)
			if r := e.remaining(); r != 0 {
				t.Errorf("%d of %d datagrams missing", r, senders*each)
			}
			for i, g := range got {
				if g == 0 {
					t.Errorf("socket %d received nothing from %d flows", i, senders)
				}
			}
		})
	}
}

// TestListenReusePortArgs checks argument errors and the n == 0 default.
func TestListenReusePortArgs(t *testing.T) {
	ctx := context.Background()
	if _, err := ListenReusePort(ctx, "tcp", "127.0.0.1:0", 2); !errors.Is(err, ErrNetwork) {
		t.Errorf("tcp: %v", err)
	}
	if _, err := ListenReusePort(ctx, "udp4", "127.0.0.1:0", -1); !errors.Is(err, ErrCount) {
		t.Errorf("n = -1: %v", err)
	}
	if _, err := ListenReusePort(ctx, "udp4", "256.0.0.1:0", 1); err == nil {
		t.Error("bad address accepted")
	}
	want := runtime.GOMAXPROCS(0)
	if runtime.GOOS != "linux" {
		want = 1
	}
	for _, addr := range []string{"127.0.0.1:0", ":0"} {
		conns, err := ListenReusePort(ctx, "udp", addr, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			if c.LocalAddr().String() != conns[0].LocalAddr().String() {
				t.Errorf("%s: bound to %v and %v", addr, c.LocalAddr(), conns[0].LocalAddr())
			}
			_ = c.Close()
		}
		if len(conns) != want {
			t.Errorf("%s: n = 0 gave %d sockets, want %d", addr, len(conns), want)
		}
	}
}

// TestSegments checks the splitter on hand-picked cases.
func TestSegments(t *testing.T) {
	cases := []struct {
		total, seg int
		want       []int
	}{
		{0, 0, []int{0}},
		{0, 1000, []int{0}},
		{999, 1000, []int{999}},
		{1000, 1000, []int{1000}},
		{1001, 1000, []int{1000, 1}},
		{3000, 1000, []int{1000, 1000, 1000}},
		{3250, 1000, []int{1000, 1000, 1000, 250}},
		{5, 1, []int{1, 1, 1, 1, 1}},
		{10, -3, []int{10}},
	}
	for _, c := range cases {
		p := payload(0, c.total, c.total)
		var s segments
		from := netip.MustParseAddrPort("192.0.2.1:7")
		s.reset(p, c.seg, from)
		msgs := make([]Message, 2)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 4096)
		}
		var got []int
		var joined []byte
		for !s.done() {
			n := s.drain(msgs, false)
			if n == 0 {
				t.Fatalf("%d/%d: drain stalled", c.total, c.seg)
			}
			for _, m := range msgs[:n] {
				if m.Addr != from {
					t.Errorf("%d/%d: address %v", c.total, c.seg, m.Addr)
				}
				got = append(got, m.N)
				joined = append(joined, m.Buf[:m.N]...)
			}
		}
		if len(got) != len(c.want) || !bytes.Equal(joined, p) {
			t.Errorf("%d/%d: sizes %v, want %v (contents equal: %v)", c.total, c.seg, got, c.want, bytes.Equal(joined, p))
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%d/%d: sizes %v, want %v", c.total, c.seg, got, c.want)
				break
			}
		}
	}
}

// TestDualStack checks a dual-stack socket: IPv4 senders are reported as
// IPv4 (not IPv4-mapped), and replies to IPv4 addresses reach them.
func TestDualStack(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			ds := listen(t, "udp", ":0")
			if ds.LocalAddr().(*net.UDPAddr).IP.To4() != nil {
				t.Skip("no dual-stack sockets here")
			}
			port := addrOf(ds).Port()
			v4 := listen(t, "udp4", "127.0.0.1:0")
			d, c4 := New(ds, 16, cfg.opts...), New(v4, 16, cfg.opts...)
			to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
			var out []Message
			for i := range 6 {
				out = append(out, Message{Buf: payload(4, i, 900), Addr: to})
			}
			e := newExpect()
			for _, m := range out {
				e.add(addrOf(v4), m.Buf) // as IPv4
			}
			if n, err := c4.WriteBatch(out); n != len(out) || err != nil {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			if err := receive(d, ds, e, 4, 2048, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			back := make([]Message, len(out))
			for i := range back {
				back[i] = Message{Buf: payload(5, i, 900), Addr: addrOf(v4)}
				e.add(to, back[i].Buf)
			}
			if n, err := d.WriteBatch(back); n != len(back) || err != nil {
				t.Fatalf("reply: WriteBatch = %d, %v", n, err)
			}
			if err := receive(c4, v4, e, 4, 2048, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}
