package handshake

import (
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

// QSMS message sizes that do not depend on the configuration.
const (
	qsmsConnectRequestSize   = KeyIDSize + suite.ConfigSize // 50
	qsmsExchangeResponseSize = 32 + 32                      // sch3 ‖ tag
	qsmsTagSize              = 32
)

// qsmsState is the QSMS exflag progression (digest 2.1).
type qsmsState uint8

const (
	qsmsNone qsmsState = iota
	qsmsConnectSent
	qsmsConnectAnswered
	qsmsExchangeSent
	qsmsEstablished
	qsmsAborted // Abort: nothing more
)

// QSMSClient is the client side of the Simplex handshake (digest 5): it knows
// the server's verification key.
type QSMSClient struct {
	cfg    Config
	kem    suite.KEM
	sig    suite.Signer
	server Identity // the server's public identity
	state  qsmsState

	sch1, sch3 []byte
	keys       record.SessionKeys
	tx, rx     *rcs.Cipher
	session    *Session
}

// NewQSMSClient returns a client that will connect to the server whose
// public identity is given (its SigningKey is ignored).
func NewQSMSClient(cfg Config, server Identity) (*QSMSClient, error) {
	k, s, err := cfg.schemes()
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(&server, s, false, "server"); err != nil {
		return nil, err
	}
	server.SigningKey = nil
	return &QSMSClient{cfg: cfg, kem: k, sig: s, server: server}, nil
}

func (c *QSMSClient) connectResponseSize() int {
	return c.sig.SignatureSize() + 32 + c.kem.PublicKeySize()
}

// built reports whether c was made by NewQSMSClient.
func (c *QSMSClient) built() bool { return c != nil && c.sig != nil }

// Expect implements Machine.
func (c *QSMSClient) Expect() (record.Flag, int, bool) {
	if !c.built() {
		return 0, 0, false
	}
	switch c.state {
	case qsmsConnectSent:
		return record.FlagConnectResponse, c.connectResponseSize(), true
	case qsmsExchangeSent:
		return record.FlagExchangeResponse, qsmsExchangeResponseSize, true
	}
	return 0, 0, false
}

// Start builds the connect request (digest 5.2).
func (c *QSMSClient) Start() ([]byte, error) {
	const stage = "connect request"
	if !c.built() {
		return nil, unbuilt(stage)
	}
	now := c.cfg.now()
	if c.state != qsmsNone {
		return nil, fail(stage, record.CodeInvalidRequest, ErrState, now)
	}
	if now > c.server.Expiration {
		return nil, fail(stage, record.CodeKeyExpired, ErrKeyExpired, now)
	}
	w := c.cfg.Suite.Wire()
	h := header(record.FlagConnectRequest, qsmsConnectRequestSize, 0, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+qsmsConnectRequestSize))
	out = append(out, c.server.KeyID[:]...)
	out = append(out, w[:]...)
	c.sch1 = hash256(w[:], c.server.KeyID[:], c.server.VerifyKey)
	c.state = qsmsConnectSent
	return out, nil
}

// Handle implements Machine.
func (c *QSMSClient) Handle(pkt []byte) ([]byte, error) {
	if !c.built() {
		return nil, unbuilt("receive")
	}
	switch c.state {
	case qsmsConnectSent:
		return c.handleConnectResponse(pkt)
	case qsmsExchangeSent:
		return nil, c.handleExchangeResponse(pkt)
	}
	return nil, fail("receive", record.CodeInvalidRequest, ErrState, c.cfg.now())
}

// handleConnectResponse verifies the server's signed ephemeral key and
// answers with the exchange request (digest 5.4).
func (c *QSMSClient) handleConnectResponse(pkt []byte) ([]byte, error) {
	const stage = "connect response"
	now := c.cfg.now()
	p, ferr := receive(stage, pkt, c.cfg.expect(record.FlagConnectResponse, c.connectResponseSize(), 0, now), record.CodePacketUnsequenced)
	if ferr != nil {
		return nil, ferr
	}
	n := c.sig.SignatureSize() + 32
	ek := p.Message[n:]
	phash, ferr := openSigned(stage, c.sig, c.server.VerifyKey, p.Message[:n], 32, record.CodeHashInvalid, now, pkt[:record.HeaderSize], ek)
	if ferr != nil {
		return nil, ferr
	}
	sch2 := hash256(c.sch1, phash)
	ct, ss, err := c.kem.Encapsulate(c.cfg.Rand, ek)
	if err != nil {
		return nil, fail(stage, record.CodeExchangeFailure, err, now)
	}
	defer clear(ss)
	sch3 := hash256(sch2, ct)
	h := header(record.FlagExchangeRequest, len(ct), 1, now)
	out := append(h.Append(make([]byte, 0, record.HeaderSize+len(ct))), ct...)

	keys := record.DeriveQSMS(ss, sch3)
	tx, rx, ferr := newCiphers(stage, &keys, record.CodeExchangeFailure, now)
	if ferr != nil {
		return nil, ferr
	}
	c.sch3, c.keys, c.tx, c.rx = sch3, keys, tx, rx
	c.state = qsmsExchangeSent
	return out, nil
}

