package quicx

import (
	"sync"
	"time"
)

// deadline is a settable point in time with a channel that is closed once
// it has passed; it holds a timer only while a future deadline is set.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	expiry chan struct{} // closed when the deadline has passed; nil until needed
	passed bool
	set    bool // a deadline (past or future) is set
}

// arm sets the deadline to t (the zero time clears it).
func (d *deadline) arm(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.passed {
		// A passed deadline that is moved gets a fresh channel.
		d.expiry, d.passed = nil, false
	}
	d.set = !t.IsZero()
	if !d.set {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.expireLocked()
		return
	}
	var tm *time.Timer
	tm = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.timer == tm { // not moved since
			d.expireLocked()
		}
	})
	d.timer = tm
}

func (d *deadline) expireLocked() {
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	if !d.passed {
		close(d.expiry)
		d.passed = true
	}
	d.timer = nil
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	return d.expiry
}

// state reports whether a deadline is set and whether it has passed.
func (d *deadline) state() (set, passed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.set, d.passed
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
