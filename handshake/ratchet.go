package handshake

import (
	"errors"
	"fmt"
	"io"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// ErrRatchet reports an asymmetric-ratchet message that is malformed, not
// signed by the peer's long-term key, or not expected now.
var ErrRatchet = errors.New("handshake: asymmetric ratchet failed")

// AsymmetricRatchet is one QSMD asymmetric ratchet (digest 8.3) in payload
// form, independent of the record profile that carries it: the initiator
// sends sig ‖ H512(ek) ‖ ek signed with its long-term key, the responder
// answers sig ‖ H512(ct) ‖ ct, and both derive the next keys from the KEM
// secret. The stream carrier seals these payloads as records with flags
// 0x10/0x11 and utctime 0 (StreamAsymmetricRequest and friends); the
// datagram carriers send them over their control channel.
type AsymmetricRatchet struct {
	kem suite.KEM
	sig suite.Signer
	dk  []byte
}

// schemes returns the session's primitives and checks it can ratchet.
func (s *Session) schemes() (suite.KEM, suite.Signer, error) {
	if s == nil {
		return nil, nil, errNilSession
	}
	if !s.Duplex || s.Local == nil || len(s.Local.SigningKey) == 0 || len(s.PeerVerifyKey) == 0 {
		return nil, nil, fmt.Errorf("%w: only an established QSMD session can ratchet asymmetrically", ErrRatchet)
	}
	k, err := s.Suite.KEM()
	if err != nil {
		return nil, nil, err
	}
	v, err := s.Suite.Signer()
	if err != nil {
		return nil, nil, err
	}
	return k, v, nil
}

// errNilSession is the failure of a ratchet call on a nil *Session.
var errNilSession = fmt.Errorf("%w: nil *Session", ErrRatchet)

// streamState returns the session's stream-profile state, or an error when
// the session has none (a Session not made by a handshake).
func (s *Session) streamState() (*record.Stream, error) {
	if s == nil {
		return nil, errNilSession
	}
	if s.Stream == nil {
		return nil, fmt.Errorf("%w: the session has no stream state", ErrRatchet)
	}
	return s.Stream, nil
}

// AsymmetricRequestSize is the plaintext size of a request: SIG + 64 + EK.
// It is 0 if either scheme is nil.
func AsymmetricRequestSize(k suite.KEM, v suite.Signer) int {
	if k == nil || v == nil {
		return 0
	}
	return v.SignatureSize() + qsmdHashSize + k.PublicKeySize()
}

// AsymmetricResponseSize is the plaintext size of a response: SIG + 64 + CT.
// It is 0 if either scheme is nil.
func AsymmetricResponseSize(k suite.KEM, v suite.Signer) int {
	if k == nil || v == nil {
		return 0
	}
	return v.SignatureSize() + qsmdHashSize + k.CiphertextSize()
}

// NewAsymmetricRequest generates a fresh KEM key pair and returns the
// request payload and the pending state that completes the ratchet.
func (s *Session) NewAsymmetricRequest(rand io.Reader) ([]byte, *AsymmetricRatchet, error) {
	k, v, err := s.schemes()
	if err != nil {
		return nil, nil, err
	}
	ek, dk, err := k.GenerateKey(rand)
	if err != nil {
		return nil, nil, err
	}
	signed, err := v.Sign(rand, s.Local.SigningKey, hash512(ek))
	if err != nil {
		clear(dk)
		return nil, nil, err
	}
	return append(signed, ek...), &AsymmetricRatchet{kem: k, sig: v, dk: dk}, nil
}

// RespondAsymmetric verifies a request payload against the peer's long-term
// key, encapsulates to its key and returns the response payload and the
// 32-byte secret for the next keys.
func (s *Session) RespondAsymmetric(rand io.Reader, request []byte) (response, secret []byte, err error) {
	k, v, err := s.schemes()
	if err != nil {
		return nil, nil, err
	}
	if len(request) != AsymmetricRequestSize(k, v) {
		return nil, nil, fmt.Errorf("%w: request of %d bytes, want %d", ErrRatchet, len(request), AsymmetricRequestSize(k, v))
	}
	n := v.SignatureSize() + qsmdHashSize
	h, err := v.Open(s.PeerVerifyKey, request[:n])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrRatchet, err)
	}
	ek := request[n:]
	if !equal(hash512(ek), h) {
		return nil, nil, fmt.Errorf("%w: %w", ErrRatchet, ErrHash)
	}
	ct, ss, err := k.Encapsulate(rand, ek)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrRatchet, err)
	}
	signed, err := v.Sign(rand, s.Local.SigningKey, hash512(ct))
	if err != nil {
		clear(ss)
		return nil, nil, err
	}
	return append(signed, ct...), ss, nil
}

