package carrier

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

var errTest = errors.New("test: invalid configuration")

// keys returns two fresh keys of the default suite.
func keys(t *testing.T, v keyfile.Variant) (a, b *keyfile.PrivateKey) {
	t.Helper()
	s, err := suite.Lookup(suite.Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []**keyfile.PrivateKey{&a, &b} {
		if *k, err = keyfile.Generate(s, v, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func TestResolve(t *testing.T) {
	own, peer := keys(t, keyfile.QSMD)
	fake := &keyfile.PublicKey{Suite: &suite.Suite{Name: "fake"}}
	for _, c := range []struct {
		name   string
		k      Keys
		server bool
		msg    string // "" for success
		cause  error
	}{
		{"listener without identity", Keys{PeerKeys: true, Duplex: true}, true, "test: invalid configuration: a listener needs its own key (Identity)", nil},
		{"QSMD listener without lookup", Keys{Identity: own, Duplex: true}, true, "test: invalid configuration: a QSMD listener needs PeerKeys", nil},
		{"QSMD listener without lookup or key", Keys{Identity: own, Duplex: true, PeerKeyServes: true}, true, "test: invalid configuration: a QSMD listener needs PeerKeys (or PeerKey)", nil},
		{"client without listener key", Keys{Identity: own}, false, "test: invalid configuration: a client needs the listener's public key (PeerKey)", nil},
		{"QSMD initiator without identity", Keys{PeerKey: peer.Public(), Duplex: true}, false, "test: invalid configuration: a QSMD initiator needs its own key (Identity)", nil},
		{"keyless suite", Keys{Identity: own, PeerKey: &keyfile.PublicKey{}}, false, "", keyfile.ErrInvalidKey},
		{"unimplemented suite", Keys{PeerKey: fake}, false, "test: invalid configuration: configuration fake is not implemented", nil},
		{"QSMS listener", Keys{Identity: own}, true, "", nil},
		{"QSMD listener", Keys{Identity: own, PeerKeys: true, Duplex: true}, true, "", nil},
		{"QSMD initiator", Keys{Identity: own, PeerKey: peer.Public(), Duplex: true}, false, "", nil},
	} {
		s, err := c.k.Resolve(c.server, errTest)
		switch {
		case c.msg == "" && c.cause == nil:
			if err != nil || s != own.Suite {
				t.Errorf("%s: got %v, %v; want %v", c.name, s, err, own.Suite)
			}
		case !errors.Is(err, errTest) || s != nil:
			t.Errorf("%s: got %v, %v; want an error wrapping errTest", c.name, s, err)
		case c.msg != "" && err.Error() != c.msg:
			t.Errorf("%s: got %q, want %q", c.name, err, c.msg)
		case c.cause != nil && !errors.Is(err, c.cause):
			t.Errorf("%s: got %v, want it to wrap %v", c.name, err, c.cause)
		}
	}
}

func TestDefaults(t *testing.T) {
	var (
		logger *slog.Logger
		r      io.Reader
		now    func() time.Time
	)
	if !Environment(&logger, &r, &now) || logger == nil || r != rand.Reader || now == nil {
		t.Fatalf("Environment filled in %v, %v, clock set %v", logger, r, now != nil)
	}
	own, fixed := slog.New(slog.DiscardHandler), func() time.Time { return time.Unix(1, 0) }
	logger, r, now = own, bytes.NewReader(nil), fixed
	if Environment(&logger, &r, &now) || logger != own || r == rand.Reader || now().Unix() != 1 {
		t.Fatal("Environment replaced fields that were set")
	}

	size := 0
	if err := WindowSize(&size, errTest); err != nil || size != window.DefaultSize {
		t.Fatalf("WindowSize(0) = %d, %v", size, err)
	}
	size = -1
	if err := WindowSize(&size, errTest); !errors.Is(err, errTest) {
		t.Fatalf("WindowSize(-1): %v, want errTest", err)
	}

	for in, want := range map[int64]uint64{0: record.DefaultTimeThreshold, -5: 0, 7: 7} {
		if got := Threshold(in); got != want {
			t.Errorf("Threshold(%d) = %d, want %d", in, got, want)
		}
	}
	if TagSize(false) != 32 || TagSize(true) != 64 {
		t.Errorf("TagSize: %d, %d", TagSize(false), TagSize(true))
	}
	s, err := suite.Lookup(suite.Default)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := s.KEM()
	v, _ := s.Signer()
	req, resp, err := AsymmetricSizes(s, errTest)
	if err != nil || req != 8+handshake.AsymmetricRequestSize(k, v) || resp != 8+handshake.AsymmetricResponseSize(k, v) {
		t.Errorf("AsymmetricSizes = %d, %d, %v", req, resp, err)
	}
	if _, _, err := AsymmetricSizes(&suite.Suite{Name: "fake"}, errTest); !errors.Is(err, errTest) || !errors.Is(err, suite.ErrNotImplemented) {
		t.Errorf("AsymmetricSizes(fake): %v", err)
	}
}

// TestMachines runs a handshake of each variant between the machines
// ClientMachine and ServerMachine build; the QSMD listener's lookup ignores
// the key id it is asked about and returns the initiator's key.
func TestMachines(t *testing.T) {
	for _, v := range []keyfile.Variant{keyfile.QSMS, keyfile.QSMD} {
		duplex := v == keyfile.QSMD
		client, server := keys(t, v)
		hc := handshake.Config{Suite: server.Suite, Rand: rand.Reader, Now: time.Now}
		cm, err := ClientMachine(hc, duplex, client, server.Public())
		if err != nil {
			t.Fatal(err)
		}
		sm, err := ServerMachine(hc, duplex, server, client.Public())
		if err != nil {
			t.Fatal(err)
		}
		pkt, err := cm.Start()
		for err == nil && pkt != nil {
			if pkt, err = sm.Handle(pkt); err == nil && pkt != nil {
				pkt, err = cm.Handle(pkt)
			}
		}
		if err != nil || !cm.Done() || !sm.Done() || cm.Session().Duplex != duplex {
			t.Fatalf("%v: handshake: %v (done %v, %v)", v, err, cm.Done(), sm.Done())
		}
		if duplex && !bytes.Equal(sm.Session().PeerVerifyKey, client.VerifyKey) {
			t.Errorf("QSMD listener took the initiator's key as %x", sm.Session().PeerVerifyKey[:8])
		}
	}
}
