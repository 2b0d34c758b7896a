package record

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

func TestHeaderRoundTrip(t *testing.T) {
	// digest 1.1: a QSMS connect request at time 1750000000.
	h := Header{Flag: FlagConnectRequest, MsgLen: 50, Sequence: 0, UTCTime: 1750000000}
	want := vectors.MustHex("01320000000000000000000000" + "80E14E6800000000")
	got := h.Marshal()
	if !bytes.Equal(got[:], want) {
		t.Fatalf("header %x, want %x", got, want)
	}
	back, err := ParseHeader(got[:])
	if err != nil || back != h {
		t.Fatalf("ParseHeader = %+v, %v", back, err)
	}
	if _, err := ParseHeader(got[:20]); !errors.Is(err, ErrShortPacket) {
		t.Fatalf("short header: %v", err)
	}
}

func TestParsePacketLengths(t *testing.T) {
	h := Header{Flag: FlagEncryptedMessage, MsgLen: 5, Sequence: 3, UTCTime: 100}
	pkt := append(h.Append(nil), 1, 2, 3, 4, 5)
	p, err := ParsePacket(pkt)
	if err != nil || !bytes.Equal(p.Message, []byte{1, 2, 3, 4, 5}) {
		t.Fatalf("ParsePacket = %v, %v", p, err)
	}
	if _, err := ParsePacket(pkt[:len(pkt)-1]); !errors.Is(err, ErrShortPacket) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := ParsePacket(append(pkt, 0)); !errors.Is(err, ErrLongPacket) {
		t.Errorf("oversized: %v", err)
	}
	huge := Header{MsgLen: 0xFFFFFFFF}.Append(nil)
	if _, err := ParsePacket(huge); !errors.Is(err, ErrShortPacket) {
		t.Errorf("huge msglen: %v", err)
	}
}

func TestTimeWindowInclusive(t *testing.T) {
	const th = 60
	cases := []struct {
		local, utc uint64
		ok         bool
	}{
		{1000, 1000, true}, {1060, 1000, true}, {940, 1000, true},
		{1061, 1000, false}, {939, 1000, false},
		{0, 1000, false}, // local 0 never passes
		{59, 59, false},  // utctime below the threshold
		{^uint64(0), ^uint64(0), false},
	}
	for _, c := range cases {
		if got := TimeValid(c.local, c.utc, th); got != c.ok {
			t.Errorf("TimeValid(%d, %d) = %v", c.local, c.utc, got)
		}
		if err := CheckTime(c.local, c.utc, th); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrTime)) {
			t.Errorf("CheckTime(%d, %d) = %v", c.local, c.utc, err)
		}
	}
	if !TimeValid(5, 1<<40, 0) {
		t.Error("threshold 0 must disable the check")
	}
	if UnixTime(time.Unix(1767225600, 0).In(time.FixedZone("x", 5*3600))) != 1767225600 {
		t.Error("UnixTime must be zone independent")
	}
}

func TestExpectOrderAndCodes(t *testing.T) {
	e := Expect{Flag: FlagExchangeRequest, MsgLen: 10, Sequence: 1, Now: 1000, Threshold: 60}
	good := Header{Flag: FlagExchangeRequest, MsgLen: 10, Sequence: 1, UTCTime: 1000}
	if err := e.Validate(good); err != nil {
		t.Fatal(err)
	}
	// Every field wrong: the time check comes first.
	bad := Header{Flag: FlagConnectRequest, MsgLen: 11, Sequence: 2, UTCTime: 2000}
	if err := e.Validate(bad); !errors.Is(err, ErrTime) {
		t.Errorf("first failure %v, want ErrTime", err)
	}
	bad.UTCTime = 1000
	if err := e.Validate(bad); !errors.Is(err, ErrMessageSize) {
		t.Errorf("second failure %v, want ErrMessageSize", err)
	}
	bad.MsgLen = 10
	if err := e.Validate(bad); !errors.Is(err, ErrSequence) {
		t.Errorf("third failure %v, want ErrSequence", err)
	}
	bad.Sequence = 1
	if err := e.Validate(bad); !errors.Is(err, ErrFlag) {
		t.Errorf("fourth failure %v, want ErrFlag", err)
	}
}

