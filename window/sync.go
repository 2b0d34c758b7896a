package window

import "sync"

// Sync is a [Window] guarded by a mutex, safe for concurrent use by several receiving
// goroutines. It is the window used in production: one per direction of a session.
//
// The zero value is an empty window of [DefaultSize]. A Sync must not be copied after first use.
type Sync struct {
	mu sync.Mutex
	w  Window
}

// NewSync returns an empty concurrency-safe window of at least size sequence numbers, with the
// same rounding and limits as [New].
func NewSync(size int) (*Sync, error) {
	s := new(Sync)
	if err := s.w.init(size); err != nil {
		return nil, err
	}
	return s, nil
}

// Check is [Window.Check] under the lock: a read-only pre-check.
func (s *Sync) Check(seq uint64) error {
	s.mu.Lock()
	err := s.w.Check(seq)
	s.mu.Unlock()
	return err
}

// CheckAndSet is [Window.CheckAndSet] under the lock. Of several goroutines that present the
// same number, exactly one gets nil.
func (s *Sync) CheckAndSet(seq uint64) error {
	s.mu.Lock()
	err := s.w.CheckAndSet(seq)
	s.mu.Unlock()
	return err
}

// Do calls f with the window under the lock, so that checking a group of
// records takes the lock once. f must not call the methods of s.
func (s *Sync) Do(f func(w *Window)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.w)
}

// Highest is [Window.Highest] under the lock.
func (s *Sync) Highest() uint64 {
	s.mu.Lock()
	h := s.w.Highest()
	s.mu.Unlock()
	return h
}

// Empty is [Window.Empty] under the lock.
func (s *Sync) Empty() bool {
	s.mu.Lock()
	e := s.w.Empty()
	s.mu.Unlock()
	return e
}

// Size returns the window size W (it never changes).
func (s *Sync) Size() int {
	s.mu.Lock()
	n := s.w.Size()
	s.mu.Unlock()
	return n
}

// Reset is [Window.Reset] under the lock.
func (s *Sync) Reset() {
	s.mu.Lock()
	s.w.Reset()
	s.mu.Unlock()
}
