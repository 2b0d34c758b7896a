package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/stream"
)

// The network is a pluggable choice: each carrier (TCP through stream/,
// UDP and QUIC through datagram/) adapts its package to the small
// interfaces below, and the commands only see those.

// endpoint is what a host brings to a session.
type endpoint struct {
	// identity is the host's own key (server, QSMD initiator).
	identity *keyfile.PrivateKey
	// peer is the peer's public key (client: the server's; QSMD listener:
	// the one initiator it accepts).
	peer *keyfile.PublicKey
	// duplex selects QSMD.
	duplex bool
	// timeout bounds a handshake (the carrier's default if 0).
	timeout time.Duration
	// logger receives the carrier's events (nil: discarded).
	logger *slog.Logger
}

// maxRecord is the read buffer size: the largest record any carrier
// delivers (a peer may send records larger than this host's MaxMessage).
const maxRecord = 1 << 16

// session is an established QSMP session with message semantics: one
// Write is one record, one Read returns one record.
type session interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	Close() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// MaxMessage is the largest message one Write accepts.
	MaxMessage() int
}

// listener accepts established sessions.
type listener interface {
	Accept(ctx context.Context) (session, error)
	Close() error
	Addr() net.Addr
}

// carrier runs QSMP over one kind of network.
type carrier interface {
	// Name is the --network value.
	Name() string
	Listen(addr string, ep endpoint) (listener, error)
	Dial(ctx context.Context, addr string, ep endpoint) (session, error)
}

// packetCarrier is a carrier over datagrams that can run on any
// net.PacketConn, so that the demo can put netsim between the two ends.
type packetCarrier interface {
	carrier
	ListenPacket(pc net.PacketConn, ep endpoint) (listener, error)
	DialPacket(ctx context.Context, pc net.PacketConn, raddr net.Addr, ep endpoint) (session, error)
	// IsDataRecord reports whether a datagram carries an application data
	// record (as opposed to handshake, acknowledgement or control traffic),
	// so that the demo can count the data records the simulator lost.
	IsDataRecord(datagram []byte) bool
}

// carrierStats is what a carrier counts about one session. Counts the
// carrier does not keep are -1.
type carrierStats struct {
	RecordsSent     int64            `json:"records_sent"`
	RecordsReceived int64            `json:"records_received"`
	BytesSent       int64            `json:"bytes_sent"`
	BytesReceived   int64            `json:"bytes_received"`
	Retransmissions int64            `json:"retransmissions"`
	Drops           map[string]int64 `json:"drops"`
}

// statser is a session that reports carrierStats.
type statser interface {
	carrierStats() carrierStats
}

// errNotAvailable reports a network whose carrier is not built yet.
var errNotAvailable = errors.New("not available yet")

// defaultNetwork is the network used when --network is not given.
const defaultNetwork = "udp"

// networks maps --network values to their carriers. A nil entry is a
// network this build does not have yet.
var networks = map[string]func() carrier{
	"tcp":  func() carrier { return tcpCarrier{} },
	"udp":  func() carrier { return udpCarrier{} },
	"quic": func() carrier { return quicCarrier{} },
}

// networkNames lists the --network values, for help texts.
func networkNames() string {
	return strings.Join(networkOrder, "|")
}

// networkOrder lists the networks, the default first.
var networkOrder = []string{"udp", "tcp", "quic"}

// lookupNetwork returns the carrier named by --network.
func lookupNetwork(name string) (carrier, error) {
	mk, ok := networks[name]
	if !ok {
		return nil, fmt.Errorf("unknown --network %q (use %s)", name, networkNames())
	}
	if mk == nil {
		return nil, fmt.Errorf("--network %s is %w: the %s carrier is still being written; use --network udp or tcp", name, errNotAvailable, strings.ToUpper(name))
	}
	return mk(), nil
}

// tcpCarrier is QSMP over TCP (package stream), byte-compatible with the C
// programs.
type tcpCarrier struct{}

func (tcpCarrier) Name() string { return "tcp" }

func (tcpCarrier) config(ep endpoint) *stream.Config {
	return &stream.Config{
		Identity:         ep.identity,
		PeerKey:          ep.peer,
		Duplex:           ep.duplex,
		HandshakeTimeout: ep.timeout,
		Logger:           ep.logger,
	}
}

func (c tcpCarrier) Listen(addr string, ep endpoint) (listener, error) {
	l, err := stream.Listen("tcp", addr, c.config(ep))
	if err != nil {
		return nil, err
	}
	return tcpListener{l}, nil
}

func (c tcpCarrier) Dial(ctx context.Context, addr string, ep endpoint) (session, error) {
	conn, err := stream.Dial(ctx, "tcp", addr, c.config(ep))
	if err != nil {
		return nil, err
	}
	return conn, nil
}

type tcpListener struct{ l *stream.Listener }

func (l tcpListener) Accept(ctx context.Context) (session, error) {
	c, err := l.l.AcceptContext(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (l tcpListener) Close() error   { return l.l.Close() }
func (l tcpListener) Addr() net.Addr { return l.l.Addr() }
