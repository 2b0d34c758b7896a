package handshake

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// TestAsymmetricRatchetRefusesSessions: only an established QSMD session
// that holds its own signing key and the peer's verification key can
// ratchet; anything else is ErrRatchet (or the suite's error for a suite
// without primitives), never a panic.
func TestAsymmetricRatchetRefusesSessions(t *testing.T) {
	qsms, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", false)
	qc, qs := qsms.sessions()
	f, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	dc, ds := f.sessions()
	req, pending, err := dc.NewAsymmetricRequest(drbg("good"))
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Clear()

	noLocal, noSigner, noPeer := *ds, *ds, *ds
	noLocal.Local = nil
	local := *ds.Local
	local.SigningKey = nil
	noSigner.Local = &local
	noPeer.PeerVerifyKey = nil
	for name, s := range map[string]*Session{
		"QSMS client": qc, "QSMS server": qs,
		"no local identity": &noLocal, "no signing key": &noSigner, "no peer key": &noPeer,
	} {
		if _, p, err := s.NewAsymmetricRequest(drbg("x")); !errors.Is(err, ErrRatchet) || p != nil {
			t.Errorf("%s: request: %v", name, err)
		}
		if _, _, err := s.RespondAsymmetric(drbg("x"), req); !errors.Is(err, ErrRatchet) {
			t.Errorf("%s: respond: %v", name, err)
		}
		if _, _, err := s.StreamAsymmetricRequest(drbg("x")); !errors.Is(err, ErrRatchet) {
			t.Errorf("%s: stream request: %v", name, err)
		}
	}
	for _, fake := range []*suite.Suite{
		{Name: f.suite.Name, SignatureName: f.suite.SignatureName, KEMName: "no such KEM"},
		{Name: f.suite.Name, SignatureName: "no such signature", KEMName: f.suite.KEMName},
	} {
		s := *ds
		s.Suite = fake
		if _, _, err := s.NewAsymmetricRequest(drbg("x")); !errors.Is(err, suite.ErrNotImplemented) {
			t.Errorf("suite %s/%s: %v", fake.SignatureName, fake.KEMName, err)
		}
	}
}

// ratchetPair returns two established QSMD sessions, a ratchet request from
// a to b and its pending state.
func ratchetPair(t *testing.T) (a, b *Session, request []byte, pending *AsymmetricRatchet, sig suite.Signer, kem suite.KEM) {
	t.Helper()
	f, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	a, b = f.sessions()
	request, pending, err := a.NewAsymmetricRequest(drbg("ratchet request"))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ = f.suite.Signer()
	kem, _ = f.suite.KEM()
	if len(request) != AsymmetricRequestSize(kem, sig) {
		t.Fatalf("request of %d bytes, want %d", len(request), AsymmetricRequestSize(kem, sig))
	}
	return a, b, request, pending, sig, kem
}

