package handshake

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// sessions runs a handshake and returns both established sessions.
func (f *fixture) sessions() (client, server *Session) {
	c, s := f.machines(nil)
	pkt, err := c.Start()
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; pkt != nil; i++ {
		m := s
		if i%2 == 1 {
			m = c
		}
		if pkt, err = m.Handle(pkt); err != nil {
			f.t.Fatal(err)
		}
	}
	return c.Session(), s.Session()
}

func TestAsymmetricRatchetOverStream(t *testing.T) {
	f := newFixture(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	for _, initiatorIsClient := range []bool{true, false} {
		cs, ss := f.sessions()
		a, b := cs, ss
		if !initiatorIsClient {
			a, b = ss, cs
		}
		rng := drbg("ratchet")
		// b has a record in flight when a starts the ratchet.
		inflight, _ := b.Stream.Seal([]byte("in flight"), testClock)
		req, pending, err := a.StreamAsymmetricRequest(rng)
		if err != nil {
			t.Fatal(err)
		}
		// digest 3.5: dilithium-s1_kyber-s1 request 3348, response 3316 (msglen).
		if len(req) != record.HeaderSize+3348 {
			t.Fatalf("request of %d bytes", len(req))
		}
		if _, pt, err := a.Stream.Open(inflight, testClock); err != nil || string(pt) != "in flight" {
			t.Fatalf("in-flight record: %v", err)
		}
		h, plain, err := b.Stream.Open(req, 0) // utctime 0: not time-checked
		if err != nil || h.Flag != record.FlagAsymmetricRatchetRequest || h.UTCTime != 0 {
			t.Fatalf("request: %v", err)
		}
		// A request with a flipped byte of its payload fails verification.
		bad := bytes.Clone(plain)
		bad[10] ^= 1
		if _, _, err := b.RespondAsymmetric(rng, bad); !errors.Is(err, ErrRatchet) {
			t.Fatalf("tampered request: %v", err)
		}
		resp, err := b.StreamAsymmetricRespond(rng, plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp) != record.HeaderSize+3316 {
			t.Fatalf("response of %d bytes", len(resp))
		}
		_, rplain, err := a.Stream.Open(resp, 0)
		if err != nil {
			t.Fatal(err)
		}
		badResp := bytes.Clone(rplain)
		badResp[len(badResp)-1] ^= 1
		if _, err := pending.Finish(a, badResp); !errors.Is(err, ErrRatchet) {
			t.Fatalf("tampered response: %v", err)
		}
		if err := a.StreamAsymmetricFinish(pending, rplain); err != nil {
			t.Fatal(err)
		}
		if _, err := pending.Finish(a, rplain); !errors.Is(err, ErrRatchet) {
			t.Fatal("a finished ratchet finished again")
		}
		for _, dir := range [][2]*Session{{a, b}, {b, a}} {
			p, _ := dir[0].Stream.Seal([]byte("new keys"), testClock)
			if _, pt, err := dir[1].Stream.Open(p, testClock); err != nil || string(pt) != "new keys" {
				t.Fatalf("record after the ratchet: %v", err)
			}
		}
		if !bytes.Equal(a.Stream.DatagramSecret(), b.Stream.DatagramSecret()) || bytes.Equal(a.Stream.DatagramSecret(), a.DatagramSecret) {
			t.Fatal("the ratchet must give both sides one new datagram secret")
		}
	}
}

func TestAsymmetricRatchetNeedsQSMD(t *testing.T) {
	f := newFixture(t, "dilithium-s1_kyber-s1_sha3_rcs256", false)
	cs, _ := f.sessions()
	if _, _, err := cs.NewAsymmetricRequest(drbg("x")); !errors.Is(err, ErrRatchet) {
		t.Fatalf("QSMS asymmetric ratchet: %v", err)
	}
}
