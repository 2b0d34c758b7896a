package stream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// chunkConn hands out its data in chunks whose sizes come from sizes, and
// fails some reads with a timeout (after or without delivering bytes), as
// a TCP connection with a read deadline can.
type chunkConn struct {
	net.Conn
	data  []byte
	sizes []byte
	i     int
}

func (c *chunkConn) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	s := byte(0x07)
	if len(c.sizes) > 0 {
		s = c.sizes[c.i%len(c.sizes)]
		c.i++
	}
	n := int(s & 0x3F)
	if n == 0 && c.i%2 == 0 {
		n = 1 // a stream of empty timeouts would never end
	}
	n = min(n, len(b), len(c.data))
	copy(b, c.data[:n])
	c.data = c.data[n:]
	if s&0x40 != 0 || n == 0 {
		return n, os.ErrDeadlineExceeded
	}
	return n, nil
}

func (c *chunkConn) Close() error { return nil }

// FuzzConnFraming: Conn's record framing, which keeps a partly read record
// across read timeouts, cuts a byte stream delivered in arbitrary chunks,
// interrupted by timeouts, into exactly the records (and the final error)
// that reading it in one piece gives.
func FuzzConnFraming(f *testing.F) {
	rec := func(flag record.Flag, n int) []byte {
		return append(record.Header{Flag: flag, MsgLen: uint32(n), Sequence: 1}.Append(nil), bytes.Repeat([]byte{0xA5}, n)...)
	}
	two := append(rec(record.FlagEncryptedMessage, 40), rec(record.FlagSymmetricRatchetRequest, 96)...)
	f.Add(two, []byte{5, 0x40, 16, 0x4A, 1})
	f.Add(two[:50], []byte{0x3F})
	f.Add(append(rec(record.FlagNone, 3), record.Header{Flag: record.FlagEncryptedMessage, MsgLen: record.MessageMax + 1}.Append(nil)...), []byte{2, 0x43})
	f.Add(record.PlainError(record.CodeKeyExpired, 1), []byte{})
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		var want [][]byte
		var wantErr error
		ref := bytes.NewReader(data)
		for {
			pkt, err := readRecordLimit(ref, dataLimit)
			if err != nil {
				wantErr = err
				break
			}
			want = append(want, pkt)
		}

		c := newConn(&chunkConn{data: data, sizes: sizes}, nil, &Config{})
		var got [][]byte
		var gotErr error
		for timeouts := 0; ; {
			pkt, err := c.readRecord()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if timeouts++; timeouts > 4*len(data)+8 {
					t.Fatal("no progress across timeouts")
				}
				continue
			}
			if err != nil {
				gotErr = err
				break
			}
			got = append(got, pkt)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
		for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, ErrRecordSize} {
			if errors.Is(gotErr, e) != errors.Is(wantErr, e) {
				t.Fatalf("final error %v, want %v", gotErr, wantErr)
			}
		}
		if errors.Is(gotErr, ErrRecordSize) && !c.closed {
			t.Fatal("a msglen out of range did not end the connection")
		}
	})
}
