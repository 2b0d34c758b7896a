package window

import (
	"errors"
	"strconv"
	"sync/atomic"
)

// Reason is why a received record was dropped.
type Reason uint8

// The drop reasons. The zero Reason is not a valid reason.
const (
	// ReasonTooOld: the sequence number is at least W below the highest accepted one.
	ReasonTooOld Reason = iota + 1
	// ReasonDuplicate: the sequence number was already accepted (a replay or a network
	// duplicate).
	ReasonDuplicate
	// ReasonTime: the packet time is outside the accepted interval.
	ReasonTime
	// ReasonAuth: the record failed authentication (its tag did not verify).
	ReasonAuth

	numReasons = int(ReasonAuth) + 1
)

// String returns a short lower-case name: "too old", "duplicate", "time" or "authentication".
func (r Reason) String() string {
	switch r {
	case ReasonTooOld:
		return "too old"
	case ReasonDuplicate:
		return "duplicate"
	case ReasonTime:
		return "time"
	case ReasonAuth:
		return "authentication"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Valid reports whether r is one of the defined reasons.
func (r Reason) Valid() bool { return r >= ReasonTooOld && r <= ReasonAuth }

// ReasonOf maps an error that is or wraps [ErrTooOld], [ErrDuplicate] or [ErrTime] to its
// reason. It returns false for any other error, including nil; authentication failures come
// from the record layer, whose callers count them as [ReasonAuth] themselves.
func ReasonOf(err error) (Reason, bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, ErrDuplicate):
		return ReasonDuplicate, true
	case errors.Is(err, ErrTooOld):
		return ReasonTooOld, true
	case errors.Is(err, ErrTime):
		return ReasonTime, true
	}
	return 0, false
}

// Drops counts dropped records per [Reason]. All methods are safe for concurrent use and do not
// allocate. The zero value is ready to use, with every count 0. A Drops must not be copied after
// first use.
type Drops struct {
	n [numReasons]atomic.Uint64 // index 0 is unused
}

// Add counts one drop for r. An invalid reason is ignored.
func (d *Drops) Add(r Reason) {
	if r.Valid() {
		d.n[r].Add(1)
	}
}

// AddErr counts one drop for the reason of err (see [ReasonOf]) and reports whether err had
// one.
func (d *Drops) AddErr(err error) bool {
	r, ok := ReasonOf(err)
	if ok {
		d.n[r].Add(1)
	}
	return ok
}

// Get returns the count for r, or 0 for an invalid reason.
func (d *Drops) Get(r Reason) uint64 {
	if !r.Valid() {
		return 0
	}
	return d.n[r].Load()
}

// Snapshot returns every count. Each count is read atomically, but counts may move between
// reads, so the snapshot is not one instant when other goroutines are adding.
func (d *Drops) Snapshot() DropCounts {
	return DropCounts{
		TooOld:    d.n[ReasonTooOld].Load(),
		Duplicate: d.n[ReasonDuplicate].Load(),
		Time:      d.n[ReasonTime].Load(),
		Auth:      d.n[ReasonAuth].Load(),
	}
}

// DropCounts is a copy of the counts of a [Drops].
type DropCounts struct {
	TooOld    uint64 // records dropped as too old
	Duplicate uint64 // records dropped as duplicates
	Time      uint64 // records dropped by the time check
	Auth      uint64 // records that failed authentication
}

// Total returns the sum of the counts.
func (c DropCounts) Total() uint64 { return c.TooOld + c.Duplicate + c.Time + c.Auth }

// Get returns the count for r, or 0 for an invalid reason.
func (c DropCounts) Get(r Reason) uint64 {
	switch r {
	case ReasonTooOld:
		return c.TooOld
	case ReasonDuplicate:
		return c.Duplicate
	case ReasonTime:
		return c.Time
	case ReasonAuth:
		return c.Auth
	}
	return 0
}
