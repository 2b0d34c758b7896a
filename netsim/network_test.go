package netsim

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestListenAddresses(t *testing.T) {
	n := newNet(t, Config{})
	for _, tc := range []struct{ in, want string }{
		{":0", "127.0.0.1:49152"},
		{"127.0.0.1:0", "127.0.0.1:49153"},
		{"127.0.0.1:4000", "127.0.0.1:4000"},
		{"0.0.0.0:5000", "127.0.0.1:5000"},
		{"127.0.0.7:0", "127.0.0.7:49152"},
		{"[::]:0", "[::1]:49152"},
		{"[::1]:6000", "[::1]:6000"},
		{"[::ffff:127.0.0.1]:6001", "127.0.0.1:6001"},
		{"10.1.2.3:53", "10.1.2.3:53"},
	} {
		c, err := n.Listen(tc.in)
		if err != nil {
			t.Fatalf("Listen(%q): %v", tc.in, err)
		}
		if got := c.LocalAddr().String(); got != tc.want {
			t.Errorf("Listen(%q) bound %s, want %s", tc.in, got, tc.want)
		}
		if _, ok := c.LocalAddr().(*net.UDPAddr); !ok || c.LocalAddr().Network() != "udp" {
			t.Errorf("LocalAddr is %T %q, want *net.UDPAddr", c.LocalAddr(), c.LocalAddr().Network())
		}
	}
	for _, bad := range []string{"", "localhost:1", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:http",
		"[fe80::1%eth0]:1", "1.2.3:4", "127.0.0.1:-1"} {
		_, err := n.Listen(bad)
		mustErrIs(t, err, ErrInvalidAddr)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "listen" {
			t.Errorf("Listen(%q) error %v is not a listen *net.OpError", bad, err)
		}
	}
	_, err := n.Listen("127.0.0.1:4000")
	mustErrIs(t, err, ErrAddrInUse)
}

func TestPortExhaustion(t *testing.T) {
	n := newNet(t, Config{})
	for range lastEphemeralPort - firstEphemeralPort + 1 {
		if _, err := n.Listen("127.0.0.9:0"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := n.Listen("127.0.0.9:0")
	mustErrIs(t, err, ErrAddrInUse)
	if _, err := n.Listen("127.0.0.9:80"); err != nil {
		t.Fatalf("fixed port outside the ephemeral range: %v", err)
	}
}

func TestConnInterfaces(t *testing.T) {
	n := newNet(t, Config{})
	c := listen(t, n, ":0")
	if _, ok := c.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		t.Error("in-memory conn implements SyscallConn")
	}
	b, ok := c.(interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	})
	if !ok {
		t.Fatal("in-memory conn lacks SetReadBuffer/SetWriteBuffer")
	}
	if b.SetReadBuffer(7<<20) != nil || b.SetWriteBuffer(7<<20) != nil {
		t.Error("buffer setters return an error")
	}
}

