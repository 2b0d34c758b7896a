package batchio

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kernelCaps asks the kernel directly whether a fresh UDP socket takes
// UDP_SEGMENT and UDP_GRO.
func kernelCaps(t *testing.T) (gso, gro bool) {
	t.Helper()
	uc := listen(t, "udp4", "127.0.0.1:0")
	rc, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		_, e := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		gso = e == nil
		gro = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
	}); err != nil {
		t.Fatal(err)
	}
	return gso, gro
}

// needOffload returns two connected-by-address Conns with GSO on the
// sender and GRO on the receiver, or skips when this kernel has neither.
func needOffload(t *testing.T, network, addr string) (rx *net.UDPConn, r *Conn, tx *net.UDPConn, w *Conn) {
	t.Helper()
	gso, gro := kernelCaps(t)
	if !gso || !gro {
		var u unix.Utsname
		_ = unix.Uname(&u)
		t.Skipf("kernel %s: GSO %v, GRO %v", bytes.TrimRight(u.Release[:], "\x00"), gso, gro)
	}
	rx, tx = listen(t, network, addr), listen(t, network, addr)
	return rx, New(rx, 64), tx, New(tx, 64)
}

// TestCapsMatchKernel checks that a Conn uses what the kernel offers.
func TestCapsMatchKernel(t *testing.T) {
	gso, gro := kernelCaps(t)
	for _, lb := range loopbacks {
		c := New(listen(t, lb.network, lb.addr), 32)
		want := Caps{MMsg: true, GSO: gso, GRO: gro}
		if got := c.Capabilities(); got != want {
			t.Errorf("%s: Capabilities = %+v, kernel offers %+v", lb.network, got, want)
		}
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	t.Logf("kernel %s: GSO %v, GRO %v", bytes.TrimRight(u.Release[:], "\x00"), gso, gro)
}

// readExactly reads want datagrams in order with batches of size k.
func readExactly(t *testing.T, uc *net.UDPConn, c *Conn, k, want int) []Message {
	t.Helper()
	got, _ := readExactlyMode(t, uc, c, k, want, false)
	return got
}

// readExactlyMode is readExactly through ReadBatch or ReadBatchView (the
// datagrams copied out of the views); views counts the datagrams that
// came as views into the Conn's buffer.
func readExactlyMode(t *testing.T, uc *net.UDPConn, c *Conn, k, want int, view bool) (got []Message, views int) {
	t.Helper()
	msgs := make([]Message, k)
	bufs := make([][]byte, k)
	for len(got) < want {
		for i := range msgs {
			bufs[i] = make([]byte, 1<<16)
			msgs[i] = Message{Buf: bufs[i]}
		}
		_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
		var n int
		var err error
		if view {
			n, err = c.ReadBatchView(msgs)
		} else {
			n, err = c.ReadBatch(msgs)
		}
		if err != nil {
			t.Fatalf("after %d of %d: %v", len(got), want, err)
		}
		for i, m := range msgs[:n] {
			if m.N > 0 && &m.Buf[0] != &bufs[i][0] {
				views++
			}
			m.Buf = bytes.Clone(m.Buf[:m.N])
			got = append(got, m)
		}
	}
	return got, views
}

// TestGSOGROExact sends runs of equal-size datagrams with a shorter last
// one, which the kernel carries as one GSO super-datagram and delivers
// coalesced; the receiver must cut them back exactly, in order, however
// few messages each ReadBatch is given.
func TestGSOGROExact(t *testing.T) {
	for _, view := range []bool{false, true} {
		t.Run(fmt.Sprintf("view=%v", view), func(t *testing.T) { testGSOGROExact(t, view) })
	}
}

func testGSOGROExact(t *testing.T, view bool) {
	for _, lb := range loopbacks {
		for _, k := range []int{1, 3, 64} {
			rx, r, tx, w := needOffload(t, lb.network, lb.addr)
			var msgs []Message
			for i := range 7 {
				msgs = append(msgs, Message{Buf: payload(5, i, 1000), Addr: addrOf(rx)})
			}
			msgs = append(msgs, Message{Buf: payload(5, 7, 250), Addr: addrOf(rx)})
			coalesced, sends := r.sys.groCoalesced.Load(), w.sys.gsoSends.Load()
			if n, err := w.WriteBatch(msgs); n != len(msgs) || err != nil {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			got, views := readExactlyMode(t, rx, r, k, len(msgs), view)
			if len(got) != len(msgs) {
				t.Fatalf("%s, batches of %d: %d datagrams, want %d", lb.network, k, len(got), len(msgs))
			}
			// Coalesced datagrams come as views with ReadBatchView, and
			// never with ReadBatch.
			if view && views != len(msgs) || !view && views != 0 {
				t.Errorf("%s, batches of %d, view %v: %d of %d datagrams were views", lb.network, k, view, views, len(msgs))
			}
			for i, m := range got {
				if m.N != len(msgs[i].Buf) || !bytes.Equal(m.Buf[:m.N], msgs[i].Buf) || m.Addr != addrOf(tx) {
					t.Errorf("%s, batches of %d: datagram %d: %d bytes from %v, want %d from %v",
						lb.network, k, i, m.N, m.Addr, len(msgs[i].Buf), addrOf(tx))
				}
			}
			if d := w.sys.gsoSends.Load() - sends; d != 1 {
				t.Errorf("%s: %d GSO sends, want 1", lb.network, d)
			}
			if d := r.sys.groCoalesced.Load() - coalesced; d != 1 {
				t.Errorf("%s: %d coalesced payloads, want 1", lb.network, d)
			}
		}
	}
}

// TestGSOLimits checks how runs are cut into GSO sends: at most 64
// datagrams and 65507 bytes each, a new run at every change of address and
// every larger datagram.
func TestGSOLimits(t *testing.T) {
	rx, r, _, w := needOffload(t, "udp4", "127.0.0.1:0")
	to := addrOf(rx)
	cases := []struct {
		name  string
		sizes []int
		sends uint64
	}{
		{"70x900", repeat(70, 900), 2},          // 64 + 6
		{"50x1400", repeat(50, 1400), 2},        // 46 + 4 (bytes)
		{"one", []int{1200}, 0},                 // nothing to coalesce
		{"growing", []int{100, 200, 300}, 0},    // each larger than the one before
		{"short-last", []int{500, 500, 1}, 1},   // one run
		{"empty-inside", []int{500, 0, 500}, 0}, // an empty datagram cuts the run
		{"64x1023", repeat(64, 1023), 1},        // exactly the limits
	}
	for _, c := range cases {
		var msgs []Message
		for i, s := range c.sizes {
			msgs = append(msgs, Message{Buf: payload(6, i, s), Addr: to})
		}
		before := w.sys.gsoSends.Load()
		if n, err := w.WriteBatch(msgs); n != len(msgs) || err != nil {
			t.Fatalf("%s: WriteBatch = %d, %v", c.name, n, err)
		}
		got := readExactly(t, rx, r, 64, len(msgs))
		for i, m := range got {
			if !bytes.Equal(m.Buf[:m.N], msgs[i].Buf) {
				t.Errorf("%s: datagram %d differs (%d bytes, want %d)", c.name, i, m.N, len(msgs[i].Buf))
			}
		}
		if d := w.sys.gsoSends.Load() - before; d != c.sends {
			t.Errorf("%s: %d GSO sends, want %d", c.name, d, c.sends)
		}
	}
}

func repeat(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// TestGSORefused makes the kernel refuse GSO (a socket with UDP checksums
// off, SO_NO_CHECK, cannot segment): the Conn must turn GSO off, resend
// unsegmented, and deliver everything.
func TestGSORefused(t *testing.T) {
	rx, r, txu, w := needOffload(t, "udp4", "127.0.0.1:0")
	rc, err := txu.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	e := newExpect()
	msgs := plan(7, []netip.AddrPort{addrOf(rx)})
	for _, m := range msgs {
		e.add(addrOf(txu), m.Buf)
	}
	if n, err := w.WriteBatch(msgs); n != len(msgs) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	if err := receive(r, rx, e, 64, 1<<16, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if w.Capabilities().GSO {
		t.Error("GSO still on after the kernel refused it")
	}
	if w.sys.gsoRefused.Load() != 1 || w.sys.gsoSends.Load() != 0 {
		t.Errorf("refused %d, sent %d GSO sends; want 1 and 0", w.sys.gsoRefused.Load(), w.sys.gsoSends.Load())
	}
}

// TestGSOErrorNotGSO checks that an error that is not GSO's (a datagram to
// port 0) leaves GSO on and is reported at the right index.
func TestGSOErrorNotGSO(t *testing.T) {
	rx, r, _, w := needOffload(t, "udp4", "127.0.0.1:0")
	bad := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	var msgs []Message
	for i := range 3 {
		msgs = append(msgs, Message{Buf: payload(8, i, 700), Addr: addrOf(rx)})
	}
	for i := range 3 {
		msgs = append(msgs, Message{Buf: payload(8, 3+i, 700), Addr: bad})
	}
	n, err := w.WriteBatch(msgs)
	var errno unix.Errno
	if n != 3 || !errors.As(err, &errno) {
		t.Fatalf("WriteBatch = %d, %v; want 3 and an errno", n, err)
	}
	if !w.Capabilities().GSO || w.sys.gsoRefused.Load() != 1 {
		t.Errorf("GSO %v after %d refusals: an error that is not GSO's turned it off", w.Capabilities().GSO, w.sys.gsoRefused.Load())
	}
	got := readExactly(t, rx, r, 8, 3)
	for i, m := range got {
		if !bytes.Equal(m.Buf[:m.N], msgs[i].Buf) {
			t.Errorf("datagram %d differs", i)
		}
	}
}

// TestGROMixed checks a GRO receiver against a sender without
// GSO, and a receiver without GRO against a GSO sender (the kernel cuts
// the super-datagram itself).
func TestGROMixed(t *testing.T) {
	for _, pair := range [][2][]Option{
		{{WithoutGSO()}, nil},
		{nil, {WithoutGRO()}},
	} {
		rx, txu := listen(t, "udp6", "[::1]:0"), listen(t, "udp6", "[::1]:0")
		w, r := New(txu, 64, pair[0]...), New(rx, 64, pair[1]...)
		var msgs []Message
		for i := range 20 {
			msgs = append(msgs, Message{Buf: payload(9, i, 1300), Addr: addrOf(rx)})
		}
		if n, err := w.WriteBatch(msgs); n != len(msgs) || err != nil {
			t.Fatalf("WriteBatch = %d, %v", n, err)
		}
		got := readExactly(t, rx, r, 64, len(msgs))
		for i, m := range got {
			if !bytes.Equal(m.Buf[:m.N], msgs[i].Buf) || m.Addr != addrOf(txu) {
				t.Errorf("%v -> %v: datagram %d differs", w.Capabilities(), r.Capabilities(), i)
			}
		}
		if r.sys.groCoalesced.Load() != 0 {
			t.Errorf("%v -> %v: coalesced payloads seen", w.Capabilities(), r.Capabilities())
		}
	}
}

// TestSockaddr converts addresses to socket addresses and back.
func TestSockaddr(t *testing.T) {
	s4 := &sysConn{family: unix.AF_INET}
	s6 := &sysConn{family: unix.AF_INET6}
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		s       *sysConn
		in, out string
	}{
		{s4, "127.0.0.1:443", "127.0.0.1:443"},
		{s4, "[::ffff:10.1.2.3]:65535", "10.1.2.3:65535"},
		{s6, "10.1.2.3:1", "10.1.2.3:1"},
		{s6, "[2001:db8::1]:8443", "[2001:db8::1]:8443"},
		{s6, "[fe80::1%1]:53", "[fe80::1%" + lo.Name + "]:53"},
		{s6, "[fe80::1%" + lo.Name + "]:53", "[fe80::1%" + lo.Name + "]:53"},
	}
	for _, c := range cases {
		var sa unix.RawSockaddrInet6
		n, err := c.s.putAddr(&sa, netip.MustParseAddrPort(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := fromSockaddr(&sa, n); got != netip.MustParseAddrPort(c.out) {
			t.Errorf("%s: back as %v, want %s", c.in, got, c.out)
		}
	}
	var sa unix.RawSockaddrInet6
	if _, err := s4.putAddr(&sa, netip.MustParseAddrPort("[2001:db8::1]:1")); !errors.Is(err, ErrBadAddr) {
		t.Errorf("IPv6 on an IPv4 socket: %v", err)
	}
	if _, err := s6.putAddr(&sa, netip.AddrPort{}); !errors.Is(err, ErrBadAddr) {
		t.Errorf("zero address: %v", err)
	}
	sa.Family = unix.AF_UNIX
	if got := fromSockaddr(&sa, unix.SizeofSockaddrInet6); got.IsValid() {
		t.Errorf("AF_UNIX read as %v", got)
	}
}

// TestGROSegmentParse checks the control-message reader on well-formed,
// mixed and malformed input.
func TestGROSegmentParse(t *testing.T) {
	b := make([]byte, 256)
	n := putGRO(b, 1400)
	if seg, err := groSegment(b[:n]); seg != 1400 || err != nil {
		t.Errorf("one UDP_GRO: %d, %v", seg, err)
	}
	if seg, err := groSegment(nil); seg != 0 || err != nil {
		t.Errorf("none: %d, %v", seg, err)
	}
	// Another control message (a UDP_SEGMENT one) first.
	m := putGSO(b, 99)
	m += putGRO(b[m:], 1200)
	if seg, err := groSegment(b[:m]); seg != 1200 || err != nil {
		t.Errorf("after another message: %d, %v", seg, err)
	}
	if seg, err := groSegment(b[:putGSO(b, 99)]); seg != 0 || err != nil {
		t.Errorf("only another message: %d, %v", seg, err)
	}
	for _, bad := range []func([]byte) []byte{
		func(b []byte) []byte { putGRO(b, 1400); return b[:unix.CmsgLen(4)-1] },  // cut short
		func(b []byte) []byte { putGRO(b, 0); return b[:n] },                     // zero segment
		func(b []byte) []byte { putGRO(b, -5); return b[:n] },                    // negative
		func(b []byte) []byte { putGRO(b, 1); b[0] = 3; b[1] = 0; return b[:n] }, // length below the header
	} {
		in := bad(make([]byte, 64))
		if seg, err := groSegment(in); !errors.Is(err, errControl) {
			t.Errorf("malformed % x: %d, %v", in, seg, err)
		}
	}
}

// TestReadDeadlineGRO checks the read deadline on the GRO path.
func TestReadDeadlineGRO(t *testing.T) {
	rx, r, _, _ := needOffload(t, "udp4", "127.0.0.1:0")
	_ = rx.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	n, err := r.ReadBatch(make([]Message, 4))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadBatch = %d, %v", n, err)
	}
}

// TestGROBuffers: WithGROBuffers(2) gives a Conn two 64 KiB receive
// buffers instead of min(batch, 16), and a stream of coalesced sends larger
// than both still arrives whole and in order through them.
func TestGROBuffers(t *testing.T) {
	rx, _, tx, w := needOffload(t, "udp4", "127.0.0.1:0")
	bigBuffers(t, rx)
	r := New(rx, 64, WithGROBuffers(2))
	if len(r.sys.slots) != 2 || len(r.sys.arena) != 2*slotSize {
		t.Fatalf("%d receive buffers, %d bytes; want 2 of %d", len(r.sys.slots), len(r.sys.arena), slotSize)
	}
	if d := New(listen(t, "udp4", "127.0.0.1:0"), 64); len(d.sys.slots) != groSlotsMax {
		t.Fatalf("default: %d receive buffers, want %d", len(d.sys.slots), groSlotsMax)
	}
	var msgs []Message
	for i := range 150 {
		msgs = append(msgs, Message{Buf: payload(9, i, 1000), Addr: addrOf(rx)})
	}
	for sent := 0; sent < len(msgs); {
		n, err := w.WriteBatch(msgs[sent:])
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	got := readExactly(t, rx, r, 64, len(msgs))
	for i, m := range got {
		if m.N != 1000 || !bytes.Equal(m.Buf[:m.N], msgs[i].Buf) || m.Addr != addrOf(tx) {
			t.Fatalf("datagram %d: %d bytes from %v", i, m.N, m.Addr)
		}
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d of %d datagrams", len(got), len(msgs))
	}
}

// TestReadBatchViewWithoutGRO: on a socket that does not coalesce,
// ReadBatchView reads every datagram into the caller's buffers, as
// ReadBatch does.
func TestReadBatchViewWithoutGRO(t *testing.T) {
	rx, tx := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
	r, w := New(rx, 64, WithoutGRO()), New(tx, 64, WithoutGSO())
	var msgs []Message
	for i := range 5 {
		msgs = append(msgs, Message{Buf: payload(9, i, 700), Addr: addrOf(rx)})
	}
	if n, err := w.WriteBatch(msgs); n != len(msgs) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, views := readExactlyMode(t, rx, r, 3, len(msgs), true)
	if views != 0 {
		t.Fatalf("%d of %d datagrams came as views on a socket without GRO", views, len(msgs))
	}
	for i, m := range got {
		if !bytes.Equal(m.Buf, msgs[i].Buf) {
			t.Fatalf("datagram %d differs", i)
		}
	}
}
