package handshake

import (
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
)

const (
	qsmdHashSize      = 64
	qsmdTagSize       = 64
	qsmdEstablishSize = qsmdHashSize + qsmdTagSize // 128
)

// qsmdState is the QSMD exflag progression (digest 2.1).
type qsmdState uint8

const (
	qsmdNone qsmdState = iota
	qsmdConnectSent
	qsmdConnectAnswered
	qsmdExchangeSent
	qsmdExchangeAnswered
	qsmdEstablishSent
	qsmdEstablished
	qsmdAborted // Abort: nothing more
)

// PeerLookup returns the verification key of the initiator that presents
// itself to a QSMD listener. keyID is the listener's key id as received (the
// C code's key_query argument); carriers bind the lookup to what they know
// of the peer (TCP: one configured peer; UDP and QUIC: the initiator's key id
// from the envelope). It returns an error if the peer is not known.
type PeerLookup func(keyID [KeyIDSize]byte) (verifyKey []byte, err error)

// qsmdSizes are the message sizes of a configuration (digest 3.5).
type qsmdSizes struct{ connectReq, connectResp, exchangeReq, exchangeResp int }

func sizesQSMD(k suite.KEM, s suite.Signer) qsmdSizes {
	sig, ek, ct := s.SignatureSize(), k.PublicKeySize(), k.CiphertextSize()
	return qsmdSizes{
		connectReq:   KeyIDSize + suite.ConfigSize + sig + qsmdHashSize,
		connectResp:  sig + qsmdHashSize + ek,
		exchangeReq:  ct + ek + sig + qsmdHashSize,
		exchangeResp: ct + sig + qsmdHashSize,
	}
}

// QSMDClient is the initiator ("sender") of the Duplex handshake (digest 6).
type QSMDClient struct {
	cfg    Config
	kem    suite.KEM
	sig    suite.Signer
	sizes  qsmdSizes
	local  Identity // own identity with signing key
	server Identity // the listener's public identity
	state  qsmdState

	sch1, sch3, sch5Hash []byte
	seca, dk             []byte
	tx, rx               *rcs.Cipher
	keys                 record.SessionKeys
	session              *Session
}

// NewQSMDClient returns an initiator with its own identity (signing key
// included) connecting to the listener whose public identity is given.
func NewQSMDClient(cfg Config, local, server Identity) (*QSMDClient, error) {
	k, s, err := cfg.schemes()
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(&local, s, true, "local"); err != nil {
		return nil, err
	}
	if err := checkIdentity(&server, s, false, "listener"); err != nil {
		return nil, err
	}
	server.SigningKey = nil
	return &QSMDClient{cfg: cfg, kem: k, sig: s, sizes: sizesQSMD(k, s), local: local, server: server}, nil
}

// built reports whether c was made by NewQSMDClient.
func (c *QSMDClient) built() bool { return c != nil && c.sig != nil }

// Expect implements Machine.
func (c *QSMDClient) Expect() (record.Flag, int, bool) {
	if !c.built() {
		return 0, 0, false
	}
	switch c.state {
	case qsmdConnectSent:
		return record.FlagConnectResponse, c.sizes.connectResp, true
	case qsmdExchangeSent:
		return record.FlagExchangeResponse, c.sizes.exchangeResp, true
	case qsmdEstablishSent:
		return record.FlagEstablishResponse, qsmdEstablishSize, true
	}
	return 0, 0, false
}

// Start builds the signed connect request (digest 6.2).
func (c *QSMDClient) Start() ([]byte, error) {
	const stage = "connect request"
	if !c.built() {
		return nil, unbuilt(stage)
	}
	now := c.cfg.now()
	if c.state != qsmdNone {
		return nil, fail(stage, record.CodeInvalidRequest, ErrState, now)
	}
	if now > c.server.Expiration {
		return nil, fail(stage, record.CodeKeyExpired, ErrKeyExpired, now)
	}
	w := c.cfg.Suite.Wire()
	sch0 := hash512(w[:], c.server.KeyID[:], c.local.VerifyKey, c.server.VerifyKey)
	h := header(record.FlagConnectRequest, c.sizes.connectReq, 0, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+c.sizes.connectReq))
	out = append(append(out, c.server.KeyID[:]...), w[:]...)
	h1 := hash512(out[:record.HeaderSize], c.server.KeyID[:], w[:])
	signed, err := c.sig.Sign(c.cfg.Rand, c.local.SigningKey, h1)
	if err != nil {
		return nil, fail(stage, record.CodeConnectionFailure, err, now)
	}
	out = append(out, signed...)
	c.sch1 = hash512(sch0, h1)
	c.state = qsmdConnectSent
	return out, nil
}

