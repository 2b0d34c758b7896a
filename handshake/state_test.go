package handshake

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// TestExpectFollowsTheHandshake: before each packet, the receiver's Expect
// names exactly that packet's flag and message size; a machine that expects
// nothing (a client before Start, the sender of the last flight, an
// established machine) says so; Session is nil until Done.
func TestExpectFollowsTheHandshake(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			client, server := f.machines(nil)
			if _, _, ok := client.Expect(); ok {
				t.Fatal("client expects a packet before Start")
			}
			if pkt, err := server.Start(); pkt != nil || err != nil {
				t.Fatalf("responder Start: %x, %v", pkt, err)
			}
			if _, err := client.Start(); err != nil {
				t.Fatal(err)
			}
			for i, pkt := range pkts {
				rx, tx := server, client
				if i%2 == 1 {
					rx, tx = client, server
				}
				flag, size, ok := rx.Expect()
				if !ok || flag != record.Flag(pkt[0]) || size != len(pkt)-record.HeaderSize {
					t.Fatalf("packet %d: receiver expects %v/%d/%v, packet is %v/%d", i, flag, size, ok, record.Flag(pkt[0]), len(pkt)-record.HeaderSize)
				}
				// The sender waits for the answer, or for nothing after the
				// last flight.
				if flag, size, ok := tx.Expect(); i+1 < len(pkts) && (!ok || flag != record.Flag(pkts[i+1][0]) || size != len(pkts[i+1])-record.HeaderSize) {
					t.Fatalf("packet %d: sender expects %v/%d/%v", i, flag, size, ok)
				} else if i+1 == len(pkts) && ok {
					t.Fatalf("packet %d: the sender of the last flight expects a packet", i)
				}
				if rx.Done() || rx.Session() != nil || tx.Session() != nil && !tx.Done() {
					t.Fatalf("packet %d: session before the end", i)
				}
				if _, err := rx.Handle(pkt); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range []Machine{client, server} {
				if _, _, ok := m.Expect(); ok || !m.Done() || m.Session() == nil {
					t.Fatalf("%T after the handshake: expect %v, done %v", m, ok, m.Done())
				}
			}
		})
	}
}

// TestCallsOutOfOrder: Start twice, Handle before Start and any call after
// the handshake fail with ErrState and invalid_request; a refused Start or
// Handle changes nothing.
func TestCallsOutOfOrder(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			isState := func(err error) bool {
				var he *Error
				return errors.As(err, &he) && errors.Is(err, ErrState) && he.Code == record.CodeInvalidRequest && len(he.Packet) == 22
			}

			client, server := f.machines(nil)
			if _, err := client.Handle(pkts[1]); !isState(err) {
				t.Fatalf("Handle before Start: %v", err)
			}
			if _, err := client.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Start(); !isState(err) {
				t.Fatalf("second Start: %v", err)
			}
			// The refused calls changed nothing: the handshake completes with
			// the very packets of an undisturbed run.
			for i := 0; i < len(pkts); i++ {
				out, err := receiverOf(i, client, server).Handle(pkts[i])
				if err != nil {
					t.Fatalf("packet %d after refused calls: %v", i, err)
				}
				if i+1 < len(pkts) && !bytes.Equal(out, pkts[i+1]) {
					t.Fatalf("packet %d: answer differs after refused calls", i)
				}
			}
			sc, ss := client.Session(), server.Session()
			if _, err := client.Start(); !isState(err) {
				t.Fatalf("Start after the end: %v", err)
			}
			for i, pkt := range pkts {
				if _, err := receiverOf(i, client, server).Handle(pkt); !isState(err) {
					t.Fatalf("packet %d after the end: %v", i, err)
				}
			}
			if client.Session() != sc || server.Session() != ss || !client.Done() || !server.Done() {
				t.Fatal("calls after the end changed the sessions")
			}
		})
	}
}

// failReader fails every read.
type failReader struct{}

var errNoRandom = errors.New("test: no randomness")

func (failReader) Read([]byte) (int, error) { return 0, errNoRandom }

