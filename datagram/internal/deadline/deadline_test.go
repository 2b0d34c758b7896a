package deadline

import (
	"testing"
	"testing/synctest"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestDeadline: a future deadline fires at its time and holds a timer
// until then; a past one is expired at once; moving or clearing a passed
// deadline gives a fresh, open channel; clearing releases the timer.
func TestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d Deadline
		if set, passed := d.State(); set || passed || d.HasTimer() || closed(d.Wait()) {
			t.Fatal("the zero Deadline is not clear")
		}
		start := time.Now()
		d.Set(start.Add(time.Second))
		if !d.HasTimer() || d.Expired() {
			t.Fatal("a future deadline: no timer, or expired")
		}
		<-d.Wait()
		if time.Since(start) != time.Second || !d.Expired() || d.HasTimer() {
			t.Fatalf("fired after %v, expired %v, timer %v", time.Since(start), d.Expired(), d.HasTimer())
		}
		d.Set(time.Now().Add(time.Second)) // moved after it passed
		if d.Expired() || closed(d.Wait()) {
			t.Fatal("a moved deadline stayed expired")
		}
		d.Set(time.Now().Add(-time.Second))
		if !d.Expired() || !closed(d.Wait()) || d.HasTimer() {
			t.Fatal("a past deadline is not expired at once")
		}
		d.Set(time.Now().Add(time.Hour))
		d.Set(time.Time{})
		if set, passed := d.State(); set || passed || d.HasTimer() {
			t.Fatalf("cleared: set %v, passed %v, timer %v", set, passed, d.HasTimer())
		}
		d.Set(time.Now().Add(time.Hour))
		d.Stop()
		if d.HasTimer() {
			t.Fatal("Stop left the timer")
		}
		time.Sleep(2 * time.Hour)
		if d.Expired() {
			t.Fatal("a stopped deadline fired")
		}
	})
}
