package datagram

import (
	"testing"
	"testing/synctest"
)

// TestRecQueueKeepsRoom: a queue that drains and refills (a reader keeping
// up) keeps its room and allocates nothing after the first fill; one that
// grew beyond keptQueue is dropped when drained, so an idle Conn holds
// little.
func TestRecQueueKeepsRoom(t *testing.T) {
	var q recQueue
	bufs := make([]*[]byte, max(4*keptQueue, 64))
	for i := range bufs {
		b := []byte{byte(i)}
		bufs[i] = &b
	}
	cycle := func(n int) {
		for _, b := range bufs[:n] {
			q.push(b)
		}
		for i := range n {
			b, ok := q.front()
			if !ok || b != bufs[i] {
				t.Fatalf("record %d of %d out of order", i, n)
			}
			q.pop()
		}
		if _, ok := q.front(); ok || q.len() != 0 {
			t.Fatal("drained queue not empty")
		}
	}
	// The records a fast reader finds queued at a time (the socket reader
	// hands over up to 16 at once, and Read may lag a few batches).
	const busy = 48
	cycle(busy)
	if allocs := testing.AllocsPerRun(100, func() { cycle(busy) }); allocs != 0 {
		t.Fatalf("a refill of %d records allocates %.1f times, want 0", busy, allocs)
	}
	if cap(q.items) == 0 {
		t.Fatal("drained queue dropped its room")
	}
	cycle(len(bufs))
	if cap(q.items) != 0 {
		t.Fatalf("a queue grown to %d entries kept them after draining", len(bufs))
	}
}

// TestDropClearsBuffer: a datagram given up before it was sent (a deferred
// record still holds its plaintext) is cleared before its buffer goes back
// to the pool.
func TestDropClearsBuffer(t *testing.T) {
	ep := &endpoint{cfg: &config{}}
	ep.cfg.MaxPayload = DefaultMaxPayload
	s := &sock{ep: ep}
	bp := ep.getBuf()
	*bp = append(*bp, "secret plaintext"...)
	b := *bp
	s.drop(bp, nil)
	for i, c := range b {
		if c != 0 {
			t.Fatalf("byte %d of the dropped datagram is %#x, want it cleared", i, c)
		}
	}
}

// TestControlPlaintextCleared: a control record's plaintext (a credit
// here; a rekey token alike) is cleared once it has been handled, and a data
// record's is not (Read still needs it).
func TestControlPlaintextCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := fuzzSession(t)
		defer c.Close()
		ctl := credit(c.txSeq.Load() + 10)
		feedLocked(c, authRecord{flag: flagCredit, buf: bufOf(ctl)})
		if c.fc.limit.Load() != c.txSeq.Load()+10 {
			t.Fatal("the credit was not applied")
		}
		for i, b := range ctl {
			if b != 0 {
				t.Fatalf("byte %d of the handled credit record is %#x, want it cleared", i, b)
			}
		}
		data := []byte("data")
		feedLocked(c, authRecord{flag: flagData, buf: bufOf(data), seq: 1})
		if string(data) != "data" {
			t.Fatalf("a queued data record was changed to %q", data)
		}
	})
}
