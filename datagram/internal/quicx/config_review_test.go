package quicx

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// TestConfigCheckOrder pins the message of each configuration error of the
// QUIC carrier, through normalize and for both roles, where several are
// wrong at once: timeouts, then the window, then the keys (own key, the
// QSMD lookup, the listener's key, the QSMD initiator's own key, the suite
// they agree on, whether it is implemented). Every error wraps ErrConfig.
func TestConfigCheckOrder(t *testing.T) {
	server, client, _ := testKeys(t)
	noSuite := client.PublicKey
	noSuite.Suite = nil
	var other *suite.Suite
	for _, s := range suite.All() {
		if s != server.Suite && s.Implemented() {
			other = s
			break
		}
	}
	if other == nil {
		t.Fatal("no second implemented configuration")
	}
	otherKey := client.PublicKey
	otherKey.Suite = other
	fake := client.PublicKey
	fake.Suite = &suite.Suite{Name: "fake"}
	lookup := func([16]byte) (*keyfile.PublicKey, error) { return nil, errors.New("none") }
	const p = "quicx: invalid configuration: "
	for _, tc := range []struct {
		name   string
		cfg    *Config
		server bool
		msg    string
		cause  error
	}{
		{"nil config, client", nil, false, p + "a client needs the listener's public key (PeerKey)", nil},
		{"nil config, listener", nil, true, p + "a listener needs its own key (Identity)", nil},
		{"timeout before window and keys", &Config{HandshakeTimeout: -1, WindowSize: -1}, false, p + "negative HandshakeTimeout", nil},
		{"rekey grace before window", &Config{RekeyGrace: -1, WindowSize: -1}, true, p + "negative RekeyGrace", nil},
		{"close timeout before window", &Config{CloseTimeout: -1, WindowSize: -1}, true, p + "negative CloseTimeout", nil},
		{"window before keys", &Config{WindowSize: window.MaxSize + 1}, false, "", window.ErrSize},
		{"negative window", &Config{WindowSize: -1, Duplex: true}, true, "", window.ErrSize},
		{"listener: own key before lookup", &Config{Duplex: true}, true, p + "a listener needs its own key (Identity)", nil},
		{"QSMD listener without lookup (a PeerKey does not stand for it)", &Config{Identity: server, PeerKey: &client.PublicKey, Duplex: true}, true, p + "a QSMD listener needs PeerKeys", nil},
		{"client: listener key before own key", &Config{Duplex: true}, false, p + "a client needs the listener's public key (PeerKey)", nil},
		{"QSMD initiator without own key", &Config{PeerKey: &server.PublicKey, Duplex: true}, false, p + "a QSMD initiator needs its own key (Identity)", nil},
		{"key without suite", &Config{PeerKey: &noSuite}, false, p + "keyfile: invalid key: key without a configuration", keyfile.ErrInvalidKey},
		{"own key without suite", &Config{Identity: &keyfile.PrivateKey{PublicKey: noSuite}}, true, p + "keyfile: invalid key: key without a configuration", keyfile.ErrInvalidKey},
		{"keys of two suites", &Config{Identity: client, PeerKey: &otherKey, Duplex: true}, false,
			p + "keyfile: key is for another configuration: own key is " + client.Suite.Name + ", peer key is " + other.Name, keyfile.ErrConfigMismatch},
		{"suite mismatch before implemented", &Config{Identity: client, PeerKey: &fake, Duplex: true}, false,
			p + "keyfile: key is for another configuration: own key is " + client.Suite.Name + ", peer key is fake", keyfile.ErrConfigMismatch},
		{"unimplemented suite", &Config{PeerKey: &fake}, false, p + "configuration fake is not implemented", nil},
		{"a listener's PeerKey is checked against its own", &Config{Identity: server, PeerKey: &otherKey, PeerKeys: lookup, Duplex: true}, true,
			p + "keyfile: key is for another configuration: own key is " + server.Suite.Name + ", peer key is " + other.Name, keyfile.ErrConfigMismatch},
	} {
		_, err := tc.cfg.normalize(tc.server)
		switch {
		case !errors.Is(err, ErrConfig):
			t.Errorf("%s: %v, want an error wrapping ErrConfig", tc.name, err)
		case tc.msg != "" && err.Error() != tc.msg:
			t.Errorf("%s: %q, want %q", tc.name, err, tc.msg)
		case tc.cause != nil && !errors.Is(err, tc.cause):
			t.Errorf("%s: %v, want it to wrap %v", tc.name, err, tc.cause)
		case tc.msg == "" && !strings.HasPrefix(err.Error(), p+"WindowSize: "):
			t.Errorf("%s: %q does not name WindowSize", tc.name, err)
		}
	}
}

