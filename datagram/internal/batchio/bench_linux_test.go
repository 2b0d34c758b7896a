package batchio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// benchSize is the datagram size of the loopback benchmark.
const benchSize = 1400

// benchWindow is how far the sender may run ahead of the receiver, in
// datagrams: within the socket buffers, so that the figures measure what
// both ends sustain rather than how much the receive buffer drops.
const benchWindow = 1024

// benchResult is what one mode of the loopback benchmark measured.
type benchResult struct {
	caps            string
	sent, received  int
	elapsed         time.Duration
	allocsPerDgram  float64
	dgramsPerSecond float64
	mbPerSecond     float64
}

// BenchmarkLoopback streams 1400-byte datagrams from one socket to another
// over 127.0.0.1, one goroutine sending and one receiving, with each way of
// doing socket I/O, and prints the figures side by side. Rates count the
// datagrams received (loss% is what the receiver could not keep up with):
//
//	go test -run XXX -bench Loopback -benchtime 2s ./datagram/internal/batchio
func BenchmarkLoopback(b *testing.B) {
	modes := []struct {
		name  string
		batch int
		opts  []Option
		xnet  bool
	}{
		{"readfrom-writeto", 64, []Option{WithoutMMsg()}, false},
		{"xnet-ipv4-64", 64, nil, true},
		{"mmsg-32", 32, []Option{WithoutGSO(), WithoutGRO()}, false},
		{"mmsg-64", 64, []Option{WithoutGSO(), WithoutGRO()}, false},
		{"gso-gro-32", 32, nil, false},
		{"gso-gro-64", 64, nil, false},
	}
	results := make(map[string]benchResult)
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			var r benchResult
			if m.xnet {
				r = benchXNet(b, m.batch)
			} else {
				r = benchConn(b, m.batch, m.opts)
			}
			results[m.name] = r
		})
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-18s %-14s %12s %9s %7s %12s\n", "mode", "caps", "dgrams/s", "MB/s", "loss%", "allocs/dgram")
	for _, m := range modes {
		r, ok := results[m.name]
		if !ok {
			continue
		}
		fmt.Fprintf(&sb, "%-18s %-14s %12.0f %9.1f %7.2f %12.3f\n", m.name, r.caps, r.dgramsPerSecond, r.mbPerSecond,
			100*float64(r.sent-r.received)/float64(max(r.sent, 1)), r.allocsPerDgram)
	}
	fmt.Print(sb.String()) // b.Log output of a parent benchmark is not shown
}

// benchPair opens the two sockets.
func benchPair(b *testing.B) (rx, tx *net.UDPConn) {
	rx = listen(b, "udp4", "127.0.0.1:0")
	tx = listen(b, "udp4", "127.0.0.1:0")
	return rx, tx
}

// finish turns counts into the result and reports its metrics.
func finish(b *testing.B, caps string, sent, received int, elapsed time.Duration, allocs uint64) benchResult {
	r := benchResult{caps: caps, sent: sent, received: received, elapsed: elapsed}
	if received > 0 && elapsed > 0 {
		r.dgramsPerSecond = float64(received) / elapsed.Seconds()
		r.mbPerSecond = r.dgramsPerSecond * benchSize / 1e6
		r.allocsPerDgram = float64(allocs) / float64(received)
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(received), "ns/op")
	}
	b.ReportMetric(r.dgramsPerSecond, "dgrams/s")
	b.ReportMetric(r.mbPerSecond, "MB/s")
	b.ReportMetric(100*float64(sent-received)/float64(max(sent, 1)), "loss%")
	return r
}

// receiveUntil counts datagrams with read until it has want of them or the
// socket stays quiet for a while once done is closed; it returns the count
// and when the last one came.
func receiveUntil(uc *net.UDPConn, want int, done <-chan struct{}, progress *atomic.Int64, progressed chan<- struct{}, read func() (int, error)) (int, time.Time, error) {
	got := 0
	var last time.Time
	for got < want {
		_ = uc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			select {
			case <-done:
				return got, last, nil
			default:
				continue
			}
		}
		if err != nil {
			return got, last, err
		}
		got += n
		progress.Store(int64(got))
		select {
		case progressed <- struct{}{}:
		default:
		}
		last = time.Now()
	}
	return got, last, nil
}

// pace holds the sender back while it is a window ahead of the receiver
// (or until the receiver gives up on lost datagrams).
func pace(sent int, progress *atomic.Int64, progressed <-chan struct{}, done <-chan struct{}) {
	for int64(sent)-progress.Load() > benchWindow {
		select {
		case <-done:
			return
		case <-progressed:
		}
	}
}

// mallocs is the process's allocation count.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func benchConn(b *testing.B, batch int, opts []Option) benchResult {
	rx, tx := benchPair(b)
	r, w := New(rx, batch, opts...), New(tx, batch, opts...)
	out := make([]Message, batch)
	for i := range out {
		out[i] = Message{Buf: payload(1, i, benchSize), Addr: addrOf(rx)}
	}
	in := make([]Message, batch)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	var progress atomic.Int64
	progressed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var got int
	var last time.Time
	var rerr error
	b.ResetTimer()
	before := mallocs()
	start := time.Now()
	wg.Go(func() {
		defer close(stopped)
		got, last, rerr = receiveUntil(rx, b.N, done, &progress, progressed, func() (int, error) { return r.ReadBatch(in) })
	})
	for sent := 0; sent < b.N; {
		pace(sent, &progress, progressed, stopped)
		k := min(batch, b.N-sent)
		n, err := w.WriteBatch(out[:k])
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	close(done)
	wg.Wait()
	b.StopTimer()
	allocs := mallocs() - before
	if rerr != nil {
		b.Fatal(rerr)
	}
	return finish(b, r.Capabilities().String(), b.N, got, last.Sub(start), allocs)
}

func benchXNet(b *testing.B, batch int) benchResult {
	rx, tx := benchPair(b)
	r, w := ipv4.NewPacketConn(rx), ipv4.NewPacketConn(tx)
	to := rx.LocalAddr()
	out := make([]ipv4.Message, batch)
	for i := range out {
		out[i] = ipv4.Message{Buffers: [][]byte{payload(1, i, benchSize)}, Addr: to}
	}
	in := make([]ipv4.Message, batch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	var progress atomic.Int64
	progressed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var got int
	var last time.Time
	var rerr error
	b.ResetTimer()
	before := mallocs()
	start := time.Now()
	wg.Go(func() {
		defer close(stopped)
		got, last, rerr = receiveUntil(rx, b.N, done, &progress, progressed, func() (int, error) { return r.ReadBatch(in, 0) })
	})
	for sent := 0; sent < b.N; {
		pace(sent, &progress, progressed, stopped)
		k := min(batch, b.N-sent)
		n, err := w.WriteBatch(out[:k], 0)
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	close(done)
	wg.Wait()
	b.StopTimer()
	allocs := mallocs() - before
	if rerr != nil {
		b.Fatal(rerr)
	}
	return finish(b, "x/net mmsg", b.N, got, last.Sub(start), allocs)
}
