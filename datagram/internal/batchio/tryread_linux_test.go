package batchio

import (
	"errors"
	"testing"
	"time"
)

// TestTryReadBatchView: on an empty socket TryReadBatchView returns
// ErrWouldBlock at once (not after a wait), and once datagrams are there
// it returns them, as ReadBatchView would.
func TestTryReadBatchView(t *testing.T) {
	for _, m := range configs {
		if m.name == "loop" {
			continue // TestTryReadWithoutMMsg
		}
		t.Run(m.name, func(t *testing.T) {
			rx, tx := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
			r, w := New(rx, 16, m.opts...), New(tx, 16, m.opts...)
			msgs := make([]Message, 16)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 2048)
			}
			start := time.Now()
			if n, err := r.TryReadBatchView(msgs); n != 0 || !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("empty socket: %d, %v; want 0, ErrWouldBlock", n, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("empty socket: TryReadBatchView took %v", d)
			}
			out := []Message{{Buf: payload(1, 0, 300), Addr: addrOf(rx)}, {Buf: payload(1, 1, 300), Addr: addrOf(rx)}}
			if _, err := w.WriteBatch(out); err != nil {
				t.Fatal(err)
			}
			got := 0
			for deadline := time.Now().Add(5 * time.Second); got < len(out); {
				n, err := r.TryReadBatchView(msgs)
				if errors.Is(err, ErrWouldBlock) {
					if time.Now().After(deadline) {
						t.Fatalf("%d of %d datagrams read", got, len(out))
					}
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, msg := range msgs[:n] {
					if string(msg.Buf[:msg.N]) != string(out[got].Buf) || msg.Addr != addrOf(tx) {
						t.Fatalf("datagram %d: %d bytes from %v", got, msg.N, msg.Addr)
					}
					got++
				}
			}
			if n, err := r.TryReadBatchView(msgs); n != 0 || !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("drained socket: %d, %v; want 0, ErrWouldBlock", n, err)
			}
		})
	}
}

// TestTryReadWithoutMMsg: a Conn without the batched engine cannot read
// without waiting, and says so rather than block.
func TestTryReadWithoutMMsg(t *testing.T) {
	r := New(listen(t, "udp4", "127.0.0.1:0"), 16, WithoutMMsg())
	msgs := []Message{{Buf: make([]byte, 64)}}
	if n, err := r.TryReadBatchView(msgs); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("%d, %v; want 0, ErrWouldBlock", n, err)
	}
	if got := r.MaxRead(); got != 1 {
		t.Fatalf("MaxRead = %d, want 1", got)
	}
	if r.Buffered() {
		t.Fatal("Buffered with nothing read")
	}
}

// TestBufferedAndMaxRead: datagrams the kernel coalesced beyond what one
// call's Messages hold stay Buffered until handed out; MaxRead Messages
// take any read whole.
func TestBufferedAndMaxRead(t *testing.T) {
	rx, r, _, w := needOffload(t, "udp4", "127.0.0.1:0")
	if got, want := r.MaxRead(), len(r.sys.rh)*maxSegments; got != want {
		t.Fatalf("MaxRead = %d, want %d", got, want)
	}
	if got := New(listen(t, "udp4", "127.0.0.1:0"), 24, WithoutGRO()).MaxRead(); got != 24 {
		t.Fatalf("MaxRead without GRO = %d, want the batch, 24", got)
	}
	const k = 10
	out := make([]Message, k)
	for i := range out {
		out[i] = Message{Buf: payload(2, i, 500), Addr: addrOf(rx)}
	}
	if _, err := w.WriteBatch(out); err != nil { // one GSO send
		t.Fatal(err)
	}
	small := make([]Message, 3)
	got := 0
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := r.ReadBatchView(small)
	if err != nil {
		t.Fatal(err)
	}
	got += n
	if n != len(small) || !r.Buffered() {
		// One GSO send arrives as one coalesced payload of k datagrams.
		t.Fatalf("first read: %d datagrams, Buffered %v; want %d and the rest buffered", n, r.Buffered(), len(small))
	}
	for r.Buffered() {
		n, err := r.ReadBatchView(small)
		if err != nil || n == 0 {
			t.Fatalf("buffered datagrams: %d, %v", n, err)
		}
		got += n
	}
	big := make([]Message, r.MaxRead())
	for got < k {
		n, err := r.ReadBatchView(big)
		if err != nil {
			t.Fatalf("%d of %d read: %v", got, k, err)
		}
		got += n
		if r.Buffered() {
			t.Fatalf("MaxRead (%d) Messages left datagrams buffered", len(big))
		}
	}
	if got != k {
		t.Fatalf("read %d datagrams, sent %d", got, k)
	}
}

// TestSaturated: a read that fills every buffer it offers the kernel says
// so (more is probably waiting); one that does not, does not.
func TestSaturated(t *testing.T) {
	for _, m := range configs[:4] { // the batched engine's
		t.Run(m.name, func(t *testing.T) {
			rx, tx := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
			const batch, extra = 16, 4
			r, w := New(rx, batch, m.opts...), New(tx, batch, WithoutGSO()) // datagrams apart: one buffer each
			out := make([]Message, batch+extra)
			for i := range out {
				out[i] = Message{Buf: payload(3, i, 200), Addr: addrOf(rx)}
			}
			if _, err := w.WriteBatch(out[:batch]); err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteBatch(out[batch:]); err != nil {
				t.Fatal(err)
			}
			msgs := make([]Message, r.MaxRead())
			for i := range msgs {
				msgs[i].Buf = make([]byte, 2048)
			}
			rx.SetReadDeadline(time.Now().Add(5 * time.Second))
			time.Sleep(10 * time.Millisecond) // all of them in the socket's queue
			n, err := r.ReadBatchView(msgs)
			if err != nil || n != batch || !r.Saturated() {
				t.Fatalf("first read: %d, %v, saturated %v; want %d and saturated", n, err, r.Saturated(), batch)
			}
			n, err = r.ReadBatchView(msgs)
			if err != nil || n != extra || r.Saturated() {
				t.Fatalf("second read: %d, %v, saturated %v; want %d, not saturated", n, err, r.Saturated(), extra)
			}
		})
	}
}