// TestConfigDefaults: the environment, window, time threshold, tag size
// and ratchet message sizes the QUIC carrier derives, with and without
// values of the caller's, in both variants.
func TestConfigDefaults(t *testing.T) {
	server, _, _ := testKeys(t)
	for _, duplex := range []bool{false, true} {
		srv, cli := configs(t, duplex)
		for _, role := range []struct {
			server bool
			cfg    *Config
		}{{true, srv}, {false, cli}} {
			n, err := role.cfg.normalize(role.server)
			if err != nil {
				t.Fatal(err)
			}
			if n.Logger == nil || n.Rand != io.Reader(rand.Reader) || n.Now == nil || n.WindowSize != window.DefaultSize ||
				n.HandshakeTimeout != DefaultHandshakeTimeout || n.threshold() != record.DefaultTimeThreshold {
				t.Errorf("duplex %v server %v: defaults logger %v, rand %T, window %d, timeout %v, threshold %d",
					duplex, role.server, n.Logger != nil, n.Rand, n.WindowSize, n.HandshakeTimeout, n.threshold())
			}
			if d := time.Since(n.Now()); d < -time.Minute || d > time.Minute {
				t.Errorf("default clock is %v off", d)
			}
			wantTag, wantReq, wantResp := 32, 0, 0
			if duplex {
				k, _ := server.Suite.KEM()
				v, _ := server.Suite.Signer()
				wantTag, wantReq, wantResp = 64, 8+handshake.AsymmetricRequestSize(k, v), 8+handshake.AsymmetricResponseSize(k, v)
			}
			if n.suite != server.Suite || n.tagSize != wantTag || n.asymReq != wantReq || n.asymResp != wantResp {
				t.Errorf("duplex %v server %v: suite %v, tag %d, ratchet %d/%d; want tag %d, ratchet %d/%d",
					duplex, role.server, n.suite, n.tagSize, n.asymReq, n.asymResp, wantTag, wantReq, wantResp)
			}
			if n.hc.Suite != n.suite || n.hc.Rand != n.Rand || n.hc.TimeThreshold != n.TimeThreshold {
				t.Errorf("handshake configuration %+v", n.hc)
			}
		}
	}
	own := slog.New(slog.DiscardHandler)
	r := strings.NewReader("")
	clock := func() time.Time { return time.Unix(1, 0) }
	for _, tc := range []struct {
		threshold int64
		want      uint64
	}{{-1, 0}, {-1 << 62, 0}, {1, 1}, {1 << 40, 1 << 40}} {
		cfg := &Config{PeerKey: &server.PublicKey, Logger: own, Rand: r, Now: clock, WindowSize: 64, TimeThreshold: tc.threshold}
		n, err := cfg.normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		if n.Logger != own || n.Rand != io.Reader(r) || n.Now().Unix() != 1 || n.WindowSize != 64 || n.threshold() != tc.want {
			t.Errorf("threshold %d: the caller's values became logger %v, rand %T, clock %v, window %d, threshold %d",
				tc.threshold, n.Logger == own, n.Rand, n.Now(), n.WindowSize, n.threshold())
		}
		if n.hc.TimeThreshold != tc.threshold || n.hc.Now().Unix() != 1 || n.hc.Rand != io.Reader(r) {
			t.Errorf("threshold %d: handshake configuration %+v", tc.threshold, n.hc)
		}
	}
}
