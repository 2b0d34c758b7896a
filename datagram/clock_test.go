package datagram

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestUnixNow: the records' protocol clock follows the system clock (read
// at most every wallRefresh, advanced by the monotonic clock in between)
// when Config.Now is not set, and is Config.Now when it is.
func TestUnixNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := pairConfigs(t, false)
		srv.Now = nil
		l, err := NewListener(newCapturePC("127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ep := l.ep
		if !ep.cfg.systemClock {
			t.Fatal("no Config.Now, yet not the system clock")
		}
		for range 50 {
			if got, want := ep.unixNow(ep.now()), uint64(time.Now().Unix()); got != want {
				t.Fatalf("unixNow %d, system clock %d", got, want)
			}
			time.Sleep(37 * time.Millisecond)
		}
		first := ep.wall.Load()
		ep.unixNow(ep.now())
		if ep.wall.Load() != first {
			t.Fatal("the clock was read again within wallRefresh")
		}
		time.Sleep(wallRefresh)
		ep.unixNow(ep.now())
		if ep.wall.Load() == first {
			t.Fatal("the clock was not read again after wallRefresh")
		}

		fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		srv2, _ := pairConfigs(t, false)
		srv2.Now = func() time.Time { return fixed }
		l2, err := NewListener(newCapturePC("127.0.0.1:4434"), srv2)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		if got := l2.ep.unixNow(l2.ep.now()); got != uint64(fixed.Unix()) || l2.ep.cfg.systemClock {
			t.Fatalf("with Config.Now: %d, want %d", got, fixed.Unix())
		}
	})
}
