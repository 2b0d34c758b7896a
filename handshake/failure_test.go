package handshake

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// failOnCall passes reads through to r and fails the n-th one (counting
// from 1) without touching r.
type failOnCall struct {
	r     io.Reader
	n     int
	calls int
}

func (f *failOnCall) Read(p []byte) (int, error) {
	f.calls++
	if f.calls == f.n {
		return 0, errNoRandom
	}
	return f.r.Read(p)
}

// complete runs the rest of a handshake from packet i (to be handled by its
// receiver) and fails the test unless both machines establish with equal
// transcripts.
func complete(t *testing.T, client, server Machine, i int, pkt []byte) {
	t.Helper()
	var err error
	for ; pkt != nil; i++ {
		if pkt, err = receiverOf(i, client, server).Handle(pkt); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if !client.Done() || !server.Done() || !bytes.Equal(client.Session().Transcript, server.Session().Transcript) {
		t.Fatal("the handshake did not complete with one transcript")
	}
}

// assertUnchanged checks that m still expects packet pkt.
func assertUnchanged(t *testing.T, m Machine, pkt []byte, what string) {
	t.Helper()
	flag, size, ok := m.Expect()
	if !ok || flag != record.Flag(pkt[0]) || size != len(pkt)-record.HeaderSize || m.Done() || m.Session() != nil {
		t.Fatalf("%s: the machine moved on (expects %v/%d/%v)", what, flag, size, ok)
	}
}

// TestRandomFailure makes each draw of a stage fail in turn: the stage
// fails with the code the C code reports for that primitive (digest 5.3,
// 6.3-6.5: random_failure for key generation, exchange_failure for
// encapsulation) and an error wrapping suite.ErrRandom, and changes nothing:
// with the source restored the same packet is accepted, and when the failed
// draw was the first the answer is byte for byte the undisturbed one.
func TestRandomFailure(t *testing.T) {
	cases := []struct {
		name   string
		duplex bool
		stage  int
		call   int
		code   record.Code
	}{
		{"QSMS server key generation", false, 0, 1, record.CodeRandomFailure},
		{"QSMS client encapsulation", false, 1, 1, record.CodeExchangeFailure},
		{"QSMD listener key generation", true, 0, 1, record.CodeRandomFailure},
		{"QSMD initiator encapsulation", true, 1, 1, record.CodeExchangeFailure},
		{"QSMD initiator key generation", true, 1, 2, record.CodeRandomFailure},
		{"QSMD listener encapsulation", true, 2, 1, record.CodeExchangeFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", tc.duplex)
			client, server := f.advance(pkts, tc.stage)
			m := receiverOf(tc.stage, client, server)
			good := setRand(m, nil)
			setRand(m, &failOnCall{r: good, n: tc.call})
			_, err := m.Handle(pkts[tc.stage])
			var he *Error
			if !errors.As(err, &he) || he.Code != tc.code || !errors.Is(err, suite.ErrRandom) || len(he.Packet) != 22 {
				t.Fatalf("got %v, want code %v wrapping suite.ErrRandom", err, tc.code)
			}
			assertUnchanged(t, m, pkts[tc.stage], "after a failed draw")
			setRand(m, good)
			out, err := m.Handle(pkts[tc.stage])
			if err != nil {
				t.Fatalf("genuine packet after the source recovered: %v", err)
			}
			if tc.call == 1 && !bytes.Equal(out, pkts[tc.stage+1]) {
				t.Fatal("the failed stage left a trace in the answer")
			}
			complete(t, client, server, tc.stage+1, out)
		})
	}
}

// signingKey returns a pointer to the signing key a machine signs with.
func signingKey(m Machine) *[]byte {
	switch m := m.(type) {
	case *QSMSServer:
		return &m.id.SigningKey
	case *QSMDClient:
		return &m.local.SigningKey
	case *QSMDServer:
		return &m.id.SigningKey
	}
	panic("machine does not sign")
}

