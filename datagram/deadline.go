package datagram

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
}

// set arms the deadline at t (the zero time clears it).
func (d *deadline) set(t time.Time) {
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
	if t.IsZero() {
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

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
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
