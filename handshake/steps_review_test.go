package handshake

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// Tests of the steps the QSMS and QSMD machines share (steps.go): for each
// stage, which code and cause each kind of bad input gives, in which order
// the checks run, and what is zeroed or kept.

const reviewConfig = "dilithium-s1_kyber-s1_sha3_rcs256"

// signedStage describes where a stage's packet carries a signed hash.
type signedStage struct {
	name     string
	duplex   bool
	stage    int
	signer   func(f *fixture) []byte // the genuine signer's signing key
	other    func(f *fixture) []byte // another host's signing key
	signed   func(msg []byte, kem suite.KEM, sig suite.Signer) (from, to int)
	field    func(msg []byte, kem suite.KEM, sig suite.Signer) int // a covered field byte; -1: none the signature check reaches
	hashCode record.Code                                           // the code of a hash that does not match
}

func serverKey(f *fixture) []byte { return f.server.SigningKey }
func clientKey(f *fixture) []byte { return f.client.SigningKey }

var signedStages = []signedStage{
	{"QSMS client connect response", false, 1, serverKey, clientKey,
		func(msg []byte, _ suite.KEM, v suite.Signer) (int, int) { return 0, v.SignatureSize() + 32 },
		func(msg []byte, _ suite.KEM, v suite.Signer) int { return v.SignatureSize() + 32 }, // ek
		record.CodeHashInvalid},
	{"QSMD listener connect request", true, 0, clientKey, serverKey,
		func(msg []byte, _ suite.KEM, _ suite.Signer) (int, int) {
			return KeyIDSize + suite.ConfigSize, len(msg)
		},
		func([]byte, suite.KEM, suite.Signer) int { return -1 }, // key id and configuration are checked first
		record.CodeVerifyFailure},
	{"QSMD initiator connect response", true, 1, serverKey, clientKey,
		func(msg []byte, _ suite.KEM, v suite.Signer) (int, int) { return 0, v.SignatureSize() + qsmdHashSize },
		func(msg []byte, _ suite.KEM, v suite.Signer) int { return v.SignatureSize() + qsmdHashSize }, // ekS
		record.CodeVerifyFailure},
	{"QSMD listener exchange request", true, 2, clientKey, serverKey,
		func(msg []byte, k suite.KEM, _ suite.Signer) (int, int) {
			return k.CiphertextSize() + k.PublicKeySize(), len(msg)
		},
		func(msg []byte, k suite.KEM, _ suite.Signer) int { return k.CiphertextSize() + 1 }, // ekC
		record.CodeHashInvalid},
	{"QSMD initiator exchange response", true, 3, serverKey, clientKey,
		func(msg []byte, k suite.KEM, _ suite.Signer) (int, int) { return k.CiphertextSize(), len(msg) },
		func([]byte, suite.KEM, suite.Signer) int { return 0 }, // ctB
		record.CodeVerifyFailure},
}

// expectFailure checks err is the *Error of a rejected packet with code
// and cause, carrying the 22-byte error packet of that code at the fixture's
// time, and that m is still where it was (it expects genuine).
func expectFailure(t *testing.T, m Machine, genuine []byte, err error, code record.Code, cause error, not error, what string) {
	t.Helper()
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("%s: %v is not an *Error", what, err)
	}
	if he.Code != code || !errors.Is(err, code) || !errors.Is(err, cause) {
		t.Errorf("%s: code %v, error %v; want code %v and cause %v", what, he.Code, err, code, cause)
	}
	if not != nil && errors.Is(err, not) {
		t.Errorf("%s: error %v wraps %v", what, err, not)
	}
	if c, perr := record.ParsePlainError(he.Packet); perr != nil || c != code || len(he.Packet) != 22 {
		t.Errorf("%s: error packet %x carries %v (%v), want %v", what, he.Packet, c, perr, code)
	} else if h, _ := record.ParseHeader(he.Packet); h.UTCTime != testClock {
		t.Errorf("%s: error packet time %d, want %d", what, h.UTCTime, uint64(testClock))
	}
	assertUnchanged(t, m, genuine, what)
}

// resign returns pkt with its signed part [from, to) of the message
// replaced by key's signature over hash.
func resign(t *testing.T, sig suite.Signer, pkt []byte, from, to int, key, hash []byte) []byte {
	t.Helper()
	signed, err := sig.Sign(drbg("review resign"), key, hash)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(pkt)
	if len(signed) != to-from {
		t.Fatalf("re-signed part of %d bytes, want %d", len(signed), to-from)
	}
	copy(out[record.HeaderSize+from:], signed)
	return out
}

