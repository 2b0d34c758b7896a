package stream

import (
	"bytes"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// FuzzReadRecord feeds arbitrary bytes to the TCP framing: it must return a
// whole record whose msglen matches, or an error, and never read more than
// the limit allows for the record's flag.
func FuzzReadRecord(f *testing.F) {
	f.Add(append(record.Header{Flag: record.FlagEncryptedMessage, MsgLen: 3}.Append(nil), 1, 2, 3))
	f.Add(record.PlainError(record.CodeKeyExpired, 1))
	f.Add(record.Header{Flag: record.FlagAsymmetricRatchetRequest, MsgLen: 0xFFFFFFFF}.Append(nil))
	f.Add([]byte{4, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pkt, err := readRecordLimit(bytes.NewReader(b), dataLimit)
		if err != nil {
			return
		}
		p, err := record.ParsePacket(pkt)
		if err != nil {
			t.Fatalf("framed record does not parse: %v", err)
		}
		if int(p.MsgLen) > dataLimit(p.Flag) || p.MsgLen == 0 || !bytes.Equal(pkt, b[:len(pkt)]) {
			t.Fatal("framing returned a record it should have refused")
		}
	})
}
