package datagram

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestReadShortBufferWakesNext: a Read with too small a buffer that is
// woken for a record leaves it queued and wakes the next blocked Read,
// which returns it without any further traffic. (The receive path wakes a
// Read only when the queue turns non-empty, so the wake-up must be passed
// on.)
func TestReadShortBufferWakesNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 11, Delay: time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		s := p.server
		s.SetReadDeadline(time.Now().Add(time.Second))

		shortErr := make(chan error, 1)
		go func() { // blocks first, so it is woken first
			_, err := s.Read(make([]byte, 1))
			shortErr <- err
		}()
		synctest.Wait()
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, 2000)
			k, err := s.Read(buf)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(buf[:k])
		}()
		synctest.Wait()

		start := time.Now()
		if _, err := p.client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		var sb *ShortBufferError
		if err := <-shortErr; !errors.As(err, &sb) || sb.Size != 5 {
			t.Fatalf("short Read: %v, want a ShortBufferError for 5 bytes", err)
		}
		if g := <-got; g != "hello" {
			t.Fatalf("second Read: %q, want %q", g, "hello")
		}
		// Woken by the short Read, not by its deadline (1 s) finding the
		// record still queued.
		if el := time.Since(start); el > 100*time.Millisecond {
			t.Fatalf("second Read returned after %v, want it woken at once", el)
		}
	})
}

// TestConcurrentReadsGetEveryRecord: records written in a burst are read
// by two concurrent Reads, each record once, none left waiting.
func TestConcurrentReadsGetEveryRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 12, Delay: time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		s := p.server
		const records = 300
		var mu sync.Mutex
		seen := make(map[byte]int)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				buf := make([]byte, 100)
				for {
					s.SetReadDeadline(time.Now().Add(time.Second))
					k, err := s.Read(buf)
					if err != nil {
						return
					}
					mu.Lock()
					seen[buf[0]]++
					mu.Unlock()
					if k != 2 {
						t.Errorf("read %d bytes, want 2", k)
					}
				}
			})
		}
		for i := range records {
			if _, err := p.client.Write([]byte{byte(i), byte(i >> 8)}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		total := 0
		for _, v := range seen {
			total += v
		}
		if total != records {
			t.Fatalf("read %d records, want %d", total, records)
		}
		if got := s.Stats().RecordsIn; got != records {
			t.Fatalf("RecordsIn %d, want %d", got, records)
		}
	})
}
