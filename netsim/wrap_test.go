package netsim

import (
	"errors"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func udpLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wrapRun writes count numbered datagrams through Wrap(pc, cfg) to dst and
// reads them at recv, pacing the writer so that a real socket buffer never
// overflows. It returns the sequence numbers received, in order.
func wrapRun(t *testing.T, w *Conn, recv net.PacketConn, dst net.Addr, count int) []uint64 {
	t.Helper()
	var got []uint64
	var n atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			k, _, err := recv.ReadFrom(buf)
			if err != nil {
				return
			}
			got = append(got, seqOf(buf[:k]))
			n.Add(1)
		}
	}()
	waitFor := func(want uint64) {
		deadline := time.Now().Add(5 * time.Second)
		for n.Load() < want {
			if time.Now().After(deadline) {
				t.Errorf("received %d datagrams, want %d", n.Load(), want)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	for i := range count {
		if _, err := w.WriteTo(seqPayload(uint64(i), 64), dst); err != nil {
			t.Fatal(err)
		}
		if i%64 == 63 {
			waitFor(w.Stats().Delivered)
		}
	}
	waitFor(w.Stats().Delivered)
	recv.Close()
	<-done
	return got
}

func TestWrapLoopbackUDP(t *testing.T) {
	cfg := Config{Seed: 11, Loss: 0.25, Duplicate: 0.05,
		Burst: &GilbertElliott{GoodToBad: 0.05, BadToGood: 0.5, LossBad: 1}}
	const N = 2000

	// Over real loopback sockets.
	src, dst := udpLoopback(t), udpLoopback(t)
	dst.SetReadBuffer(4 << 20)
	w, err := Wrap(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	real := wrapRun(t, w, dst, dst.LocalAddr(), N)
	st := w.Stats()
	checkConservation(t, st)
	want := 1 - (1-0.25)*(1-cfg.Burst.LossRate())
	within(t, "wrap loss rate", float64(st.Lost)/N, want, N, 10)
	if uint64(len(real)) != st.Delivered || st.Delivered != N-st.Lost+st.Duplicated {
		t.Fatalf("received %d, %+v", len(real), st)
	}
	w.Close()

	// The same writes through Wrap over an in-memory endpoint make the same
	// decisions: the outcome depends on the seed and the writes only.
	n := newNet(t, Config{RecvQueue: 2 * N})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	w2, _ := Wrap(a, cfg)
	sim := wrapRun(t, w2, b, b.LocalAddr(), N)
	if !reflect.DeepEqual(real, sim) {
		t.Fatalf("real and simulated runs differ (%d vs %d datagrams)", len(real), len(sim))
	}
	if st2 := w2.Stats(); st2 != st {
		t.Fatalf("stats differ: %+v vs %+v", st, st2)
	}
	w2.Close()
}

func TestWrapDelayOverUDP(t *testing.T) {
	src, dst := udpLoopback(t), udpLoopback(t)
	w, _ := Wrap(src, Config{Delay: 30 * time.Millisecond})
	defer w.Close()
	start := time.Now()
	w.WriteTo([]byte("slow"), dst.LocalAddr())
	buf := make([]byte, 10)
	dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, from, err := dst.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "slow" {
		t.Fatalf("%q, %v", buf[:k], err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("arrived after %v, want at least 30ms", d)
	}
	if from.String() != w.LocalAddr().String() {
		t.Fatalf("from %v, want %v", from, w.LocalAddr())
	}
	// Reads pass through: a reply reaches the wrapped conn.
	dst.WriteTo([]byte("back"), w.LocalAddr())
	w.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, _, err := w.ReadFrom(buf); err != nil || string(buf[:k]) != "back" {
		t.Fatalf("%q, %v", buf[:k], err)
	}
}

func TestWrapSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		a, b := listen(t, n, ":0"), listen(t, n, ":0")
		w, _ := Wrap(a, Config{Delay: 40 * time.Millisecond, Bandwidth: 1000, QueueLimit: 300})
		start := time.Now()
		for i := range 5 {
			w.WriteTo(seqPayload(uint64(i), 100), b.LocalAddr())
		}
		// 100 bytes take 100 ms at 1000 B/s. The queue counts the bytes not yet
		// sent, including the datagram on the wire: 300 bytes hold three, so
		// two of five are dropped.
		_, at := collect(t, b, 3)
		for i, x := range at {
			if want := time.Duration(i+1)*100*time.Millisecond + 40*time.Millisecond; x.Sub(start) != want {
				t.Fatalf("datagram %d at %v, want %v", i, x.Sub(start), want)
			}
		}
		// The last datagram can be read before its sender has counted it
		// delivered: let the bubble settle first.
		synctest.Wait()
		st := w.Stats()
		checkConservation(t, st)
		if st.QueueDropped != 2 || st.Delivered != 3 {
			t.Fatalf("%+v", st)
		}
		// Close with datagrams scheduled discards them and closes a.
		w.WriteTo([]byte("pending"), b.LocalAddr())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		st = w.Stats()
		checkConservation(t, st)
		if st.Discarded != 1 || st.InFlight != 0 {
			t.Fatalf("%+v", st)
		}
		_, _, err := a.ReadFrom(make([]byte, 1))
		mustErrIs(t, err, net.ErrClosed)
		_, err = w.WriteTo([]byte("x"), b.LocalAddr())
		mustErrIs(t, err, net.ErrClosed)
		time.Sleep(time.Second)
		if st := n.Stats(); st.Delivered != 3 {
			t.Fatalf("a discarded datagram was delivered: %+v", st)
		}
	})
}

func TestWrapErrorsAndInterfaces(t *testing.T) {
	src := udpLoopback(t)
	w, err := Wrap(src, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := any(w).(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		t.Error("Conn implements SyscallConn")
	}
	if err := w.SetReadBuffer(1 << 20); err != nil {
		t.Errorf("SetReadBuffer: %v", err)
	}
	if err := w.SetWriteBuffer(1 << 20); err != nil {
		t.Errorf("SetWriteBuffer: %v", err)
	}
	_, err = w.WriteTo([]byte("x"), nil)
	mustErrIs(t, err, ErrInvalidAddr)
	_, err = w.WriteTo(make([]byte, MaxDatagramSize+1), src.LocalAddr())
	mustErrIs(t, err, ErrMessageTooLong)
	w.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err = w.WriteTo([]byte("x"), src.LocalAddr())
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after the deadline: %v", err)
	}
	w.SetDeadline(time.Now().Add(-time.Second))
	_, _, err = w.ReadFrom(make([]byte, 1))
	checkTimeout(t, err)
	mustErrIs(t, w.SetConfig(Config{Loss: 7}), ErrInvalidConfig)

	// A Conn over something without buffer setters: no-ops.
	n := newNet(t, Config{})
	w2, _ := Wrap(plainConn{listen(t, n, ":0")}, Config{})
	if w2.SetReadBuffer(1) != nil || w2.SetWriteBuffer(1) != nil {
		t.Error("buffer setters over a plain conn failed")
	}
	w2.Close()

	// And forwards to one that has them.
	rec := &bufConn{PacketConn: listen(t, n, ":0")}
	w3, _ := Wrap(rec, Config{})
	defer w3.Close()
	if w3.SetReadBuffer(123) != errBuf || w3.SetWriteBuffer(456) != errBuf || rec.r != 123 || rec.w != 456 {
		t.Errorf("buffer setters not forwarded: %+v", rec)
	}
}

type plainConn struct{ net.PacketConn }

var errBuf = errors.New("recorded")

type bufConn struct {
	net.PacketConn
	r, w int
}

func (b *bufConn) SetReadBuffer(n int) error  { b.r = n; return errBuf }
func (b *bufConn) SetWriteBuffer(n int) error { b.w = n; return errBuf }

// failConn fails every write.
type failConn struct{ net.PacketConn }

func (failConn) WriteTo([]byte, net.Addr) (int, error) { return 0, errors.New("boom") }

func TestWrapWriteErrorsCounted(t *testing.T) {
	n := newNet(t, Config{})
	w, _ := Wrap(failConn{listen(t, n, ":0")}, Config{})
	defer w.Close()
	if k, err := w.WriteTo([]byte("x"), w.LocalAddr()); k != 1 || err != nil {
		t.Fatalf("%d, %v", k, err)
	}
	if st := w.Stats(); st.WriteErrors != 1 || st.Delivered != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestWrapSetConfigAndConcurrency(t *testing.T) {
	n := newNet(t, Config{RecvQueue: 10000})
	a, b := listen(t, n, ":0"), listen(t, n, ":0")
	w, _ := Wrap(a, Config{Seed: 3, Delay: time.Millisecond, Jitter: time.Millisecond})
	defer w.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				w.WriteTo(seqPayload(uint64(g<<16|i), 32), b.LocalAddr())
				if i == 250 && g == 0 {
					w.SetConfig(Config{Loss: 1})
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats().InFlight > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := w.Stats()
	checkConservation(t, st)
	if st.Sent != 2000 || st.InFlight != 0 || st.Lost == 0 || st.Delivered == 0 {
		t.Fatalf("%+v", st)
	}
	if got := n.Stats().Delivered; got != st.Delivered {
		t.Fatalf("network delivered %d, wrapper wrote %d", got, st.Delivered)
	}
}
