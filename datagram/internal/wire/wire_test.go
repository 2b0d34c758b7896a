package wire

import (
	"bytes"
	"errors"
	"testing"
)

func sampleFragment() Fragment {
	var kid [KeyIDSize]byte
	for i := range kid {
		kid[i] = byte(0xA0 + i)
	}
	cookie := bytes.Repeat([]byte{0xC5}, CookieSize)
	return Fragment{
		Receiver: 0x0102030405060708, Sender: 0x1112131415161718,
		Message: 0, Length: 1000, Offset: 990,
		Cookie: cookie, InitiatorKeyID: &kid, Data: []byte("0123456789"),
	}
}

func TestFragmentLayout(t *testing.T) {
	f := sampleFragment()
	b := f.Append(nil)
	want := []byte{1, 1, 8, 7, 6, 5, 4, 3, 2, 1, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		0, 0xe8, 0x03, 0, 0, 0xde, 0x03, 0, 0, FlagCookie | FlagKeyID}
	if !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("fixed fields\n got %x\nwant %x", b[:len(want)], want)
	}
	if len(b) != FragmentOverhead(true, true)+10 || len(b) != f.Size() {
		t.Fatalf("length %d, overhead %d, size %d", len(b), FragmentOverhead(true, true), f.Size())
	}
	if FragmentOverhead(false, false) != 28 || FragmentOverhead(true, false) != 60 || FragmentOverhead(false, true) != 44 {
		t.Fatal("FragmentOverhead does not match the documented layout")
	}
	g, err := ParseFragment(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Receiver != f.Receiver || g.Sender != f.Sender || g.Message != f.Message || g.Length != f.Length ||
		g.Offset != f.Offset || !bytes.Equal(g.Cookie, f.Cookie) || *g.InitiatorKeyID != *f.InitiatorKeyID ||
		!bytes.Equal(g.Data, f.Data) {
		t.Fatalf("round trip: got %+v want %+v", g, f)
	}
	// Zero copy: the data aliases the input.
	b[len(b)-1] = 'X'
	if g.Data[len(g.Data)-1] != 'X' {
		t.Fatal("Data does not alias the input")
	}
	if k, r, err := Peek(b); err != nil || k != KindFragment || r != f.Receiver {
		t.Fatalf("Peek = %v %x %v", k, r, err)
	}
}

func TestFragmentWithoutOptions(t *testing.T) {
	f := Fragment{Receiver: 9, Sender: 7, Message: 3, Length: 5, Offset: 0, Data: []byte("hello")}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	b := f.Append([]byte("prefix"))
	if string(b[:6]) != "prefix" || len(b) != 6+28+5 {
		t.Fatalf("Append did not append: %x", b)
	}
	g, err := ParseFragment(b[6:])
	if err != nil {
		t.Fatal(err)
	}
	if g.Cookie != nil || g.InitiatorKeyID != nil || string(g.Data) != "hello" || g.Message != 3 {
		t.Fatalf("got %+v", g)
	}
}

