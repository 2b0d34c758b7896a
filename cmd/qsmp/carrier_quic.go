package main

import (
	"context"
	"net"

	"github.com/qsmp-go/qsmp/datagram"
)

// quicCarrier is QSMP over QUIC (package datagram, network "quic"): the
// handshake and the ratchets on a QUIC stream, every record in one QUIC
// DATAGRAM frame. It shares the UDP carrier's configuration and session.
type quicCarrier struct{}

func (quicCarrier) Name() string { return "quic" }

func (quicCarrier) config(ep endpoint, listener bool) *datagram.Config {
	cfg := udpCarrier{}.config(ep, listener)
	cfg.Network = "quic"
	return cfg
}

func (c quicCarrier) Listen(addr string, ep endpoint) (listener, error) {
	l, err := datagram.Listen("quic", addr, c.config(ep, true))
	if err != nil {
		return nil, err
	}
	return quicListener{udpListener{l}}, nil
}

func (c quicCarrier) Dial(ctx context.Context, addr string, ep endpoint) (session, error) {
	conn, err := datagram.Dial(ctx, "quic", addr, c.config(ep, false))
	if err != nil {
		return nil, err
	}
	return quicSession{udpSession{conn}}, nil
}

func (c quicCarrier) ListenPacket(pc net.PacketConn, ep endpoint) (listener, error) {
	l, err := datagram.NewListener(pc, c.config(ep, true))
	if err != nil {
		return nil, err
	}
	return quicListener{udpListener{l}}, nil
}

func (c quicCarrier) DialPacket(ctx context.Context, pc net.PacketConn, raddr net.Addr, ep endpoint) (session, error) {
	conn, err := datagram.DialPacketConn(ctx, pc, raddr, c.config(ep, false))
	if err != nil {
		return nil, err
	}
	return quicSession{udpSession{conn}}, nil
}

// IsDataRecord reports every datagram: QUIC encrypts its packets (a record
// travels in a DATAGRAM frame inside one, next to acknowledgements and
// stream data), so the demo's taps count QUIC packets, and the records a
// lost packet carried are counted at the QUIC endpoints (opaquePackets).
func (quicCarrier) IsDataRecord([]byte) bool { return true }

// opaquePackets marks a packet carrier whose records the taps cannot see
// inside its datagrams.
func (quicCarrier) opaquePackets() {}

// opaquePackets is a packet carrier whose datagrams the demo cannot look
// into: its taps count packets, not records. The simulator's and the
// operating system's losses are still exact per packet; a record that did
// not arrive is attributed to the simulator when the operating system lost
// no packet and the receiving carrier dropped none of the records it got.
type opaquePackets interface{ opaquePackets() }

type quicListener struct{ udpListener }

func (l quicListener) Accept(ctx context.Context) (session, error) {
	c, err := l.l.AcceptContext(ctx)
	if err != nil {
		return nil, err
	}
	return quicSession{udpSession{c}}, nil
}

// quicSession is a QUIC session: the counters that QUIC keeps itself
// (handshake retransmissions, duplicates, which QUIC drops per packet) are
// not the carrier's.
type quicSession struct{ udpSession }

func (s quicSession) carrierStats() carrierStats {
	st := s.Stats()
	return carrierStats{
		RecordsSent:     int64(st.RecordsOut),
		RecordsReceived: int64(st.RecordsIn),
		BytesSent:       int64(st.BytesOut),
		BytesReceived:   int64(st.BytesIn),
		Retransmissions: -1,
		Drops: map[string]int64{
			"too old":            int64(st.Drops.TooOld),
			"duplicate":          int64(st.Drops.Duplicate),
			"time":               int64(st.Drops.Time),
			"authentication":     int64(st.Drops.Auth),
			"receive queue full": int64(st.QueueDrops),
			"epoch":              int64(st.EpochDrops),
		},
	}
}

// dropped sums the records the carrier received and did not deliver.
func (c *carrierStats) dropped() int64 {
	var n int64
	for _, v := range c.Drops {
		n += v
	}
	return n
}