// handleExchangeResponse checks the server's encrypted transcript (digest 5.6).
func (c *QSMSClient) handleExchangeResponse(pkt []byte) error {
	const stage = "exchange response"
	now := c.cfg.now()
	p, ferr := receive(stage, pkt, c.cfg.expect(record.FlagExchangeResponse, qsmsExchangeResponseSize, 1, now), record.CodePacketUnsequenced)
	if ferr != nil {
		return ferr
	}
	if ferr := openConfirmation(stage, &c.rx, pkt, p.Message, c.sch3, record.CodeAuthenticationFailure, now); ferr != nil {
		return ferr
	}
	c.session = c.cfg.newSession(false, false, c.tx, c.rx, &c.keys, c.sch3)
	c.session.PeerKeyID, c.session.PeerVerifyKey = c.server.KeyID, c.server.VerifyKey
	c.keys.Clear()
	c.state = qsmsEstablished
	return nil
}

// Done implements Machine.
func (c *QSMSClient) Done() bool { return c != nil && c.state == qsmsEstablished }

// Session implements Machine.
func (c *QSMSClient) Session() *Session {
	if c == nil {
		return nil
	}
	return c.session
}

// Abort implements Machine.
func (c *QSMSClient) Abort() {
	if c == nil || c.state == qsmsEstablished || c.state == qsmsAborted {
		return
	}
	c.keys.Clear()
	clearCiphers(&c.tx, &c.rx)
	c.state = qsmsAborted
}

// QSMSServer is the server side of the Simplex handshake (digest 5).
type QSMSServer struct {
	cfg   Config
	kem   suite.KEM
	sig   suite.Signer
	id    Identity
	state qsmsState

	sch2    []byte
	dk      []byte
	session *Session
}

// NewQSMSServer returns a server holding the identity id (with its signing key).
func NewQSMSServer(cfg Config, id Identity) (*QSMSServer, error) {
	k, s, err := cfg.schemes()
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(&id, s, true, "server"); err != nil {
		return nil, err
	}
	return &QSMSServer{cfg: cfg, kem: k, sig: s, id: id}, nil
}

// built reports whether s was made by NewQSMSServer.
func (s *QSMSServer) built() bool { return s != nil && s.sig != nil }

// Expect implements Machine.
func (s *QSMSServer) Expect() (record.Flag, int, bool) {
	if !s.built() {
		return 0, 0, false
	}
	switch s.state {
	case qsmsNone:
		return record.FlagConnectRequest, qsmsConnectRequestSize, true
	case qsmsConnectAnswered:
		return record.FlagExchangeRequest, s.kem.CiphertextSize(), true
	}
	return 0, 0, false
}

// Start implements Machine: the server sends nothing first.
func (s *QSMSServer) Start() ([]byte, error) {
	if !s.built() {
		return nil, unbuilt("start")
	}
	return nil, nil
}

// Handle implements Machine.
func (s *QSMSServer) Handle(pkt []byte) ([]byte, error) {
	if !s.built() {
		return nil, unbuilt("receive")
	}
	switch s.state {
	case qsmsNone:
		return s.handleConnectRequest(pkt)
	case qsmsConnectAnswered:
		return s.handleExchangeRequest(pkt)
	}
	return nil, fail("receive", record.CodeInvalidRequest, ErrState, s.cfg.now())
}

// CheckConnectRequest runs the checks of the connect request that need no
// key generation or signature (header, key id, expiration, configuration),
// so a carrier can reject a request before spending work on it.
func (s *QSMSServer) CheckConnectRequest(pkt []byte) error {
	if !s.built() {
		return unbuilt("connect request")
	}
	_, err := s.checkConnectRequest(pkt, s.cfg.now())
	if err != nil {
		return err
	}
	return nil
}

