package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/stream"
)

// LinkConfig is the QSMP configuration the QSMP links use: the in-memory
// demo default.
const LinkConfig = suite.Default

// qsmpKeys are the identities of a QSMP link: the listener's, and the
// initiator's (used by QSMD).
type qsmpKeys struct {
	server, client *keyfile.PrivateKey
}

var (
	keysMu    sync.Mutex
	keysCache = map[bool]*qsmpKeys{}
)

// linkKeys returns identities for LinkConfig, generated once per process
// for each variant.
func linkKeys(duplex bool) (*qsmpKeys, error) {
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keysCache[duplex]; ok {
		return k, nil
	}
	s, err := suite.Lookup(LinkConfig)
	if err != nil {
		return nil, err
	}
	v := keyfile.QSMS
	if duplex {
		v = keyfile.QSMD
	}
	k := &qsmpKeys{}
	if k.server, err = keyfile.Generate(s, v, nil, time.Now()); err != nil {
		return nil, err
	}
	if k.client, err = keyfile.Generate(s, v, nil, time.Now()); err != nil {
		return nil, err
	}
	keysCache[duplex] = k
	return k, nil
}

func mode(duplex bool) string {
	if duplex {
		return "QSMD"
	}
	return "QSMS"
}

// QSMPTCP is QSMP over loopback TCP (package stream) with LinkConfig.
type QSMPTCP struct{ Duplex bool }

// Name implements Link.
func (q QSMPTCP) Name() string {
	if q.Duplex {
		return "QSMP/TCP (QSMD)"
	}
	return "QSMP/TCP"
}

// Payload implements Link.
func (QSMPTCP) Payload() int { return UDPPayload }

// Available implements Link.
func (QSMPTCP) Available() error { return nil }

// Lossy implements Link.
func (QSMPTCP) Lossy() error { return ErrNoLoss }

// Connect implements Link; client and server are not used.
func (q QSMPTCP) Connect(ctx context.Context, _, _ net.PacketConn) (*Pipe, error) {
	k, err := linkKeys(q.Duplex)
	if err != nil {
		return nil, err
	}
	scfg := &stream.Config{Identity: k.server, Duplex: q.Duplex}
	ccfg := &stream.Config{PeerKey: k.server.Public(), Duplex: q.Duplex}
	if q.Duplex {
		scfg.PeerKey = k.client.Public()
		ccfg.Identity = k.client
	}
	wc := func(ctx context.Context, c net.Conn) (net.Conn, error) { return stream.Client(ctx, c, ccfg) }
	ws := func(ctx context.Context, c net.Conn) (net.Conn, error) { return stream.Server(ctx, c, scfg) }
	cc, sc, err := tcpPair(ctx, wc, ws)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mode(q.Duplex), err)
	}
	return streamPipe(cc, sc, UDPPayload, true), nil
}

// QSMPUDP is QSMP over UDP (package datagram) with LinkConfig.
type QSMPUDP struct{ Duplex bool }

// Name implements Link.
func (QSMPUDP) Name() string { return "QSMP/UDP" }

// Payload implements Link.
func (QSMPUDP) Payload() int { return UDPPayload }

// Available implements Link.
func (QSMPUDP) Available() error { return ErrNotBuilt }

// Lossy implements Link.
func (QSMPUDP) Lossy() error { return nil }

// Connect implements Link.
func (QSMPUDP) Connect(context.Context, net.PacketConn, net.PacketConn) (*Pipe, error) {
	return nil, ErrNotBuilt
}

// QSMPQUIC is QSMP over QUIC (datagram.Dial with network "quic") with
// LinkConfig: records as QUIC DATAGRAM frames.
type QSMPQUIC struct{ Duplex bool }

// Name implements Link.
func (QSMPQUIC) Name() string { return "QSMP/QUIC" }

// Payload implements Link.
func (QSMPQUIC) Payload() int { return QUICPayload }

// Available implements Link.
func (QSMPQUIC) Available() error { return ErrNotBuilt }

// Lossy implements Link.
func (QSMPQUIC) Lossy() error { return nil }

// Connect implements Link.
func (QSMPQUIC) Connect(context.Context, net.PacketConn, net.PacketConn) (*Pipe, error) {
	return nil, ErrNotBuilt
}