// Handle implements Machine.
func (c *QSMDClient) Handle(pkt []byte) ([]byte, error) {
	if !c.built() {
		return nil, unbuilt("receive")
	}
	switch c.state {
	case qsmdConnectSent:
		return c.handleConnectResponse(pkt)
	case qsmdExchangeSent:
		return c.handleExchangeResponse(pkt)
	case qsmdEstablishSent:
		return nil, c.handleEstablishResponse(pkt)
	}
	return nil, fail("receive", record.CodeInvalidRequest, ErrState, c.cfg.now())
}

// handleConnectResponse verifies the listener's key and sends the exchange
// request (digest 6.4).
func (c *QSMDClient) handleConnectResponse(pkt []byte) ([]byte, error) {
	const stage = "connect response"
	now := c.cfg.now()
	p, ferr := receive(stage, pkt, c.cfg.expect(record.FlagConnectResponse, c.sizes.connectResp, 0, now), 0)
	if ferr != nil {
		return nil, ferr
	}
	n := c.sig.SignatureSize() + qsmdHashSize
	ekS := p.Message[n:]
	h2, ferr := openSigned(stage, c.sig, c.server.VerifyKey, p.Message[:n], qsmdHashSize, record.CodeVerifyFailure, now, pkt[:record.HeaderSize], ekS)
	if ferr != nil {
		return nil, ferr
	}
	sch2 := hash512(c.sch1, h2)
	ctA, seca, err := c.kem.Encapsulate(c.cfg.Rand, ekS)
	if err != nil {
		return nil, fail(stage, record.CodeExchangeFailure, err, now)
	}
	ekC, dkC, err := c.kem.GenerateKey(c.cfg.Rand)
	if err != nil {
		clear(seca)
		return nil, fail(stage, record.CodeRandomFailure, err, now)
	}
	h := header(record.FlagExchangeRequest, c.sizes.exchangeReq, 1, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+c.sizes.exchangeReq))
	out = append(append(out, ctA...), ekC...)
	h3 := hash512(out[:record.HeaderSize], ctA, ekC)
	signed, err := c.sig.Sign(c.cfg.Rand, c.local.SigningKey, h3)
	if err != nil {
		clear(seca)
		clear(dkC)
		return nil, fail(stage, record.CodeConnectionFailure, err, now)
	}
	out = append(out, signed...)
	c.sch3 = hash512(sch2, h3)
	c.seca, c.dk = seca, dkC
	c.state = qsmdExchangeSent
	return out, nil
}

// handleExchangeResponse completes the key exchange and sends the encrypted
// establish request (digest 6.6).
func (c *QSMDClient) handleExchangeResponse(pkt []byte) ([]byte, error) {
	const stage = "exchange response"
	now := c.cfg.now()
	p, ferr := receive(stage, pkt, c.cfg.expect(record.FlagExchangeResponse, c.sizes.exchangeResp, 1, now), 0)
	if ferr != nil {
		return nil, ferr
	}
	ctLen := c.kem.CiphertextSize()
	ctB := p.Message[:ctLen]
	h4, ferr := openSigned(stage, c.sig, c.server.VerifyKey, p.Message[ctLen:], qsmdHashSize, record.CodeVerifyFailure, now, pkt[:record.HeaderSize], ctB)
	if ferr != nil {
		return nil, ferr
	}
	sch4 := hash512(c.sch3, h4)
	secb, err := c.kem.Decapsulate(c.dk, ctB)
	if err != nil {
		return nil, fail(stage, record.CodeDecapsulationFailure, err, now)
	}
	defer clear(secb)
	keys := record.DeriveQSMD(c.seca, secb, sch4)
	tx, rx, ferr := newCiphers(stage, &keys, record.CodeEstablishFailure, now)
	if ferr != nil {
		return nil, ferr
	}
	h := header(record.FlagEstablishRequest, qsmdEstablishSize, 2, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+qsmdEstablishSize))
	out = tx.Seal(out, out[:record.HeaderSize], sch4)
	sch5 := hash512(sch4, out[record.HeaderSize:])
	c.sch5Hash = hash512(sch5)
	c.keys, c.tx, c.rx = keys, tx, rx
	clear(c.seca)
	clear(c.dk)
	c.seca, c.dk = nil, nil
	c.sch3 = sch5 // the transcript now stands at sch5
	c.state = qsmdEstablishSent
	return out, nil
}