func (s *QSMSServer) checkConnectRequest(pkt []byte, now uint64) (record.Packet, *Error) {
	const stage = "connect request"
	if s.state != qsmsNone {
		return record.Packet{}, fail(stage, record.CodeInvalidRequest, ErrState, now)
	}
	p, ferr := receive(stage, pkt, s.cfg.expect(record.FlagConnectRequest, qsmsConnectRequestSize, 0, now), record.CodePacketUnsequenced)
	if ferr != nil {
		return p, ferr
	}
	if !equal(p.Message[:KeyIDSize], s.id.KeyID[:]) {
		return p, fail(stage, record.CodeKeyUnrecognized, ErrKeyUnknown, now)
	}
	if now > s.id.Expiration {
		return p, fail(stage, record.CodeKeyExpired, ErrKeyExpired, now)
	}
	w := s.cfg.Suite.Wire()
	if !equal(p.Message[KeyIDSize:], w[:]) {
		return p, fail(stage, record.CodeUnknownProtocol, fmt.Errorf("%w: peer sent %q", ErrConfig, p.Message[KeyIDSize:]), now)
	}
	return p, nil
}

// handleConnectRequest answers with a signed ephemeral key (digest 5.3).
func (s *QSMSServer) handleConnectRequest(pkt []byte) ([]byte, error) {
	const stage = "connect request"
	now := s.cfg.now()
	if _, ferr := s.checkConnectRequest(pkt, now); ferr != nil {
		return nil, ferr
	}
	w := s.cfg.Suite.Wire()
	sch1 := hash256(w[:], s.id.KeyID[:], s.id.VerifyKey)
	ek, dk, err := s.kem.GenerateKey(s.cfg.Rand)
	if err != nil {
		return nil, fail(stage, record.CodeRandomFailure, err, now)
	}
	size := s.sig.SignatureSize() + 32 + len(ek)
	h := header(record.FlagConnectResponse, size, 0, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+size))
	phash := hash256(out[:record.HeaderSize], ek)
	signed, err := s.sig.Sign(s.cfg.Rand, s.id.SigningKey, phash)
	if err != nil {
		clear(dk)
		return nil, fail(stage, record.CodeConnectionFailure, err, now)
	}
	out = append(append(out, signed...), ek...)
	s.sch2 = hash256(sch1, phash)
	s.dk = dk
	s.state = qsmsConnectAnswered
	return out, nil
}

// handleExchangeRequest decapsulates, derives the keys and confirms the
// transcript (digest 5.5).
func (s *QSMSServer) handleExchangeRequest(pkt []byte) ([]byte, error) {
	const stage = "exchange request"
	now := s.cfg.now()
	p, ferr := receive(stage, pkt, s.cfg.expect(record.FlagExchangeRequest, s.kem.CiphertextSize(), 1, now), 0)
	if ferr != nil {
		return nil, ferr
	}
	ss, err := s.kem.Decapsulate(s.dk, p.Message)
	if err != nil {
		return nil, fail(stage, record.CodeDecapsulationFailure, err, now)
	}
	defer clear(ss)
	sch3 := hash256(s.sch2, p.Message)
	keys := record.DeriveQSMS(ss, sch3)
	defer keys.Clear()
	rx, tx, ferr := newCiphers(stage, &keys, record.CodeExchangeFailure, now)
	if ferr != nil {
		return nil, ferr
	}
	h := header(record.FlagExchangeResponse, qsmsExchangeResponseSize, 1, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+qsmsExchangeResponseSize))
	out = tx.Seal(out, out[:record.HeaderSize], sch3)
	id := s.id
	s.session = s.cfg.newSession(false, true, tx, rx, &keys, sch3)
	s.session.Local = &id
	clear(s.dk)
	s.dk = nil
	s.state = qsmsEstablished
	return out, nil
}

// Done implements Machine.
func (s *QSMSServer) Done() bool { return s != nil && s.state == qsmsEstablished }

// Session implements Machine.
func (s *QSMSServer) Session() *Session {
	if s == nil {
		return nil
	}
	return s.session
}

// Abort implements Machine.
func (s *QSMSServer) Abort() {
	if s == nil || s.state == qsmsEstablished || s.state == qsmsAborted {
		return
	}
	clear(s.dk)
	s.dk = nil
	s.state = qsmsAborted
}
