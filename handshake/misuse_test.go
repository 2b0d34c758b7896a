package handshake

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// wantUnbuilt checks the failure of a call on a machine that was not made
// by its constructor: an *Error wrapping ErrInput with no packet to send.
func wantUnbuilt(t *testing.T, what string, err error) {
	t.Helper()
	var he *Error
	if !errors.As(err, &he) || !errors.Is(err, ErrInput) || !errors.Is(err, record.CodeInvalidInput) || he.Packet != nil {
		t.Errorf("%s: %v, want an *Error wrapping ErrInput without a packet", what, err)
	}
}

// TestUnbuiltMachines calls every method of every machine on a nil pointer
// and on a zero value: none panics, the calls that can fail fail with
// ErrInput, and the others report an idle machine.
func TestUnbuiltMachines(t *testing.T) {
	f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", false)
	_ = f
	type checker interface{ CheckConnectRequest([]byte) error }
	cases := []struct {
		name string
		m    Machine
	}{
		{"nil QSMSClient", (*QSMSClient)(nil)},
		{"zero QSMSClient", &QSMSClient{}},
		{"nil QSMSServer", (*QSMSServer)(nil)},
		{"zero QSMSServer", &QSMSServer{}},
		{"nil QSMDClient", (*QSMDClient)(nil)},
		{"zero QSMDClient", &QSMDClient{}},
		{"nil QSMDServer", (*QSMDServer)(nil)},
		{"zero QSMDServer", &QSMDServer{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pkt, err := c.m.Start()
			wantUnbuilt(t, "Start", err)
			if pkt != nil {
				t.Errorf("Start returned %d bytes", len(pkt))
			}
			for _, in := range [][]byte{nil, {}, pkts[0], pkts[1]} {
				out, err := c.m.Handle(in)
				wantUnbuilt(t, "Handle", err)
				if out != nil {
					t.Errorf("Handle returned %d bytes", len(out))
				}
			}
			if ch, ok := c.m.(checker); ok {
				wantUnbuilt(t, "CheckConnectRequest", ch.CheckConnectRequest(pkts[0]))
			}
			if flag, size, ok := c.m.Expect(); ok || flag != 0 || size != 0 {
				t.Errorf("Expect() = %v, %d, %v", flag, size, ok)
			}
			if c.m.Done() {
				t.Error("Done")
			}
			if c.m.Session() != nil {
				t.Error("Session() is not nil")
			}
			c.m.Abort()
			c.m.Abort()
			_, err = c.m.Start()
			wantUnbuilt(t, "Start after Abort", err)
		})
	}
	var e *Error
	if e.Error() == "" || e.Unwrap() != nil {
		t.Error("nil *Error")
	}
}

