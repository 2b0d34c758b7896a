package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/internal/vectors"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
)

// segment is one TCP payload of a capture.
type segment struct {
	seq  uint32
	data []byte
}

// readPcap reads a classic pcap file with Ethernet frames and returns the
// TCP payloads of each direction, keyed "srcport>dstport", in sequence
// order with retransmitted bytes removed. It is a small reader for tests.
func readPcap(b []byte) (map[string][]byte, error) {
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		return nil, errors.New("pcap: not a little-endian classic pcap file")
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet", lt)
	}
	segs := map[string][]segment{}
	isn := map[string]uint32{}
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			return nil, errors.New("pcap: truncated record header")
		}
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if incl > len(b)-off {
			return nil, errors.New("pcap: truncated packet")
		}
		frame := b[off : off+incl]
		off += incl
		if len(frame) < 14 {
			continue
		}
		var tcp []byte
		switch binary.BigEndian.Uint16(frame[12:]) {
		case 0x0800:
			ip := frame[14:]
			if len(ip) < 20 || ip[9] != 6 {
				continue
			}
			ihl, total := int(ip[0]&15)*4, int(binary.BigEndian.Uint16(ip[2:]))
			if total > len(ip) || ihl > total {
				return nil, errors.New("pcap: bad IPv4 header")
			}
			tcp = ip[ihl:total]
		case 0x86DD:
			ip := frame[14:]
			if len(ip) < 40 || ip[6] != 6 {
				continue
			}
			n := int(binary.BigEndian.Uint16(ip[4:]))
			if 40+n > len(ip) {
				return nil, errors.New("pcap: bad IPv6 header")
			}
			tcp = ip[40 : 40+n]
		default:
			continue
		}
		if len(tcp) < 20 {
			return nil, errors.New("pcap: short TCP header")
		}
		doff := int(tcp[12]>>4) * 4
		if doff > len(tcp) {
			return nil, errors.New("pcap: bad TCP data offset")
		}
		key := fmt.Sprintf("%d>%d", binary.BigEndian.Uint16(tcp), binary.BigEndian.Uint16(tcp[2:]))
		seq := binary.BigEndian.Uint32(tcp[4:])
		if tcp[13]&0x02 != 0 { // SYN
			isn[key] = seq + 1
		}
		if payload := tcp[doff:]; len(payload) > 0 {
			segs[key] = append(segs[key], segment{seq, payload})
		}
	}
	out := map[string][]byte{}
	for key, ss := range segs {
		base := isn[key]
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].seq-base < ss[j].seq-base })
		var stream []byte
		for _, s := range ss {
			rel := int(s.seq - base)
			switch {
			case rel > len(stream):
				return nil, fmt.Errorf("pcap: gap in %s", key)
			case rel+len(s.data) <= len(stream):
				continue // retransmission
			}
			stream = append(stream, s.data[len(stream)-rel:]...)
		}
		out[key] = stream
	}
	return out, nil
}

// splitRecords frames a direction's bytes the way the C receive loops do.
func splitRecords(b []byte) ([]record.Packet, error) {
	var out []record.Packet
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			return nil, err
		}
		n := record.HeaderSize + int(h.MsgLen)
		if n > len(b) {
			return nil, fmt.Errorf("record of %d bytes, %d left", n, len(b))
		}
		p, err := record.ParsePacket(b[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		b = b[n:]
	}
	return out, nil
}