// TestSignedStageFailures sends each stage that carries a signed hash a
// bad signature, a signature by another key, the right key's signature over
// another hash, a header or field the signature does not cover, and a bad
// signature together with a changed field. The signature is checked first
// (authentication_failure, a suite.ErrVerify cause); a signed hash that does
// not match the packet is ErrHash with the stage's code (hash_invalid or
// verify_failure, as the C drivers report). Each failure sends the error
// packet of its code, leaves the receiver unchanged, and the genuine packet
// is still accepted with the undisturbed answer.
func TestSignedStageFailures(t *testing.T) {
	for _, st := range signedStages {
		t.Run(st.name, func(t *testing.T) {
			f, pkts := shared(t, reviewConfig, st.duplex)
			kem, err := f.suite.KEM()
			if err != nil {
				t.Fatal(err)
			}
			sig, err := f.suite.Signer()
			if err != nil {
				t.Fatal(err)
			}
			client, server := f.advance(pkts, st.stage)
			m := receiverOf(st.stage, client, server)
			genuine := pkts[st.stage]
			msg := genuine[record.HeaderSize:]
			from, to := st.signed(msg, kem, sig)
			hashSize := 32
			if st.duplex {
				hashSize = qsmdHashSize
			}
			if to-from != sig.SignatureSize()+hashSize {
				t.Fatalf("signed part of %d bytes, want %d", to-from, sig.SignatureSize()+hashSize)
			}
			signedHash := msg[to-hashSize : to]

			flipSig := bytes.Clone(genuine)
			flipSig[record.HeaderSize+from] ^= 1
			otherHash := bytes.Clone(signedHash)
			otherHash[0] ^= 0x80
			later := rewrite(genuine, func(h *record.Header) { h.UTCTime++ })

			cases := []struct {
				name  string
				pkt   []byte
				code  record.Code
				cause error
				not   error
			}{
				{"signature byte flipped", flipSig, record.CodeAuthenticationFailure, suite.ErrVerify, ErrHash},
				{"hash byte flipped under the signature", func() []byte {
					p := bytes.Clone(genuine)
					p[record.HeaderSize+to-1] ^= 1
					return p
				}(), record.CodeAuthenticationFailure, suite.ErrVerify, ErrHash},
				{"signed by another key", resign(t, sig, genuine, from, to, st.other(f), signedHash), record.CodeAuthenticationFailure, suite.ErrVerify, ErrHash},
				{"the key's signature over another hash", resign(t, sig, genuine, from, to, st.signer(f), otherHash), st.hashCode, ErrHash, suite.ErrVerify},
				{"header time moved within the window", later, st.hashCode, ErrHash, suite.ErrVerify},
				{"bad signature and header time moved", func() []byte {
					p := bytes.Clone(later)
					p[record.HeaderSize+from] ^= 1
					return p
				}(), record.CodeAuthenticationFailure, suite.ErrVerify, ErrHash},
			}
			if at := st.field(msg, kem, sig); at >= 0 {
				if at >= from && at < to {
					t.Fatalf("field byte %d lies in the signed part [%d, %d)", at, from, to)
				}
				field := bytes.Clone(genuine)
				field[record.HeaderSize+at] ^= 1
				both := bytes.Clone(field)
				both[record.HeaderSize+from] ^= 1
				cases = append(cases,
					struct {
						name  string
						pkt   []byte
						code  record.Code
						cause error
						not   error
					}{"covered field changed", field, st.hashCode, ErrHash, suite.ErrVerify},
					struct {
						name  string
						pkt   []byte
						code  record.Code
						cause error
						not   error
					}{"bad signature and covered field changed", both, record.CodeAuthenticationFailure, suite.ErrVerify, ErrHash},
				)
			}
			for _, tc := range cases {
				if bytes.Equal(tc.pkt, genuine) {
					t.Fatalf("%s: the packet is the genuine one", tc.name)
				}
				out, err := m.Handle(tc.pkt)
				if out != nil {
					t.Fatalf("%s: answered %x", tc.name, out)
				}
				expectFailure(t, m, genuine, err, tc.code, tc.cause, tc.not, tc.name)
			}
			out, err := m.Handle(genuine)
			if err != nil {
				t.Fatalf("genuine packet after the bad ones: %v", err)
			}
			if !bytes.Equal(out, pkts[st.stage+1]) {
				t.Fatal("the answer differs after the bad packets")
			}
			complete(t, client, server, st.stage+1, out)
		})
	}
}

