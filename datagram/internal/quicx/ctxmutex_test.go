package quicx

import (
	"context"
	"errors"
	"testing"
)

// TestCtxMutex: the zero value is unlocked; Lock, TryLock and LockContext
// exclude each other; LockContext gives up when its context ends; Unlock
// of an unlocked mutex panics, as sync.Mutex's does.
func TestCtxMutex(t *testing.T) {
	var m ctxMutex
	if !m.TryLock() {
		t.Fatal("zero value locked")
	}
	if m.TryLock() {
		t.Fatal("TryLock of a locked mutex succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.LockContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("LockContext of a locked mutex: %v", err)
	}
	m.Unlock()
	if err := m.LockContext(ctx); err != nil {
		t.Fatalf("LockContext of an unlocked mutex, context ended: %v", err)
	}
	done := make(chan struct{})
	held := false
	go func() {
		m.Lock()
		held = true
		m.Unlock()
		close(done)
	}()
	m.Unlock()
	<-done
	if !held {
		t.Fatal("Lock after Unlock did not run")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Unlock of an unlocked mutex did not panic")
		}
	}()
	m.Unlock()
}