// setRand replaces a machine's random source and returns the old one.
func setRand(m Machine, r io.Reader) io.Reader {
	var cfg *Config
	switch m := m.(type) {
	case *QSMSClient:
		cfg = &m.cfg
	case *QSMSServer:
		cfg = &m.cfg
	case *QSMDClient:
		cfg = &m.cfg
	case *QSMDServer:
		cfg = &m.cfg
	}
	old := cfg.Rand
	cfg.Rand = r
	return old
}

// TestCheckConnectRequest: the cheap pre-check accepts the genuine request
// without drawing randomness (the source here fails every read) and without
// changing the server, rejects what Handle rejects before any key work, and
// refuses once the request has been answered. The QSMD pre-check does not
// verify the initiator's signature; Handle does.
func TestCheckConnectRequest(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			_, server := f.machines(nil)
			check := func(pkt []byte) error {
				switch s := server.(type) {
				case *QSMSServer:
					return s.CheckConnectRequest(pkt)
				case *QSMDServer:
					return s.CheckConnectRequest(pkt)
				}
				panic("unreachable")
			}
			good := setRand(server, failReader{})
			if err := check(pkts[0]); err != nil {
				t.Fatalf("genuine request: %v", err)
			}
			if _, _, ok := server.Expect(); !ok || server.Done() {
				t.Fatal("the pre-check changed the server")
			}
			badKey := bytes.Clone(pkts[0])
			badKey[record.HeaderSize] ^= 1
			badCfg := bytes.Clone(pkts[0])
			badCfg[record.HeaderSize+KeyIDSize] ^= 1
			for _, tc := range []struct {
				name string
				pkt  []byte
				want error
				code record.Code
			}{
				{"unknown key id", badKey, ErrKeyUnknown, record.CodeKeyUnrecognized},
				{"other configuration", badCfg, ErrConfig, record.CodeUnknownProtocol},
				{"truncated", pkts[0][:40], record.ErrShortPacket, 0},
				{"exchange request", pkts[2], record.ErrMessageSize, 0},
			} {
				err := check(tc.pkt)
				if !errors.Is(err, tc.want) || (tc.code != 0 && codeOf(err) != tc.code) {
					t.Errorf("%s: %v", tc.name, err)
				}
				if _, herr := server.Handle(tc.pkt); codeOf(herr) != codeOf(err) {
					t.Errorf("%s: Handle reports %v, the pre-check %v", tc.name, herr, err)
				}
			}
			if nc.duplex {
				// A forged signature passes the pre-check, not Handle.
				forged := bytes.Clone(pkts[0])
				forged[record.HeaderSize+KeyIDSize+suite.ConfigSize+5] ^= 1
				if err := check(forged); err != nil {
					t.Fatalf("pre-check verified the signature: %v", err)
				}
				if _, err := server.Handle(forged); codeOf(err) != record.CodeAuthenticationFailure || !errors.Is(err, suite.ErrVerify) {
					t.Fatalf("forged connect request: %v", err)
				}
			}
			setRand(server, good)
			out, err := server.Handle(pkts[0])
			if err != nil || !bytes.Equal(out, pkts[1]) {
				t.Fatalf("genuine request after the pre-checks: %v", err)
			}
			if err := check(pkts[0]); !errors.Is(err, ErrState) || codeOf(err) != record.CodeInvalidRequest {
				t.Fatalf("pre-check after the answer: %v", err)
			}
		})
	}
}

