// Package window implements the receiver's acceptance checks for QSMP datagram records: an
// anti-replay sequence-number window in the style of RFC 6479, the packet-time check, and
// counters of dropped records by reason.
//
// # Sequence numbers
//
// A [Window] of size W starts empty; the first number it accepts may be any value, including 0
// and 2^64-1. After it has accepted numbers whose highest is H, a number s is accepted if and
// only if
//
//   - s > H, or
//   - H-s < W and s has not been accepted before.
//
// Anything else is rejected with [ErrTooOld] (H-s >= W) or [ErrDuplicate]. Arithmetic is on
// uint64 and never wraps: a number "above" 2^64-1 does not exist, and a number far below H is
// simply too old. These rules are exactly those of a naive model that remembers every accepted
// number in a set, which the tests check against.
//
// The window is a ring of 64-bit words (RFC 6479): testing or setting a bit is O(1), moving the
// highest number forward clears at most W/64+1 words (one word per 64 in-order numbers), and no
// method allocates. The ring holds W/64+1 words, one more than the W bits it guards, so that
// whole words can be cleared as the window moves without forgetting a number still inside it.
//
// The receive order (RFC 4303 section 3.4.3) is: parse; [Window.Check], a read-only pre-check
// that drops replays before any cryptography; verify the record's tag; then
// [Window.CheckAndSet], which records the number. A number whose record did not authenticate
// must never reach CheckAndSet.
//
// [Window] is for a single goroutine. [Sync] wraps it with a mutex for receivers that run on
// several goroutines; it is the type used in production.
//
// # Time
//
// [CheckTime] is the QSMP packet-time rule with a configurable threshold (the reference uses
// [DefaultTimeThreshold], 60 seconds; 0 disables the check).
//
// # Drops
//
// [Drops] counts dropped records by [Reason]; [ReasonOf] maps this package's errors to reasons.
package window

import (
	"errors"
	"fmt"
)

const (
	// DefaultSize is the default window size W in sequence numbers.
	DefaultSize = 8192
	// MaxSize is the largest size [New] accepts (its bitmap takes 128 KiB).
	MaxSize = 1 << 20
	// wordBits is the number of sequence numbers one bitmap word covers.
	wordBits = 64
)

// Sentinel errors. Errors returned by this package are, or wrap, one of these; test with
// [errors.Is].
var (
	// ErrTooOld reports a sequence number at least W below the highest accepted one.
	ErrTooOld = errors.New("window: sequence number too old")
	// ErrDuplicate reports a sequence number that was already accepted.
	ErrDuplicate = errors.New("window: duplicate sequence number")
	// ErrTime reports a packet time outside the accepted interval around the local time.
	ErrTime = errors.New("window: packet time outside the accepted window")
	// ErrSize reports an invalid window size given to [New] or [NewSync].
	ErrSize = errors.New("window: invalid size")
)

// Window is an anti-replay window over 64-bit sequence numbers. It is not safe for concurrent
// use; see [Sync].
//
// The zero value is an empty window of [DefaultSize]; its bitmap is allocated by the first
// [Window.CheckAndSet]. A Window made by [New] never allocates after New returns.
type Window struct {
	words   []uint64 // ring of len(words) = size/64 + 1 words
	size    uint64   // W, a multiple of 64
	highest uint64   // highest accepted number; meaningful only if started
	pos     int      // index in words of the word holding highest
	started bool     // at least one number accepted since creation or Reset
}

// New returns an empty window of at least size sequence numbers. The size is rounded up to a
// multiple of 64, the bitmap word size (RFC 6479), so sizes 1 to 64 give 64 and 65 gives 128;
// [Window.Size] reports the effective size, which is the W of the acceptance rule. New returns
// an error wrapping [ErrSize] if size <= 0 or size > [MaxSize].
func New(size int) (*Window, error) {
	w := new(Window)
	if err := w.init(size); err != nil {
		return nil, err
	}
	return w, nil
}

