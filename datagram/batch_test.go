package datagram

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// gatePC is a PacketConn whose WriteTo blocks while its gate is shut and
// records what it sends.
type gatePC struct {
	mu     sync.Mutex
	open   chan struct{} // closed when the gate opens
	out    [][]byte
	closed chan struct{}
	once   sync.Once
}

func newGatePC() *gatePC {
	return &gatePC{open: make(chan struct{}), closed: make(chan struct{})}
}

func (p *gatePC) ReadFrom([]byte) (int, net.Addr, error) {
	<-p.closed
	return 0, nil, net.ErrClosed
}

func (p *gatePC) WriteTo(b []byte, _ net.Addr) (int, error) {
	select {
	case <-p.open:
	case <-p.closed:
		return 0, net.ErrClosed
	}
	p.mu.Lock()
	p.out = append(p.out, append([]byte(nil), b...))
	p.mu.Unlock()
	return len(b), nil
}

func (p *gatePC) sent() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.out...)
}

func (p *gatePC) Close() error                     { p.once.Do(func() { close(p.closed) }); return nil }
func (p *gatePC) LocalAddr() net.Addr              { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (p *gatePC) SetDeadline(time.Time) error      { return nil }
func (p *gatePC) SetReadDeadline(time.Time) error  { return nil }
func (p *gatePC) SetWriteDeadline(time.Time) error { return nil }

// numbered returns a pooled datagram carrying i.
func numbered(ep *endpoint, i int) *[]byte {
	bp := ep.getBuf()
	*bp = binary.LittleEndian.AppendUint32(*bp, uint32(i))
	return bp
}

// TestSendQueue: on a batched socket, data queues behind a send in
// progress and leaves in order; once txQueueMax datagrams wait, Write waits
// for room and gives up at its deadline (os.ErrDeadlineExceeded) or at
// Close (net.ErrClosed); other datagrams never wait; an idle socket sends
// a non-data datagram before send returns.
func TestSendQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := (&Config{newMachine: fakeFactory(10, 10)}).normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		pc := newGatePC()
		ep := newEndpoint(pc, n, false)
		s := ep.socks[0]
		s.batched = true // as on a UDP socket with sendmmsg
		to := netip.MustParseAddrPort("127.0.0.1:2")
		c := &Conn{ep: ep, done: make(chan struct{})}

		// The socket has just sent (a quiet one would send data on the
		// writer's goroutine: TestQuietWriteLeavesAtOnce), so the sender
		// goroutine takes datagram 0 and blocks in WriteTo.
		s.tx.lastAt = ep.now() + mono(time.Hour)
		if err := s.send(numbered(ep, 0), to, false, &sendWait{c}, nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for i := 1; i <= txQueueMax; i++ {
			if err := s.send(numbered(ep, i), to, false, &sendWait{c}, nil); err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
		}
		// Control datagrams are never held back by the bound.
		if err := s.send(numbered(ep, txQueueMax+1), to, false, nil, nil); err != nil {
			t.Fatal(err)
		}
		// The queue is full: data waits, until the write deadline.
		start := time.Now()
		c.SetWriteDeadline(start.Add(time.Second))
		if err := s.send(numbered(ep, -1), to, false, &sendWait{c}, nil); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("full queue: %v, want a deadline error", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("waited %v for the deadline", waited)
		}
		c.SetWriteDeadline(time.Time{})
		// ... or until Close.
		errc := make(chan error, 1)
		go func() { errc <- s.send(numbered(ep, -1), to, false, &sendWait{c}, nil) }()
		synctest.Wait()
		close(c.done)
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("full queue at Close: %v", err)
		}
		if got := len(pc.sent()); got != 0 {
			t.Fatalf("%d datagrams sent through a shut gate", got)
		}

		// Open the gate: everything queued leaves, in order.
		close(pc.open)
		s.tx.idleWait()
		got := pc.sent()
		if len(got) != txQueueMax+2 {
			t.Fatalf("%d datagrams sent, want %d", len(got), txQueueMax+2)
		}
		for i, d := range got {
			if v := binary.LittleEndian.Uint32(d); v != uint32(i) {
				t.Fatalf("datagram %d carries %d: out of order", i, v)
			}
		}
		// Idle: a control datagram goes out before send returns.
		if err := s.send(numbered(ep, 1000), to, false, nil, nil); err != nil {
			t.Fatal(err)
		}
		if got := pc.sent(); len(got) != txQueueMax+3 {
			t.Fatalf("idle socket: %d datagrams sent, want %d", len(got), txQueueMax+3)
		}
		pc.Close()
		s.tx.shut()
		if err := s.send(numbered(ep, 1001), to, false, nil, nil); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("send after shut: %v", err)
		}
	})
}