// TestRespondAsymmetricRejects: the responder refuses a request of the
// wrong size, one signed by someone other than the peer (its own request
// reflected back to it), and one whose signature is genuine but covers the
// hash of another key (digest 8.3: verify, then check H512(ek)).
func TestRespondAsymmetricRejects(t *testing.T) {
	a, b, req, pending, sig, kem := ratchetPair(t)
	defer pending.Clear()
	own, ownPending, err := b.NewAsymmetricRequest(drbg("b's request"))
	if err != nil {
		t.Fatal(err)
	}
	defer ownPending.Clear()
	// a signs the hash of a key other than the one it sends.
	otherEK, _, err := kem.GenerateKey(drbg("other key"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := sig.Sign(nil, a.Local.SigningKey, hash512(otherEK))
	if err != nil {
		t.Fatal(err)
	}
	swapped := append(signed, req[sig.SignatureSize()+qsmdHashSize:]...)
	for _, tc := range []struct {
		name    string
		request []byte
		cause   error
	}{
		{"empty", nil, ErrRatchet},
		{"one byte short", req[:len(req)-1], ErrRatchet},
		{"one byte long", append(bytes.Clone(req), 0), ErrRatchet},
		{"reflected", own, suite.ErrVerify},
		{"hash of another key", swapped, ErrHash},
	} {
		resp, ss, err := b.RespondAsymmetric(drbg("respond"), tc.request)
		if !errors.Is(err, ErrRatchet) || !errors.Is(err, tc.cause) || resp != nil || ss != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Encapsulation needs randomness.
	if _, _, err := b.RespondAsymmetric(failReader{}, req); !errors.Is(err, ErrRatchet) || !errors.Is(err, suite.ErrRandom) {
		t.Errorf("encapsulation without randomness: %v", err)
	}
	resp, ss, err := b.RespondAsymmetric(drbg("respond"), req)
	if err != nil {
		t.Fatalf("genuine request after the rejected ones: %v", err)
	}
	if len(resp) != AsymmetricResponseSize(kem, sig) || len(ss) != 32 {
		t.Fatalf("response of %d bytes, secret of %d", len(resp), len(ss))
	}
	got, err := pending.Finish(a, resp)
	if err != nil || !bytes.Equal(got, ss) {
		t.Fatalf("finish: %v", err)
	}
}

// TestFinishRejects: the initiator refuses a response of the wrong size,
// one signed by itself (reflection), and one whose genuine signature covers
// the hash of another ciphertext; after each refusal the pending key is
// kept (documented) and the genuine response still completes the ratchet.
// A finished, cleared or nil ratchet refuses to finish, and the
// decapsulation key is zeroed on success.
func TestFinishRejects(t *testing.T) {
	a, b, req, pending, sig, kem := ratchetPair(t)
	resp, ss, err := b.RespondAsymmetric(drbg("respond"), req)
	if err != nil {
		t.Fatal(err)
	}
	// a answers a request of b's: a response signed with a's key.
	breq, bpending, err := b.NewAsymmetricRequest(drbg("b's request"))
	if err != nil {
		t.Fatal(err)
	}
	defer bpending.Clear()
	reflected, rss, err := a.RespondAsymmetric(drbg("reflect"), breq)
	if err != nil {
		t.Fatal(err)
	}
	clear(rss)
	otherCT, _, err := kem.Encapsulate(drbg("other ct"), req[sig.SignatureSize()+qsmdHashSize:])
	if err != nil {
		t.Fatal(err)
	}
	signed, err := sig.Sign(nil, b.Local.SigningKey, hash512(otherCT))
	if err != nil {
		t.Fatal(err)
	}
	swapped := append(signed, resp[sig.SignatureSize()+qsmdHashSize:]...)
	for _, tc := range []struct {
		name  string
		resp  []byte
		cause error
	}{
		{"empty", nil, ErrRatchet},
		{"one byte short", resp[:len(resp)-1], ErrRatchet},
		{"one byte long", append(bytes.Clone(resp), 0), ErrRatchet},
		{"the request instead", req, ErrRatchet},
		{"reflected", reflected, suite.ErrVerify},
		{"hash of another ciphertext", swapped, ErrHash},
	} {
		got, err := pending.Finish(a, tc.resp)
		if !errors.Is(err, ErrRatchet) || !errors.Is(err, tc.cause) || got != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if pending.dk == nil {
			t.Fatalf("%s: the pending key was dropped", tc.name)
		}
	}
	dk := pending.dk
	got, err := pending.Finish(a, resp)
	if err != nil || !bytes.Equal(got, ss) {
		t.Fatalf("genuine response after the rejected ones: %v", err)
	}
	if pending.dk != nil || !allZero(dk) {
		t.Fatal("the decapsulation key survived the ratchet")
	}
	if _, err := pending.Finish(a, resp); !errors.Is(err, ErrRatchet) {
		t.Fatalf("finished twice: %v", err)
	}
	var none *AsymmetricRatchet
	none.Clear() // no panic
	if _, err := none.Finish(a, resp); !errors.Is(err, ErrRatchet) {
		t.Fatalf("nil ratchet: %v", err)
	}
	_, cleared, err := a.NewAsymmetricRequest(drbg("cleared"))
	if err != nil {
		t.Fatal(err)
	}
	cdk := cleared.dk
	cleared.Clear()
	if !allZero(cdk) {
		t.Fatal("Clear left the key")
	}
	if _, err := cleared.Finish(a, resp); !errors.Is(err, ErrRatchet) {
		t.Fatalf("cleared ratchet: %v", err)
	}
	if _, p, err := a.NewAsymmetricRequest(failReader{}); !errors.Is(err, suite.ErrRandom) || p != nil {
		t.Fatalf("request without randomness: %v", err)
	}
}

// TestStreamRatchetFailureKeepsKeys: over the stream, a refused request
// leaves the responder's stream as it was (no sequence number used, no
// re-key), and a refused response leaves the initiator's stream on its old
// keys; the genuine messages then complete the ratchet. A cleared stream
// refuses to ratchet with record.ErrClosed.
func TestStreamRatchetFailureKeepsKeys(t *testing.T) {
	f, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	a, b := f.sessions()
	rng := drbg("stream ratchet")
	pkt, pending, err := a.StreamAsymmetricRequest(rng)
	if err != nil {
		t.Fatal(err)
	}
	_, req, err := b.Stream.Open(pkt, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(req)
	bad[len(bad)-1] ^= 1
	bSecret, bSeq := b.Stream.DatagramSecret(), b.Stream.TxSeq()
	if out, err := b.StreamAsymmetricRespond(rng, bad); !errors.Is(err, ErrRatchet) || out != nil {
		t.Fatalf("tampered request: %v", err)
	}
	if b.Stream.TxSeq() != bSeq || !bytes.Equal(b.Stream.DatagramSecret(), bSecret) {
		t.Fatal("a refused request moved the responder's stream")
	}
	// b's stream still speaks the old keys.
	roundTrip1(t, b, a, "old keys")
	respPkt, err := b.StreamAsymmetricRespond(rng, req)
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := a.Stream.Open(respPkt, 0)
	if err != nil {
		t.Fatal(err)
	}
	badResp := bytes.Clone(resp)
	badResp[0] ^= 1
	aSecret := a.Stream.DatagramSecret()
	if err := a.StreamAsymmetricFinish(pending, badResp); !errors.Is(err, ErrRatchet) {
		t.Fatalf("tampered response: %v", err)
	}
	if !bytes.Equal(a.Stream.DatagramSecret(), aSecret) {
		t.Fatal("a refused response re-keyed the initiator")
	}
	if err := a.StreamAsymmetricFinish(pending, resp); err != nil {
		t.Fatal(err)
	}
	roundTrip1(t, a, b, "new keys")
	roundTrip1(t, b, a, "new keys back")
	if !bytes.Equal(a.Stream.DatagramSecret(), b.Stream.DatagramSecret()) || bytes.Equal(a.Stream.DatagramSecret(), aSecret) {
		t.Fatal("the ratchet did not give both sides one new secret")
	}

	// A cleared stream.
	c, d := f.sessions()
	dreq, dpending, err := d.NewAsymmetricRequest(rng)
	if err != nil {
		t.Fatal(err)
	}
	defer dpending.Clear()
	c.Stream.Clear()
	if out, p, err := c.StreamAsymmetricRequest(rng); !errors.Is(err, record.ErrClosed) || out != nil || p != nil {
		t.Fatalf("request on a cleared stream: %v", err)
	}
	if out, err := c.StreamAsymmetricRespond(rng, dreq); !errors.Is(err, record.ErrClosed) || out != nil {
		t.Fatalf("response on a cleared stream: %v", err)
	}
}

func roundTrip1(t *testing.T, from, to *Session, msg string) {
	t.Helper()
	pkt, err := from.Stream.Seal([]byte(msg), testClock)
	if err != nil {
		t.Fatal(err)
	}
	if _, pt, err := to.Stream.Open(pkt, testClock); err != nil || string(pt) != msg {
		t.Fatalf("%s: %v", msg, err)
	}
}

// TestRatchetPrimitiveFailures: a signature or decapsulation that fails
// (here: a damaged signing key, a damaged pending key) is an error, never a
// panic; a failed request returns no pending state, a failed response no
// secret, and a failed Finish keeps the pending key for the genuine retry.
func TestRatchetPrimitiveFailures(t *testing.T) {
	a, b, req, pending, _, _ := ratchetPair(t)
	broken := *a
	local := *a.Local
	local.SigningKey = local.SigningKey[:len(local.SigningKey)-1]
	broken.Local = &local
	if out, p, err := broken.NewAsymmetricRequest(drbg("x")); !errors.Is(err, suite.ErrKeySize) || out != nil || p != nil {
		t.Fatalf("request with a damaged signing key: %v", err)
	}
	brokenB := *b
	localB := *b.Local
	localB.SigningKey = localB.SigningKey[:10]
	brokenB.Local = &localB
	if resp, ss, err := brokenB.RespondAsymmetric(drbg("x"), req); !errors.Is(err, suite.ErrKeySize) || resp != nil || ss != nil {
		t.Fatalf("response with a damaged signing key: %v", err)
	}
	resp, ss, err := b.RespondAsymmetric(drbg("respond"), req)
	if err != nil {
		t.Fatal(err)
	}
	good := pending.dk
	pending.dk = good[:len(good)-1]
	if got, err := pending.Finish(a, resp); !errors.Is(err, ErrRatchet) || !errors.Is(err, suite.ErrKeySize) || got != nil {
		t.Fatalf("finish with a damaged key: %v", err)
	}
	pending.dk = good
	if got, err := pending.Finish(a, resp); err != nil || !bytes.Equal(got, ss) {
		t.Fatalf("finish after the key was restored: %v", err)
	}
}
