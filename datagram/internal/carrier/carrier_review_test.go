package carrier

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/window"
)

// TestResolveOrder pins which message Resolve gives when several keys are
// missing or wrong at once, for both carriers' wording (PeerKeyServes: the
// UDP carrier, whose PeerKey stands for PeerKeys), and that a listener's
// PeerKey, when given, must agree with its own key.
func TestResolveOrder(t *testing.T) {
	own, peer := keys(t, keyfile.QSMD)
	var other *suite.Suite
	for _, s := range suite.All() {
		if s != own.Suite && s.Implemented() {
			other = s
			break
		}
	}
	if other == nil {
		t.Fatal("no second implemented configuration")
	}
	otherPeer := *peer.Public()
	otherPeer.Suite = other
	fake := *peer.Public()
	fake.Suite = &suite.Suite{Name: "fake"}
	fakeOwn := *own
	fakeOwn.Suite = fake.Suite
	const p = "test: invalid configuration: "
	mismatch := func(a, b string) string {
		return p + "keyfile: key is for another configuration: own key is " + a + ", peer key is " + b
	}
	for _, serves := range []bool{false, true} {
		lookupMsg := p + "a QSMD listener needs PeerKeys"
		if serves {
			lookupMsg += " (or PeerKey)"
		}
		for _, c := range []struct {
			name   string
			k      Keys
			server bool
			msg    string
			cause  error
		}{
			{"listener: own key before lookup", Keys{Duplex: true}, true, p + "a listener needs its own key (Identity)", nil},
			{"QSMD listener: lookup before the suite", Keys{Identity: own, PeerKey: &fake, Duplex: true}, true, lookupMsg, nil},
			{"QSMS listener needs no lookup", Keys{Identity: own}, true, "", nil},
			{"client: listener key before own key", Keys{Duplex: true}, false, p + "a client needs the listener's public key (PeerKey)", nil},
			{"client: the lookup does not stand for the listener key", Keys{Identity: own, PeerKeys: true}, false, p + "a client needs the listener's public key (PeerKey)", nil},
			{"QSMD initiator: own key before the suite", Keys{PeerKey: &fake, Duplex: true}, false, p + "a QSMD initiator needs its own key (Identity)", nil},
			{"QSMS client needs no own key", Keys{PeerKey: peer.Public()}, false, "", nil},
			{"QSMS client's own key is checked too", Keys{Identity: own, PeerKey: &otherPeer}, false, mismatch(own.Suite.Name, other.Name), keyfile.ErrConfigMismatch},
			{"listener's PeerKey must agree", Keys{Identity: own, PeerKey: &otherPeer, PeerKeys: true, Duplex: true}, true, mismatch(own.Suite.Name, other.Name), keyfile.ErrConfigMismatch},
			{"mismatch before implemented", Keys{Identity: own, PeerKey: &fake}, false, mismatch(own.Suite.Name, "fake"), keyfile.ErrConfigMismatch},
			{"unimplemented own key", Keys{Identity: &fakeOwn, PeerKeys: true, Duplex: true}, true, p + "configuration fake is not implemented", nil},
		} {
			c.k.PeerKeyServes = serves
			name := fmt.Sprintf("%s (PeerKeyServes %v)", c.name, serves)
			s, err := c.k.Resolve(c.server, errTest)
			switch {
			case c.msg == "":
				if err != nil || s != own.Suite {
					t.Errorf("%s: %v, %v; want %s", name, s, err, own.Suite.Name)
				}
			case s != nil || !errors.Is(err, errTest) || err.Error() != c.msg:
				t.Errorf("%s: %v, %q; want %q wrapping errTest", name, s, err, c.msg)
			case c.cause != nil && !errors.Is(err, c.cause):
				t.Errorf("%s: %v does not wrap %v", name, err, c.cause)
			}
		}
	}
}

