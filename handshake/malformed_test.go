package handshake

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// sharedFixtures caches one fixture and transcript per configuration and
// mode for the tests that only read them (tests run one at a time here).
var sharedFixtures = map[string]struct {
	f    fixture
	pkts [][]byte
}{}

// shared returns a copy of the cached fixture bound to t and the cached
// transcript, which callers must not modify in place.
func shared(t *testing.T, config string, duplex bool) (*fixture, [][]byte) {
	t.Helper()
	key := fmt.Sprint(config, duplex)
	c, ok := sharedFixtures[key]
	if !ok {
		f := newFixture(t, config, duplex)
		c.f, c.pkts = *f, f.transcript()
		sharedFixtures[key] = c
	}
	f := c.f
	f.t = t
	return &f, c.pkts
}

// receiverOf returns the machine that receives packet i of a transcript:
// the server for even i, the client for odd i.
func receiverOf(i int, client, server Machine) Machine {
	if i%2 == 1 {
		return client
	}
	return server
}

// driverOverride reports whether the C driver replaces every header
// failure of stage i with packet_unsequenced (digest 1.6): the QSMS server's
// connect request and both QSMS client checks, and only the QSMD client's
// establish-response check.
func driverOverride(duplex bool, i int) bool {
	if duplex {
		return i == 5
	}
	return i != 2
}

// rewrite returns a copy of pkt with its header changed by edit and its
// body resized to the header's new msglen (extended with zeros or cut), so
// the framing stays consistent and only the header check can fail.
func rewrite(pkt []byte, edit func(*record.Header)) []byte {
	h, err := record.ParseHeader(pkt)
	if err != nil {
		panic(err)
	}
	edit(&h)
	body := bytes.Clone(pkt[record.HeaderSize:])
	for len(body) < int(h.MsgLen) {
		body = append(body, 0)
	}
	body = body[:h.MsgLen]
	return append(h.Append(nil), body...)
}

// withMsgLen returns a copy of pkt whose header claims msglen n, the body
// left as it is.
func withMsgLen(pkt []byte, n uint32) []byte {
	out := bytes.Clone(pkt)
	h, _ := record.ParseHeader(out)
	h.MsgLen = n
	h.Put(out)
	return out
}