// confirmationOf returns the machine's receive cipher, the one that opens
// the confirmation.
func confirmationOf(t *testing.T, m Machine) **rcs.Cipher {
	t.Helper()
	switch m := m.(type) {
	case *QSMSClient:
		return &m.rx
	case *QSMDServer:
		return &m.rx
	case *QSMDClient:
		return &m.rx
	}
	t.Fatalf("%T receives no confirmation", m)
	return nil
}

// TestConfirmationUnopened sends each encrypted confirmation with a tag or
// ciphertext byte flipped, and cut: the record does not open, which is
// authentication_failure for the QSMS client and decryption_failure for
// both QSMD hosts (an rcs.ErrAuth cause, not ErrVerify). The receiver's
// cipher is neither replaced nor advanced (the genuine confirmation opens
// after the failures); once it opens, the receiver runs on a new cipher
// and the one it replaced is zeroed.
func TestConfirmationUnopened(t *testing.T) {
	for _, tc := range []struct {
		name     string
		duplex   bool
		stage    int
		openCode record.Code
	}{
		{"QSMS client exchange response", false, 3, record.CodeAuthenticationFailure},
		{"QSMD listener establish request", true, 4, record.CodeDecryptionFailure},
		{"QSMD initiator establish response", true, 5, record.CodeDecryptionFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, pkts := shared(t, reviewConfig, tc.duplex)
			client, server := f.advance(pkts, tc.stage)
			m := receiverOf(tc.stage, client, server)
			genuine := pkts[tc.stage]
			rx := confirmationOf(t, m)
			before := *rx
			nonce := before.Nonce()
			if nonce == ([32]byte{}) {
				t.Fatal("the receive cipher has a zero nonce before the confirmation")
			}
			tag := bytes.Clone(genuine)
			tag[len(tag)-1] ^= 1
			body := bytes.Clone(genuine)
			body[record.HeaderSize] ^= 1
			for _, bad := range []struct {
				name string
				pkt  []byte
			}{{"tag byte flipped", tag}, {"ciphertext byte flipped", body}} {
				out, err := m.Handle(bad.pkt)
				if out != nil {
					t.Fatalf("%s: answered %x", bad.name, out)
				}
				expectFailure(t, m, genuine, err, tc.openCode, rcs.ErrAuth, ErrVerify, bad.name)
				if *rx != before || before.Nonce() != nonce {
					t.Fatalf("%s: the receive cipher was replaced or moved", bad.name)
				}
			}
			out, err := m.Handle(genuine)
			if err != nil {
				t.Fatalf("genuine confirmation after the bad ones: %v", err)
			}
			if tc.stage+1 < len(pkts) && !bytes.Equal(out, pkts[tc.stage+1]) {
				t.Fatal("the answer differs after the bad confirmations")
			}
			if *rx == before || (*rx).Nonce() == ([32]byte{}) {
				t.Fatal("the receiver did not move to the cipher that opened the confirmation")
			}
			if before.Nonce() != ([32]byte{}) {
				t.Fatal("the replaced receive cipher was not zeroed")
			}
			complete(t, client, server, tc.stage+1, out)
		})
	}
}