// TestCheckOrder: the server's connect-request checks run in the C order
// (digest 5.3, 6.3): key id before expiration before configuration.
func TestCheckOrder(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			both := bytes.Clone(pkts[0])
			both[record.HeaderSize] ^= 1             // key id
			both[record.HeaderSize+KeyIDSize+3] ^= 1 // configuration
			cfgOnly := bytes.Clone(pkts[0])
			cfgOnly[record.HeaderSize+KeyIDSize+3] ^= 1
			_, server := f.machines(nil)
			if _, err := server.Handle(both); !errors.Is(err, ErrKeyUnknown) {
				t.Errorf("unknown key id and configuration: %v", err)
			}
			g := *f
			g.server.Expiration = testClock - 1
			_, server = g.machines(nil)
			if _, err := server.Handle(cfgOnly); !errors.Is(err, ErrKeyExpired) || codeOf(err) != record.CodeKeyExpired {
				t.Errorf("expired key and other configuration: %v", err)
			}
			// Valid while now <= Expiration.
			g.server.Expiration = testClock
			_, server = g.machines(nil)
			if _, err := server.Handle(pkts[0]); err != nil {
				t.Errorf("key expiring this second: %v", err)
			}
		})
	}
}

// TestQSMDPeerLookup: the listener's lookup is asked for its own key id; a
// lookup that fails, or returns a key of the wrong size, gives
// key_unrecognized; a lookup that returns another valid key (not the
// initiator's) gives authentication_failure; none of them panics or
// changes the listener.
func TestQSMDPeerLookup(t *testing.T) {
	f, pkts := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	errUnknown := errors.New("test: no such peer")
	var asked [][KeyIDSize]byte
	for _, tc := range []struct {
		name   string
		lookup PeerLookup
		code   record.Code
		cause  error
	}{
		{"lookup error", func([KeyIDSize]byte) ([]byte, error) { return nil, errUnknown }, record.CodeKeyUnrecognized, ErrKeyUnknown},
		{"empty key", func([KeyIDSize]byte) ([]byte, error) { return nil, nil }, record.CodeKeyUnrecognized, ErrKeyUnknown},
		{"short key", func([KeyIDSize]byte) ([]byte, error) { return f.client.VerifyKey[1:], nil }, record.CodeKeyUnrecognized, ErrKeyUnknown},
		{"another key", func(id [KeyIDSize]byte) ([]byte, error) {
			asked = append(asked, id)
			return f.server.VerifyKey, nil
		}, record.CodeAuthenticationFailure, suite.ErrVerify},
	} {
		cfg := Config{Suite: f.suite, Rand: drbg(f.rngSeed), Now: func() time.Time { return f.now }}
		s, err := NewQSMDServer(cfg, f.server, tc.lookup)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Handle(pkts[0]); codeOf(err) != tc.code || !errors.Is(err, tc.cause) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.code == record.CodeKeyUnrecognized {
			if err := s.CheckConnectRequest(pkts[0]); !errors.Is(err, ErrKeyUnknown) {
				t.Errorf("%s: pre-check: %v", tc.name, err)
			}
		}
		if s.state != qsmdNone || s.peerKey != nil {
			t.Errorf("%s: listener changed", tc.name)
		}
	}
	if len(asked) != 1 || asked[0] != f.server.KeyID {
		t.Fatalf("lookup asked for %x, want the listener's key id %x", asked, f.server.KeyID)
	}
}

// TestTimeThreshold: a negative threshold disables the time check, a
// positive one replaces the 60-second default (inclusive bound).
func TestTimeThreshold(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex) // stamped testClock
			server := func(threshold int64, skew time.Duration) Machine {
				now := f.now.Add(skew)
				cfg := Config{Suite: f.suite, Rand: drbg(f.rngSeed), Now: func() time.Time { return now }, TimeThreshold: threshold}
				var m Machine
				var err error
				if nc.duplex {
					vk := f.client.VerifyKey
					m, err = NewQSMDServer(cfg, f.server, func([KeyIDSize]byte) ([]byte, error) { return vk, nil })
				} else {
					m, err = NewQSMSServer(cfg, f.server)
				}
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			for _, tc := range []struct {
				threshold int64
				skew      time.Duration
				ok        bool
			}{
				{0, 60 * time.Second, true},
				{0, 61 * time.Second, false},
				{-1, time.Hour, true},
				{-1, -24 * time.Hour, true},
				{5, 5 * time.Second, true},
				{5, -5 * time.Second, true},
				{5, 6 * time.Second, false},
				{5, -6 * time.Second, false},
				{3600, time.Hour, true},
			} {
				_, err := server(tc.threshold, tc.skew).Handle(pkts[0])
				if tc.ok != (err == nil) || (err != nil && !errors.Is(err, record.ErrTime)) {
					t.Errorf("threshold %d, clock %v off: %v", tc.threshold, tc.skew, err)
				}
			}
		})
	}
}