// TestMalformedHeaders sends every stage's receiver truncated, oversized,
// stale, future, misnumbered and mislabelled versions of its packet, and
// checks the cause (errors.Is on the record sentinel), the code the C driver
// reports for that stage (digest 1.6, including the packet_unsequenced
// overrides), the precedence of the checks (time, length, sequence, flag),
// the 22-byte error packet carrying that code, and that the receiver is
// unchanged: the genuine packet is accepted afterwards with the same answer.
func TestMalformedHeaders(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			now := uint64(testClock)
			// One pair walks the handshake: each receiver gets the malformed
			// packets, then the genuine one.
			client, server := f.advance(pkts, 0)
			for i, genuine := range pkts {
				m := receiverOf(i, client, server)
				override := driverOverride(nc.duplex, i)
				code := func(c record.Code) record.Code {
					if override {
						return record.CodePacketUnsequenced
					}
					return c
				}
				cases := []struct {
					name  string
					pkt   []byte
					cause error
					code  record.Code
				}{
					{"empty", nil, record.ErrShortPacket, code(record.CodeReceiveFailure)},
					{"header cut", genuine[:record.HeaderSize-1], record.ErrShortPacket, code(record.CodeReceiveFailure)},
					{"header only", genuine[:record.HeaderSize], record.ErrShortPacket, code(record.CodeReceiveFailure)},
					{"body cut by one", genuine[:len(genuine)-1], record.ErrShortPacket, code(record.CodeReceiveFailure)},
					{"one byte appended", append(bytes.Clone(genuine), 0), record.ErrLongPacket, code(record.CodeReceiveFailure)},
					{"msglen one more", rewrite(genuine, func(h *record.Header) { h.MsgLen++ }), record.ErrMessageSize, code(record.CodeReceiveFailure)},
					{"msglen one less", rewrite(genuine, func(h *record.Header) { h.MsgLen-- }), record.ErrMessageSize, code(record.CodeReceiveFailure)},
					{"msglen huge", withMsgLen(genuine, 1<<31), record.ErrShortPacket, code(record.CodeReceiveFailure)},
					{"msglen 2^32-1", withMsgLen(genuine, 0xFFFFFFFF), record.ErrShortPacket, code(record.CodeReceiveFailure)},
					{"msglen zero", withMsgLen(genuine, 0), record.ErrLongPacket, code(record.CodeReceiveFailure)},
					{"sequence ahead", rewrite(genuine, func(h *record.Header) { h.Sequence++ }), record.ErrSequence, record.CodePacketUnsequenced},
					{"error sequence", rewrite(genuine, func(h *record.Header) { h.Sequence = record.ErrorSequence }), record.ErrSequence, record.CodePacketUnsequenced},
					{"data flag", rewrite(genuine, func(h *record.Header) { h.Flag = record.FlagEncryptedMessage }), record.ErrFlag, code(record.CodeInvalidRequest)},
					{"next stage's flag", rewrite(genuine, func(h *record.Header) { h.Flag++ }), record.ErrFlag, code(record.CodeInvalidRequest)},
					{"stale", rewrite(genuine, func(h *record.Header) { h.UTCTime = now - 61 }), record.ErrTime, code(record.CodeMessageTimeInvalid)},
					{"future", rewrite(genuine, func(h *record.Header) { h.UTCTime = now + 61 }), record.ErrTime, code(record.CodeMessageTimeInvalid)},
					{"utctime zero", rewrite(genuine, func(h *record.Header) { h.UTCTime = 0 }), record.ErrTime, code(record.CodeMessageTimeInvalid)},
					{"utctime max", rewrite(genuine, func(h *record.Header) { h.UTCTime = ^uint64(0) }), record.ErrTime, code(record.CodeMessageTimeInvalid)},
					// Precedence (digest 1.6): time, then msglen, then sequence, then flag.
					{"stale and wrong size", rewrite(genuine, func(h *record.Header) { h.UTCTime = now - 61; h.MsgLen++ }), record.ErrTime, code(record.CodeMessageTimeInvalid)},
					{"wrong size and sequence", rewrite(genuine, func(h *record.Header) { h.MsgLen++; h.Sequence++ }), record.ErrMessageSize, code(record.CodeReceiveFailure)},
					{"wrong sequence and flag", rewrite(genuine, func(h *record.Header) { h.Sequence++; h.Flag = record.FlagEncryptedMessage }), record.ErrSequence, record.CodePacketUnsequenced},
				}
				for _, tc := range cases {
					_, err := m.Handle(tc.pkt)
					var he *Error
					if !errors.As(err, &he) {
						t.Fatalf("stage %d, %s: error %v is not an *Error", i, tc.name, err)
					}
					if !errors.Is(err, tc.cause) || he.Code != tc.code || !errors.Is(err, tc.code) {
						t.Errorf("stage %d, %s: got %v (code %v), want cause %v and code %v", i, tc.name, err, he.Code, tc.cause, tc.code)
					}
					if c, perr := record.ParsePlainError(he.Packet); perr != nil || c != he.Code {
						t.Errorf("stage %d, %s: error packet %x carries %v (%v), want %v", i, tc.name, he.Packet, c, perr, he.Code)
					} else if ph, _ := record.ParseHeader(he.Packet); ph.UTCTime != now {
						t.Errorf("stage %d, %s: error packet time %d, want %d", i, tc.name, ph.UTCTime, now)
					}
					if m.Done() || m.Session() != nil {
						t.Fatalf("stage %d, %s: established after a rejected packet", i, tc.name)
					}
				}
				out, err := m.Handle(genuine)
				if err != nil {
					t.Fatalf("stage %d: genuine packet rejected after the malformed ones: %v", i, err)
				}
				if i+1 < len(pkts) && !bytes.Equal(out, pkts[i+1]) {
					t.Fatalf("stage %d: answer differs after the malformed packets", i)
				}
			}
		})
	}
}

// TestPeerErrorPacketEveryStage: an unencrypted error packet (flag 0x14,
// msglen 1) is reported at every stage as ErrPeer with the peer's code,
// whatever its sequence number or time (digest 1.6 step 1), carries no
// error packet of its own (a host does not answer an error with an error),
// and leaves the receiver unchanged. An unknown code byte does not panic.
func TestPeerErrorPacketEveryStage(t *testing.T) {
	for _, nc := range negativeConfigs {
		t.Run(nc.name, func(t *testing.T) {
			f, pkts := shared(t, nc.config, nc.duplex)
			client, server := f.advance(pkts, 0)
			for i, genuine := range pkts {
				m := receiverOf(i, client, server)
				for _, code := range []record.Code{record.CodeKeyExpired, record.CodeUnknownProtocol, 0xEE} {
					for _, pkt := range [][]byte{
						record.PlainError(code, testClock),
						rewrite(record.PlainError(code, testClock), func(h *record.Header) { h.Sequence = 7; h.UTCTime = 0 }),
					} {
						_, err := m.Handle(pkt)
						var he *Error
						if !errors.As(err, &he) || !errors.Is(err, ErrPeer) || he.Code != code {
							t.Fatalf("stage %d: peer error %v: %v", i, code, err)
						}
						if he.Packet != nil {
							t.Fatalf("stage %d: answered a peer error with %x", i, he.Packet)
						}
						_ = he.Error() // an unknown code formats without panicking
					}
				}
				// An error-flagged packet of another length is not a peer error.
				long := rewrite(record.PlainError(record.CodeKeyExpired, testClock), func(h *record.Header) { h.MsgLen = 2 })
				if _, err := m.Handle(long); errors.Is(err, ErrPeer) || err == nil {
					t.Fatalf("stage %d: two-byte error packet: %v", i, err)
				}
				out, err := m.Handle(genuine)
				if err != nil {
					t.Fatalf("stage %d: genuine packet rejected after peer errors: %v", i, err)
				}
				if i+1 < len(pkts) && !bytes.Equal(out, pkts[i+1]) {
					t.Fatalf("stage %d: answer differs after peer errors", i)
				}
			}
		})
	}
}
