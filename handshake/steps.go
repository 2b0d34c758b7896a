package handshake

import (
	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// Steps the QSMS and QSMD machines share. Each reports a failure as the
// *Error of the calling stage, and none changes the machine on failure.

// expect is what a stage accepts: flag, message size and sequence, checked
// at now against the configured time window.
func (c *Config) expect(flag record.Flag, msgLen int, seq, now uint64) record.Expect {
	return record.Expect{Flag: flag, MsgLen: uint32(msgLen), Sequence: seq, Now: now, Threshold: c.threshold()}
}

// openSigned verifies signed, a signature by key over a hash, and checks
// that hash against the hash of parts (the header and fields a peer signs
// over in its message): SHA3-256 when hashSize is 32 (QSMS), SHA3-512
// otherwise (QSMD). It returns the verified hash. A bad signature is
// authentication_failure; a hash that does not match is ErrHash with
// hashCode, which the C drivers choose per stage.
func openSigned(stage string, v suite.Signer, key, signed []byte, hashSize int, hashCode record.Code, now uint64, parts ...[]byte) ([]byte, *Error) {
	h, err := v.Open(key, signed)
	if err != nil {
		return nil, fail(stage, record.CodeAuthenticationFailure, err, now)
	}
	var want []byte
	if hashSize == 32 {
		want = hash256(parts...)
	} else {
		want = hash512(parts...)
	}
	if !equal(want, h) {
		return nil, fail(stage, hashCode, ErrHash, now)
	}
	return h, nil
}

// newCiphers keys both directions of a session from keys: client to server
// and server to client. On failure (unreachable with derived keys) it zeroes
// keys and the cipher already made, and the error is code.
func newCiphers(stage string, keys *record.SessionKeys, code record.Code, now uint64) (c2s, s2c *rcs.Cipher, ferr *Error) {
	c2s, err := rcs.New(keys.C2SKey, keys.C2SNonce)
	if err != nil {
		keys.Clear()
		return nil, nil, fail(stage, code, err, now)
	}
	s2c, err = rcs.New(keys.S2CKey, keys.S2CNonce)
	if err != nil {
		keys.Clear()
		c2s.Clear()
		return nil, nil, fail(stage, code, err, now)
	}
	return c2s, s2c, nil
}

// openConfirmation opens the peer's encrypted transcript confirmation (the
// message of pkt) on a clone of *rx and checks it against want. On success
// the clone, advanced past the record, replaces *rx and the old cipher is
// zeroed; on failure *rx is unchanged. A record that does not open is
// openCode (the C drivers choose it per stage), a wrong transcript is
// verify_failure with ErrVerify.
func openConfirmation(stage string, rx **rcs.Cipher, pkt, msg, want []byte, openCode record.Code, now uint64) *Error {
	next := (*rx).Clone()
	pt, err := next.Open(nil, pkt[:record.HeaderSize], msg)
	if err != nil {
		next.Clear()
		return fail(stage, openCode, err, now)
	}
	if !equal(pt, want) {
		next.Clear()
		return fail(stage, record.CodeVerifyFailure, ErrVerify, now)
	}
	(*rx).Clear()
	*rx = next
	return nil
}

// newSession is the session of a completed handshake over its ciphers and
// key material (which the caller clears afterwards: the stream keeps its own
// copy). The stream counters stand at 2 after QSMS and 3 after QSMD. The
// caller fills in the peer and local identities.
func (c *Config) newSession(duplex, server bool, tx, rx *rcs.Cipher, keys *record.SessionKeys, transcript []byte) *Session {
	seq := uint64(2)
	if duplex {
		seq = 3
	}
	return &Session{
		Suite:  c.Suite,
		Duplex: duplex,
		Server: server,
		Stream: record.NewStream(tx, rx, record.StreamConfig{
			TxSeq: seq, RxSeq: seq, Server: server, Config: c.Suite.Wire(),
			RTCS: keys.RTCS, DatagramSecret: keys.DatagramSecret, Threshold: c.threshold(),
		}),
		DatagramSecret: append([]byte(nil), keys.DatagramSecret...),
		Transcript:     transcript,
	}
}
