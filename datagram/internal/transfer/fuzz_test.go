package transfer

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// FuzzReassembler feeds arbitrary Add sequences to a Reassembler and checks
// it against a byte-per-byte model: results, held bytes, ranges, completion
// and contents. Input: size (2 bytes, 1..4096), then records of offset (2),
// length (2) and a corruption byte (non-zero: the copy differs from the
// message where the corruption byte says).
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0x10, 0x00, 0, 0, 8, 0, 0, 8, 0, 8, 0, 0})
	f.Add([]byte{0x64, 0x00, 50, 0, 60, 0, 0, 0, 0, 100, 0, 7, 200, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		size := int(binary.LittleEndian.Uint16(in))%4096 + 1
		in = in[2:]
		msg := testMessage(size, uint64(size))
		budget := NewBudget(Cost(size))
		r, err := NewReassembler(size, budget)
		if err != nil {
			t.Fatal(err)
		}
		held := make([]bool, size)
		value := make([]byte, size)
		for len(in) >= 5 {
			off := int(binary.LittleEndian.Uint16(in))
			n := int(binary.LittleEndian.Uint16(in[2:]))
			corrupt := in[4]
			in = in[5:]
			data := make([]byte, n)
			for i := range data {
				if off+i < size {
					data[i] = msg[off+i]
				}
			}
			if corrupt != 0 && n > 0 {
				data[int(corrupt)%n] ^= corrupt
			}
			res, err := r.Add(uint32(off), data)
			switch {
			case n == 0:
				if !errors.Is(err, ErrEmpty) {
					t.Fatalf("empty fragment: %v, %v", res, err)
				}
				continue
			case off+n > size:
				if !errors.Is(err, ErrOverrun) {
					t.Fatalf("overrun [%d,%d) of %d: %v, %v", off, off+n, size, res, err)
				}
				continue
			case errors.Is(err, ErrTooFragmented):
				continue // the model cannot reach MaxRanges at size 4096, but allow it
			case err != nil:
				t.Fatalf("Add: %v", err)
			}
			// Model.
			conflict, allHeld := false, true
			for i := range n {
				if held[off+i] {
					conflict = conflict || value[off+i] != data[i]
				} else {
					allHeld = false
				}
			}
			want := New
			switch {
			case conflict:
				want = Conflict
			case allHeld:
				want = Duplicate
			}
			if res != want {
				t.Fatalf("Add([%d,%d)) = %v, model says %v", off, off+n, res, want)
			}
			if want == New {
				for i := range n {
					held[off+i], value[off+i] = true, data[i]
				}
			}
		}
		// Compare held bytes, ranges and completeness with the model.
		var ranges []Range
		count := 0
		for i := 0; i < size; i++ {
			if !held[i] {
				continue
			}
			j := i
			for j < size && held[j] {
				if r.Bytes()[j] != value[j] {
					t.Fatalf("byte %d = %#x, model %#x", j, r.Bytes()[j], value[j])
				}
				j++
			}
			ranges = append(ranges, Range{Start: uint32(i), End: uint32(j)})
			count += j - i
			i = j
		}
		got := r.Ranges(MaxRanges)
		if len(got) != len(ranges) {
			t.Fatalf("ranges %v, model %v", got, ranges)
		}
		for i := range got {
			if got[i] != ranges[i] {
				t.Fatalf("ranges %v, model %v", got, ranges)
			}
		}
		if r.Held() != count || r.Complete() != (count == size) || len(r.Bytes()) != size {
			t.Fatalf("held %d (model %d), complete %v", r.Held(), count, r.Complete())
		}
		r.Release()
		if budget.Used() != 0 {
			t.Fatal("budget not returned")
		}
	})
}

