package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/datagram"
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

// Reliable marks a link that delivers every message: the goodput
// measurement waits for all of them.
func (QSMPTCP) Reliable() {}

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

// LinkMaxPayload is the UDP payload budget of the QSMP datagram links,
// chosen so that a 1400-byte message fits one record in QSMS and QSMD
// (envelope 10, header 21, tag 32 or 64 bytes) as it fits one DTLS record.
// Loopback's MTU is 64 KiB, so nothing is fragmented.
const LinkMaxPayload = 1500

// datagramConfigs returns the listener's and the dialer's configuration for
// LinkConfig.
func datagramConfigs(duplex bool) (scfg, ccfg *datagram.Config, err error) {
	k, err := linkKeys(duplex)
	if err != nil {
		return nil, nil, err
	}
	scfg = &datagram.Config{Identity: k.server, Duplex: duplex, MaxPayload: LinkMaxPayload}
	ccfg = &datagram.Config{PeerKey: k.server.Public(), Duplex: duplex, MaxPayload: LinkMaxPayload}
	if duplex {
		pub := k.client.Public()
		scfg.PeerKeys = func(id [keyfile.KeyIDSize]byte) (*keyfile.PublicKey, error) {
			if id != pub.KeyID {
				return nil, errors.New("bench: unknown initiator key")
			}
			return pub, nil
		}
		ccfg.Identity = k.client
	}
	return scfg, ccfg, nil
}

// datagramPipe makes a Pipe of an established client and server Conn.
func datagramPipe(cc, sc *datagram.Conn, ln *datagram.Listener) *Pipe {
	r := &ctxReader{set: sc.SetReadDeadline}
	var once sync.Once
	return &Pipe{
		Send: func(p []byte) error {
			_, err := cc.Write(p)
			return err
		},
		Recv: func(ctx context.Context, buf []byte) (int, error) {
			r.arm(ctx)
			return sc.Read(buf)
		},
		Close: func() error {
			once.Do(func() { cc.Close(); sc.Close(); ln.Close() })
			return nil
		},
	}
}

// acceptOne accepts one session on ln in the background.
func acceptOne(ctx context.Context, ln *datagram.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.AcceptContext(ctx)
		ch <- accepted{c, err}
	}()
	return ch
}

type accepted struct {
	c   *datagram.Conn
	err error
}

// QSMPUDP is QSMP over UDP (package datagram) with LinkConfig and
// LinkMaxPayload.
type QSMPUDP struct{ Duplex bool }

// Name implements Link.
func (q QSMPUDP) Name() string {
	if q.Duplex {
		return "QSMP/UDP (QSMD)"
	}
	return "QSMP/UDP"
}

// Payload implements Link.
func (QSMPUDP) Payload() int { return UDPPayload }

// Available implements Link.
func (QSMPUDP) Available() error { return nil }

// Lossy implements Link.
func (QSMPUDP) Lossy() error { return nil }

// BatchedIO marks a link that moves many datagrams per system call on
// native sockets: package datagram sends with sendmmsg and GSO and reads
// with recvmmsg and GRO on a *net.UDPConn (Linux).
func (QSMPUDP) BatchedIO() {}

// Connect implements Link: a Listener on server, DialPacketConn on client.
// Both take ownership of their socket and close it with the pipe.
func (q QSMPUDP) Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error) {
	scfg, ccfg, err := datagramConfigs(q.Duplex)
	if err != nil {
		return nil, err
	}
	ln, err := datagram.NewListener(server, scfg)
	if err != nil {
		return nil, err
	}
	ach := acceptOne(ctx, ln)
	cc, err := datagram.DialPacketConn(ctx, client, server.LocalAddr(), ccfg)
	if err != nil {
		ln.Close()
		<-ach
		return nil, err
	}
	a := <-ach
	if a.err != nil {
		cc.Close()
		ln.Close()
		return nil, a.err
	}
	return datagramPipe(cc, a.c, ln), nil
}

// QSMPQUIC is QSMP over QUIC (datagram.Dial and datagram.Listen with
// network "quic") with LinkConfig: the handshake on a QUIC stream, records as
// QUIC DATAGRAM frames. Its API dials and listens on addresses, not on
// given sockets, so the link runs through a relay (see relay) whose two
// sockets are the harness's (netsim-wrapped under loss); the relay's extra
// hop, one datagram per system call, costs it some goodput against quic-go
// datagrams, which runs on the sockets directly.
type QSMPQUIC struct{ Duplex bool }

// Name implements Link.
func (q QSMPQUIC) Name() string {
	if q.Duplex {
		return "QSMP/QUIC (QSMD)"
	}
	return "QSMP/QUIC"
}

// Payload implements Link.
func (QSMPQUIC) Payload() int { return QUICPayload }

// Available implements Link: it reports ErrNotBuilt while package datagram
// refuses the network "quic".
func (q QSMPQUIC) Available() error {
	scfg, _, err := datagramConfigs(q.Duplex)
	if err != nil {
		return err
	}
	ln, err := datagram.Listen("quic", "127.0.0.1:0", scfg)
	if errors.Is(err, datagram.ErrNetwork) {
		return ErrNotBuilt
	}
	if err != nil {
		return err
	}
	return ln.Close()
}

// Lossy implements Link.
func (QSMPQUIC) Lossy() error { return nil }

// Connect implements Link.
func (q QSMPQUIC) Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error) {
	scfg, ccfg, err := datagramConfigs(q.Duplex)
	if err != nil {
		return nil, err
	}
	ln, err := datagram.Listen("quic", "127.0.0.1:0", scfg)
	if err != nil {
		return nil, err
	}
	rl := startRelay(server, client, ln.Addr())
	ach := acceptOne(ctx, ln)
	cc, err := datagram.Dial(ctx, "quic", server.LocalAddr().String(), ccfg)
	if err != nil {
		ln.Close()
		<-ach
		rl.stop()
		return nil, err
	}
	a := <-ach
	if a.err != nil {
		cc.Close()
		ln.Close()
		rl.stop()
		return nil, a.err
	}
	if m := cc.MaxWrite(); m < QUICPayload {
		cc.Close()
		a.c.Close()
		ln.Close()
		rl.stop()
		return nil, fmt.Errorf("bench: QSMP/QUIC takes %d-byte records, below the %d-byte messages", m, QUICPayload)
	}
	p := datagramPipe(cc, a.c, ln)
	closeConns := p.Close
	p.Close = func() error {
		err := closeConns()
		rl.stop()
		return err
	}
	return p, nil
}