// handleEstablishResponse checks the listener's confirmation (digest 6.8).
// As in the C driver, any header failure here is packet_unsequenced.
func (c *QSMDClient) handleEstablishResponse(pkt []byte) error {
	const stage = "establish response"
	now := c.cfg.now()
	p, ferr := receive(stage, pkt, c.cfg.expect(record.FlagEstablishResponse, qsmdEstablishSize, 2, now), record.CodePacketUnsequenced)
	if ferr != nil {
		return ferr
	}
	if ferr := openConfirmation(stage, &c.rx, pkt, p.Message, c.sch5Hash, record.CodeDecryptionFailure, now); ferr != nil {
		return ferr
	}
	local := c.local
	c.session = c.cfg.newSession(true, false, c.tx, c.rx, &c.keys, c.sch3)
	c.session.PeerKeyID, c.session.PeerVerifyKey = c.server.KeyID, c.server.VerifyKey
	c.session.Local = &local
	c.keys.Clear()
	c.state = qsmdEstablished
	return nil
}

// Done implements Machine.
func (c *QSMDClient) Done() bool { return c != nil && c.state == qsmdEstablished }

// Session implements Machine.
func (c *QSMDClient) Session() *Session {
	if c == nil {
		return nil
	}
	return c.session
}

// QSMDServer is the listener of the Duplex handshake (digest 6).
type QSMDServer struct {
	cfg    Config
	kem    suite.KEM
	sig    suite.Signer
	sizes  qsmdSizes
	id     Identity
	lookup PeerLookup
	state  qsmdState

	peerKey    []byte
	sch2, sch4 []byte
	dk         []byte
	tx, rx     *rcs.Cipher
	keys       record.SessionKeys
	session    *Session
}

// NewQSMDServer returns a listener with its identity (signing key included)
// and the lookup that finds the initiator's verification key.
func NewQSMDServer(cfg Config, id Identity, lookup PeerLookup) (*QSMDServer, error) {
	k, s, err := cfg.schemes()
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(&id, s, true, "listener"); err != nil {
		return nil, err
	}
	if lookup == nil {
		return nil, fmt.Errorf("%w: a peer-key lookup is required", ErrInput)
	}
	return &QSMDServer{cfg: cfg, kem: k, sig: s, sizes: sizesQSMD(k, s), id: id, lookup: lookup}, nil
}

// built reports whether s was made by NewQSMDServer.
func (s *QSMDServer) built() bool { return s != nil && s.sig != nil }

// Expect implements Machine.
func (s *QSMDServer) Expect() (record.Flag, int, bool) {
	if !s.built() {
		return 0, 0, false
	}
	switch s.state {
	case qsmdNone:
		return record.FlagConnectRequest, s.sizes.connectReq, true
	case qsmdConnectAnswered:
		return record.FlagExchangeRequest, s.sizes.exchangeReq, true
	case qsmdExchangeAnswered:
		return record.FlagEstablishRequest, qsmdEstablishSize, true
	}
	return 0, 0, false
}

// Start implements Machine: the listener sends nothing first.
func (s *QSMDServer) Start() ([]byte, error) {
	if !s.built() {
		return nil, unbuilt("start")
	}
	return nil, nil
}

// Handle implements Machine.
func (s *QSMDServer) Handle(pkt []byte) ([]byte, error) {
	if !s.built() {
		return nil, unbuilt("receive")
	}
	switch s.state {
	case qsmdNone:
		return s.handleConnectRequest(pkt)
	case qsmdConnectAnswered:
		return s.handleExchangeRequest(pkt)
	case qsmdExchangeAnswered:
		return s.handleEstablishRequest(pkt)
	}
	return nil, fail("receive", record.CodeInvalidRequest, ErrState, s.cfg.now())
}

