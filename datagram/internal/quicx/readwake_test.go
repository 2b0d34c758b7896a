package quicx

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestReadShortBufferWakesNext: a Read with too small a buffer leaves the
// record for the next Read and wakes it, which returns the record without
// waiting for its deadline or for more traffic.
func TestReadShortBufferWakesNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		s := p.srv
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
		if _, err := p.cli.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		var sb *ShortBufferError
		if err := <-shortErr; !errors.As(err, &sb) || sb.Size != 5 {
			t.Fatalf("short Read: %v, want a ShortBufferError for 5 bytes", err)
		}
		if g := <-got; g != "hello" {
			t.Fatalf("second Read: %q, want %q", g, "hello")
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Fatalf("second Read returned after %v, want it woken at once", el)
		}
	})
}
