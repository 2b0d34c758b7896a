package quicx

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// FuzzParseControl: any plaintext under any flag either parses into a
// message that re-encodes to the same bytes, or fails with ErrProtocol.
func FuzzParseControl(f *testing.F) {
	f.Add(uint8(record.FlagSymmetricRatchetRequest), appendRekey(nil, rekeyRequest, 1, make([]byte, 32)))
	f.Add(uint8(record.FlagSymmetricRatchetRequest), appendRekey(nil, rekeyAck, 7, nil))
	f.Add(uint8(record.FlagErrorCondition), []byte{0})
	f.Add(uint8(record.FlagSessionEstablishVerify), []byte{readyByte})
	f.Add(uint8(record.FlagAsymmetricRatchetRequest), appendFragment(nil, 0, []byte("fragment")))
	f.Add(uint8(record.FlagAsymmetricRatchetResponse), appendFragment(nil, fragmentSize, []byte{1}))
	f.Fuzz(func(t *testing.T, flag uint8, pt []byte) {
		c, err := parseControl(record.Flag(flag), pt)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not match ErrProtocol", err)
			}
			return
		}
		var enc []byte
		switch c.flag {
		case record.FlagSymmetricRatchetRequest:
			if c.epoch == 0 {
				t.Fatal("epoch 0 accepted")
			}
			enc = appendRekey(nil, c.kind, c.epoch, c.token)
		case record.FlagErrorCondition:
			enc = []byte{c.code}
		case record.FlagSessionEstablishVerify:
			enc = []byte{readyByte}
		case record.FlagAsymmetricRatchetRequest, record.FlagAsymmetricRatchetResponse:
			if len(c.frag) == 0 || len(c.frag) > fragmentSize {
				t.Fatalf("fragment of %d bytes accepted", len(c.frag))
			}
			enc = appendFragment(nil, int(c.offset), c.frag)
		default:
			t.Fatalf("flag %v accepted", c.flag)
		}
		if !bytes.Equal(enc, pt) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, pt)
		}
	})
}

// FuzzParsePreamble: a preamble parses only when it re-encodes to the
// same bytes.
func FuzzParsePreamble(f *testing.F) {
	f.Add(preamble{}.append(nil))
	f.Add(preamble{duplex: true, keyID: [16]byte{1, 2, 3}}.append(nil))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePreamble(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not match ErrProtocol", err)
			}
			return
		}
		if enc := p.append(nil); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, b)
		}
	})
}

// FuzzReadFrame: frames are read whole or not at all, within the bound.
func FuzzReadFrame(f *testing.F) {
	h := record.Header{Flag: record.FlagErrorCondition, MsgLen: 33, Sequence: 2}
	f.Add(append(append([]byte{prefixStream}, h.Append(nil)...), make([]byte, 33)...))
	f.Add([]byte{prefixStream | epochBit, 1, 2})
	f.Add(append([]byte{prefixStream}, record.Header{MsgLen: 1 << 20}.Append(nil)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &sliceReader{b: b}
		prefix, pkt, err := readFrame(r)
		if err != nil {
			if len(b) == 0 && err != io.EOF {
				t.Fatalf("empty input: %v", err)
			}
			return
		}
		if len(pkt) > record.HeaderSize+maxControlMsgLen {
			t.Fatalf("frame of %d bytes", len(pkt))
		}
		if prefix != b[0] || !bytes.Equal(pkt, b[1:1+len(pkt)]) {
			t.Fatal("frame differs from input")
		}
		h, err := record.ParseHeader(pkt)
		if err != nil || int(h.MsgLen) != len(pkt)-record.HeaderSize {
			t.Fatalf("frame header %+v, %v", h, err)
		}
	})
}

// FuzzOpen feeds arbitrary datagrams to the record path of a Conn: nothing
// forged is accepted, and a valid record (the seeds) opens to its
// plaintext. Every rejection is counted.
func FuzzOpen(f *testing.F) {
	ds := bytes.Repeat([]byte{9}, record.DatagramSecretSize)
	exp := bytes.Repeat([]byte{3}, ExporterSize)
	cli, err := offlineConn(false, false, ds, exp, 32)
	if err != nil {
		f.Fatal(err)
	}
	for _, pt := range []string{"", "hello", string(make([]byte, 300))} {
		rec, err := cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte(pt))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add([]byte{prefixDatagram | epochBit})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		srv, err := offlineConn(false, true, ds, exp, 32)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2000)
		n, ok, short := srv.openBatch(buf, srv.stamped(pkt))
		st := srv.st.malformed.Load() + srv.st.otherFlags.Load() + srv.st.staleEpoch.Load() + srv.drops.Snapshot().Total()
		if !ok {
			if st != 1 || short != 0 {
				t.Fatalf("rejection counted %d times (short %d)", st, short)
			}
			return
		}
		if st != 0 {
			t.Fatalf("accepted with %d drops", st)
		}
		// Only records the client sealed open: re-sealing is not possible
		// without the key, so the plaintext must be one of the seeds'.
		got := string(buf[:n])
		if got != "" && got != "hello" && got != string(make([]byte, 300)) {
			t.Fatalf("forged record accepted: %q", got)
		}
	})
}

// FuzzAssembly feeds a sequence of asymmetric ratchet fragments (each: flag
// bit, LE16 offset delta, length byte) to the reassembly of a 600-byte
// message: it completes only with exactly the bytes of fragments of one
// flag given in order, and anything else fails with ErrProtocol.
func FuzzAssembly(f *testing.F) {
	f.Add([]byte{0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 0, 200})
	f.Add([]byte{0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 90})
	f.Add([]byte{0, 0, 0, 100, 1, 0, 0, 100})
	f.Add([]byte{0, 0, 0, 100, 0, 5, 0, 100})
	f.Add([]byte{0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255})
	f.Fuzz(func(t *testing.T, steps []byte) {
		const need = 600
		var a assembly
		var want []byte // the model: bytes of the message in progress
		var flag0 record.Flag
		for i := 0; i+4 <= len(steps); i += 4 {
			flag := record.FlagAsymmetricRatchetRequest
			if steps[i]&1 == 1 {
				flag = record.FlagAsymmetricRatchetResponse
			}
			delta := int(steps[i+1]) | int(steps[i+2])<<8
			n := max(1, int(steps[i+3]))
			frag := bytes.Repeat([]byte{byte(i)}, n)
			ok := delta == 0 && len(want)+n <= need && (want == nil || flag == flag0)
			msg, err := a.add(control{flag: flag, offset: uint32(len(want) + delta), frag: append([]byte(nil), frag...)}, need)
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v does not match ErrProtocol", err)
				}
				if ok {
					t.Fatalf("step %d refused: %v", i/4, err)
				}
				if a.busy() {
					t.Fatal("a failed assembly stays busy")
				}
				want = nil
				continue
			}
			if !ok {
				t.Fatalf("step %d accepted (have %d, delta %d, %d bytes, flag %v after %v)", i/4, len(want), delta, n, flag, flag0)
			}
			if want == nil {
				want, flag0 = []byte{}, flag
			}
			want = append(want, frag...)
			switch {
			case msg != nil:
				if !bytes.Equal(msg, want) || len(msg) != need || a.busy() {
					t.Fatalf("message of %d bytes differs from the %d bytes given", len(msg), len(want))
				}
				want = nil
			case len(want) >= need || !a.busy():
				t.Fatalf("%d bytes in and no message", len(want))
			}
		}
	})
}
