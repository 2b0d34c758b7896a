package main

import (
	"context"
	"fmt"
	"net"

	"github.com/qsmp-go/qsmp/datagram"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
)

// udpCarrier is QSMP over raw UDP (package datagram).
type udpCarrier struct{}

func (udpCarrier) Name() string { return "udp" }

// config makes the datagram configuration of a client (listener false) or
// a listener.
func (udpCarrier) config(ep endpoint, listener bool) *datagram.Config {
	cfg := &datagram.Config{
		Identity:         ep.identity,
		Duplex:           ep.duplex,
		HandshakeTimeout: ep.timeout,
		Logger:           ep.logger,
	}
	switch {
	case !listener:
		cfg.PeerKey = ep.peer
	case ep.duplex && ep.peer != nil:
		// The initiator's key id arrives with its first fragment; the
		// listener knows one initiator.
		peer := ep.peer
		cfg.PeerKeys = func(id [16]byte) (*keyfile.PublicKey, error) {
			if id != peer.KeyID {
				return nil, fmt.Errorf("unknown initiator key %x", id)
			}
			return peer, nil
		}
	}
	return cfg
}

func (c udpCarrier) Listen(addr string, ep endpoint) (listener, error) {
	l, err := datagram.Listen("udp", addr, c.config(ep, true))
	if err != nil {
		return nil, err
	}
	return udpListener{l}, nil
}

func (c udpCarrier) Dial(ctx context.Context, addr string, ep endpoint) (session, error) {
	conn, err := datagram.Dial(ctx, "udp", addr, c.config(ep, false))
	if err != nil {
		return nil, err
	}
	return udpSession{conn}, nil
}

func (c udpCarrier) ListenPacket(pc net.PacketConn, ep endpoint) (listener, error) {
	l, err := datagram.NewListener(pc, c.config(ep, true))
	if err != nil {
		return nil, err
	}
	return udpListener{l}, nil
}

func (c udpCarrier) DialPacket(ctx context.Context, pc net.PacketConn, raddr net.Addr, ep endpoint) (session, error) {
	conn, err := datagram.DialPacketConn(ctx, pc, raddr, c.config(ep, false))
	if err != nil {
		return nil, err
	}
	return udpSession{conn}, nil
}

// silentFailure explains a handshake that timed out: a datagram listener
// never answers in plaintext, so a wrong address, key or configuration all
// look like silence.
func (udpCarrier) silentFailure() string {
	return "no answer (over UDP a server stays silent to a client it does not accept: check the address, --network, the server key and the configuration)"
}

// Envelope layout (docs/DATAGRAM.md section 5): version, kind, receiver id
// (8), then for a record the 21-byte QSMP header, whose first byte is the
// flag.
const (
	envelopeSize     = 10
	envelopeVersion  = 0x01
	envelopeRecord   = 0x04
	envelopeEpochBit = 0x80
)

// IsDataRecord reports a record envelope carrying an application message
// (flag 0x04); handshake fragments, acks, cookies and the session's other
// records (ratchets, control acks, keep-alives, path checks, close, flow
// credit: flags 0x10-0x1A, docs/DATAGRAM.md section 7) are not.
func (udpCarrier) IsDataRecord(p []byte) bool {
	return len(p) >= envelopeSize+record.HeaderSize && p[0] == envelopeVersion &&
		p[1]&^envelopeEpochBit == envelopeRecord && record.Flag(p[envelopeSize]) == record.FlagEncryptedMessage
}

type udpListener struct{ l *datagram.Listener }

func (l udpListener) Accept(ctx context.Context) (session, error) {
	c, err := l.l.AcceptContext(ctx)
	if err != nil {
		return nil, err
	}
	return udpSession{c}, nil
}

func (l udpListener) Close() error   { return l.l.Close() }
func (l udpListener) Addr() net.Addr { return l.l.Addr() }

// udpSession adds the command's view to a *datagram.Conn.
type udpSession struct{ *datagram.Conn }

func (s udpSession) MaxMessage() int { return s.MaxWrite() }

func (s udpSession) carrierStats() carrierStats {
	st := s.Stats()
	return carrierStats{
		RecordsSent:     int64(st.RecordsOut),
		RecordsReceived: int64(st.RecordsIn),
		BytesSent:       int64(st.BytesOut),
		BytesReceived:   int64(st.BytesIn),
		Retransmissions: int64(st.HandshakeRetransmissions),
		Drops: map[string]int64{
			"too old":             int64(st.Drops.TooOld),
			"duplicate":           int64(st.Drops.Duplicate),
			"time":                int64(st.Drops.Time),
			"authentication":      int64(st.Drops.Auth),
			"receive queue full":  int64(st.QueueDrops),
			"early":               int64(st.EarlyRecords),
			"handshake rejected":  int64(st.HandshakeRejected),
			"handshake conflicts": int64(st.HandshakeConflicts),
		},
	}
}