// TestSessionFields checks the sessions of both variants, both roles: the
// flags, the counters the streams start at (2 after QSMS, 3 after QSMD),
// the peer and local identities each role knows, one transcript and one
// datagram secret, a copy that outlives the handshake's key material.
func TestSessionFields(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			client, server := f.advance(pkts, len(pkts))
			cs, ss := client.Session(), server.Session()
			if cs == nil || ss == nil {
				t.Fatal("no sessions")
			}
			seq := uint64(2)
			if nc.duplex {
				seq = 3
			}
			for _, s := range []struct {
				name    string
				s       *Session
				server  bool
				peerID  [KeyIDSize]byte
				peerVK  []byte
				localID *Identity
			}{
				{"client", cs, false, f.server.KeyID, f.server.VerifyKey, map[bool]*Identity{true: &f.client}[nc.duplex]},
				{"server", ss, true, [KeyIDSize]byte{}, map[bool][]byte{true: f.client.VerifyKey}[nc.duplex], &f.server},
			} {
				if s.s.Suite != f.suite || s.s.Duplex != nc.duplex || s.s.Server != s.server {
					t.Errorf("%s: suite %v, duplex %v, server %v", s.name, s.s.Suite.Name, s.s.Duplex, s.s.Server)
				}
				if s.s.Stream.TxSeq() != seq || s.s.Stream.RxSeq() != seq {
					t.Errorf("%s: stream counters %d/%d, want %d", s.name, s.s.Stream.TxSeq(), s.s.Stream.RxSeq(), seq)
				}
				if s.s.PeerKeyID != s.peerID || !bytes.Equal(s.s.PeerVerifyKey, s.peerVK) || (s.s.PeerVerifyKey == nil) != (s.peerVK == nil) {
					t.Errorf("%s: peer key id %x, verify key of %d bytes", s.name, s.s.PeerKeyID, len(s.s.PeerVerifyKey))
				}
				switch {
				case s.localID == nil && s.s.Local != nil:
					t.Errorf("%s: a local identity %x", s.name, s.s.Local.KeyID)
				case s.localID != nil && (s.s.Local == nil || s.s.Local.KeyID != s.localID.KeyID ||
					!bytes.Equal(s.s.Local.SigningKey, s.localID.SigningKey)):
					t.Errorf("%s: local identity %v, want %x", s.name, s.s.Local, s.localID.KeyID)
				}
			}
			if !bytes.Equal(cs.Transcript, ss.Transcript) || len(cs.Transcript) != map[bool]int{false: 32, true: 64}[nc.duplex] {
				t.Error("the transcripts differ or have the wrong size")
			}
			if cs.Stream.TagSize() != map[bool]int{false: 32, true: 64}[nc.duplex] {
				t.Errorf("tag size %d", cs.Stream.TagSize())
			}
			roundTrip(t, cs, ss)
		})
	}
}

// TestNewCiphersZeroesOnFailure: the shared cipher step zeroes the whole
// key material when either direction cannot be keyed, and reports the
// stage's code with the cipher's error; on success the two directions
// are client to server and server to client.
func TestNewCiphersZeroesOnFailure(t *testing.T) {
	fill := func() record.SessionKeys {
		b := func(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }
		return record.SessionKeys{C2SKey: b(32, 1), C2SNonce: b(32, 2), S2CKey: b(32, 3), S2CNonce: b(32, 4), RTCS: b(32, 5), DatagramSecret: b(32, 6)}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*record.SessionKeys)
		cause error
	}{
		{"client-to-server key", func(k *record.SessionKeys) { k.C2SKey = k.C2SKey[:31] }, rcs.ErrKeySize},
		{"client-to-server nonce", func(k *record.SessionKeys) { k.C2SNonce = k.C2SNonce[:16] }, rcs.ErrNonceSize},
		{"server-to-client key", func(k *record.SessionKeys) { k.S2CKey = append(k.S2CKey, 0) }, rcs.ErrKeySize},
		{"server-to-client nonce", func(k *record.SessionKeys) { k.S2CNonce = nil }, rcs.ErrNonceSize},
	} {
		keys := fill()
		tc.edit(&keys)
		c2s, s2c, ferr := newCiphers("stage", &keys, record.CodeEstablishFailure, testClock)
		if c2s != nil || s2c != nil || ferr == nil || ferr.Code != record.CodeEstablishFailure || !errors.Is(ferr, tc.cause) || ferr.Stage != "stage" {
			t.Errorf("%s: %v, %v, %v", tc.name, c2s, s2c, ferr)
			continue
		}
		if !allZero(keys.C2SKey, keys.C2SNonce, keys.S2CKey, keys.S2CNonce, keys.RTCS, keys.DatagramSecret) {
			t.Errorf("%s: key material left after the failure", tc.name)
		}
	}
	keys := fill()
	c2s, s2c, ferr := newCiphers("stage", &keys, record.CodeEstablishFailure, testClock)
	if ferr != nil {
		t.Fatal(ferr)
	}
	want, _ := rcs.New(keys.C2SKey, keys.C2SNonce)
	pt := []byte("direction")
	if !bytes.Equal(c2s.Seal(nil, nil, pt), want.Seal(nil, nil, pt)) || s2c.Nonce() != [32]byte(keys.S2CNonce) {
		t.Error("the ciphers are not client to server, server to client")
	}
	if allZero(keys.C2SKey) {
		t.Error("success zeroed the key material the caller still holds")
	}
}
