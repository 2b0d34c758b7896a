// Package deadline implements the read and write deadlines of the
// carriers' connections, as package net defines them: a settable point in
// time with a channel that is closed once it has passed. A Deadline holds a
// timer only while a future deadline is set, so an idle connection without
// deadlines holds none.
package deadline

import (
	"sync"
	"sync/atomic"
	"time"
)

// Deadline is one deadline. The zero value has none set. It is safe for
// concurrent use.
type Deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	expiry chan struct{} // closed when the deadline has passed; nil until needed
	set    bool          // a deadline (past or future) is set
	passed atomic.Bool   // written under mu; read without it by Expired (every Read and Write)
}

// Set sets the deadline to t; the zero time clears it. A deadline moved
// after it passed gets a fresh channel.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.passed.Load() {
		d.expiry = nil
		d.passed.Store(false)
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

func (d *Deadline) expireLocked() {
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	if !d.passed.Load() {
		// Passed before the channel closes: whoever the close wakes
		// sees Expired (which takes no lock) true.
		d.passed.Store(true)
		close(d.expiry)
	}
	d.timer = nil
}

// Wait returns a channel closed once the deadline has passed.
func (d *Deadline) Wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	return d.expiry
}

// Expired reports whether the deadline has passed. It takes no lock: the
// data paths ask on every call.
func (d *Deadline) Expired() bool {
	return d.passed.Load()
}

// State reports whether a deadline is set and whether it has passed.
func (d *Deadline) State() (set, passed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.set, d.passed.Load()
}

// HasTimer reports whether the Deadline holds a timer (a future deadline
// is set).
func (d *Deadline) HasTimer() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.timer != nil
}

// Stop releases the timer; the deadline's state stays as it is.
func (d *Deadline) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