func TestPlainErrorPacket(t *testing.T) {
	pkt := PlainError(CodeKeyExpired, 1767225600)
	if len(pkt) != 22 {
		t.Fatalf("%d bytes, want 22", len(pkt))
	}
	if pkt[0] != 0x14 || pkt[12] != 0xFF || pkt[21] != 0x0E {
		t.Fatalf("packet %x", pkt)
	}
	code, err := ParsePlainError(pkt)
	if err != nil || code != CodeKeyExpired {
		t.Fatalf("ParsePlainError = %v, %v", code, err)
	}
	pkt[12] = 0
	if _, err := ParsePlainError(pkt); err == nil {
		t.Fatal("wrong sequence accepted")
	}
	if FlagErrorCondition.String() != "error_condition" || CodeVerifyFailure.String() != "verify_failure" || Flag(0x99).String() != "flag(0x99)" {
		t.Error("names")
	}
}

// streamPair returns the two ends of one stream-profile session.
func streamPair(t *testing.T, wide bool) (client, server *Stream) {
	t.Helper()
	return newStreamPair(wide)
}

// streamPairNoT is streamPair for fuzz targets.
func streamPairNoT() (client, server *Stream) { return newStreamPair(false) }

func newStreamPair(wide bool) (client, server *Stream) {
	keyLen := 32
	if wide {
		keyLen = 64
	}
	k := SessionKeys{
		C2SKey: bytes.Repeat([]byte{1}, keyLen), C2SNonce: bytes.Repeat([]byte{2}, 32),
		S2CKey: bytes.Repeat([]byte{3}, keyLen), S2CNonce: bytes.Repeat([]byte{4}, 32),
		RTCS: bytes.Repeat([]byte{5}, keyLen), DatagramSecret: bytes.Repeat([]byte{6}, 64),
	}
	mk := func(key, nonce []byte) *rcs.Cipher {
		c, err := rcs.New(key, nonce)
		if err != nil {
			panic(err)
		}
		return c
	}
	var cfg [34]byte
	copy(cfg[:], "dilithium-s3_kyber-s3_sha3_rcs256")
	client = NewStream(mk(k.C2SKey, k.C2SNonce), mk(k.S2CKey, k.S2CNonce), StreamConfig{TxSeq: 2, RxSeq: 2, Config: cfg, RTCS: k.RTCS, DatagramSecret: k.DatagramSecret, Threshold: 60})
	server = NewStream(mk(k.S2CKey, k.S2CNonce), mk(k.C2SKey, k.C2SNonce), StreamConfig{TxSeq: 2, RxSeq: 2, Server: true, Config: cfg, RTCS: k.RTCS, DatagramSecret: k.DatagramSecret, Threshold: 60})
	return client, server
}

func TestStreamProfileOrderAndTampering(t *testing.T) {
	for _, wide := range []bool{false, true} {
		c, s := streamPair(t, wide)
		const now = 1767225600
		p1, _ := c.Seal([]byte("first"), now)
		p2, _ := c.Seal([]byte("second"), now)
		// Out of order: the second record first is unsequenced.
		if _, _, err := s.Open(p2, now); !errors.Is(err, ErrSequence) || !errors.Is(err, CodePacketUnsequenced) {
			t.Fatalf("reordered: %v", err)
		}
		// Every tampered byte fails and leaves the state usable.
		for i := range p1 {
			bad := bytes.Clone(p1)
			bad[i] ^= 0x01
			if _, _, err := s.Open(bad, now); err == nil {
				t.Fatalf("flip at %d accepted", i)
			}
		}
		if _, _, err := s.Open(p1[:len(p1)-1], now); !errors.Is(err, ErrShortPacket) {
			t.Fatalf("truncated: %v", err)
		}
		// Stale time.
		if _, _, err := s.Open(p1, now+61); !errors.Is(err, ErrTime) || !errors.Is(err, CodeMessageTimeInvalid) {
			t.Fatalf("stale: %v", err)
		}
		// The genuine records still open in order: nothing was consumed.
		for _, p := range [][]byte{p1, p2} {
			if _, _, err := s.Open(p, now); err != nil {
				t.Fatalf("genuine record after failures: %v", err)
			}
		}
		// Replay.
		if _, _, err := s.Open(p1, now); !errors.Is(err, ErrSequence) {
			t.Fatalf("replay: %v", err)
		}
		if _, err := c.Seal(nil, now); !errors.Is(err, ErrEmpty) {
			t.Fatalf("empty: %v", err)
		}
		if _, err := c.Seal(make([]byte, StreamMaxPlaintext(c.TagSize())+1), now); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("too large: %v", err)
		}
		if _, err := c.Seal(make([]byte, StreamMaxPlaintext(c.TagSize())), now); err != nil {
			t.Fatalf("largest record: %v", err)
		}
	}
}

