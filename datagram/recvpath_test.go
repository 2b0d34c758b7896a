package datagram

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// receivePathRecords bounds how many records BenchmarkReceivePath seals
// ahead (about 1.5 KB each).
const receivePathRecords = 1 << 15

// BenchmarkReceivePath measures one session's receive path with a sender
// that costs almost nothing: the dialed Conn's records (1,400 bytes, QSMS)
// are all sealed before the clock starts, then replayed from its socket
// 64 at a time, at most 2,048 ahead of what the accepted Conn's Read has
// returned. The receiver (the listener's socket reader, which reads, opens
// and dispatches, and the goroutine calling Read) thus has most of the
// machine to itself, as it would with the sender on another host. It
// reports goodput-MB/s, the fraction delivered, the cores used and the
// ratio to OpenBatch on one core (x-open; openRate, measured after):
//
//	go test -run XXX -bench ReceivePath -benchtime 32768x ./datagram/
//
// At most receivePathRecords records are sealed, whatever b.N.
func BenchmarkReceivePath(b *testing.B) {
	n := min(b.N, receivePathRecords)
	_, c, s := goodputSession(b)

	c.keyMu.RLock()
	k := c.keys
	c.keyMu.RUnlock()
	prefix := wire.RecordPrefix(k.peer, k.tx.epoch&1 == 1)
	now := c.ep.unixNow(c.ep.now())
	to := c.peerAddr()
	msg := make([]byte, goodputSize)
	recs := make([]batchio.Message, n)
	for i := range recs {
		buf := append(make([]byte, 0, goodputPayload+64), prefix[:]...)
		buf, _, err := k.tx.sealer.Seal(buf, prefix[:], flagData, msg, now)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = batchio.Message{Buf: buf, Addr: to}
	}

	var delivered, lastNano atomic.Int64
	var readers sync.WaitGroup
	cpu0 := cpuNow()
	b.ResetTimer()
	start := time.Now()
	readers.Go(func() { countReads(s, int64(n), start, &delivered, &lastNano) })
	bc := c.sock().bc
	for sent := 0; sent < n; {
		w, err := bc.WriteBatch(recs[sent:min(n, sent+batchSize)])
		if err != nil {
			b.Fatal(err)
		}
		sent += w
		for int64(sent)-delivered.Load() > 2048 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	waitDelivered(&delivered, &lastNano, int64(n), start)
	cpu := cpuNow() - cpu0
	b.StopTimer()
	s.SetReadDeadline(time.Now())
	readers.Wait()
	g := goodput{sent: int64(n), delivered: delivered.Load(), elapsed: time.Duration(lastNano.Load()), cpu: cpu}
	if g.fraction() < 0.5 {
		b.Fatalf("only %d of %d records delivered", g.delivered, g.sent)
	}
	report(b, g)
	b.ReportMetric(g.cores(), "cores")
	if st := s.Stats(); g.delivered < g.sent {
		// Where they went: the session's receive queue (a reader that
		// fell behind), or the kernel's socket buffer (the rest).
		b.Logf("%d of %d records not delivered: %d dropped at the receive queue, %d refused by the window", g.sent-g.delivered, g.sent, st.QueueDrops, st.Drops.Total())
	}
	if n >= 10000 {
		b.ReportMetric(g.mbps()/openRate(b, 100000, true), "x-open")
	}
}
