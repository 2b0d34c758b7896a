package record

import (
	"bytes"
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
// to the datagram-profile opener: it must never panic nor accept a record
// that differs from the genuine one.
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
		_, pt, err := NewOpener(key, base, win, nil, 60).Open(nil, nil, b, 1000)
		if err == nil && !bytes.Equal(b, genuine) {
			t.Fatalf("accepted a forged record (%q)", pt)
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
