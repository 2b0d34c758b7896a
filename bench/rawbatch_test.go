package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// RawUDPBatched delivers every message it was given over loopback, full
// batches and a last partial one (sent by Flush), each once and intact.
func TestRawUDPBatchedDelivers(t *testing.T) {
	client, server, err := udpPair()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pipe, err := RawUDPBatched{}.Connect(ctx, client, server)
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	if pipe.Flush == nil {
		t.Fatal("RawUDPBatched's pipe has no Flush")
	}
	const n = 3*RawBatch + 17 // three full batches and a partial one
	msg := make([]byte, UDPPayload)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if err := pipe.Send(msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := pipe.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pipe.Flush(); err != nil { // nothing left: a no-op
		t.Fatal(err)
	}
	seen := make([]bool, n)
	buf := make([]byte, 64<<10)
	for got := 0; got < n; got++ {
		k, err := pipe.Recv(ctx, buf)
		if err != nil {
			t.Fatalf("received %d of %d: %v", got, n, err)
		}
		if k != UDPPayload {
			t.Fatalf("message of %d bytes", k)
		}
		seq := binary.BigEndian.Uint32(buf)
		if seq >= n || seen[seq] {
			t.Fatalf("message %d unexpected or repeated", seq)
		}
		seen[seq] = true
		for j := 4; j < k; j++ {
			if buf[j] != byte(j*7) {
				t.Fatalf("message %d corrupt at byte %d", seq, j)
			}
		}
	}
	// Nothing more arrives, and Recv returns once its context is done.
	cancel()
	if _, err := pipe.Recv(ctx, buf); err == nil {
		t.Error("Recv after the context was cancelled returned no error")
	}
}

// Without Flush, a partial batch is held back; Flush sends it.
func TestRawUDPBatchedHoldsUntilFlush(t *testing.T) {
	client, server, err := udpPair()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	pipe, err := RawUDPBatched{}.Connect(context.Background(), client, server)
	if err != nil {
		t.Fatal(err)
	}
	for range RawBatch - 1 {
		if err := pipe.Send([]byte("held")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	_ = server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := server.ReadFrom(buf); err == nil {
		t.Fatal("a message of a partial batch left before Flush")
	}
	if err := pipe.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range RawBatch - 1 {
		if k, _, err := server.ReadFrom(buf); err != nil || string(buf[:k]) != "held" {
			t.Fatalf("message %d after Flush: %q, %v", i, buf[:k], err)
		}
	}
}

// On netsim-wrapped sockets there is no batch I/O: Connect says so, and
// the link's lossy cells are n/a.
func TestRawUDPBatchedNetsim(t *testing.T) {
	client, server, err := simPair(1)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	if _, err := (RawUDPBatched{}).Connect(context.Background(), client, server); !errors.Is(err, ErrNoBatchIO) {
		t.Errorf("Connect on netsim sockets: %v", err)
	}
	r, err := MeasureGoodput(context.Background(), RawUDPBatched{}, 0.05, GoodputOptions{Duration: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != statusOf(ErrNoBatchIO) || r.Sent != 0 {
		t.Errorf("lossy cell: %+v", r)
	}
}

// sockLink records the sockets MeasureGoodput gives it and runs as RawUDP.
type sockLink struct {
	RawUDP
	mu             sync.Mutex
	client, server []net.PacketConn
}

func (l *sockLink) Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error) {
	l.mu.Lock()
	l.client = append(l.client, client)
	l.server = append(l.server, server)
	l.mu.Unlock()
	return l.RawUDP.Connect(ctx, client, server)
}

// At loss 0 links get plain *net.UDPConn sockets (their native I/O path),
// under loss netsim wrappers; the result says which.
func TestGoodputSockets(t *testing.T) {
	opt := GoodputOptions{Duration: 20 * time.Millisecond, Idle: 20 * time.Millisecond, Runs: 2}
	for _, c := range []struct {
		loss    float64
		sockets string
		check   func(net.PacketConn) bool
	}{
		{0, SocketsNative, func(pc net.PacketConn) bool { _, ok := pc.(*net.UDPConn); return ok }},
		{0.05, SocketsNetsim, func(pc net.PacketConn) bool { _, ok := pc.(*netsim.Conn); return ok }},
	} {
		l := &sockLink{}
		r, err := MeasureGoodput(context.Background(), l, c.loss, opt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sockets != c.sockets || r.Delivered == 0 {
			t.Errorf("loss %g: %+v", c.loss, r)
		}
		if len(l.client) != opt.Runs || len(l.server) != opt.Runs {
			t.Fatalf("loss %g: %d connects", c.loss, len(l.client))
		}
		for i := range l.client {
			if !c.check(l.client[i]) || !c.check(l.server[i]) {
				t.Errorf("loss %g: link got %T and %T, want %s sockets", c.loss, l.client[i], l.server[i], c.sockets)
			}
		}
	}
}

// BatchedIO is set for batching links on native sockets only.
func TestGoodputBatchedIO(t *testing.T) {
	for _, c := range []struct {
		link Link
		loss float64
		want bool
	}{
		{QSMPUDP{}, 0, true}, {QSMPUDP{}, 0.01, false}, {QUICDatagrams{}, 0, true},
		{RawUDPBatched{}, 0, true}, {RawUDP{}, 0, false}, {QSMPQUIC{}, 0, false}, {DTLS{Version: 12}, 0, false},
	} {
		if got := batchedIO(c.link, c.loss); got != c.want {
			t.Errorf("%s at %g: batchedIO %v", c.link.Name(), c.loss, got)
		}
	}
}

// memLink's pipe holds every message until Flush, which hands them to the
// receiver: the harness must call Flush for anything to arrive.
type memLink struct{ flushErr error }

func (memLink) Name() string     { return "mem" }
func (memLink) Payload() int     { return 100 }
func (memLink) Available() error { return nil }
func (memLink) Lossy() error     { return nil }
func (memLink) Reliable()        {}
func (l memLink) Connect(context.Context, net.PacketConn, net.PacketConn) (*Pipe, error) {
	var mu sync.Mutex
	var held, ready [][]byte
	return &Pipe{
		Send: func(p []byte) error {
			mu.Lock()
			defer mu.Unlock()
			held = append(held, append([]byte(nil), p...))
			return nil
		},
		Flush: func() error {
			mu.Lock()
			defer mu.Unlock()
			if l.flushErr != nil {
				return l.flushErr
			}
			ready, held = append(ready, held...), nil
			return nil
		},
		Recv: func(ctx context.Context, buf []byte) (int, error) {
			for {
				mu.Lock()
				if len(ready) > 0 {
					m := ready[0]
					ready = ready[1:]
					mu.Unlock()
					return copy(buf, m), nil
				}
				mu.Unlock()
				select {
				case <-time.After(time.Millisecond):
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			}
		},
		Close: func() error { return nil },
	}, nil
}

func TestGoodputCallsFlush(t *testing.T) {
	opt := GoodputOptions{Duration: 10 * time.Millisecond, Idle: 10 * time.Millisecond}
	r, err := MeasureGoodput(context.Background(), memLink{}, 0, opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent == 0 || r.Delivered != r.Sent {
		t.Errorf("delivered %d of %d", r.Delivered, r.Sent)
	}
	bad := errors.New("flush failed")
	if _, err := MeasureGoodput(context.Background(), memLink{flushErr: bad}, 0, opt); !errors.Is(err, bad) {
		t.Errorf("a failed flush gave %v", err)
	}
}