// TestReaderOversize: a datagram longer than MaxPayload (the receive
// buffers hold MaxPayload+1 bytes, so batchio reports it cut to that) is
// dropped and counted as malformed; the same datagram of MaxPayload bytes
// reaches the demultiplexer (here: a record for no session).
func TestReaderOversize(t *testing.T) {
	srv, _ := pairConfigs(t, false)
	pc := newCapturePC("127.0.0.1:4433")
	l, err := NewListener(pc, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mp := l.ep.cfg.MaxPayload
	prefix := wire.RecordPrefix(12345, false)
	big := make([]byte, mp+1)
	copy(big, prefix[:])
	a := netip.MustParseAddrPort("127.0.0.5:5000")
	msgs := []batchio.Message{{Buf: big, N: mp + 1, Addr: a}, {Buf: big[:mp], N: mp, Addr: a}}
	var r reader
	r.batch(l.ep.socks[0], msgs)
	st := l.Stats()
	if st.Datagrams != 2 || st.Malformed != 1 || st.UnknownSession != 1 || st.BytesIn != uint64(2*mp+1) {
		t.Fatalf("%+v: want 2 datagrams, 1 malformed (too long), 1 for an unknown session", st)
	}
}

// TestListenSockets: Listen opens GOMAXPROCS sockets on one address (one
// where SO_REUSEPORT is not balanced); sessions dialed from many ports
// spread over them, each answered on its own socket.
func TestListenSockets(t *testing.T) {
	srv, cli := pairConfigs(t, false)
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := runtime.GOMAXPROCS(0)
	if runtime.GOOS != "linux" {
		want = 1
	}
	if len(l.ep.socks) != want {
		t.Fatalf("%d sockets, want %d", len(l.ep.socks), want)
	}
	for _, s := range l.ep.socks {
		if s.pc.LocalAddr().String() != l.Addr().String() {
			t.Fatalf("socket at %v, listener at %v", s.pc.LocalAddr(), l.Addr())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const flows = 16
	servers := make(chan *Conn, flows)
	go func() {
		for range flows {
			s, err := l.AcceptContext(ctx)
			if err != nil {
				close(servers)
				return
			}
			servers <- s
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, flows)
	for i := range flows {
		wg.Go(func() {
			c, err := Dial(ctx, "udp4", l.Addr().String(), cli)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := []byte{byte(i)}
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 10)
			if k, err := c.Read(buf); err != nil || k != 1 || buf[0] != byte(i) {
				errs <- errors.New("no echo")
			}
		})
	}
	used := make(map[*sock]int)
	for range flows {
		s, ok := <-servers
		if !ok {
			t.Fatal("accept failed")
		}
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 10)
		k, err := s.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(buf[:k]); err != nil {
			t.Fatal(err)
		}
		used[s.sk]++
		defer s.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for sk := range used {
		found := false
		for _, s := range l.ep.socks {
			found = found || s == sk
		}
		if !found {
			t.Fatalf("a session on a socket the listener does not have")
		}
	}
	t.Logf("%d sessions over %d sockets: %v", flows, len(l.ep.socks), used)
	if len(l.ep.socks) > 1 && len(used) < 2 {
		// 16 flows hashed to one of 2+ sockets: probability below 2^-15.
		t.Fatalf("every session on one socket of %d", len(l.ep.socks))
	}
}

// TestUDPBurstThenClose: over loopback UDP, a burst of records written
// back to back (queued, sent in batches) all arrive, in order, and the
// close that follows them arrives after them (io.EOF after the last).
func TestUDPBurstThenClose(t *testing.T) {
	srv, cli := pairConfigs(t, false)
	srv.ReceiveQueue = 4096
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, s := dialLoopback(t, ctx, l, "udp4", cli)
	defer c.Close()
	defer s.Close()
	if sk := c.ep.socks[0]; sk.batched != sk.bc.Capabilities().MMsg {
		t.Fatal("batched must mean sendmmsg")
	}
	// Bursts of 200 records of 1,000 bytes, each waited for (so that no
	// kernel buffer overflows), then Close right after the last burst.
	const bursts, per = 5, 200
	msg := make([]byte, 1000)
	buf := make([]byte, 2000)
	next := 0
	for b := range bursts {
		for i := range per {
			binary.LittleEndian.PutUint32(msg, uint32(b*per+i))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		if b == bursts-1 {
			c.Close()
		}
		for next < (b+1)*per {
			s.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, err := s.Read(buf)
			if err != nil {
				t.Fatalf("record %d: %v (%+v)", next, err, s.Stats())
			}
			if got := binary.LittleEndian.Uint32(buf); k != len(msg) || got != uint32(next) {
				t.Fatalf("record %d: got %d (%d bytes)", next, got, k)
			}
			next++
		}
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

// TestListenPortInUse: Listen on a port another Listen (or any socket)
// holds fails, as it would without SO_REUSEPORT, instead of sharing its
// sessions; the port is free again once the Listener is closed.
func TestListenPortInUse(t *testing.T) {
	srv, _ := pairConfigs(t, false)
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := Listen("udp4", l.Addr().String(), srv); err == nil {
		l2.Close()
		t.Fatalf("a second Listen on %v succeeded", l.Addr())
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if l2, err := Listen("udp4", pc.LocalAddr().String(), srv); err == nil {
		l2.Close()
		t.Fatalf("Listen on %v, bound by another socket, succeeded", pc.LocalAddr())
	}
	// Positive control: once closed, the port is free again.
	addr := l.Addr().String()
	l.Close()
	l2, err := Listen("udp4", addr, srv)
	if err != nil {
		t.Fatalf("Listen on %s after Close: %v", addr, err)
	}
	l2.Close()
}