// TestConstructorMisuse covers every missing or malformed constructor input.
func TestConstructorMisuse(t *testing.T) {
	f, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	good := Config{Suite: f.suite, Rand: drbg("x"), Now: time.Now}
	lookup := func([KeyIDSize]byte) ([]byte, error) { return f.client.VerifyKey, nil }
	noKeys := Identity{KeyID: f.server.KeyID, Expiration: f.server.Expiration}
	longKey := public(f.server)
	longKey.VerifyKey = append(bytes.Clone(longKey.VerifyKey), 0)
	shortSK := f.server
	shortSK.SigningKey = shortSK.SigningKey[:10]
	for _, c := range []struct {
		name string
		cfg  Config
		srv  Identity // the server's (full) identity
		cli  Identity // the QSMD initiator's identity
		look PeerLookup
		want error
	}{
		{"zero config", Config{}, f.server, f.client, lookup, ErrInput},
		{"nil suite", Config{Rand: good.Rand, Now: good.Now}, f.server, f.client, lookup, ErrInput},
		{"nil rand", Config{Suite: f.suite, Now: good.Now}, f.server, f.client, lookup, ErrInput},
		{"nil clock", Config{Suite: f.suite, Rand: good.Rand}, f.server, f.client, lookup, ErrInput},
		{"zero suite", Config{Suite: &suite.Suite{}, Rand: good.Rand, Now: good.Now}, f.server, f.client, lookup, suite.ErrNotImplemented},
		{"server without keys", good, noKeys, f.client, lookup, ErrInput},
		{"initiator without keys", good, f.server, noKeys, lookup, ErrInput},
		{"oversized verify key", good, longKey, f.client, lookup, ErrInput},
		{"truncated signing key", good, shortSK, shortSK, lookup, ErrInput},
		{"nil lookup", good, f.server, f.client, nil, ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			m1, err1 := NewQSMSClient(c.cfg, public(c.srv))
			m2, err2 := NewQSMSServer(c.cfg, c.srv)
			m3, err3 := NewQSMDClient(c.cfg, c.cli, public(c.srv))
			m4, err4 := NewQSMDServer(c.cfg, c.srv, c.look)
			results := []struct {
				name string
				ok   bool
				err  error
			}{
				{"NewQSMSClient", m1 != nil, err1}, {"NewQSMSServer", m2 != nil, err2},
				{"NewQSMDClient", m3 != nil, err3}, {"NewQSMDServer", m4 != nil, err4},
			}
			failed := 0
			for _, r := range results {
				if r.err != nil {
					failed++
					if !errors.Is(r.err, c.want) || r.ok {
						t.Errorf("%s: %v, want %v", r.name, r.err, c.want)
					}
				}
			}
			if failed == 0 {
				t.Error("every constructor accepted the input")
			}
		})
	}
}

// TestMachineCallOrder covers calls in the wrong order, twice, or after the
// end, and malformed packets of every length, for both modes.
func TestMachineCallOrder(t *testing.T) {
	for _, mode := range negativeConfigs {
		t.Run(mode.name, func(t *testing.T) {
			f, pkts := shared(t, mode.config, mode.duplex)
			wantState := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrState) {
					t.Errorf("%s: %v, want ErrState", what, err)
				}
			}

			// A client that has not started takes no packet.
			c, s := f.machines(nil)
			_, err := c.Handle(pkts[1])
			wantState("client Handle before Start", err)
			// The responder's Start sends nothing and changes nothing.
			if out, err := s.Start(); out != nil || err != nil {
				t.Errorf("server Start = %d bytes, %v", len(out), err)
			}
			// Start twice.
			if _, err := c.Start(); err != nil {
				t.Fatal(err)
			}
			_, err = c.Start()
			wantState("second Start", err)

			// Malformed packets at the first stage: rejected, nothing changes.
			flag, size, _ := s.Expect()
			for name, in := range map[string][]byte{
				"nil": nil, "empty": {}, "one byte": {1}, "header only": pkts[0][:record.HeaderSize],
				"truncated": pkts[0][:len(pkts[0])-1], "oversized": append(bytes.Clone(pkts[0]), 0),
				"double": append(bytes.Clone(pkts[0]), pkts[0]...),
			} {
				out, err := s.Handle(in)
				var he *Error
				if !errors.As(err, &he) || out != nil {
					t.Errorf("server Handle(%s): %v", name, err)
				}
				if err := s.(interface{ CheckConnectRequest([]byte) error }).CheckConnectRequest(in); err == nil {
					t.Errorf("CheckConnectRequest(%s) accepted", name)
				}
				if f2, s2, ok := s.Expect(); f2 != flag || s2 != size || !ok {
					t.Errorf("server changed by %s packet", name)
				}
			}

			// A finished handshake takes nothing more.
			c, s = f.advance(pkts, len(pkts))
			if !c.Done() || !s.Done() {
				t.Fatal("not done")
			}
			_, err = c.Start()
			wantState("Start after Done", err)
			for i, p := range pkts {
				_, err = receiverOf(i, c, s).Handle(p)
				wantState("Handle after Done", err)
			}
			err = s.(interface{ CheckConnectRequest([]byte) error }).CheckConnectRequest(pkts[0])
			wantState("CheckConnectRequest after Done", err)
			c.Abort() // no effect once done
			if !c.Done() || c.Session() == nil || c.Session().Stream == nil {
				t.Error("Abort after Done changed the session")
			}

			// An aborted handshake takes nothing more, at every stage.
			for n := 0; n < len(pkts); n++ {
				c, s := f.advance(pkts, n)
				m := receiverOf(n, c, s)
				m.Abort()
				m.Abort()
				_, err := m.Handle(pkts[n])
				wantState("Handle after Abort", err)
				_, err = m.Start()
				if m == c {
					wantState("Start after Abort", err)
				}
				if _, _, ok := m.Expect(); ok {
					t.Errorf("stage %d: aborted machine expects a packet", n)
				}
				if m.Done() || m.Session() != nil {
					t.Errorf("stage %d: aborted machine established", n)
				}
			}
		})
	}
}

