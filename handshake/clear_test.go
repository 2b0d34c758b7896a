package handshake

import (
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// TestSessionClear: Clear zeroes an established session's datagram secret
// and its stream state (ciphers and ratchet seed: the stream refuses to
// seal or open afterwards), leaves the caller's signing key alone, and
// does nothing on a nil session or a second call.
func TestSessionClear(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		f := newFixture(t, "dilithium-s1_kyber-s1_sha3_rcs256", duplex)
		client, server := f.sessions()
		for _, s := range []*Session{client, server} {
			ds := s.DatagramSecret
			if len(ds) != record.DatagramSecretSize || allZero(ds) {
				t.Fatal("no datagram secret to clear")
			}
			if len(s.Stream.RatchetState().RTCS) == 0 {
				t.Fatal("no ratchet seed to clear")
			}
			var sk []byte
			if s.Local != nil {
				sk = append([]byte(nil), s.Local.SigningKey...)
			}
			s.Clear()
			if !allZero(ds) {
				t.Errorf("duplex %v: the datagram secret survived Clear", duplex)
			}
			if rs := s.Stream.RatchetState(); !allZero(rs.RTCS, rs.Secret) {
				t.Errorf("duplex %v: the ratchet seed survived Clear", duplex)
			}
			if _, err := s.Stream.Seal([]byte("x"), testClock); !errors.Is(err, record.ErrClosed) {
				t.Errorf("duplex %v: Seal after Clear: %v, want ErrClosed", duplex, err)
			}
			if s.Local != nil && string(s.Local.SigningKey) != string(sk) {
				t.Errorf("duplex %v: Clear touched the signing key", duplex)
			}
			s.Clear() // twice: nothing
		}
	}
	var nilSession *Session
	nilSession.Clear()
	(&Session{}).Clear()
}
