package window

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzWindow decodes the input as a window size and a program of operations and runs it on a
// Window, a Sync and the naive model, which must agree on every result.
//
// Layout: byte 0 picks the size (64 to 4096 in steps of 64); bytes 1-8
// are a starting number (big-endian). Then each operation takes 3 bytes: op, a, b. The low 3
// bits of op choose how the number is formed from the model's highest number H and v = a<<8|b:
// H+a, H-a, H-v, H+v, H+(a<<56|b), 2^64-1-v, v, or a reset; bit 3 of op makes it a read-only
// Check instead of a CheckAndSet.
func FuzzWindow(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 1, 0, 1, 1})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0, 0, 5, 1, 0, 3, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 9 {
			return
		}
		size := (int(data[0])%64 + 1) * 64
		w, err := New(size)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSync(size)
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(w.Size())
		hw := &harness{t: t, w: w, m: m}
		first := binary.BigEndian.Uint64(data[1:9])
		hw.set(first)
		if err := s.CheckAndSet(first); err != nil {
			t.Fatalf("Sync rejected the first number: %v", err)
		}
		for p := data[9:]; len(p) >= 3; p = p[3:] {
			op, a, b := p[0], uint64(p[1]), uint64(p[2])
			v := a<<8 | b
			h := m.highest
			var seq uint64
			switch op % 8 {
			case 0:
				seq = h + a
			case 1:
				seq = h - a
			case 2:
				seq = h - v
			case 3:
				seq = h + v
			case 4:
				seq = h + (a<<56 | b)
			case 5:
				seq = math.MaxUint64 - v
			case 6:
				seq = v
			case 7:
				hw.reset()
				s.Reset()
				continue
			}
			if op&8 != 0 {
				got := s.Check(seq)
				hw.check(seq) // compares Window with the model
				if got != m.check(seq) {
					t.Fatalf("Sync.Check(%d) = %v, model %v", seq, got, m.check(seq))
				}
				continue
			}
			if got, want := s.CheckAndSet(seq), m.check(seq); got != want {
				t.Fatalf("Sync.CheckAndSet(%d) = %v, model %v", seq, got, want)
			}
			hw.set(seq) // compares Window with the model, then updates the model
			if s.Highest() != m.highest {
				t.Fatalf("Sync.Highest() = %d, model %d", s.Highest(), m.highest)
			}
		}
		hw.sweep()
	})
}

// FuzzCheckTime compares CheckTime with the unbounded-integer reference.
func FuzzCheckTime(f *testing.F) {
	f.Add(uint64(1_700_000_000), uint64(1_700_000_060), uint64(60))
	f.Add(uint64(0), uint64(0), uint64(0))
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64-60), uint64(60))
	f.Fuzz(func(t *testing.T, local, utctime, threshold uint64) {
		err := CheckTime(local, utctime, threshold)
		if want := refCheckTime(local, utctime, threshold); (err == nil) != want {
			t.Fatalf("CheckTime(%d, %d, %d) = %v, reference ok=%v", local, utctime, threshold, err, want)
		}
		if err != nil && err != ErrTime {
			t.Fatalf("error %v is not ErrTime", err)
		}
	})
}