// TestErrorValue: an *Error names its stage, code and cause, matches both
// with errors.Is, and its packet is what the peer machine reports as
// ErrPeer with the same code.
func TestErrorValue(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, _ := shared(t, nc.config, nc.duplex)
			g := *f
			g.server.KeyID[0] ^= 1
			client, _ := g.machines(nil)
			pkt, err := client.Start()
			if err != nil {
				t.Fatal(err)
			}
			_, server := f.machines(nil)
			_, err = server.Handle(pkt)
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("not an *Error: %v", err)
			}
			msg := err.Error()
			for _, part := range []string{"connect request", record.CodeKeyUnrecognized.String(), ErrKeyUnknown.Error()} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			if !errors.Is(err, record.CodeKeyUnrecognized) || errors.Is(err, record.CodeKeyExpired) || errors.Is(err, ErrConfig) {
				t.Errorf("errors.Is on %v", err)
			}
			_, perr := client.Handle(he.Packet)
			if !errors.Is(perr, ErrPeer) || codeOf(perr) != record.CodeKeyUnrecognized || client.Done() {
				t.Fatalf("peer's view of the error packet: %v", perr)
			}
		})
	}
}

// TestConstructorsQSMD checks the Duplex constructors' input validation and
// that a hand-built suite without implemented primitives is refused with
// suite.ErrNotImplemented by every constructor.
func TestConstructorsQSMD(t *testing.T) {
	f, _ := shared(t, "dilithium-s1_kyber-s1_sha3_rcs256", true)
	cfg := Config{Suite: f.suite, Rand: drbg("x"), Now: time.Now}
	lookup := func([KeyIDSize]byte) ([]byte, error) { return f.client.VerifyKey, nil }
	short := public(f.server)
	short.VerifyKey = short.VerifyKey[:10]
	for name, err := range map[string]error{
		"empty config":              errOf(NewQSMDClient(Config{Suite: f.suite}, f.client, public(f.server))),
		"local without signing key": errOf(NewQSMDClient(cfg, public(f.client), public(f.server))),
		"short listener key":        errOf(NewQSMDClient(cfg, f.client, short)),
		"listener without signing":  errOf(NewQSMDServer(cfg, public(f.server), lookup)),
		"listener, empty config":    errOf(NewQSMDServer(Config{}, f.server, lookup)),
	} {
		if !errors.Is(err, ErrInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The listener's own public key is not kept with the signing key.
	c, err := NewQSMDClient(cfg, f.client, f.server)
	if err != nil || c.server.SigningKey != nil {
		t.Fatalf("listener's signing key kept by the initiator: %v", err)
	}
	for _, fake := range []*suite.Suite{
		{Name: f.suite.Name, SignatureName: f.suite.SignatureName, KEMName: "no such KEM"},
		{Name: f.suite.Name, SignatureName: "no such signature", KEMName: f.suite.KEMName},
	} {
		cfg := Config{Suite: fake, Rand: drbg("x"), Now: time.Now}
		for name, err := range map[string]error{
			"QSMS client": errOf(NewQSMSClient(cfg, public(f.server))),
			"QSMS server": errOf(NewQSMSServer(cfg, f.server)),
			"QSMD client": errOf(NewQSMDClient(cfg, f.client, public(f.server))),
			"QSMD server": errOf(NewQSMDServer(cfg, f.server, lookup)),
		} {
			if !errors.Is(err, suite.ErrNotImplemented) {
				t.Errorf("%s with %s/%s: %v", name, fake.SignatureName, fake.KEMName, err)
			}
		}
	}
}

func errOf[T any](_ T, err error) error { return err }