// TestEnvironmentEachField: Environment fills in exactly the fields left
// nil, and reports the system clock only when it filled in the clock.
func TestEnvironmentEachField(t *testing.T) {
	own := slog.New(slog.DiscardHandler)
	src := strings.NewReader("")
	clock := func() time.Time { return time.Unix(42, 0) }
	for set := 0; set < 8; set++ {
		var (
			logger *slog.Logger
			r      io.Reader
			now    func() time.Time
		)
		if set&1 != 0 {
			logger = own
		}
		if set&2 != 0 {
			r = src
		}
		if set&4 != 0 {
			now = clock
		}
		system := Environment(&logger, &r, &now)
		if system != (set&4 == 0) {
			t.Errorf("fields set %03b: system clock %v", set, system)
		}
		if (set&1 != 0) != (logger == own) || logger == nil {
			t.Errorf("fields set %03b: logger replaced or left nil", set)
		}
		if set&2 != 0 && r != io.Reader(src) || set&2 == 0 && r != rand.Reader {
			t.Errorf("fields set %03b: random source %T", set, r)
		}
		if now == nil || (set&4 != 0) != (now().Unix() == 42) {
			t.Errorf("fields set %03b: clock replaced or left nil", set)
		}
		if set&4 == 0 {
			if d := time.Since(now()); d < -time.Minute || d > time.Minute {
				t.Errorf("fields set %03b: default clock %v off", set, d)
			}
		}
	}
}

// TestWindowSizeBounds: 0 becomes the default, 1 to window.MaxSize stay,
// anything else is refused with the message both carriers give, wrapping
// their ErrConfig and window.ErrSize, and left as it was.
func TestWindowSizeBounds(t *testing.T) {
	for _, c := range []struct {
		in, want int
		ok       bool
	}{
		{0, window.DefaultSize, true}, {1, 1, true}, {64, 64, true}, {window.MaxSize, window.MaxSize, true},
		{window.MaxSize + 1, window.MaxSize + 1, false}, {-1, -1, false}, {math.MinInt, math.MinInt, false}, {math.MaxInt, math.MaxInt, false},
	} {
		size := c.in
		err := WindowSize(&size, errTest)
		if size != c.want {
			t.Errorf("WindowSize(%d): size became %d, want %d", c.in, size, c.want)
		}
		if c.ok {
			if err != nil {
				t.Errorf("WindowSize(%d): %v", c.in, err)
			}
			continue
		}
		want := fmt.Sprintf("test: invalid configuration: WindowSize: window: invalid size: %d (must be 1 to %d)", c.in, window.MaxSize)
		if !errors.Is(err, errTest) || !errors.Is(err, window.ErrSize) || err.Error() != want {
			t.Errorf("WindowSize(%d): %v, want %q", c.in, err, want)
		}
	}
}

// TestThresholdExtremes: every negative time threshold disables the check
// and every positive one is kept as it is.
func TestThresholdExtremes(t *testing.T) {
	for in, want := range map[int64]uint64{math.MinInt64: 0, -1: 0, 1: 1, 60: 60, math.MaxInt64: math.MaxInt64} {
		if got := Threshold(in); got != want {
			t.Errorf("Threshold(%d) = %d, want %d", in, got, want)
		}
	}
}

// TestMachinesVariant: the machines are of the variant asked for, a QSMS
// machine ignores the keys it does not use, and a key the handshake
// refuses gives the handshake's constructor error.
func TestMachinesVariant(t *testing.T) {
	own, peer := keys(t, keyfile.QSMD)
	hc := handshake.Config{Suite: own.Suite, Rand: rand.Reader, Now: time.Now}
	for _, c := range []struct {
		name string
		make func() (handshake.Machine, error)
		want string
	}{
		{"QSMS client", func() (handshake.Machine, error) { return ClientMachine(hc, false, nil, peer.Public()) }, "*handshake.QSMSClient"},
		{"QSMD client", func() (handshake.Machine, error) { return ClientMachine(hc, true, own, peer.Public()) }, "*handshake.QSMDClient"},
		{"QSMS server", func() (handshake.Machine, error) { return ServerMachine(hc, false, own, nil) }, "*handshake.QSMSServer"},
		{"QSMD server", func() (handshake.Machine, error) { return ServerMachine(hc, true, own, peer.Public()) }, "*handshake.QSMDServer"},
	} {
		m, err := c.make()
		if err != nil || fmt.Sprintf("%T", m) != c.want {
			t.Errorf("%s: %T, %v; want %s", c.name, m, err, c.want)
		}
	}
	short := *peer.Public()
	short.VerifyKey = short.VerifyKey[:10]
	if m, err := ClientMachine(hc, false, nil, &short); err == nil || !errors.Is(err, handshake.ErrInput) {
		t.Errorf("QSMS client with a short listener key: %T, %v; want handshake.ErrInput", m, err)
	}
	if m, err := ClientMachine(hc, true, own, &short); err == nil || !errors.Is(err, handshake.ErrInput) {
		t.Errorf("QSMD client with a short listener key: %T, %v; want handshake.ErrInput", m, err)
	}
}