// TestSignFailure makes every signature a machine produces fail (a
// randomized signer whose source fails, or a damaged key; here the key is
// cut in place): the stage reports connection_failure as the C code does,
// and the machine is unchanged, so with its key restored it completes the
// handshake with the undisturbed packets.
func TestSignFailure(t *testing.T) {
	cases := []struct {
		name   string
		duplex bool
		stage  int // -1: the initiator's Start
	}{
		{"QSMS server connect response", false, 0},
		{"QSMD initiator connect request", true, -1},
		{"QSMD listener connect response", true, 0},
		{"QSMD initiator exchange request", true, 1},
		{"QSMD listener exchange response", true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", tc.duplex)
			var client, server, m Machine
			var err error
			if tc.stage < 0 {
				client, server = f.machines(nil)
				m = client
				key := signingKey(m)
				good := *key
				*key = good[:len(good)-1]
				if _, err = client.Start(); codeOf(err) != record.CodeConnectionFailure || !errors.Is(err, suite.ErrKeySize) {
					t.Fatalf("Start: %v", err)
				}
				if _, _, ok := client.Expect(); ok {
					t.Fatal("a failed Start moved the initiator on")
				}
				*key = good
				out, err := client.Start()
				if err != nil || !bytes.Equal(out, pkts[0]) {
					t.Fatalf("Start after the failure: %v", err)
				}
				complete(t, client, server, 0, out)
				return
			}
			client, server = f.advance(pkts, tc.stage)
			m = receiverOf(tc.stage, client, server)
			key := signingKey(m)
			good := *key
			*key = good[:len(good)-1]
			_, err = m.Handle(pkts[tc.stage])
			var he *Error
			if !errors.As(err, &he) || he.Code != record.CodeConnectionFailure || !errors.Is(err, suite.ErrKeySize) {
				t.Fatalf("got %v, want connection_failure", err)
			}
			assertUnchanged(t, m, pkts[tc.stage], "after a failed signature")
			*key = good
			// The draws made before the signature failed are not repeated, so
			// the answer need not be the undisturbed one; it must work.
			out, err := m.Handle(pkts[tc.stage])
			if err != nil {
				t.Fatalf("genuine packet after the key was restored: %v", err)
			}
			complete(t, client, server, tc.stage+1, out)
		})
	}
}

// decapsulationKey returns a pointer to the pending decapsulation key.
func decapsulationKey(m Machine) *[]byte {
	switch m := m.(type) {
	case *QSMSServer:
		return &m.dk
	case *QSMDClient:
		return &m.dk
	case *QSMDServer:
		return &m.dk
	}
	panic("machine does not decapsulate")
}

// TestDecapsulationFailure: a KEM that reports an error (here: a damaged
// pending key) gives decapsulation_failure (digest 5.5, 6.5, 6.6) and
// changes nothing.
func TestDecapsulationFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		duplex bool
		stage  int
	}{
		{"QSMS server", false, 2},
		{"QSMD listener", true, 2},
		{"QSMD initiator", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", tc.duplex)
			client, server := f.advance(pkts, tc.stage)
			m := receiverOf(tc.stage, client, server)
			dk := decapsulationKey(m)
			good := *dk
			*dk = good[:len(good)-1]
			if _, err := m.Handle(pkts[tc.stage]); codeOf(err) != record.CodeDecapsulationFailure || !errors.Is(err, suite.ErrKeySize) {
				t.Fatalf("got %v, want decapsulation_failure", err)
			}
			assertUnchanged(t, m, pkts[tc.stage], "after a failed decapsulation")
			*dk = good
			out, err := m.Handle(pkts[tc.stage])
			if err != nil || (tc.stage+1 < len(pkts) && !bytes.Equal(out, pkts[tc.stage+1])) {
				t.Fatalf("genuine packet after the key was restored: %v", err)
			}
			complete(t, client, server, tc.stage+1, out)
		})
	}
}

// forgeConfirmation seals wrong under a clone of the receiver's own rx
// cipher, so the MAC verifies and only the transcript comparison can fail:
// the case of two hosts that agree on the keys but not on the transcript.
func forgeConfirmation(rx *rcs.Cipher, flag record.Flag, seq uint64, wrong []byte) []byte {
	c := rx.Clone()
	defer c.Clear()
	h := header(flag, len(wrong)+c.TagSize(), seq, testClock)
	out := h.Append(nil)
	return c.Seal(out, out[:record.HeaderSize], wrong)
}

// TestConfirmationMismatch: an encrypted confirmation that decrypts but
// does not carry the receiver's transcript gives verify_failure and ErrVerify
// (digest 5.6, 6.7, 6.8), establishes nothing, and does not advance the
// receiver's cipher: the genuine confirmation is still accepted after it.
func TestConfirmationMismatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		duplex bool
		stage  int
	}{
		{"QSMS client exchange response", false, 3},
		{"QSMD listener establish request", true, 4},
		{"QSMD initiator establish response", true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", tc.duplex)
			client, server := f.advance(pkts, tc.stage)
			m := receiverOf(tc.stage, client, server)
			var forged []byte
			switch m := m.(type) {
			case *QSMSClient:
				wrong := bytes.Clone(m.sch3)
				wrong[0] ^= 1
				forged = forgeConfirmation(m.rx, record.FlagExchangeResponse, 1, wrong)
			case *QSMDServer:
				wrong := bytes.Clone(m.sch4)
				wrong[63] ^= 1
				forged = forgeConfirmation(m.rx, record.FlagEstablishRequest, 2, wrong)
			case *QSMDClient:
				wrong := bytes.Clone(m.sch5Hash)
				wrong[31] ^= 1
				forged = forgeConfirmation(m.rx, record.FlagEstablishResponse, 2, wrong)
			}
			if len(forged) != len(pkts[tc.stage]) {
				t.Fatalf("forged confirmation of %d bytes, genuine %d", len(forged), len(pkts[tc.stage]))
			}
			for n := 0; n < 2; n++ {
				_, err := m.Handle(forged)
				var he *Error
				if !errors.As(err, &he) || he.Code != record.CodeVerifyFailure || !errors.Is(err, ErrVerify) || len(he.Packet) != 22 {
					t.Fatalf("forged confirmation: %v", err)
				}
				assertUnchanged(t, m, pkts[tc.stage], "after a wrong confirmation")
			}
			out, err := m.Handle(pkts[tc.stage])
			if err != nil {
				t.Fatalf("genuine confirmation after a wrong one: %v", err)
			}
			if tc.stage+1 < len(pkts) && !bytes.Equal(out, pkts[tc.stage+1]) {
				t.Fatal("answer differs after a wrong confirmation")
			}
			complete(t, client, server, tc.stage+1, out)
		})
	}
}

