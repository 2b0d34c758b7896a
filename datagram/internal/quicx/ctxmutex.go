package quicx

import (
	"context"
	"sync"
)

// ctxMutex is a mutex whose Lock can give up when a context ends, for the
// ratchet lock: the reader holds it while it answers the peer, and that
// answer may be stuck behind a dead path until the stream fails, so a
// Rekey or RatchetAsymmetric waiting for it must still honour its context.
// The zero value is an unlocked mutex.
type ctxMutex struct {
	once sync.Once
	ch   chan struct{} // holds a token while locked
}

func (m *ctxMutex) init() { m.once.Do(func() { m.ch = make(chan struct{}, 1) }) }

// Lock locks m, waiting as long as it takes.
func (m *ctxMutex) Lock() {
	m.init()
	m.ch <- struct{}{}
}

// LockContext locks m, or returns ctx's error if ctx ends first.
func (m *ctxMutex) LockContext(ctx context.Context) error {
	m.init()
	select {
	case m.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock unlocks m; it is a run-time error if m is not locked.
func (m *ctxMutex) Unlock() {
	m.init()
	select {
	case <-m.ch:
	default:
		panic("quicx: unlock of unlocked ctxMutex")
	}
}

// TryLock locks m if it is unlocked and reports whether it did.
func (m *ctxMutex) TryLock() bool {
	m.init()
	select {
	case m.ch <- struct{}{}:
		return true
	default:
		return false
	}
}