func TestRoundTripAndSource(t *testing.T) {
	n := newNet(t, Config{})
	a, b := listen(t, n, "127.0.0.1:1000"), listen(t, n, "127.0.0.2:2000")
	if k, err := a.WriteTo([]byte("ping"), b.LocalAddr()); err != nil || k != 4 {
		t.Fatalf("WriteTo = %d, %v", k, err)
	}
	buf := make([]byte, 100)
	k, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "ping" || from.String() != "127.0.0.1:1000" {
		t.Fatalf("ReadFrom = %q from %v, %v", buf[:k], from, err)
	}
	// Reply to the address we saw, given as another net.Addr type.
	b.WriteTo([]byte("pong"), fakeAddr(from.String()))
	k, from, _ = a.ReadFrom(buf)
	if string(buf[:k]) != "pong" || from.String() != "127.0.0.2:2000" {
		t.Fatalf("reply %q from %v", buf[:k], from)
	}
	// Writing to nobody is not an error; it is counted.
	if _, err := a.WriteTo([]byte("void"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Fatal(err)
	}
	if st := n.Stats(); st.Unreachable != 1 || st.Sent != 3 || st.Delivered != 2 {
		t.Fatalf("%+v", st)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "udp" }
func (a fakeAddr) String() string  { return string(a) }

func TestWriteErrors(t *testing.T) {
	n := newNet(t, Config{})
	a := listen(t, n, ":0")
	for _, addr := range []net.Addr{nil, (*net.UDPAddr)(nil), &net.UDPAddr{}, fakeAddr("nonsense")} {
		_, err := a.WriteTo([]byte("x"), addr)
		mustErrIs(t, err, ErrInvalidAddr)
	}
	_, err := a.WriteTo(make([]byte, MaxDatagramSize+1), a.LocalAddr())
	mustErrIs(t, err, ErrMessageTooLong)
	if k, err := a.WriteTo(make([]byte, MaxDatagramSize), a.LocalAddr()); err != nil || k != MaxDatagramSize {
		t.Fatalf("largest datagram: %d, %v", k, err)
	}
}

func TestShortBufferTruncates(t *testing.T) {
	n := newNet(t, Config{})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	a.WriteTo([]byte("0123456789"), b.LocalAddr())
	a.WriteTo([]byte("abc"), b.LocalAddr())
	buf := make([]byte, 4)
	k, _, err := b.ReadFrom(buf)
	if err != nil || k != 4 || string(buf) != "0123" {
		t.Fatalf("short read = %d %q %v", k, buf[:k], err)
	}
	// The rest of the first datagram is gone, as with UDP.
	k, _, _ = b.ReadFrom(buf)
	if string(buf[:k]) != "abc" {
		t.Fatalf("next read %q, want abc", buf[:k])
	}
}

func TestWriteCopiesBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Delay: time.Millisecond})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		p := []byte("original")
		a.WriteTo(p, b.LocalAddr())
		copy(p, "CHANGED!")
		buf := make([]byte, 20)
		k, _, _ := b.ReadFrom(buf)
		if string(buf[:k]) != "original" {
			t.Fatalf("received %q: WriteTo kept the caller's buffer", buf[:k])
		}
		// And the reader's buffer is its own: duplicates do not alias it.
		n.SetDefault(Config{Duplicate: 1})
		a.WriteTo([]byte("dup"), b.LocalAddr())
		k, _, _ = b.ReadFrom(buf)
		copy(buf, "XXX")
		k2, _, _ := b.ReadFrom(buf[10:])
		if string(buf[10:10+k2]) != "dup" || k != 3 {
			t.Fatalf("duplicate reads %q", buf[10:10+k2])
		}
	})
}

func TestReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		buf := make([]byte, 10)

		// A deadline in the past fails at once.
		b.SetReadDeadline(time.Now().Add(-time.Second))
		_, _, err := b.ReadFrom(buf)
		checkTimeout(t, err)

		// A future deadline blocks exactly until it.
		start := time.Now()
		b.SetReadDeadline(start.Add(300 * time.Millisecond))
		_, _, err = b.ReadFrom(buf)
		checkTimeout(t, err)
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Fatalf("timed out after %v, want 300ms", d)
		}

		// A passed deadline wins over queued data, as with sockets.
		a.WriteTo([]byte("hi"), b.LocalAddr())
		_, _, err = b.ReadFrom(buf)
		checkTimeout(t, err)
		b.SetReadDeadline(time.Time{})
		if k, _, err := b.ReadFrom(buf); err != nil || string(buf[:k]) != "hi" {
			t.Fatalf("after clearing the deadline: %q, %v", buf[:k], err)
		}

		// Moving the deadline wakes a blocked reader (what quic-go does to stop).
		errc := make(chan error)
		go func() {
			_, _, err := b.ReadFrom(buf)
			errc <- err
		}()
		synctest.Wait()
		b.SetReadDeadline(time.Now())
		checkTimeout(t, <-errc)

		// Extending a deadline while blocked keeps the reader waiting.
		b.SetReadDeadline(time.Now().Add(time.Second))
		start = time.Now()
		go func() {
			_, _, err := b.ReadFrom(buf)
			errc <- err
		}()
		time.Sleep(500 * time.Millisecond)
		b.SetDeadline(time.Now().Add(time.Second))
		checkTimeout(t, <-errc)
		if d := time.Since(start); d != 1500*time.Millisecond {
			t.Fatalf("timed out after %v, want 1.5s", d)
		}

		// A datagram before the deadline is read normally.
		b.SetReadDeadline(time.Now().Add(time.Second))
		go func() {
			time.Sleep(100 * time.Millisecond)
			a.WriteTo([]byte("late"), b.LocalAddr())
		}()
		if k, _, err := b.ReadFrom(buf); err != nil || string(buf[:k]) != "late" {
			t.Fatalf("read %q, %v", buf[:k], err)
		}
	})
}