func readKey(t *testing.T, name string) *keyfile.PublicKey {
	t.Helper()
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyfile.ReadPublicFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func capture(t *testing.T, name string) map[string][]byte {
	t.Helper()
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := readPcap(b)
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// checkData checks the data phase of one direction: encrypted records with
// consecutive sequence numbers from first, ending with the encrypted close
// when closeLen > 0.
func checkData(t *testing.T, recs []record.Packet, first uint64, tag int, wantClose bool) int {
	t.Helper()
	data := 0
	for i, r := range recs {
		if r.Sequence != first+uint64(i) {
			t.Fatalf("record %d: sequence %d, want %d", i, r.Sequence, first+uint64(i))
		}
		switch {
		case r.Flag == record.FlagEncryptedMessage && int(r.MsgLen) > tag:
			data++
		case r.Flag == record.FlagErrorCondition && int(r.MsgLen) == 1+tag && i == len(recs)-1:
		default:
			t.Fatalf("record %d: flag %v, msglen %d", i, r.Flag, r.MsgLen)
		}
	}
	if last := recs[len(recs)-1]; wantClose != (last.Flag == record.FlagErrorCondition) {
		t.Fatalf("close record present: %v, want %v", !wantClose, wantClose)
	}
	return data
}

// TestQSMSCapture frames both directions of the C client/server capture and
// verifies what can be verified without the session secrets: sizes, flags,
// sequence numbers, the key id and configuration, the server's signature
// over phash with the captured server key, and phash itself.
func TestQSMSCapture(t *testing.T) {
	dirs := capture(t, "qsms_session.pcap")
	key := readKey(t, "qsms_session_server_public_key.qpkey")
	c2s, err := splitRecords(dirs["35906>31119"])
	if err != nil {
		t.Fatal(err)
	}
	s2c, err := splitRecords(dirs["31119>35906"])
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := key.Suite.Signer()
	kem, _ := key.Suite.KEM()
	// Handshake.
	req, resp := c2s[0], s2c[0]
	w := key.Suite.Wire()
	if req.Flag != record.FlagConnectRequest || req.MsgLen != 50 || !bytes.Equal(req.Message[:16], key.KeyID[:]) || !bytes.Equal(req.Message[16:], w[:]) {
		t.Fatal("connect request does not match the server key")
	}
	if int(resp.MsgLen) != signer.SignatureSize()+32+kem.PublicKeySize() {
		t.Fatalf("connect response of %d bytes", resp.MsgLen)
	}
	n := signer.SignatureSize() + 32
	phash, err := signer.Open(key.VerifyKey, resp.Message[:n])
	if err != nil {
		t.Fatalf("the C server's signature does not verify: %v", err)
	}
	hdr := resp.Header.Marshal()
	if d := keccak.Sum256(append(hdr[:], resp.Message[n:]...)); !bytes.Equal(d[:], phash) {
		t.Fatal("phash differs")
	}
	if c2s[1].Flag != record.FlagExchangeRequest || int(c2s[1].MsgLen) != kem.CiphertextSize() || c2s[1].Sequence != 1 {
		t.Fatal("exchange request")
	}
	if s2c[1].Flag != record.FlagExchangeResponse || s2c[1].MsgLen != 64 || s2c[1].Sequence != 1 {
		t.Fatal("exchange response")
	}
	sent := checkData(t, c2s[2:], 3, 32, true)
	echoed := checkData(t, s2c[2:], 3, 32, false)
	if sent != 2 || echoed != 2 {
		t.Fatalf("%d messages and %d echoes, want 2 and 2", sent, echoed)
	}
	t.Logf("qsms_session.pcap: %d client and %d server records framed and checked", len(c2s), len(s2c))
}

// TestQSMDCapture does the same for the sender/listener capture, verifying
// all four signatures with the captured keys.
func TestQSMDCapture(t *testing.T) {
	dirs := capture(t, "qsmd_session.pcap")
	listener := readKey(t, "qsmd_session_listener_public_key.qpkey")
	sender := readKey(t, "qsmd_session_sender_public_key.qpkey")
	var c2s, s2c []record.Packet
	for k, b := range dirs {
		recs, err := splitRecords(b)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if recs[0].Flag == record.FlagConnectRequest {
			c2s = recs
		} else {
			s2c = recs
		}
	}
	if c2s == nil || s2c == nil {
		t.Fatal("directions not found")
	}
	signer, _ := listener.Suite.Signer()
	kem, _ := listener.Suite.KEM()
	sig, ek, ct := signer.SignatureSize(), kem.PublicKeySize(), kem.CiphertextSize()
	h512 := func(parts ...[]byte) []byte {
		d := keccak.Sum512(bytes.Join(parts, nil))
		return d[:]
	}
	verify := func(what string, vk []byte, p record.Packet, sigOff int, hashed ...[]byte) {
		t.Helper()
		h, err := signer.Open(vk, p.Message[sigOff:sigOff+sig+64])
		if err != nil {
			t.Fatalf("%s: signature does not verify: %v", what, err)
		}
		hdr := p.Header.Marshal()
		if !bytes.Equal(h, h512(append([][]byte{hdr[:]}, hashed...)...)) {
			t.Fatalf("%s: signed hash differs", what)
		}
	}
	m := c2s[0].Message
	if !bytes.Equal(m[:16], listener.KeyID[:]) {
		t.Fatal("connect request names another listener key")
	}
	verify("connect request", sender.VerifyKey, c2s[0], 50, m[:50])
	verify("connect response", listener.VerifyKey, s2c[0], 0, s2c[0].Message[sig+64:])
	if int(c2s[1].MsgLen) != ct+ek+sig+64 {
		t.Fatal("exchange request size")
	}
	verify("exchange request", sender.VerifyKey, c2s[1], ct+ek, c2s[1].Message[:ct+ek])
	verify("exchange response", listener.VerifyKey, s2c[1], ct, s2c[1].Message[:ct])
	for _, p := range []record.Packet{c2s[2], s2c[2]} {
		if p.MsgLen != 128 || p.Sequence != 2 {
			t.Fatal("establish messages")
		}
	}
	sent := checkData(t, c2s[3:], 4, 64, true)
	back := checkData(t, s2c[3:], 4, 64, true)
	if sent == 0 || back == 0 {
		t.Fatal("no data records")
	}
	t.Logf("qsmd_session.pcap: %d sender and %d listener records framed, 4 signatures verified", len(c2s), len(s2c))
}

func TestPcapReaderRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 24), append([]byte{0xd4, 0xc3, 0xb2, 0xa1}, make([]byte, 30)...)} {
		if _, err := readPcap(b); err == nil {
			t.Errorf("accepted %d bytes of garbage", len(b))
		}
	}
	if _, err := splitRecords([]byte{4, 0xff, 0xff, 0, 0}); err == nil {
		t.Error("splitRecords accepted a truncated header")
	}
}