// CheckConnectRequest runs the connect-request checks that need no key
// generation and no signature verification (header, key id, expiration,
// configuration, peer lookup), so a carrier can reject a request cheaply.
func (s *QSMDServer) CheckConnectRequest(pkt []byte) error {
	if !s.built() {
		return unbuilt("connect request")
	}
	if _, _, ferr := s.checkConnectRequest(pkt, s.cfg.now()); ferr != nil {
		return ferr
	}
	return nil
}

func (s *QSMDServer) checkConnectRequest(pkt []byte, now uint64) (record.Packet, []byte, *Error) {
	const stage = "connect request"
	if s.state != qsmdNone {
		return record.Packet{}, nil, fail(stage, record.CodeInvalidRequest, ErrState, now)
	}
	p, ferr := receive(stage, pkt, s.cfg.expect(record.FlagConnectRequest, s.sizes.connectReq, 0, now), 0)
	if ferr != nil {
		return p, nil, ferr
	}
	var kid [KeyIDSize]byte
	copy(kid[:], p.Message[:KeyIDSize])
	if !equal(kid[:], s.id.KeyID[:]) {
		return p, nil, fail(stage, record.CodeKeyUnrecognized, ErrKeyUnknown, now)
	}
	peer, err := s.lookup(kid)
	if err != nil || len(peer) != s.sig.PublicKeySize() {
		if err == nil {
			err = fmt.Errorf("peer key of %d bytes", len(peer))
		}
		return p, nil, fail(stage, record.CodeKeyUnrecognized, fmt.Errorf("%w: %w", ErrKeyUnknown, err), now)
	}
	if now > s.id.Expiration {
		return p, nil, fail(stage, record.CodeKeyExpired, ErrKeyExpired, now)
	}
	w := s.cfg.Suite.Wire()
	if !equal(p.Message[KeyIDSize:KeyIDSize+suite.ConfigSize], w[:]) {
		return p, nil, fail(stage, record.CodeUnknownProtocol, ErrConfig, now)
	}
	return p, peer, nil
}

// handleConnectRequest verifies the initiator's signature and answers with
// a signed ephemeral key (digest 6.3).
func (s *QSMDServer) handleConnectRequest(pkt []byte) ([]byte, error) {
	const stage = "connect request"
	now := s.cfg.now()
	p, peer, ferr := s.checkConnectRequest(pkt, now)
	if ferr != nil {
		return nil, ferr
	}
	off := KeyIDSize + suite.ConfigSize
	h1, ferr := openSigned(stage, s.sig, peer, p.Message[off:], qsmdHashSize, record.CodeVerifyFailure, now, pkt[:record.HeaderSize], p.Message[:off])
	if ferr != nil {
		return nil, ferr
	}
	w := s.cfg.Suite.Wire()
	sch0 := hash512(w[:], s.id.KeyID[:], peer, s.id.VerifyKey)
	sch1 := hash512(sch0, h1)
	ekS, dkS, err := s.kem.GenerateKey(s.cfg.Rand)
	if err != nil {
		return nil, fail(stage, record.CodeRandomFailure, err, now)
	}
	h := header(record.FlagConnectResponse, s.sizes.connectResp, 0, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+s.sizes.connectResp))
	h2 := hash512(out[:record.HeaderSize], ekS)
	signed, err := s.sig.Sign(s.cfg.Rand, s.id.SigningKey, h2)
	if err != nil {
		clear(dkS)
		return nil, fail(stage, record.CodeConnectionFailure, err, now)
	}
	out = append(append(out, signed...), ekS...)
	s.peerKey = append([]byte(nil), peer...)
	s.sch2 = hash512(sch1, h2)
	s.dk = dkS
	s.state = qsmdConnectAnswered
	return out, nil
}