func checkTimeout(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error with Timeout()", err)
	}
}

func TestWriteDeadline(t *testing.T) {
	n := newNet(t, Config{})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	a.SetWriteDeadline(time.Now().Add(-time.Millisecond))
	_, err := a.WriteTo([]byte("x"), b.LocalAddr())
	checkTimeout(t, err)
	a.SetWriteDeadline(time.Now().Add(time.Hour))
	if _, err := a.WriteTo([]byte("x"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	a.SetDeadline(time.Now().Add(-time.Millisecond))
	_, err = a.WriteTo([]byte("x"), b.LocalAddr())
	checkTimeout(t, err)
	if st := n.Stats(); st.Sent != 1 {
		t.Fatalf("Sent = %d: failed writes were counted", st.Sent)
	}
}

func TestCloseUnblocksReaders(t *testing.T) {
	n := newNet(t, Config{})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			_, _, err := b.ReadFrom(make([]byte, 10))
			errs <- err
		})
	}
	time.Sleep(20 * time.Millisecond) // let them block (the test passes either way)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustErrIs(t, err, net.ErrClosed)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := b.ReadFrom(make([]byte, 10))
	mustErrIs(t, err, net.ErrClosed)
	_, err = b.WriteTo([]byte("x"), a.LocalAddr())
	mustErrIs(t, err, net.ErrClosed)
	// The address is free again; the old conn's datagrams go nowhere.
	addr := b.LocalAddr().String()
	a.WriteTo([]byte("x"), b.LocalAddr())
	if st := n.Stats(); st.Unreachable != 1 {
		t.Fatalf("write to a closed endpoint: %+v", st)
	}
	b2 := listen(t, n, addr)
	a.WriteTo([]byte("new"), b2.LocalAddr())
	buf := make([]byte, 10)
	if k, _, _ := b2.ReadFrom(buf); string(buf[:k]) != "new" {
		t.Fatalf("new endpoint read %q", buf[:k])
	}
	// SetLink with a closed endpoint fails.
	mustErrIs(t, n.SetLink(b, a, Config{}), net.ErrClosed)
}

func TestNetworkClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := NewNetwork(Config{Delay: time.Second})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		a.WriteTo([]byte("in flight"), b.LocalAddr())
		errc := make(chan error)
		go func() {
			_, _, err := b.ReadFrom(make([]byte, 10))
			errc <- err
		}()
		synctest.Wait()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		mustErrIs(t, <-errc, net.ErrClosed)
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := a.WriteTo([]byte("x"), b.LocalAddr())
		mustErrIs(t, err, net.ErrClosed)
		_, err = n.Listen(":0")
		mustErrIs(t, err, net.ErrClosed)
		st := n.Stats()
		checkConservation(t, st)
		if st.Discarded != 1 || st.InFlight != 0 {
			t.Fatalf("%+v, want the datagram in flight discarded", st)
		}
	})
}

func TestInFlightToClosedReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Delay: time.Second})
		a, b, c := listen(t, n, ":0"), listen(t, n, ":0"), listen(t, n, ":0")
		a.WriteTo([]byte("to b"), b.LocalAddr())
		b.WriteTo([]byte("from b"), c.LocalAddr())
		b.Close()
		// Datagrams to b are dropped; those b sent are still delivered.
		buf := make([]byte, 10)
		k, _, err := c.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "from b" {
			t.Fatalf("%q, %v", buf[:k], err)
		}
		st := n.Stats()
		checkConservation(t, st)
		if st.Unreachable != 1 || st.Delivered != 1 || st.InFlight != 0 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestRebind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Delay: 10 * time.Millisecond})
		client, server := listen(t, n, "127.0.0.1:5000"), listen(t, n, "127.0.0.1:443")
		buf := make([]byte, 100)

		client.WriteTo([]byte("one"), server.LocalAddr())
		_, from, _ := server.ReadFrom(buf)
		if from.String() != "127.0.0.1:5000" {
			t.Fatalf("first datagram from %v", from)
		}
		// A reply in flight while the NAT rebinds is lost.
		server.WriteTo([]byte("reply to old"), from)
		newAddr, err := n.Rebind(client)
		if err != nil {
			t.Fatal(err)
		}
		if newAddr.String() == "127.0.0.1:5000" || newAddr.(*net.UDPAddr).IP.String() != "127.0.0.1" {
			t.Fatalf("Rebind gave %v", newAddr)
		}
		if client.LocalAddr().String() != "127.0.0.1:5000" {
			t.Fatalf("LocalAddr changed to %v: the socket does not see the NAT", client.LocalAddr())
		}
		client.WriteTo([]byte("two"), server.LocalAddr())
		k, from2, _ := server.ReadFrom(buf)
		if string(buf[:k]) != "two" || from2.String() != newAddr.String() {
			t.Fatalf("after rebind: %q from %v, want from %v", buf[:k], from2, newAddr)
		}
		server.WriteTo([]byte("to old"), from)
		server.WriteTo([]byte("to new"), from2)
		k, _, _ = client.ReadFrom(buf)
		if string(buf[:k]) != "to new" {
			t.Fatalf("client read %q, want only the datagram to its new address", buf[:k])
		}
		st := n.Stats()
		checkConservation(t, st)
		if st.Unreachable != 2 {
			t.Fatalf("Unreachable = %d, want 2 (in flight and after)", st.Unreachable)
		}

		// RebindTo another IP, conflicts, and back home.
		moved, err := n.RebindTo(client, "10.0.0.1:7000")
		if err != nil || moved.String() != "10.0.0.1:7000" {
			t.Fatalf("RebindTo = %v, %v", moved, err)
		}
		client.WriteTo([]byte("three"), server.LocalAddr())
		_, from3, _ := server.ReadFrom(buf)
		if from3.String() != "10.0.0.1:7000" {
			t.Fatalf("from %v", from3)
		}
		_, err = n.RebindTo(client, server.LocalAddr().String())
		mustErrIs(t, err, ErrAddrInUse)
		if _, err := n.Listen("127.0.0.1:5000"); !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("the rebound endpoint's local address was released: %v", err)
		}
		if a, err := n.RebindTo(client, "127.0.0.1:5000"); err != nil || a.String() != "127.0.0.1:5000" {
			t.Fatalf("back home: %v, %v", a, err)
		}
		if a, err := n.RebindTo(client, "127.0.0.1:5000"); err != nil || a.String() != "127.0.0.1:5000" {
			t.Fatalf("same address again: %v, %v", a, err)
		}
		_, err = n.RebindTo(client, "nonsense")
		mustErrIs(t, err, ErrInvalidAddr)

		other := newNet(t, Config{})
		_, err = other.Rebind(client)
		mustErrIs(t, err, ErrForeignConn)
		client.Close()
		_, err = n.Rebind(client)
		mustErrIs(t, err, net.ErrClosed)
	})
}