// errDirectory is a failure of a PeerLookup: the listener must keep it in
// the chain.
var errDirectory = errors.New("directory unreachable")

// TestLookupErrorWrapped checks that the cause a PeerLookup returns can be
// tested with errors.Is, together with ErrKeyUnknown and the C code.
func TestLookupErrorWrapped(t *testing.T) {
	f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	cfg := Config{Suite: f.suite, Rand: drbg("x"), Now: func() time.Time { return f.now }}
	for _, c := range []struct {
		name  string
		look  PeerLookup
		cause error
	}{
		{"lookup error", func([KeyIDSize]byte) ([]byte, error) { return nil, errDirectory }, errDirectory},
		{"nil key", func([KeyIDSize]byte) ([]byte, error) { return nil, nil }, nil},
		{"short key", func([KeyIDSize]byte) ([]byte, error) { return f.client.VerifyKey[1:], nil }, nil},
	} {
		s, err := NewQSMDServer(cfg, f.server, c.look)
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{s.CheckConnectRequest(pkts[0]), func() error { _, err := s.Handle(pkts[0]); return err }()} {
			if !errors.Is(err, ErrKeyUnknown) || !errors.Is(err, record.CodeKeyUnrecognized) {
				t.Errorf("%s: %v", c.name, err)
			}
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("%s: cause lost: %v", c.name, err)
			}
		}
	}
}

