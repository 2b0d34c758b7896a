package wire

import (
	"bytes"
	"errors"
	"testing"
)

// isSentinel reports whether err is one of the package's sentinel errors.
func isSentinel(err error) bool {
	for _, s := range []error{ErrShort, ErrLength, ErrVersion, ErrKind, ErrFlags, ErrMessageIndex, ErrFragment, ErrRanges, ErrNonZeroID} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzPeek(f *testing.F) {
	f.Add(sampleFragmentBytes())
	f.Add([]byte{1, 0x84, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, r, err := Peek(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(b) < HeaderSize || b[0] != Version || k&EpochBit != 0 {
			t.Fatalf("accepted %x as %v", b, k)
		}
		if r != le.Uint64(b[2:10]) {
			t.Fatal("wrong receiver")
		}
	})
}

func FuzzParseFragment(f *testing.F) {
	f.Add(sampleFragmentBytes())
	g := Fragment{Receiver: 1, Sender: 2, Message: 4, Length: 3, Data: []byte("abc")}
	f.Add(g.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFragment(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := fr.Validate(); err != nil {
			t.Fatalf("parsed fragment does not validate: %v", err)
		}
		if out := fr.Append(nil); !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzParseAck(f *testing.F) {
	a := Ack{Receiver: 3, Sender: 4, Message: 1, Ranges: []Range{{0, 1200}, {2400, 2500}}}
	f.Add(a.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAck(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("parsed ack does not validate: %v", err)
		}
		if out := a.Append(nil); !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzParseCookieReply(f *testing.F) {
	c := CookieReply{Echo: 77}
	f.Add(c.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCookieReply(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if out := c.Append(nil); !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add(AppendRecord(nil, 42, true, make([]byte, 40)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if out := AppendRecord(nil, r.Receiver, r.EpochBit, r.Packet); !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
		if p := RecordPrefix(r.Receiver, r.EpochBit); !bytes.Equal(p[:], r.Prefix) {
			t.Fatal("Prefix differs from RecordPrefix")
		}
	})
}
