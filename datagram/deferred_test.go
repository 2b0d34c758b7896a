package datagram

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// TestLoopbackDeferredSealing streams records over real loopback UDP, where
// the socket batches and its sender goroutine seals queued data records
// together (Sealer.Defer, SealDeferred), while the client rekeys several
// times: every record that arrives opens intact under the epoch it was
// written in (none twice), nearly all arrive, and every transmit key the
// client used is zeroed once its queued records are gone and the session
// is closed.
func TestLoopbackDeferredSealing(t *testing.T) {
	srv, cli := pairConfigs(t, false)
	srv.PrefixRate = -1
	srv.ReceiveQueue = 1 << 15
	srv.RekeyGrace, cli.RekeyGrace = 50*time.Millisecond, 50*time.Millisecond
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
	if !c.sock().batched {
		t.Skip("this socket does not batch (no sendmmsg): the deferred path is not used")
	}
	const size = 1000
	var got sync.Map
	var wg sync.WaitGroup
	var bad, dup, late int
	wg.Go(func() {
		next := uint32(0) // above the highest record read so far
		buf := make([]byte, 2*size)
		for {
			// Long enough for a stall of a loaded machine under -race: a
			// reader that gives up early loses the records still to come.
			s.SetReadDeadline(time.Now().Add(2 * time.Second))
			k, err := s.Read(buf)
			if err != nil {
				return
			}
			i := binary.LittleEndian.Uint32(buf)
			if k != size || buf[k-1] != byte(i) {
				bad++
				continue
			}
			if _, loaded := got.LoadOrStore(i, true); loaded {
				dup++
			}
			if i < next {
				late++ // loopback does not reorder, nor may the readers
			}
			next = max(next, i+1)
		}
	})
	// The writer streams until the client has rekeyed four times from
	// this goroutine, so that keys change while records wait in the
	// socket's queue to be sealed.
	var keys []*txKeys
	var stop sync.WaitGroup
	done := make(chan struct{})
	var written uint32
	stop.Go(func() {
		msg := make([]byte, size)
		for i := uint32(0); ; i++ {
			select {
			case <-done:
				written = i
				return
			default:
			}
			binary.LittleEndian.PutUint32(msg, i)
			msg[size-1] = byte(i)
			if _, err := c.Write(msg); err != nil {
				t.Error(err)
				written = i
				return
			}
		}
	})
	for range 4 {
		time.Sleep(20 * time.Millisecond)
		c.keyMu.RLock()
		keys = append(keys, c.keys.tx)
		c.keyMu.RUnlock()
		if err := c.Rekey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	close(done)
	stop.Wait()
	c.keyMu.RLock()
	keys = append(keys, c.keys.tx)
	c.keyMu.RUnlock()
	wg.Wait()
	n := 0
	got.Range(func(any, any) bool { n++; return true })
	st := c.Stats()
	ss := s.Stats()
	t.Logf("%d of %d records delivered, %d rekeys; server drops %+v, epoch %d, queue %d; helper readers took %d batches",
		n, written, st.Rekeys, ss.Drops, ss.EpochDrops, ss.QueueDrops, s.sk.gate.helped.Load())
	if bad != 0 || dup != 0 || late != 0 {
		t.Fatalf("%d corrupted, %d duplicate and %d reordered records", bad, dup, late)
	}
	if n < int(written)*95/100 || st.Rekeys < 4 {
		t.Fatalf("%d of %d records delivered, %d rekeys", n, written, st.Rekeys)
	}
	if d := s.Stats().Drops; d.Auth != 0 {
		t.Fatalf("%d records failed authentication", d.Auth)
	}
	c.Close()
	for i, k := range keys {
		if q, d := k.queued.Load(), k.done.Load(); !k.cleared.Load() || q != d {
			t.Fatalf("transmit keys %d (epoch %d): cleared %v, %d records queued, %d sealed", i, k.epoch, k.cleared.Load(), q, d)
		}
	}
}