// TestRatchetMisuse calls the asymmetric-ratchet API with nil, zero and
// half-built sessions and pending states, malformed payloads of every
// length, and in the wrong order.
func TestRatchetMisuse(t *testing.T) {
	a, b, request, pending, sig, kem := ratchetPair(t)
	response, secret, err := b.RespondAsymmetric(drbg("respond"), request)
	if err != nil {
		t.Fatal(err)
	}
	var nilSession *Session
	noSuite := *a
	noSuite.Suite = nil
	noStream := *a
	noStream.Stream = nil
	simplex := *a
	simplex.Duplex = false

	type call struct {
		name string
		run  func(s *Session) error
	}
	calls := []call{
		{"NewAsymmetricRequest", func(s *Session) error { _, _, err := s.NewAsymmetricRequest(drbg("r")); return err }},
		{"RespondAsymmetric", func(s *Session) error { _, _, err := s.RespondAsymmetric(drbg("r"), request); return err }},
		{"StreamAsymmetricRequest", func(s *Session) error { _, _, err := s.StreamAsymmetricRequest(drbg("r")); return err }},
		{"StreamAsymmetricRespond", func(s *Session) error { _, err := s.StreamAsymmetricRespond(drbg("r"), request); return err }},
		{"StreamAsymmetricFinish", func(s *Session) error { return s.StreamAsymmetricFinish(pending, response) }},
		{"Finish", func(s *Session) error { _, err := pending.Finish(s, response); return err }},
	}
	for _, sc := range []struct {
		name    string
		s       *Session
		want    error
		skipFor map[string]bool // calls that do not depend on this defect
	}{
		{"nil session", nilSession, ErrRatchet, nil},
		{"zero session", &Session{}, ErrRatchet, map[string]bool{"Finish": true}},
		{"simplex session", &simplex, ErrRatchet, map[string]bool{"Finish": true, "StreamAsymmetricFinish": true}},
		{"session without suite", &noSuite, suite.ErrUnknownConfig, map[string]bool{"Finish": true, "StreamAsymmetricFinish": true}},
		{"session without stream", &noStream, ErrRatchet, map[string]bool{"NewAsymmetricRequest": true, "RespondAsymmetric": true, "Finish": true}},
	} {
		for _, c := range calls {
			if sc.skipFor[c.name] {
				continue
			}
			if err := c.run(sc.s); !errors.Is(err, sc.want) {
				t.Errorf("%s on %s: %v, want %v", c.name, sc.name, err, sc.want)
			}
		}
	}
	// Finish checks the response against the session it is given: a zero
	// session has no peer key.
	if _, err := pending.Finish(&Session{}, response); !errors.Is(err, ErrRatchet) || !errors.Is(err, suite.ErrKeySize) {
		t.Errorf("Finish with a zero session: %v", err)
	}

	// Malformed payloads of every length.
	for name, bad := range map[string][]byte{
		"nil": nil, "empty": {}, "one byte": {0},
		"truncated": request[:len(request)-1], "oversized": append(bytes.Clone(request), 0),
	} {
		if _, _, err := b.RespondAsymmetric(drbg("r"), bad); !errors.Is(err, ErrRatchet) {
			t.Errorf("RespondAsymmetric(%s): %v", name, err)
		}
	}
	for name, bad := range map[string][]byte{
		"nil": nil, "empty": {}, "one byte": {0},
		"truncated": response[:len(response)-1], "oversized": append(bytes.Clone(response), 0),
	} {
		if _, err := pending.Finish(a, bad); !errors.Is(err, ErrRatchet) {
			t.Errorf("Finish(%s): %v", name, err)
		}
	}
	// Nil random sources.
	if _, _, err := a.NewAsymmetricRequest(nil); !errors.Is(err, suite.ErrRandom) {
		t.Errorf("NewAsymmetricRequest(nil): %v", err)
	}
	if _, _, err := b.RespondAsymmetric(nil, request); !errors.Is(err, ErrRatchet) || !errors.Is(err, suite.ErrRandom) {
		t.Errorf("RespondAsymmetric(nil rand): %v", err)
	}

	// Nil and zero pending states, and Finish twice.
	var nilPending *AsymmetricRatchet
	nilPending.Clear()
	for name, p := range map[string]*AsymmetricRatchet{"nil": nilPending, "zero": {}} {
		if _, err := p.Finish(a, response); !errors.Is(err, ErrRatchet) {
			t.Errorf("Finish on %s pending state: %v", name, err)
		}
		if err := a.StreamAsymmetricFinish(p, response); !errors.Is(err, ErrRatchet) {
			t.Errorf("StreamAsymmetricFinish with %s pending state: %v", name, err)
		}
	}
	got, err := pending.Finish(a, response)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("genuine Finish: %v", err)
	}
	if _, err := pending.Finish(a, response); !errors.Is(err, ErrRatchet) {
		t.Errorf("second Finish: %v", err)
	}

	// Nil schemes have no sizes.
	if AsymmetricRequestSize(nil, sig) != 0 || AsymmetricResponseSize(kem, nil) != 0 || AsymmetricRequestSize(nil, nil) != 0 {
		t.Error("sizes of nil schemes")
	}

	// A session whose stream state was cleared (the connection closed).
	c, d := f2sessions(t)
	c.Stream.Clear()
	if _, _, err := c.StreamAsymmetricRequest(drbg("r")); !errors.Is(err, record.ErrClosed) {
		t.Errorf("StreamAsymmetricRequest after Clear: %v", err)
	}
	req2, _, err := d.NewAsymmetricRequest(drbg("r2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StreamAsymmetricRespond(drbg("r"), req2); !errors.Is(err, record.ErrClosed) {
		t.Errorf("StreamAsymmetricRespond after Clear: %v", err)
	}
}

// f2sessions returns a fresh pair of established QSMD sessions.
func f2sessions(t *testing.T) (a, b *Session) {
	f, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	return f.sessions()
}