func TestFragmentErrors(t *testing.T) {
	good := Fragment{Receiver: 1, Sender: 2, Message: 0, Length: 100, Offset: 10, Data: []byte("abc")}
	enc := good.Append(nil)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), enc...)) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header only", enc[:HeaderSize], ErrShort},
		{"fixed minus one", enc[:27], ErrShort},
		{"no data", enc[:28], ErrFragment},
		{"version", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrVersion},
		{"kind", mut(func(b []byte) []byte { b[1] = 0x07; return b }), ErrKind},
		{"epoch bit", mut(func(b []byte) []byte { b[1] = 0x81; return b }), ErrKind},
		{"ack kind", mut(func(b []byte) []byte { b[1] = 0x02; return b }), ErrKind},
		{"message index", mut(func(b []byte) []byte { b[18] = 6; return b }), ErrMessageIndex},
		{"unknown flag", mut(func(b []byte) []byte { b[27] = 0x04; return b }), ErrFlags},
		{"flag on message 1", mut(func(b []byte) []byte { b[18] = 1; b[27] = FlagKeyID; return append(b, make([]byte, 16)...) }), ErrFlags},
		{"cookie truncated", mut(func(b []byte) []byte { b[27] = FlagCookie; return b }), ErrShort},
		{"key id truncated", mut(func(b []byte) []byte { b[27] = FlagKeyID; return b }), ErrShort},
		{"cookie, no data", mut(func(b []byte) []byte { b[27] = FlagCookie; return append(b[:28], make([]byte, 32)...) }), ErrFragment},
		{"overrun", mut(func(b []byte) []byte { b[23] = 98; return b }), ErrFragment},
		{"offset wraps", mut(func(b []byte) []byte { b[23], b[24], b[25], b[26] = 0xff, 0xff, 0xff, 0xff; return b }), ErrFragment},
		{"length zero", mut(func(b []byte) []byte { b[19] = 0; b[23] = 0; return b }), ErrFragment},
	}
	for _, c := range cases {
		if _, err := ParseFragment(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// The exact end of the message is fine.
	ok := mut(func(b []byte) []byte { b[23] = 97; return b })
	if _, err := ParseFragment(ok); err != nil {
		t.Errorf("fragment ending at the message end: %v", err)
	}
}

func TestFragmentValidate(t *testing.T) {
	kid := new([KeyIDSize]byte)
	cases := []struct {
		f    Fragment
		want error
	}{
		{Fragment{Length: 1, Data: []byte{1}}, nil},
		{Fragment{Length: 1, Data: []byte{1}, Cookie: make([]byte, 32), InitiatorKeyID: kid}, nil},
		{Fragment{Message: 6, Length: 1, Data: []byte{1}}, ErrMessageIndex},
		{Fragment{Length: 1, Data: []byte{1}, Cookie: make([]byte, 31)}, ErrFlags},
		{Fragment{Message: 2, Length: 1, Data: []byte{1}, InitiatorKeyID: kid}, ErrFlags},
		{Fragment{Length: 1}, ErrFragment},
		{Fragment{Length: 1, Offset: 1, Data: []byte{1}}, ErrFragment},
	}
	for i, c := range cases {
		if err := c.f.Validate(); !errors.Is(err, c.want) {
			t.Errorf("case %d: Validate = %v, want %v", i, err, c.want)
		}
		if c.want == nil {
			if _, err := ParseFragment(c.f.Append(nil)); err != nil {
				t.Errorf("case %d: valid fragment does not parse: %v", i, err)
			}
		}
	}
}

func TestAck(t *testing.T) {
	a := Ack{Receiver: 5, Sender: 6, Message: 2, Ranges: []Range{{0, 1200}, {2400, 3600}, {4000, 4001}}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	b := a.Append(nil)
	if len(b) != AckSize(3) || AckSize(3) != 20+24 {
		t.Fatalf("ack length %d", len(b))
	}
	want := []byte{1, 2, 5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0xb0, 0x04, 0, 0}
	if !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("layout\n got %x\nwant %x", b[:len(want)], want)
	}
	g, err := ParseAck(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Receiver != 5 || g.Sender != 6 || g.Message != 2 || len(g.Ranges) != 3 || g.Ranges[2] != (Range{4000, 4001}) {
		t.Fatalf("got %+v", g)
	}
	buf := make([]Range, 0, MaxAckRanges)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseAckInto(b, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseAckInto allocates %v times", allocs)
	}

	// The largest ack.
	full := Ack{Ranges: make([]Range, MaxAckRanges)}
	for i := range full.Ranges {
		full.Ranges[i] = Range{uint32(10 * i), uint32(10*i + 5)}
	}
	if g, err := ParseAck(full.Append(nil)); err != nil || len(g.Ranges) != MaxAckRanges {
		t.Fatalf("full ack: %v", err)
	}
	// Append writes at most MaxAckRanges.
	over := Ack{Ranges: append(full.Ranges, Range{1000, 1001})}
	if over.Validate() == nil || len(over.Append(nil)) != AckSize(MaxAckRanges) {
		t.Fatal("over-long ack not bounded")
	}
}

func TestAckErrors(t *testing.T) {
	enc := func(rs ...Range) []byte { return (&Ack{Ranges: rs}).Append(nil) }
	good := enc(Range{0, 10}, Range{20, 30})
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:19], ErrShort},
		{"no ranges", enc(), ErrRanges},
		{"empty range", enc(Range{5, 5}), ErrRanges},
		{"inverted", enc(Range{6, 5}), ErrRanges},
		{"unsorted", enc(Range{20, 30}, Range{0, 10}), ErrRanges},
		{"overlap", enc(Range{0, 10}, Range{5, 30}), ErrRanges},
		{"adjacent", enc(Range{0, 10}, Range{10, 30}), ErrRanges},
		{"truncated", good[:len(good)-1], ErrLength},
		{"trailing", append(append([]byte(nil), good...), 0), ErrLength},
		{"count too big", func() []byte { b := append([]byte(nil), good...); b[19] = MaxAckRanges + 1; return b }(), ErrRanges},
		{"message index", func() []byte { b := append([]byte(nil), good...); b[18] = 9; return b }(), ErrMessageIndex},
		{"kind", func() []byte { b := append([]byte(nil), good...); b[1] = 0x01; return b }(), ErrKind},
	}
	for _, c := range cases {
		if _, err := ParseAck(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestCookieReply(t *testing.T) {
	c := CookieReply{Echo: 0xdeadbeef}
	for i := range c.Cookie {
		c.Cookie[i] = byte(i)
	}
	b := c.Append(nil)
	if len(b) != CookieReplySize || CookieReplySize != 58 {
		t.Fatalf("size %d", len(b))
	}
	g, err := ParseCookieReply(b)
	if err != nil || g != c {
		t.Fatalf("round trip %+v %v", g, err)
	}
	if _, err := ParseCookieReply(b[:57]); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
	if _, err := ParseCookieReply(append(b, 0)); !errors.Is(err, ErrLength) {
		t.Errorf("long: %v", err)
	}
	for _, bad := range []CookieReply{{Receiver: 1}, {Sender: 1}} {
		if _, err := ParseCookieReply(bad.Append(nil)); !errors.Is(err, ErrNonZeroID) {
			t.Errorf("ids %+v: %v", bad, err)
		}
	}
}

func TestRecord(t *testing.T) {
	pkt := bytes.Repeat([]byte{0x55}, MinRecordSize+16)
	for _, odd := range []bool{false, true} {
		p := RecordPrefix(0x8877665544332211, odd)
		b := AppendRecord(nil, 0x8877665544332211, odd, pkt)
		if !bytes.Equal(b[:HeaderSize], p[:]) || !bytes.Equal(b[HeaderSize:], pkt) {
			t.Fatalf("AppendRecord layout %x", b)
		}
		wantKind := byte(0x04)
		if odd {
			wantKind = 0x84
		}
		if p[0] != 1 || p[1] != wantKind || p[2] != 0x11 || p[9] != 0x88 {
			t.Fatalf("prefix %x", p)
		}
		r, err := ParseRecord(b)
		if err != nil || r.EpochBit != odd || r.Receiver != 0x8877665544332211 || !bytes.Equal(r.Packet, pkt) || !bytes.Equal(r.Prefix, p[:]) {
			t.Fatalf("ParseRecord %+v %v", r, err)
		}
		if k, _, err := Peek(b); err != nil || k != KindRecord {
			t.Fatalf("Peek kind %v %v", k, err)
		}
	}
	if _, err := ParseRecord(AppendRecord(nil, 1, false, pkt[:MinRecordSize-1])); !errors.Is(err, ErrShort) {
		t.Errorf("short record: %v", err)
	}
	if _, err := ParseRecord(sampleFragmentBytes()); !errors.Is(err, ErrKind) {
		t.Errorf("fragment as record: %v", err)
	}
}

func sampleFragmentBytes() []byte { f := sampleFragment(); return f.Append(nil) }

func TestPeek(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		kind Kind
		err  error
	}{
		{[]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, KindFragment, nil},
		{[]byte{1, 2, 0, 0, 0, 0, 0, 0, 0, 0}, KindAck, nil},
		{[]byte{1, 3, 0, 0, 0, 0, 0, 0, 0, 0}, KindCookie, nil},
		{[]byte{1, 4, 0, 0, 0, 0, 0, 0, 0, 0}, KindRecord, nil},
		{[]byte{1, 0x84, 0, 0, 0, 0, 0, 0, 0, 0}, KindRecord, nil},
		{[]byte{1, 0x83, 0, 0, 0, 0, 0, 0, 0, 0}, 0, ErrKind},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, ErrKind},
		{[]byte{1, 5, 0, 0, 0, 0, 0, 0, 0, 0}, 0, ErrKind},
		{[]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 0, ErrVersion},
		{[]byte{1, 1, 0, 0, 0, 0, 0, 0, 0}, 0, ErrShort},
	} {
		k, _, err := Peek(c.b)
		if k != c.kind || !errors.Is(err, c.err) {
			t.Errorf("Peek(%x) = %v, %v; want %v, %v", c.b, k, err, c.kind, c.err)
		}
	}
	if KindFragment.String() != "fragment" || (KindRecord|EpochBit).String() != "record(odd epoch)" || Kind(9).String() != "unknown" {
		t.Error("Kind.String")
	}
}

func TestParseAllocations(t *testing.T) {
	b := sampleFragmentBytes()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseFragment(b); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Peek(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseFragment/Peek allocate %v times", allocs)
	}
	f := sampleFragment()
	out := make([]byte, 0, 2048)
	allocs = testing.AllocsPerRun(100, func() { out = f.Append(out[:0]) })
	if allocs != 0 {
		t.Errorf("Fragment.Append allocates %v times into a large enough buffer", allocs)
	}
}

func TestRangeLen(t *testing.T) {
	if (Range{3, 10}).Len() != 7 || (Range{10, 3}).Len() != 0 || (Range{4, 4}).Len() != 0 {
		t.Fatal("Range.Len")
	}
}