func allZero(bs ...[]byte) bool {
	for _, b := range bs {
		for _, x := range b {
			if x != 0 {
				return false
			}
		}
	}
	return true
}

// TestSecretsErased: the ephemeral decapsulation keys, the first KEM
// secret of the initiator and the session-key material held between stages
// are zeroed (not just dropped) once the stage that needed them is done
// (digest 5.7: the ephemeral dk is erased), while the sessions built from
// them keep working.
func TestSecretsErased(t *testing.T) {
	t.Run("QSMS", func(t *testing.T) {
		f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", false)
		client, server := f.advance(pkts, 2)
		s := server.(*QSMSServer)
		dk := s.dk
		if len(dk) == 0 || allZero(dk) {
			t.Fatal("no pending decapsulation key")
		}
		if _, err := server.Handle(pkts[2]); err != nil {
			t.Fatal(err)
		}
		if s.dk != nil || !allZero(dk) {
			t.Error("the server's decapsulation key survived the exchange")
		}
		c := client.(*QSMSClient)
		keys := c.keys
		if _, err := client.Handle(pkts[3]); err != nil {
			t.Fatal(err)
		}
		if !allZero(keys.C2SKey, keys.C2SNonce, keys.S2CKey, keys.S2CNonce, keys.RTCS, keys.DatagramSecret) {
			t.Error("the client's key material survived the handshake")
		}
		roundTrip(t, client.Session(), server.Session())
	})
	t.Run("QSMD", func(t *testing.T) {
		f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
		client, server := f.advance(pkts, 2)
		s := server.(*QSMDServer)
		sdk := s.dk
		if _, err := server.Handle(pkts[2]); err != nil {
			t.Fatal(err)
		}
		if s.dk != nil || len(sdk) == 0 || !allZero(sdk) {
			t.Error("the listener's decapsulation key survived the exchange")
		}
		c := client.(*QSMDClient)
		seca, cdk := c.seca, c.dk
		if len(seca) == 0 || len(cdk) == 0 {
			t.Fatal("no pending initiator secrets")
		}
		if _, err := client.Handle(pkts[3]); err != nil {
			t.Fatal(err)
		}
		if c.seca != nil || c.dk != nil || !allZero(seca, cdk) {
			t.Error("the initiator's first secret or decapsulation key survived the exchange")
		}
		skeys := s.keys
		if _, err := server.Handle(pkts[4]); err != nil {
			t.Fatal(err)
		}
		if !allZero(skeys.C2SKey, skeys.C2SNonce, skeys.S2CKey, skeys.S2CNonce, skeys.RTCS, skeys.DatagramSecret) {
			t.Error("the listener's key material survived the handshake")
		}
		ckeys := c.keys
		if _, err := client.Handle(pkts[5]); err != nil {
			t.Fatal(err)
		}
		if !allZero(ckeys.C2SKey, ckeys.C2SNonce, ckeys.S2CKey, ckeys.S2CNonce, ckeys.RTCS, ckeys.DatagramSecret) {
			t.Error("the initiator's key material survived the handshake")
		}
		roundTrip(t, client.Session(), server.Session())
	})
}

// roundTrip checks that two sessions exchange records both ways and share
// one non-zero datagram secret.
func roundTrip(t *testing.T, a, b *Session) {
	t.Helper()
	for _, dir := range [][2]*Session{{a, b}, {b, a}} {
		pkt, err := dir[0].Stream.Seal([]byte("after the handshake"), testClock)
		if err != nil {
			t.Fatal(err)
		}
		if _, pt, err := dir[1].Stream.Open(pkt, testClock); err != nil || string(pt) != "after the handshake" {
			t.Fatalf("record after the handshake: %v", err)
		}
	}
	if !bytes.Equal(a.DatagramSecret, b.DatagramSecret) || allZero(a.DatagramSecret) ||
		!bytes.Equal(a.Stream.DatagramSecret(), a.DatagramSecret) {
		t.Fatal("datagram secrets differ or were erased with the handshake keys")
	}
}