// FuzzSender drives a Sender with arbitrary acks and clock steps and checks
// it against a model: it never panics, every fragment it returns is a piece
// of the message, in-flight accounting stays consistent, a fragment is acked
// exactly when an ack covered all of it after it was first sent, and the
// Sender is done exactly when every fragment is. Input: message size (2
// bytes), payload (1 byte), then records of op (1), a (2), b (2): op%5 == 0
// acks [a·8, b·8), 1 advances the clock by a ms then polls, 2 advances to
// the deadline and polls, 3 probes a%8 fragments, 4 acks [a·8, b·8) in an
// ack of wire.MaxAckRanges ranges (all the same), which may have left
// higher ones out. It also checks Covers against the model and that a
// Sender not done always has a deadline.
func FuzzSender(f *testing.F) {
	f.Add([]byte{0x00, 0x10, 100, 1, 10, 0, 0, 0, 0, 0, 0, 0, 80, 0, 1, 100, 0, 0, 0, 2, 0, 0, 0, 0})
	f.Add([]byte{0x47, 0x00, 200, 2, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 {
			return
		}
		size := int(binary.LittleEndian.Uint16(in)) % 20000
		payload := int(in[2]) + 1
		in = in[3:]
		msg := testMessage(size, 3)
		s := NewSender(msg, payload, nil, nil)
		n := (size + payload - 1) / payload
		sent := make([]bool, n)
		acked := make([]bool, n)
		now := t0
		check := func(frags []Fragment) {
			for _, fr := range frags {
				end := int(fr.Offset) + len(fr.Data)
				if len(fr.Data) == 0 || end > size || int(fr.Offset)%payload != 0 || &fr.Data[0] != &msg[fr.Offset] ||
					(len(fr.Data) != payload && end != size) {
					t.Fatalf("bad fragment [%d,%d)", fr.Offset, end)
				}
				i := int(fr.Offset) / payload
				if acked[i] {
					t.Fatalf("fragment %d resent after its ack", i)
				}
				sent[i] = true
			}
			inFlight, unknown := 0, 0
			for _, f := range s.frags {
				if f.inFlight {
					inFlight++
				}
				if f.unknown {
					unknown++
				}
				if f.inFlight && f.unknown || f.acked && (f.inFlight || f.unknown || f.lost) {
					t.Fatalf("fragment state %+v", f)
				}
			}
			if inFlight != s.InFlight() || unknown != s.unknown {
				t.Fatalf("in flight %d (counted %d), unknown %d (counted %d)", s.InFlight(), inFlight, s.unknown, unknown)
			}
			if !s.Done() && s.NextDeadline().IsZero() {
				t.Fatal("not done, yet no deadline: stalled")
			}
		}
		poll := func() { check(s.Poll(now)) }
		poll()
		for len(in) >= 5 {
			op, a, b := in[0]%5, int(binary.LittleEndian.Uint16(in[1:])), int(binary.LittleEndian.Uint16(in[3:]))
			in = in[5:]
			switch op {
			case 0, 4:
				rg := Range{Start: uint32(a * 8), End: uint32(b * 8)}
				ranges := []Range{rg}
				if op == 4 {
					ranges = slices.Repeat(ranges, wire.MaxAckRanges)
				}
				if got, want := s.Covers(ranges), rg.Start == 0 && int(rg.End) >= size || size == 0; got != want {
					t.Fatalf("Covers(%v) = %v for %d bytes", rg, got, size)
				}
				progress := s.OnAck(ranges, now)
				newly := false
				for i := range n {
					start, end := i*payload, min((i+1)*payload, size)
					if sent[i] && !acked[i] && int(rg.Start) <= start && end <= int(rg.End) {
						acked[i], newly = true, true
					}
				}
				if progress != newly {
					t.Fatalf("OnAck(%v) progress %v, model %v", rg, progress, newly)
				}
				check(nil)
			case 3:
				limit := a % 8
				if limit < 1 {
					limit = MaxProbes
				}
				probes := s.Probe(now, limit)
				if len(probes) > limit {
					t.Fatalf("Probe(%d) sent %d", a%8, len(probes))
				}
				for _, fr := range probes {
					if i := int(fr.Offset) / payload; !sent[i] {
						t.Fatalf("Probe sent fragment %d, never sent before", i)
					}
				}
				check(probes)
			case 1:
				now = now.Add(time.Duration(a) * time.Millisecond)
				poll()
			case 2:
				if d := s.NextDeadline(); d.After(now) {
					now = d
				}
				poll()
			}
		}
		all := true
		for i := range n {
			if s.frags[i].acked != acked[i] {
				t.Fatalf("fragment %d acked %v, model %v", i, s.frags[i].acked, acked[i])
			}
			all = all && acked[i]
		}
		if s.Done() != all {
			t.Fatalf("done %v, model %v", s.Done(), all)
		}
		if s.Done() != s.NextDeadline().IsZero() {
			t.Fatalf("done %v but deadline %v", s.Done(), s.NextDeadline())
		}
	})
}
