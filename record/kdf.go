package record

import (
	"github.com/qsmp-go/qsmp/crypto/keccak"
)

// DatagramSecretSize is the size of the secret the datagram profile derives
// its per-direction, per-epoch keys from.
const DatagramSecretSize = 64

// SessionKeys is what one QSMP key derivation yields: a key and nonce for each
// direction, the ratchet seed rtcs, and (ours, not the C code's) the secret
// of the datagram profile, read from the same XOF stream right after rtcs.
//
// Pair 1 is the client→server (sender→listener) direction and pair 2 the
// server→client direction, for the handshake and for both ratchets.
type SessionKeys struct {
	C2SKey, C2SNonce []byte
	S2CKey, S2CNonce []byte
	RTCS             []byte
	DatagramSecret   []byte
}

// Wide reports whether the keys are for RCS-512 (QSMD).
func (k *SessionKeys) Wide() bool { return len(k.C2SKey) == 64 }

// Clear zeroes every secret.
func (k *SessionKeys) Clear() {
	for _, b := range [][]byte{k.C2SKey, k.C2SNonce, k.S2CKey, k.S2CNonce, k.RTCS, k.DatagramSecret} {
		clear(b)
	}
}

// deriveFromStream reads the C layout from an initialized cSHAKE sponge:
// QSMS (rate 136, 32-byte keys): one block holding k1 ‖ n1 ‖ k2 ‖ n2, then
// rtcs (32) from the next block; QSMD (rate 72, 64-byte keys): three blocks
// holding k1 ‖ n1 ‖ k2 ‖ n2, then rtcs (64) from the fourth. The datagram
// secret follows rtcs in the stream.
func deriveFromStream(sp *keccak.Sponge, wide bool) SessionKeys {
	keyLen, blocks, rtcsLen := 32, 1, 32
	if wide {
		keyLen, blocks, rtcsLen = 64, 3, 64
	}
	rate := sp.Rate()
	buf := make([]byte, blocks*rate+rtcsLen+DatagramSecretSize)
	sp.Read(buf)
	sp.Clear()
	var k SessionKeys
	off := 0
	take := func(n int) []byte {
		b := make([]byte, n)
		copy(b, buf[off:off+n])
		off += n
		return b
	}
	k.C2SKey, k.C2SNonce = take(keyLen), take(32)
	k.S2CKey, k.S2CNonce = take(keyLen), take(32)
	off = blocks * rate
	k.RTCS = take(rtcsLen)
	k.DatagramSecret = take(DatagramSecretSize)
	clear(buf)
	return k
}

// DeriveQSMS is the QSMS handshake KDF (digest 5.4):
// cSHAKE-256(X = ss, N = sch3, S = "").
func DeriveQSMS(ss, sch3 []byte) SessionKeys {
	sp, _ := keccak.NewCSHAKE(keccak.Rate256, sch3, nil)
	sp.Write(ss)
	return deriveFromStream(&sp, false)
}

// DeriveQSMD is the QSMD handshake KDF (digest 6.5):
// cSHAKE-512(X = seca, N = sch4, S = secb) at rate 72.
func DeriveQSMD(seca, secb, sch4 []byte) SessionKeys {
	sp, _ := keccak.NewCSHAKE(keccak.Rate512, sch4, secb)
	sp.Write(seca)
	return deriveFromStream(&sp, true)
}

// DeriveRatchet is the symmetric ratchet derivation (digest 8.2):
// cSHAKE(X = token, N = cfg (34 bytes with the NUL), S = rtcs), at rate 136
// with 32-byte keys for QSMS and rate 72 with 64-byte keys for QSMD. The
// asymmetric ratchet uses it with the 32-byte KEM secret as token.
func DeriveRatchet(wide bool, token, cfg, rtcs []byte) SessionKeys {
	rate := keccak.Rate256
	if wide {
		rate = keccak.Rate512
	}
	sp, _ := keccak.NewCSHAKE(rate, cfg, rtcs)
	sp.Write(token)
	return deriveFromStream(&sp, wide)
}

// RatchetState is what a datagram carrier keeps to derive later epochs: the
// configuration string (the ratchet KDF's name), the ratchet seed and the
// datagram secret of the current epoch. Next applies one symmetric or
// asymmetric ratchet (digest 8.2 with the datagram secret read past the new
// rtcs, docs/DATAGRAM.md section 1.1).
type RatchetState struct {
	Wide   bool
	Config [34]byte
	RTCS   []byte
	Secret []byte
}

// RatchetState returns a copy of the stream's ratchet state.
func (s *Stream) RatchetState() RatchetState {
	if s == nil {
		return RatchetState{}
	}
	return RatchetState{
		Wide:   s.tagSize == 64,
		Config: s.cfg,
		RTCS:   append([]byte(nil), s.rtcs...),
		Secret: append([]byte(nil), s.datagramSecret...),
	}
}

// Next returns the state after a ratchet with secret (a 32-byte token, or
// the asymmetric ratchet's KEM secret). The receiver is unchanged.
func (r *RatchetState) Next(secret []byte) RatchetState {
	k := DeriveRatchet(r.Wide, secret, r.Config[:], r.RTCS)
	next := RatchetState{Wide: r.Wide, Config: r.Config, RTCS: k.RTCS, Secret: k.DatagramSecret}
	clear(k.C2SKey)
	clear(k.C2SNonce)
	clear(k.S2CKey)
	clear(k.S2CNonce)
	return next
}

// Clear zeroes the seed and the secret.
func (r *RatchetState) Clear() {
	clear(r.RTCS)
	clear(r.Secret)
}
