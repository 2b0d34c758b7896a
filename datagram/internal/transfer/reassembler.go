package transfer

import (
	"bytes"
	"errors"
	"math"
	"sort"
)

// MaxRanges bounds the separate byte ranges a Reassembler holds. A fragment
// that would make more is refused (ErrTooFragmented); honest senders cut a
// message into fixed fragments, so they never come near it.
const MaxRanges = 4096

// rangeBytes is the memory one held range takes.
const rangeBytes = 8

// Errors returned by NewReassembler and Reassembler.Add.
var (
	// ErrSize reports a message size below 1 or above 4 GiB - 1.
	ErrSize = errors.New("transfer: message size out of range")
	// ErrBudget reports that the reassembly memory budget is exhausted.
	ErrBudget = errors.New("transfer: reassembly memory budget exhausted")
	// ErrOverrun reports a fragment reaching beyond the message.
	ErrOverrun = errors.New("transfer: fragment beyond the end of the message")
	// ErrEmpty reports a fragment without data.
	ErrEmpty = errors.New("transfer: empty fragment")
	// ErrTooFragmented reports a fragment that would make more than
	// MaxRanges separate ranges.
	ErrTooFragmented = errors.New("transfer: too many separate ranges")
	// ErrReleased reports use of a released Reassembler.
	ErrReleased = errors.New("transfer: reassembler released")
)

// Result says what Add did with a fragment.
type Result int

// Results of Add.
const (
	// New means the fragment brought bytes not held before.
	New Result = iota + 1
	// Duplicate means every byte was held already, with the same value.
	Duplicate
	// Conflict means some byte differs from the one held: the whole
	// fragment was dropped.
	Conflict
)

// String names the result.
func (r Result) String() string {
	switch r {
	case New:
		return "new"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	}
	return "invalid"
}

// ReassemblerStats counts what a Reassembler was given.
type ReassemblerStats struct {
	// New, Duplicates and Conflicts count the results of Add.
	New, Duplicates, Conflicts int
	// Overruns counts fragments beyond the message (ErrOverrun).
	Overruns int
	// Refused counts fragments refused by ErrTooFragmented.
	Refused int
}

// Reassembler rebuilds one message of known size from fragments that come
// in any order, any number of times. It holds the message buffer (allocated
// once) and the set of received byte ranges; its memory is charged to a
// Budget until Release. A Reassembler is not safe for concurrent use.
type Reassembler struct {
	size   int
	buf    []byte
	have   []Range // sorted, disjoint, not touching
	held   int
	budget *Budget
	cost   int64
	stats  ReassemblerStats
}

// Cost returns the memory a Reassembler for a message of size bytes charges
// to its Budget: the buffer and the most ranges it can hold.
func Cost(size int) int64 {
	return int64(size) + rangeBytes*int64(min(MaxRanges, (size+1)/2))
}

// NewReassembler returns a Reassembler for a message of exactly size bytes,
// charging Cost(size) to budget (nil: no limit). It returns ErrSize for a
// size out of range and ErrBudget when the budget cannot take it.
func NewReassembler(size int, budget *Budget) (*Reassembler, error) {
	if size < 1 || uint64(size) > math.MaxUint32 {
		return nil, ErrSize
	}
	cost := Cost(size)
	if budget != nil && !budget.Reserve(cost) {
		return nil, ErrBudget
	}
	return &Reassembler{size: size, buf: make([]byte, size), budget: budget, cost: cost}, nil
}

// Add stores the bytes [offset, offset+len(data)) of the message. Bytes held
// already must match: if any differs, nothing is stored and Add returns
// Conflict. It returns an error, and stores nothing, for an empty fragment,
// one that reaches beyond the message, one that would make too many separate
// ranges, or after Release.
func (r *Reassembler) Add(offset uint32, data []byte) (Result, error) {
	if r.buf == nil {
		return 0, ErrReleased
	}
	if len(data) == 0 {
		return 0, ErrEmpty
	}
	if uint64(offset)+uint64(len(data)) > uint64(r.size) {
		r.stats.Overruns++
		return 0, ErrOverrun
	}
	start, end := offset, offset+uint32(len(data))
	// have[i:j] are the ranges that overlap or touch [start, end).
	i := sort.Search(len(r.have), func(k int) bool { return r.have[k].End >= start })
	j := i
	covered := 0
	for ; j < len(r.have) && r.have[j].Start <= end; j++ {
		lo, hi := max(r.have[j].Start, start), min(r.have[j].End, end)
		if lo < hi {
			if !bytes.Equal(r.buf[lo:hi], data[lo-start:hi-start]) {
				r.stats.Conflicts++
				return Conflict, nil
			}
			covered += int(hi - lo)
		}
	}
	if covered == len(data) {
		r.stats.Duplicates++
		return Duplicate, nil
	}
	if len(r.have)-(j-i)+1 > MaxRanges {
		r.stats.Refused++
		return 0, ErrTooFragmented
	}
	copy(r.buf[start:end], data)
	r.held += len(data) - covered
	merged := Range{Start: start, End: end}
	if i < j {
		merged.Start = min(merged.Start, r.have[i].Start)
		merged.End = max(merged.End, r.have[j-1].End)
	}
	switch {
	case i == j: // insert
		r.have = append(r.have, Range{})
		copy(r.have[i+1:], r.have[i:])
		r.have[i] = merged
	default: // replace have[i:j] with merged
		r.have[i] = merged
		r.have = append(r.have[:i+1], r.have[j:]...)
	}
	r.stats.New++
	return New, nil
}

// Ranges returns the received byte ranges, coalesced, lowest first: at most
// max of them (the lowest ones), in a new slice.
func (r *Reassembler) Ranges(max int) []Range {
	return r.AppendRanges(nil, max)
}

// AppendRanges appends at most max of the lowest received ranges to dst.
func (r *Reassembler) AppendRanges(dst []Range, max int) []Range {
	if max <= 0 {
		return dst
	}
	if max > len(r.have) {
		max = len(r.have)
	}
	return append(dst, r.have[:max]...)
}

// Size returns the size of the message.
func (r *Reassembler) Size() int { return r.size }

// Held returns how many distinct bytes of the message are held.
func (r *Reassembler) Held() int { return r.held }

// Complete reports whether every byte of the message is held.
func (r *Reassembler) Complete() bool { return r.buf != nil && r.held == r.size }

// Bytes returns the message buffer. It is the whole message once Complete;
// before, bytes not received are zero. It returns nil after Release. The
// buffer belongs to the Reassembler: copy it to keep it past Release.
func (r *Reassembler) Bytes() []byte { return r.buf }

// Stats returns what Add was given so far.
func (r *Reassembler) Stats() ReassemblerStats { return r.stats }

// Release zeroes the buffer, drops it and returns its memory to the budget.
// Calling it again does nothing.
func (r *Reassembler) Release() {
	if r.buf == nil {
		return
	}
	clear(r.buf)
	r.buf, r.have, r.held = nil, nil, 0
	if r.budget != nil {
		r.budget.Release(r.cost)
	}
}