// init sets up an empty window of the given size (see New).
func (w *Window) init(size int) error {
	if size <= 0 || size > MaxSize {
		return fmt.Errorf("%w: %d (must be 1 to %d)", ErrSize, size, MaxSize)
	}
	n := (size + wordBits - 1) / wordBits
	*w = Window{words: make([]uint64, n+1), size: uint64(n) * wordBits}
	return nil
}

// Size returns the window size W: the effective size, a multiple of 64.
func (w *Window) Size() int {
	if w.size == 0 {
		return DefaultSize
	}
	return int(w.size)
}

// Highest returns the highest accepted sequence number, or 0 if the window is empty (see
// [Window.Empty] to tell an empty window from one whose highest number is 0).
func (w *Window) Highest() uint64 {
	if !w.started {
		return 0
	}
	return w.highest
}

// Empty reports whether the window has accepted no number since it was made or reset.
func (w *Window) Empty() bool { return !w.started }

// Reset empties the window, keeping its size and bitmap. After Reset any number is accepted
// again.
func (w *Window) Reset() {
	clear(w.words)
	w.highest, w.pos, w.started = 0, 0, false
}

// Check reports whether seq would be accepted now: nil, [ErrTooOld] or [ErrDuplicate]. It does
// not change the window, so it is safe to call on numbers from records that have not been
// authenticated yet.
func (w *Window) Check(seq uint64) error {
	if !w.started || seq > w.highest {
		return nil
	}
	if w.highest-seq >= w.size {
		return ErrTooOld
	}
	idx, bit := w.locate(seq)
	if w.words[idx]&bit != 0 {
		return ErrDuplicate
	}
	return nil
}

// CheckAndSet accepts seq and records it, or returns why it is rejected ([ErrTooOld] or
// [ErrDuplicate]) and leaves the window unchanged. Call it only for authenticated records.
func (w *Window) CheckAndSet(seq uint64) error {
	if !w.started {
		if w.words == nil {
			// Zero value: the size is valid, so init cannot fail.
			_ = w.init(DefaultSize)
		}
		w.started, w.highest, w.pos = true, seq, 0
		w.words[0] = 1 << (seq % wordBits)
		return nil
	}
	if seq > w.highest {
		w.advance(seq)
		return nil
	}
	if w.highest-seq >= w.size {
		return ErrTooOld
	}
	idx, bit := w.locate(seq)
	if w.words[idx]&bit != 0 {
		return ErrDuplicate
	}
	w.words[idx] |= bit
	return nil
}

// locate returns the ring index and bit mask of seq, which must satisfy
// highest-size < seq <= highest. Such a number lies at most size/64 words below the word of
// highest, so it never aliases another number still in the window.
func (w *Window) locate(seq uint64) (int, uint64) {
	back := int(w.highest/wordBits - seq/wordBits) // 0 <= back <= size/64 < len(words)
	idx := w.pos - back
	if idx < 0 {
		idx += len(w.words)
	}
	return idx, 1 << (seq % wordBits)
}

// advance makes seq (> highest) the new highest number and records it, clearing the words the
// window moves into.
func (w *Window) advance(seq uint64) {
	n := len(w.words)
	fwd := seq/wordBits - w.highest/wordBits // words to move forward
	switch {
	case fwd == 0:
		// Same word: bits above highest in it are already clear.
	case fwd >= uint64(n):
		// Every word leaves the window; the ring position is arbitrary.
		clear(w.words)
		w.pos = 0
	default:
		start := w.pos + 1
		end := w.pos + int(fwd) // last word to clear, before wrapping; < 2n
		if end < n {
			clear(w.words[start : end+1])
			w.pos = end
		} else {
			clear(w.words[start:]) // empty when start == n
			w.pos = end - n
			clear(w.words[:w.pos+1])
		}
	}
	w.highest = seq
	w.words[w.pos] |= 1 << (seq % wordBits)
}