func TestSetLinkPrecedence(t *testing.T) {
	n := newNet(t, Config{})
	a, b, c := listen(t, n, ":0"), listen(t, n, ":0"), listen(t, n, ":0")
	deliveredTo := func(from, to net.PacketConn) bool {
		before := n.LinkStats(from, to).Delivered
		from.WriteTo([]byte("x"), to.LocalAddr())
		ok := n.LinkStats(from, to).Delivered == before+1
		if ok {
			to.ReadFrom(make([]byte, 1))
		}
		return ok
	}
	drop := Config{Loss: 1}
	check := func(step string, ab, ac, bc, cb bool) {
		t.Helper()
		got := [4]bool{deliveredTo(a, b), deliveredTo(a, c), deliveredTo(b, c), deliveredTo(c, b)}
		if got != [4]bool{ab, ac, bc, cb} {
			t.Fatalf("%s: delivered a>b a>c b>c c>b = %v, want %v", step, got, [4]bool{ab, ac, bc, cb})
		}
	}
	check("default", true, true, true, true)
	if err := n.SetLink(nil, c, drop); err != nil {
		t.Fatal(err)
	}
	check("(nil,c) drops", true, false, false, true)
	n.SetLink(a, nil, Config{})
	check("(a,nil) beats (nil,c)", true, true, false, true)
	n.SetLink(a, nil, drop)
	n.SetLink(a, b, Config{})
	check("(a,b) beats (a,nil)", true, false, false, true)
	n.ClearLink(nil, c)
	n.ClearLink(a, nil)
	check("cleared", true, true, true, true)
	n.SetDefault(drop)
	check("default drops", true, false, false, false)

	other := newNet(t, Config{})
	x := listen(t, other, ":0")
	mustErrIs(t, n.SetLink(x, a, Config{}), ErrForeignConn)
	mustErrIs(t, n.ClearLink(a, x), ErrForeignConn)
	mustErrIs(t, n.SetLink(a, b, Config{Loss: 2}), ErrInvalidConfig)
	mustErrIs(t, n.SetDefault(Config{Delay: -1}), ErrInvalidConfig)
	if s := n.LinkStats(a, x); s != (Stats{}) {
		t.Fatalf("LinkStats of a foreign pair: %+v", s)
	}
}

func TestValidate(t *testing.T) {
	bad := []Config{
		{Loss: -0.1}, {Loss: 1.5}, {Reorder: 2}, {Duplicate: -1}, {Corrupt: 1.01},
		{Burst: &GilbertElliott{GoodToBad: -1}}, {Burst: &GilbertElliott{BadToGood: 2}},
		{Burst: &GilbertElliott{LossGood: 3}}, {Burst: &GilbertElliott{LossBad: -3}},
		{Delay: -1}, {Jitter: -1}, {ReorderDelay: -1},
		{MTU: -1}, {Bandwidth: -1}, {QueueLimit: -1}, {MaxInFlight: -1}, {RecvQueue: -1},
	}
	nan := Config{Loss: 0}
	nan.Loss = nan.Loss / nan.Loss // NaN without a constant expression
	bad = append(bad, nan)
	for _, cfg := range bad {
		if _, err := NewNetwork(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewNetwork(%+v) error %v", cfg, err)
		}
		if _, err := Wrap(nil, cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Wrap(%+v) error %v", cfg, err)
		}
	}
	good := Config{Seed: -5, Loss: 1, Reorder: 1, Duplicate: 1, Corrupt: 1, MTU: 1,
		Burst: &GilbertElliott{1, 1, 1, 1}, Delay: 1, Jitter: 1, Bandwidth: 1, QueueLimit: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigIsCopied(t *testing.T) {
	ge := &GilbertElliott{GoodToBad: 0, BadToGood: 1, LossGood: 0, LossBad: 1}
	n := newNet(t, Config{Burst: ge})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	ge.LossGood = 1 // must not reach the network
	a.WriteTo([]byte("x"), b.LocalAddr())
	if st := n.Stats(); st.Lost != 0 {
		t.Fatal("changing the caller's GilbertElliott changed the network")
	}
}

func TestEmptyDatagram(t *testing.T) {
	n := newNet(t, Config{Corrupt: 1})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	if k, err := a.WriteTo(nil, b.LocalAddr()); k != 0 || err != nil {
		t.Fatalf("empty write: %d, %v", k, err)
	}
	k, from, err := b.ReadFrom(make([]byte, 10))
	if k != 0 || err != nil || from == nil {
		t.Fatalf("empty read: %d, %v, %v", k, from, err)
	}
	if st := n.Stats(); st.Corrupted != 0 || st.Delivered != 1 {
		t.Fatalf("%+v", st)
	}
}
