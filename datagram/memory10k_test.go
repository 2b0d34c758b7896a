//go:build !race

package datagram

import (
	"testing"
	"testing/synctest"
)

// TestIdleSessionMemory10k: 10,000 idle established QSMS sessions on one
// listener cost at most 8 KiB of heap each (keys, window, session state,
// the listener's maps), and add no goroutine and no timer. Too slow under
// the race detector (10,000 handshakes).
func TestIdleSessionMemory10k(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10000
		per, g, timers := idleSessions(t, n)
		t.Logf("idle established QSMS session: %d bytes of heap each (%d sessions); %d goroutines and %d timers added", per, n, g, timers)
		if g != 0 || timers != 0 {
			t.Fatalf("%d goroutines and %d sessions with a timer", g, timers)
		}
		if per > 8<<10 {
			t.Fatalf("%d bytes per idle session, want at most 8 KiB", per)
		}
	})
}