// Finish verifies the response payload against the peer key of s (the
// session that made the request) and returns the 32-byte secret for the
// next keys. The pending state is erased on success; on failure it is kept,
// so a genuine response may still follow a forged one.
func (r *AsymmetricRatchet) Finish(s *Session, response []byte) ([]byte, error) {
	if r == nil || r.dk == nil {
		return nil, fmt.Errorf("%w: no request pending", ErrRatchet)
	}
	if s == nil {
		return nil, errNilSession
	}
	if len(response) != AsymmetricResponseSize(r.kem, r.sig) {
		return nil, fmt.Errorf("%w: response of %d bytes, want %d", ErrRatchet, len(response), AsymmetricResponseSize(r.kem, r.sig))
	}
	n := r.sig.SignatureSize() + qsmdHashSize
	h, err := r.sig.Open(s.PeerVerifyKey, response[:n])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRatchet, err)
	}
	ct := response[n:]
	if !equal(hash512(ct), h) {
		return nil, fmt.Errorf("%w: %w", ErrRatchet, ErrHash)
	}
	ss, err := r.kem.Decapsulate(r.dk, ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRatchet, err)
	}
	r.Clear()
	return ss, nil
}

// Clear erases the pending decapsulation key.
func (r *AsymmetricRatchet) Clear() {
	if r != nil {
		clear(r.dk)
		r.dk = nil
	}
}

// StreamAsymmetricRequest seals a request as the C code does on TCP: flag
// 0x10, utctime 0, under the current transmit cipher.
func (s *Session) StreamAsymmetricRequest(rand io.Reader) ([]byte, *AsymmetricRatchet, error) {
	st, err := s.streamState()
	if err != nil {
		return nil, nil, err
	}
	payload, pending, err := s.NewAsymmetricRequest(rand)
	if err != nil {
		return nil, nil, err
	}
	pkt, err := st.SealFlag(record.FlagAsymmetricRatchetRequest, payload, 0)
	if err != nil {
		pending.Clear()
		return nil, nil, err
	}
	return pkt, pending, nil
}

// StreamAsymmetricRespond answers a request opened from the stream (its
// plaintext) with the sealed response, then re-keys the stream as the C
// responder does after sending.
func (s *Session) StreamAsymmetricRespond(rand io.Reader, request []byte) ([]byte, error) {
	st, err := s.streamState()
	if err != nil {
		return nil, err
	}
	resp, ss, err := s.RespondAsymmetric(rand, request)
	if err != nil {
		return nil, err
	}
	defer clear(ss)
	pkt, err := st.SealFlag(record.FlagAsymmetricRatchetResponse, resp, 0)
	if err != nil {
		return nil, err
	}
	return pkt, st.Rekey(ss)
}

// StreamAsymmetricFinish completes a ratchet from the response's plaintext
// and re-keys the stream.
func (s *Session) StreamAsymmetricFinish(pending *AsymmetricRatchet, response []byte) error {
	st, err := s.streamState()
	if err != nil {
		return err
	}
	ss, err := pending.Finish(s, response)
	if err != nil {
		return err
	}
	defer clear(ss)
	return st.Rekey(ss)
}