// handleExchangeRequest decapsulates the initiator's secret, encapsulates one
// of its own, derives the keys and answers (digest 6.5).
func (s *QSMDServer) handleExchangeRequest(pkt []byte) ([]byte, error) {
	const stage = "exchange request"
	now := s.cfg.now()
	p, ferr := receive(stage, pkt, s.cfg.expect(record.FlagExchangeRequest, s.sizes.exchangeReq, 1, now), 0)
	if ferr != nil {
		return nil, ferr
	}
	ctLen, ekLen := s.kem.CiphertextSize(), s.kem.PublicKeySize()
	ctA, ekC := p.Message[:ctLen], p.Message[ctLen:ctLen+ekLen]
	h3, ferr := openSigned(stage, s.sig, s.peerKey, p.Message[ctLen+ekLen:], qsmdHashSize, record.CodeHashInvalid, now, pkt[:record.HeaderSize], ctA, ekC)
	if ferr != nil {
		return nil, ferr
	}
	sch3 := hash512(s.sch2, h3)
	seca, err := s.kem.Decapsulate(s.dk, ctA)
	if err != nil {
		return nil, fail(stage, record.CodeDecapsulationFailure, err, now)
	}
	defer clear(seca)
	ctB, secb, err := s.kem.Encapsulate(s.cfg.Rand, ekC)
	if err != nil {
		return nil, fail(stage, record.CodeExchangeFailure, err, now)
	}
	defer clear(secb)
	h := header(record.FlagExchangeResponse, s.sizes.exchangeResp, 1, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+s.sizes.exchangeResp))
	out = append(out, ctB...)
	h4 := hash512(out[:record.HeaderSize], ctB)
	signed, err := s.sig.Sign(s.cfg.Rand, s.id.SigningKey, h4)
	if err != nil {
		return nil, fail(stage, record.CodeConnectionFailure, err, now)
	}
	out = append(out, signed...)
	sch4 := hash512(sch3, h4)
	keys := record.DeriveQSMD(seca, secb, sch4)
	rx, tx, ferr := newCiphers(stage, &keys, record.CodeExchangeFailure, now)
	if ferr != nil {
		return nil, ferr
	}
	s.sch4, s.keys, s.tx, s.rx = sch4, keys, tx, rx
	clear(s.dk)
	s.dk = nil
	s.state = qsmdExchangeAnswered
	return out, nil
}

// handleEstablishRequest checks the initiator's confirmation and answers
// with its own (digest 6.7).
func (s *QSMDServer) handleEstablishRequest(pkt []byte) ([]byte, error) {
	const stage = "establish request"
	now := s.cfg.now()
	p, ferr := receive(stage, pkt, s.cfg.expect(record.FlagEstablishRequest, qsmdEstablishSize, 2, now), 0)
	if ferr != nil {
		return nil, ferr
	}
	if ferr := openConfirmation(stage, &s.rx, pkt, p.Message, s.sch4, record.CodeDecryptionFailure, now); ferr != nil {
		return nil, ferr
	}
	sch5 := hash512(s.sch4, p.Message)
	h := header(record.FlagEstablishResponse, qsmdEstablishSize, 2, now)
	out := h.Append(make([]byte, 0, record.HeaderSize+qsmdEstablishSize))
	out = s.tx.Seal(out, out[:record.HeaderSize], hash512(sch5))
	id := s.id
	// The initiator's key id is not on the wire: PeerKeyID stays zero.
	s.session = s.cfg.newSession(true, true, s.tx, s.rx, &s.keys, sch5)
	s.session.PeerVerifyKey = s.peerKey
	s.session.Local = &id
	s.keys.Clear()
	s.state = qsmdEstablished
	return out, nil
}

// Done implements Machine.
func (s *QSMDServer) Done() bool { return s != nil && s.state == qsmdEstablished }

// Session implements Machine.
func (s *QSMDServer) Session() *Session {
	if s == nil {
		return nil
	}
	return s.session
}

// Abort implements Machine.
func (c *QSMDClient) Abort() {
	if c == nil || c.state == qsmdEstablished || c.state == qsmdAborted {
		return
	}
	clear(c.seca)
	clear(c.dk)
	c.seca, c.dk = nil, nil
	c.keys.Clear()
	clearCiphers(&c.tx, &c.rx)
	c.state = qsmdAborted
}

// Abort implements Machine.
func (s *QSMDServer) Abort() {
	if s == nil || s.state == qsmdEstablished || s.state == qsmdAborted {
		return
	}
	clear(s.dk)
	s.dk = nil
	s.keys.Clear()
	clearCiphers(&s.tx, &s.rx)
	s.state = qsmdAborted
}

// clearCiphers zeroes and drops the ciphers of a handshake given up.
func clearCiphers(tx, rx **rcs.Cipher) {
	for _, c := range []**rcs.Cipher{tx, rx} {
		if *c != nil {
			(*c).Clear()
			*c = nil
		}
	}
}
