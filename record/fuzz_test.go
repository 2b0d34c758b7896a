package record

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/qsmp-go/qsmp/window"
)

func FuzzParseHeader(f *testing.F) {
	f.Add(Header{Flag: FlagConnectRequest, MsgLen: 50, UTCTime: 1750000000}.Append(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if len(b) >= HeaderSize {
				t.Fatalf("rejected a %d-byte header: %v", len(b), err)
			}
			return
		}
		m := h.Marshal()
		if !bytes.Equal(m[:], b[:HeaderSize]) {
			t.Fatal("header does not re-serialize to the bytes received")
		}
	})
}

func FuzzParsePacket(f *testing.F) {
	f.Add(append(Header{Flag: FlagEncryptedMessage, MsgLen: 3}.Append(nil), 1, 2, 3))
	f.Add(PlainError(CodeKeyExpired, 1000))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			return
		}
		if int(p.MsgLen) != len(p.Message) || !bytes.Equal(p.Marshal(), b) {
			t.Fatal("packet does not round-trip")
		}
		_, _ = ParsePlainError(b)
	})
}

// FuzzDatagramOpen feeds arbitrary bytes (and mutations of a genuine record)
// to the datagram-profile opener, through Reopen and then Open: they must
// never panic nor accept a record that differs from the genuine one, and
// they agree (the window is fresh).
func FuzzDatagramOpen(f *testing.F) {
	key, base, err := DatagramKeys(false, make([]byte, DatagramSecretSize), ClientToServer, 0)
	if err != nil {
		f.Fatal(err)
	}
	var counter atomic.Uint64
	genuine, _, _ := NewSealer(key, base, &counter).Seal(nil, nil, FlagEncryptedMessage, []byte("genuine record"), 1000)
	f.Add(genuine)
	f.Add(genuine[:HeaderSize])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		win, _ := window.NewSync(64)
		o := NewOpener(key, base, win, nil, 60)
		_, rpt, rerr := o.Reopen(nil, nil, b, 1000)
		if rerr == nil && !bytes.Equal(b, genuine) {
			t.Fatalf("reopened a forged record (%q)", rpt)
		}
		_, pt, err := o.Open(nil, nil, b, 1000)
		if err == nil && !bytes.Equal(b, genuine) {
			t.Fatalf("accepted a forged record (%q)", pt)
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Open: %v, Reopen before it: %v", err, rerr)
		}
	})
}

// FuzzStreamOpen feeds arbitrary bytes to the stream profile's opener.
func FuzzStreamOpen(f *testing.F) {
	c, _ := streamPairNoT()
	rec, _ := c.Seal([]byte("hello"), 1767225600)
	f.Add(rec)
	f.Add(rec[:21])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, s := streamPairNoT()
		_, _, err := s.Open(b, 1767225600)
		if err == nil && !bytes.Equal(b, rec) {
			t.Fatal("accepted a forged stream record")
		}
	})
}

// FuzzOpenBatch splits its input into packets (each a length byte and that
// many bytes; seeds hold genuine records) and opens them with OpenBatch and,
// on a second opener with its own window, one by one with Open: what is
// accepted, the headers, the plaintexts and the number of drops must agree
// (not always the reason: see OpenBatch), and nothing but the genuine
// records may open.
func FuzzOpenBatch(f *testing.F) {
	key, base, err := DatagramKeys(false, make([]byte, DatagramSecretSize), ClientToServer, 0)
	if err != nil {
		f.Fatal(err)
	}
	var counter atomic.Uint64
	s := NewSealer(key, base, &counter)
	// Records are sealed under no prefix or under a prefix too long for a
	// batch (opened alone, in place, by OpenBatch).
	long := bytes.Repeat([]byte{0x5a}, MaxBatchAD-HeaderSize+7)
	prefixes := [2][]byte{nil, long}
	var genuine [][]byte
	for i, pt := range []string{"", "a", "genuine record", string(make([]byte, 200)), "long prefix", "long prefix too"} {
		r, _, _ := s.Seal(nil, prefixes[i/4], FlagEncryptedMessage, []byte(pt), 1000)
		genuine = append(genuine, r)
	}
	frame := func(pkts ...[]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = append(append(b, byte(len(p))), p...)
		}
		return b
	}
	f.Add(frame(genuine[:4]...), uint64(0))
	f.Add(frame(genuine[1], genuine[1], genuine[0][:HeaderSize], genuine[2]), uint64(0))
	f.Add(frame(genuine[3][:len(genuine[3])-1], genuine[2]), uint64(0))
	f.Add([]byte{}, uint64(0))
	// A forged record before a genuine long-prefix copy of it, and records
	// with and without the long prefix mixed.
	f.Add(frame(genuine[4], genuine[4], genuine[1], genuine[5]), uint64(0b1010))
	f.Add(frame(genuine...), uint64(0b110000))
	f.Fuzz(func(t *testing.T, b []byte, longPrefix uint64) {
		var pkts [][]byte
		for len(b) > 0 && len(pkts) < 40 {
			n := min(int(b[0]), len(b)-1)
			pkts = append(pkts, bytes.Clone(b[1:1+n]))
			b = b[1+n:]
		}
		// Bit i of longPrefix gives packet i the long prefix.
		prefix := func(i int) []byte { return prefixes[longPrefix>>(i%64)&1] }
		var drops [2]window.Drops
		var ops [2]*Opener
		for i := range ops {
			win, _ := window.NewSync(64)
			ops[i] = NewOpener(key, base, win, &drops[i], 60)
		}
		items := make([]OpenItem, len(pkts))
		for i, p := range pkts {
			items[i] = OpenItem{Prefix: prefix(i), Pkt: p}
		}
		ops[0].OpenBatch(items, 1000)
		for i, p := range pkts {
			h, out, err := ops[1].Open(nil, prefix(i), p, 1000)
			it := items[i]
			if (err == nil) != (it.Err == nil) || (err == nil && (h != it.Header || !bytes.Equal(out, it.Out))) {
				t.Fatalf("packet %d: Open %v %v, OpenBatch %v %v", i, h, err, it.Header, it.Err)
			}
			if err == nil && !slices.ContainsFunc(genuine, func(g []byte) bool { return bytes.Equal(g, p) }) {
				t.Fatalf("accepted a forged record (%q)", out)
			}
		}
		// The same number of drops; by reason too, except the documented
		// difference: a copy of a record earlier in its group that also
		// fails its time or tag check is counted under that failure, not
		// as a duplicate (which needs two packets with one sequence
		// number). Never the reverse.
		got, want := drops[0].Snapshot(), drops[1].Snapshot()
		documented := repeats(pkts) && got.TooOld == want.TooOld && got.Duplicate < want.Duplicate
		if got.Total() != want.Total() || got != want && !documented {
			t.Fatalf("drops: OpenBatch %+v, Open %+v", got, want)
		}
	})
}

// repeats reports whether two packets parse with the same sequence number.
func repeats(pkts [][]byte) bool {
	seen := make(map[uint64]bool)
	for _, p := range pkts {
		pp, err := ParsePacket(p)
		if err != nil {
			continue
		}
		if seen[pp.Header.Sequence] {
			return true
		}
		seen[pp.Header.Sequence] = true
	}
	return false
}
