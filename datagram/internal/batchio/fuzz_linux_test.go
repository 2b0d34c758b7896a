package batchio

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// FuzzGROSplit feeds the GRO path arbitrary control data, segment sizes,
// payload sizes, batch sizes and buffer sizes: the control-message reader
// must never panic or read out of bounds, a well-formed UDP_GRO message
// must give back its segment size, and the splitter must cut any payload
// into datagrams that tile it exactly, in order, all of the segment size
// but the last (which is no longer and not empty), each cut to its buffer.
func FuzzGROSplit(f *testing.F) {
	b := make([]byte, 64)
	n := putGRO(b, 1400)
	f.Add(b[:n], int32(1400), uint32(5*1400+250), uint8(3), uint16(2048))
	f.Add([]byte{}, int32(1), uint32(0), uint8(1), uint16(0))
	f.Add(b[:n-3], int32(-1), uint32(65535), uint8(64), uint16(100))
	f.Add(b[:n], int32(65535), uint32(65536), uint8(0), uint16(65535))
	f.Add(bytes.Repeat([]byte{0xff}, 40), int32(1000), uint32(3000), uint8(2), uint16(1000))
	from := netip.MustParseAddrPort("[2001:db8::7]:4433")
	f.Fuzz(func(t *testing.T, oob []byte, seg int32, total uint32, batch uint8, bufSize uint16) {
		// Arbitrary control data: an error or a positive segment size.
		got, err := groSegment(oob)
		if err != nil && !errors.Is(err, errControl) || err == nil && got < 0 || err != nil && got != 0 {
			t.Fatalf("groSegment(% x) = %d, %v", oob, got, err)
		}
		// A well-formed message gives back its size.
		cm := make([]byte, 64)
		cm = cm[:putGRO(cm, seg)]
		back, err := groSegment(cm)
		if seg > 0 && (back != int(seg) || err != nil) || seg <= 0 && !errors.Is(err, errControl) {
			t.Fatalf("segment %d read back as %d, %v", seg, back, err)
		}
		for _, s := range []int{got, back} {
			split(t, s, int(total%(1<<17)), max(int(batch), 1), int(bufSize), from)
		}
	})
}

// split cuts a payload of total bytes at seg and checks every datagram,
// copied and as views.
func split(t *testing.T, seg, total, batch, bufSize int, from netip.AddrPort) {
	splitMode(t, seg, total, batch, bufSize, from, false)
	splitMode(t, seg, total, batch, bufSize, from, true)
}

func splitMode(t *testing.T, seg, total, batch, bufSize int, from netip.AddrPort, view bool) {
	p := payload(1, total, total)
	var s segments
	s.reset(p, seg, from)
	want := segCount(total, seg)
	msgs := make([]Message, batch)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	count, off := 0, 0
	for !s.done() {
		for i := range msgs {
			msgs[i].Buf = bufs[i] // a view replaces it
		}
		n := s.drain(msgs, view)
		if n < 1 || n > batch {
			t.Fatalf("drain gave %d for %d messages", n, batch)
		}
		for _, m := range msgs[:n] {
			size := total
			if seg > 0 && total > seg {
				size = min(seg, total-off)
			}
			if size <= 0 && total > 0 || count > 0 && size == 0 {
				t.Fatalf("seg %d total %d: empty datagram %d", seg, total, count)
			}
			wantN := min(size, bufSize)
			if view {
				// The datagram itself, whole, inside the payload.
				wantN = size
				if size > 0 && &m.Buf[0] != &p[off] || len(m.Buf) != size {
					t.Fatalf("seg %d total %d: view %d is not the payload's bytes at %d", seg, total, count, off)
				}
			}
			if m.N != wantN || m.Addr != from || !bytes.Equal(m.Buf[:m.N], p[off:off+m.N]) {
				t.Fatalf("seg %d total %d buf %d view %v: datagram %d has %d bytes, want %d of %d at %d",
					seg, total, bufSize, view, count, m.N, wantN, size, off)
			}
			off += size
			count++
		}
	}
	if count != want || off != total {
		t.Fatalf("seg %d total %d: %d datagrams covering %d bytes, want %d covering all", seg, total, count, off, want)
	}
	if s.drain(msgs, view) != 0 {
		t.Fatal("drain after done gave more")
	}
}
