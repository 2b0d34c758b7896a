package datagram

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// TestHelperReadersKeepOrder: when a socket falls behind, helper readers
// open its records on other cores, and the records still reach Read in
// the order they were sent, none lost. The listener's socket readers are
// stalled (the gate held) while the client writes a burst, so that the
// next read brings in several batches at once and starts a helper.
func TestHelperReadersKeepOrder(t *testing.T) {
	twoProcs(t)
	ctx, c, s := goodputSession(t)
	burstsInOrder(t, ctx, c, s)
	if got := s.sock().gate.states; got > maxReadStates {
		t.Fatalf("the listener's socket made %d read states, at most %d", got, maxReadStates)
	}
}

// TestClientHelperReaders: a dialed Conn's socket has helpers too, one at
// most (so two read states): the records the listener writes to it in
// bursts arrive complete and in order.
func TestClientHelperReaders(t *testing.T) {
	twoProcs(t)
	ctx, c, s := goodputSession(t)
	burstsInOrder(t, ctx, s, c)
	g := &c.sock().gate
	g.mu.Lock()
	states, helpers := g.states, len(g.readers)
	g.mu.Unlock()
	if states > clientSockHelpers+1 || helpers > clientSockHelpers {
		t.Fatalf("the dialed Conn's socket made %d read states and %d helper readers, at most %d and %d", states, helpers, clientSockHelpers+1, clientSockHelpers)
	}
}

// twoProcs gives the test at least 2 Ps: a helper reader needs a second
// core.
func twoProcs(t *testing.T) {
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

// burstsInOrder writes bursts from w to r while r's socket readers are
// stalled (its gate held), until a helper reader took a chunk of r's
// socket, and checks that r reads every record in order.
func burstsInOrder(t *testing.T, ctx context.Context, w, r *Conn) {
	t.Helper()
	g := &r.sock().gate
	const burst, maxRounds = 200, 50 // a burst fits the initial credit and the receive queue
	type result struct {
		n   uint64
		err string
	}
	total := make(chan uint64, 1)
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, 2*goodputSize)
		var n, want uint64
		limit := ^uint64(0)
		for n < limit {
			select {
			case limit = <-total:
				continue
			default:
			}
			r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			k, err := r.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					done <- result{n, "read: " + err.Error()}
					return
				}
				continue
			}
			if got := binary.BigEndian.Uint64(buf[:k]); got != want {
				done <- result{n, "out of order"}
				return
			}
			n++
			want++
		}
		done <- result{n, ""}
	}()

	msg := make([]byte, goodputSize)
	var sent uint64
	rounds := 0
	h0 := g.helped.Load() // the handshake's datagrams may have started one
	for ; rounds < maxRounds && (rounds == 0 || g.helped.Load() == h0); rounds++ {
		g.mu.Lock() // stalls the readers once they are done with what they have
		for range burst {
			binary.BigEndian.PutUint64(msg, sent)
			if _, err := w.Write(msg); err != nil {
				g.mu.Unlock()
				t.Fatal(err)
			}
			sent++
		}
		time.Sleep(20 * time.Millisecond) // the burst reaches the socket
		g.mu.Unlock()
		// Let the readers catch up, as the credit would make a writer.
		for deadline := time.Now().Add(5 * time.Second); r.Stats().RecordsIn < sent && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	total <- sent
	res := <-done
	if res.err != "" {
		t.Fatalf("record %d of %d: %s", res.n, sent, res.err)
	}
	if res.n != sent {
		t.Fatalf("read %d of %d records", res.n, sent)
	}
	if g.helped.Load() == h0 {
		t.Fatalf("%d rounds of %d records: no helper reader took a batch", rounds, burst)
	}
	t.Logf("%d rounds: helpers took %d batches; %d records in order", rounds, g.helped.Load()-h0, sent)
}