func TestStreamCloseAndRatchet(t *testing.T) {
	for _, wide := range []bool{false, true} {
		c, s := streamPair(t, wide)
		const now = 1767225600
		// Symmetric ratchet initiated by either side keeps both directions working.
		for round, pair := range [][2]*Stream{{c, s}, {s, c}} {
			a, b := pair[0], pair[1]
			token := bytes.Repeat([]byte{byte(round + 7)}, 32)
			req, err := a.SealRatchetRequest(token, now)
			if err != nil {
				t.Fatal(err)
			}
			h, got, err := b.Open(req, now+1000) // ratchet records are not time-checked
			if err != nil || h.Flag != FlagSymmetricRatchetRequest || !bytes.Equal(got, token) {
				t.Fatalf("ratchet request: %v", err)
			}
			if wide && h.UTCTime != 0 {
				t.Fatal("QSMD ratchet records carry utctime 0")
			}
			if err := b.Rekey(got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.DatagramSecret(), b.DatagramSecret()) {
				t.Fatal("datagram secrets differ after the ratchet")
			}
			for _, dir := range [][2]*Stream{{a, b}, {b, a}} {
				p, _ := dir[0].Seal([]byte("after ratchet"), now)
				if _, pt, err := dir[1].Open(p, now); err != nil || string(pt) != "after ratchet" {
					t.Fatalf("round %d: record after ratchet: %v", round, err)
				}
			}
		}
		// Encrypted close: 54 (QSMS) or 86 (QSMD) bytes, code 0.
		cl, err := c.SealClose(CodeNone, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := 22 + c.TagSize(); len(cl) != want {
			t.Fatalf("close packet %d bytes, want %d", len(cl), want)
		}
		h, pt, err := s.Open(cl, now)
		if err != nil || h.Flag != FlagErrorCondition || !bytes.Equal(pt, []byte{0}) {
			t.Fatalf("close: %v", err)
		}
	}
}

// TestQSMDRatchetVector reproduces digest 13.4's symmetric ratchet vector.
func TestQSMDRatchetVector(t *testing.T) {
	rtcs := vectors.MustHex("95bb96d98cbb4ee5673b837f3d6e3a52b0d86303619d49a589a7118e457654a19b8540e471f5ec122d7a33b04e164a541f4867448e9aac8123c1fe56e7470a64")
	token := vectors.MustHex("e53511a3d710b2e71088db4e758ecafb3cbae99e99e68470146f52df4469fc12")
	cfg := append([]byte("dilithium-s5_kyber-s5_sha3_rcs256"), 0)
	k := DeriveRatchet(true, token, cfg, rtcs)
	for _, c := range []struct{ got, want string }{
		{string(k.C2SKey), "984488ce631229858f3d88ee0fe5c91ea1728104eeecfe6303f106a56491f3624de05bed3c9b79d4fceb4d928a9334e066447d905f4b1d2803290e51b94998e9"},
		{string(k.C2SNonce), "4f3b62ed315723205a5f0da30dcafe18c047dc28224fedc7dfe1c30938b27e2a"},
		{string(k.S2CKey), "c7af05df1c51aae60572dad5d5f6ce10b176b8be7307f0bf86e6257938d7fa127b5308ba52e7fc3f9f5756b38c49b68acd4e9857aef0fe2400f8531f2571a7e8"},
		{string(k.S2CNonce), "436bad605c5eb4347a660a3ae5af54ad68e64d7e4928e5002fc642e3de64907f"},
		{string(k.RTCS), "af4ab5cfc7e79c93498daaae0078beac579aa04c777c33b0535f1b9e12b1af1952caf2bad7484546ab84c4edfd224ed0b66cfadc44dbc769cd782e27de118e55"},
	} {
		if !bytes.Equal([]byte(c.got), vectors.MustHex(c.want)) {
			t.Errorf("got %x, want %s", c.got, c.want)
		}
	}
}

// TestHandshakeKDFDigestVectors reproduces digest 13.4's handshake KDF values.
func TestHandshakeKDFDigestVectors(t *testing.T) {
	q := DeriveQSMS(vectors.MustHex("3b0ba22923e550513bc839cb3bb7b61aed72fd5a1f69681166db24ec0d6778bf"),
		vectors.MustHex("3c7d01c8e4a657891b7ddf3365ba6dfd8537401097efba04f7556c1fd44e4206"))
	if !bytes.Equal(q.C2SKey, vectors.MustHex("1fef93804518c1f7e00cf03d29fbd13b2230a36c38662c1d06e4178e3813e6be")) ||
		!bytes.Equal(q.S2CNonce, vectors.MustHex("104233cb3cda6eda549c8f69e730f5b89c20a1f1735f8ffe554aff3aeaacba0f")) ||
		!bytes.Equal(q.RTCS, vectors.MustHex("dbdc2034dc3a4873b89ff6ade24e52e0bcd54209c2f232403dc563c6f713de3b")) {
		t.Error("QSMS KDF differs from digest 13.4")
	}
	d := DeriveQSMD(vectors.MustHex("d18d58f009d3a93716b7f7a8d6f166d8bc3647f6014c2351019f36b1746fb4c6"),
		vectors.MustHex("a3700b38c1541af54428ab3f62243b5b618bdd8405d2bb44caa1233ac99f568b"),
		vectors.MustHex("05f46e406385e1a00373de5caf6af81e6e4cfcc77edf677774fadac5abd4f68f65dc3dabe294af33ed86d14d511dbccff13a59ee8ed6817efc998e6c83fbbdd6"))
	if !bytes.Equal(d.C2SNonce, vectors.MustHex("f425573ff9c012ce8b68b4e69607faec9f2d3ccd997416346579e82d60c9f4c0")) ||
		!bytes.Equal(d.RTCS, vectors.MustHex("95bb96d98cbb4ee5673b837f3d6e3a52b0d86303619d49a589a7118e457654a19b8540e471f5ec122d7a33b04e164a541f4867448e9aac8123c1fe56e7470a64")) {
		t.Error("QSMD KDF differs from digest 13.4")
	}
	if len(q.DatagramSecret) != DatagramSecretSize || bytes.Equal(q.DatagramSecret, d.DatagramSecret) {
		t.Error("datagram secrets")
	}
}

// TestRatchetWithRecordsInFlight: records the responder sealed before it saw
// the ratchet request still open at the initiator, and the old keys are
// dropped as soon as a record opens under the new ones.
func TestRatchetWithRecordsInFlight(t *testing.T) {
	for _, wide := range []bool{false, true} {
		c, s := streamPair(t, wide)
		const now = 1767225600
		inflight1, _ := s.Seal([]byte("sealed before the ratchet"), now)
		inflight2, _ := s.Seal([]byte("also before"), now)
		req, err := c.SealRatchetRequest(bytes.Repeat([]byte{9}, 32), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range [][]byte{inflight1, inflight2} {
			if _, _, err := c.Open(p, now); err != nil {
				t.Fatalf("in-flight record lost: %v", err)
			}
		}
		_, tok, err := s.Open(req, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Rekey(tok); err != nil {
			t.Fatal(err)
		}
		after, _ := s.Seal([]byte("after"), now)
		if _, pt, err := c.Open(after, now); err != nil || string(pt) != "after" {
			t.Fatalf("record after the ratchet: %v", err)
		}
		if c.prevRx != nil {
			t.Fatal("old receive keys kept after the peer switched")
		}
		// A record under the old keys is refused now.
		_, fresh := newStreamPair(wide) // same initial keys as s had
		fresh.txSeq = s.txSeq
		stale, _ := fresh.Seal([]byte("stale"), now)
		if _, _, err := c.Open(stale, now); !errors.Is(err, ErrAuth) {
			t.Fatalf("record under retired keys: %v", err)
		}
	}
}

func TestRatchetStateFollowsStream(t *testing.T) {
	for _, wide := range []bool{false, true} {
		c, s := streamPair(t, wide)
		rc, rs := c.RatchetState(), s.RatchetState()
		if !bytes.Equal(rc.Secret, c.DatagramSecret()) || rc.Wide != wide {
			t.Fatal("state does not match the stream")
		}
		token := bytes.Repeat([]byte{3}, 32)
		nc, ns := rc.Next(token), rs.Next(token)
		if err := c.Rekey(token); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(nc.Secret, ns.Secret) || !bytes.Equal(nc.Secret, c.DatagramSecret()) || bytes.Equal(nc.Secret, rc.Secret) {
			t.Fatal("Next must match the stream's ratchet and change the secret")
		}
		if !bytes.Equal(nc.RTCS, c.RatchetState().RTCS) {
			t.Fatal("rtcs differs")
		}
		rc.Clear()
		if !bytes.Equal(rc.Secret, make([]byte, 64)) {
			t.Fatal("Clear did not zero")
		}
	}
}
