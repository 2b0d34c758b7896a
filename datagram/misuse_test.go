package datagram

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
)

// TestConfigErrors: every Config the carrier cannot work with fails
// normalize with ErrConfig (for the role that cannot use it) and names
// the field.
func TestConfigErrors(t *testing.T) {
	server, client, _ := testKeys(t)
	other, err := suite.Lookup(suite.Default)
	if err != nil {
		t.Fatal(err)
	}
	// A key of an unimplemented configuration, and one of another
	// configuration than the server's.
	unimpl := server.PublicKey
	unimpl.Suite = &suite.Suite{Name: "none_of_these"}
	var mismatch *keyfile.PublicKey
	for _, s := range suite.All() {
		if s != other && s.Implemented() {
			k := server.PublicKey
			k.Suite = s
			mismatch = &k
			break
		}
	}
	if mismatch == nil {
		t.Fatal("no second implemented configuration")
	}
	cases := []struct {
		name   string
		server bool
		cfg    Config
		want   string
	}{
		{"negative handshake timeout", false, Config{PeerKey: &server.PublicKey, HandshakeTimeout: -1}, "HandshakeTimeout"},
		{"payload too small", false, Config{PeerKey: &server.PublicKey, MaxPayload: MinMaxPayload - 1}, "MaxPayload"},
		{"payload too large", true, Config{Identity: server, MaxPayload: MaxMaxPayload + 1}, "MaxPayload"},
		{"window size", false, Config{PeerKey: &server.PublicKey, WindowSize: -1}, "WindowSize"},
		{"reject before rekey", false, Config{PeerKey: &server.PublicKey, RekeyAfterRecords: 10, RejectAfterRecords: 5}, "RejectAfterRecords"},
		{"listener without identity", true, Config{PeerKey: &server.PublicKey}, "Identity"},
		{"QSMD listener without peer keys", true, Config{Identity: server, Duplex: true}, "PeerKeys"},
		{"client without peer key", false, Config{Identity: client}, "PeerKey"},
		{"QSMD client without identity", false, Config{PeerKey: &server.PublicKey, Duplex: true}, "Identity"},
		{"keys of two configurations", false, Config{Identity: client, PeerKey: mismatch, Duplex: true}, "peer key"},
		{"unimplemented configuration", false, Config{PeerKey: &unimpl}, "not implemented"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.normalize(tc.server)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("normalize: %v, want ErrConfig naming %q", err, tc.want)
			}
		})
	}
	// The same refusals reach the public constructors, which close the
	// socket they were given.
	pc := newCapturePC("127.0.0.1:7000")
	if _, err := NewListener(pc, &Config{PeerKey: &server.PublicKey}); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewListener without Identity: %v", err)
	}
	if _, _, err := pc.ReadFrom(make([]byte, 1)); err == nil {
		t.Fatal("NewListener left the socket of a failed listener open")
	}
	pc = newCapturePC("127.0.0.1:7001")
	if _, err := DialPacketConn(context.Background(), pc, &net.UDPAddr{}, &Config{PeerKey: &server.PublicKey}); !errors.Is(err, ErrConfig) {
		t.Fatalf("dial to an invalid address: %v", err)
	}
}

// TestErrorTypes: the error types print the sizes they carry and match
// their sentinels.
func TestErrorTypes(t *testing.T) {
	tl := &MessageTooLargeError{Size: 2000, Limit: 1137}
	if s := tl.Error(); !strings.Contains(s, "2000") || !strings.Contains(s, "1137") {
		t.Fatalf("MessageTooLargeError: %q", s)
	}
	if !errors.Is(tl, ErrMessageTooLarge) || errors.Is(tl, ErrShortBuffer) {
		t.Fatal("MessageTooLargeError matches the wrong sentinels")
	}
	sb := &ShortBufferError{Size: 900, Have: 10}
	if s := sb.Error(); !strings.Contains(s, "900") || !strings.Contains(s, "10-byte") {
		t.Fatalf("ShortBufferError: %q", s)
	}
	if !errors.Is(sb, ErrShortBuffer) || !errors.Is(sb, io.ErrShortBuffer) || errors.Is(sb, ErrMessageTooLarge) {
		t.Fatal("ShortBufferError matches the wrong sentinels")
	}
}

// otherAddr is a net.Addr that is not a *net.UDPAddr.
type otherAddr string

func (a otherAddr) Network() string { return "other" }
func (a otherAddr) String() string  { return string(a) }

// TestAddrPortOf: source addresses of every kind a PacketConn may report
// are normalized (IPv4-mapped unmapped) or refused, never a panic.
func TestAddrPortOf(t *testing.T) {
	cases := []struct {
		in   net.Addr
		want string
		ok   bool
	}{
		{&net.UDPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 5}, "10.0.0.1:5", true},
		{(*net.UDPAddr)(nil), "", false},
		{nil, "", false},
		{&net.UDPAddr{}, "", false},
		{otherAddr("[::1]:80"), "[::1]:80", true},
		{otherAddr("not an address"), "", false},
	}
	for _, tc := range cases {
		ap, ok := addrPortOf(tc.in)
		if ok != tc.ok || (ok && ap != netip.MustParseAddrPort(tc.want)) {
			t.Errorf("addrPortOf(%#v) = %v, %v; want %q, %v", tc.in, ap, ok, tc.want, tc.ok)
		}
	}
	// A datagram from an address that does not parse is counted, and a
	// handshake datagram cannot be sent to one.
	c, _ := fuzzSession(t)
	defer c.Close()
	before := c.ep.st.malformed.Load()
	c.ep.handle([]byte{1, 2, 3}, otherAddr("nowhere"))
	if c.ep.st.malformed.Load() != before+1 {
		t.Fatal("a datagram from an unparsable address was not counted")
	}
	errs := c.ep.st.writeErrors.Load()
	c.ep.write([]byte{1}, otherAddr("nowhere"))
	if c.ep.st.writeErrors.Load() != errs+1 {
		t.Fatal("a write to an unparsable address was not counted")
	}
}

// TestSetDeadline: SetDeadline sets both deadlines; a Read and a Write
// past it fail with os.ErrDeadlineExceeded, and clearing it lets both work.
func TestSetDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 72, Delay: time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		c.SetDeadline(time.Now().Add(10 * time.Millisecond))
		start := time.Now()
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 10*time.Millisecond {
			t.Fatalf("read: %v after %v", err, time.Since(start))
		}
		synctest.Wait() // the write deadline's timer has run too
		if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write past the deadline: %v", err)
		}
		c.SetDeadline(time.Time{})
		exchange(t, c, s, "after the deadline")
		exchange(t, s, c, "and back")
	})
}
