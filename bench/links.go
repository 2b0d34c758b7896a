package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/quic-go/quic-go"
)

// Message sizes of the goodput measurement.
const (
	// UDPPayload is the message size of UDP-based links and TCP links.
	UDPPayload = 1400
	// QUICPayload is the message size of QUIC datagram links: a DATAGRAM
	// frame must fit one QUIC packet, and quic-go starts at 1280-byte
	// packets.
	QUICPayload = 1100
)

var errNoBufs = syscall.ENOBUFS

// ConnectLinks returns the links of the loopback handshake table: those of
// Links that have a handshake, with QSMD variants of the QSMP links.
func ConnectLinks() []Link {
	var out []Link
	for _, l := range Links() {
		if _, ok := l.(interface{ NoHandshake() }); ok {
			continue
		}
		out = append(out, l)
		switch l.(type) {
		case QSMPUDP:
			out = append(out, QSMPUDP{Duplex: true})
		case QSMPQUIC:
			out = append(out, QSMPQUIC{Duplex: true})
		case QSMPTCP:
			out = append(out, QSMPTCP{Duplex: true})
		}
	}
	return out
}

// Links returns every link in table order: the baselines and the QSMP
// transports, including those not built yet.
func Links() []Link {
	return []Link{
		RawUDP{},
		RawUDPBatched{},
		QSMPUDP{},
		QSMPQUIC{},
		QUICDatagrams{},
		DTLS{Version: 12},
		DTLS{Version: 13},
		TCP{},
		TLSTCP{},
		QSMPTCP{},
	}
}

// armDeadline makes a blocked read return once ctx is done, by moving the
// read deadline into the past. The returned function unregisters it.
type ctxReader struct {
	once sync.Once
	set  func(time.Time) error
}

func (r *ctxReader) arm(ctx context.Context) {
	r.once.Do(func() {
		context.AfterFunc(ctx, func() { _ = r.set(time.Unix(1, 0)) })
	})
}

// RawUDP is the baseline: plain datagrams, no protection.
type RawUDP struct{}

// Name implements Link.
func (RawUDP) Name() string { return "raw UDP" }

// Payload implements Link.
func (RawUDP) Payload() int { return UDPPayload }

// Available implements Link.
func (RawUDP) Available() error { return nil }

// Lossy implements Link.
func (RawUDP) Lossy() error { return nil }

// NoHandshake marks a link without a handshake: Run leaves it out of the
// loopback handshake table.
func (RawUDP) NoHandshake() {}

// Connect implements Link.
func (RawUDP) Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error) {
	to := server.LocalAddr()
	r := &ctxReader{set: server.SetReadDeadline}
	return &Pipe{
		Send: func(p []byte) error {
			_, err := client.WriteTo(p, to)
			return err
		},
		Recv: func(ctx context.Context, buf []byte) (int, error) {
			r.arm(ctx)
			n, _, err := server.ReadFrom(buf)
			return n, err
		},
		Close: func() error { return nil },
	}, nil
}

var (
	certOnce sync.Once
	certVal  tls.Certificate
	certErr  error
)

// selfSigned returns a throwaway ECDSA P-256 certificate for 127.0.0.1,
// made once per process.
func selfSigned() (tls.Certificate, error) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "qsmp-bench"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		certVal = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return certVal, certErr
}

const alpn = "qsmp-bench"

// QUICDatagrams is quic-go (TLS 1.3) carrying the messages as DATAGRAM
// frames (RFC 9221), without QSMP: what QSMP/QUIC adds its records to.
type QUICDatagrams struct{}

// Name implements Link.
func (QUICDatagrams) Name() string { return "quic-go datagrams" }

// Payload implements Link.
func (QUICDatagrams) Payload() int { return QUICPayload }

// Available implements Link.
func (QUICDatagrams) Available() error { return nil }

// Lossy implements Link.
func (QUICDatagrams) Lossy() error { return nil }

// BatchedIO marks a link that moves many datagrams per system call on
// native sockets: quic-go reads with recvmmsg and sends with GSO on a
// *net.UDPConn (Linux).
func (QUICDatagrams) BatchedIO() {}

// Connect implements Link.
func (QUICDatagrams) Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	qcfg := &quic.Config{EnableDatagrams: true, MaxIdleTimeout: 30 * time.Second}
	str := &quic.Transport{Conn: server}
	ctr := &quic.Transport{Conn: client}
	closeAll := func() { str.Close(); ctr.Close() }
	ln, err := str.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}}, qcfg)
	if err != nil {
		closeAll()
		return nil, err
	}
	type accepted struct {
		c   *quic.Conn
		err error
	}
	ach := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept(ctx)
		ach <- accepted{c, err}
	}()
	cc, err := ctr.Dial(ctx, server.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}, qcfg)
	if err != nil {
		ln.Close()
		closeAll()
		return nil, err
	}
	a := <-ach
	if a.err != nil {
		cc.CloseWithError(0, "")
		ln.Close()
		closeAll()
		return nil, a.err
	}
	sc := a.c
	var once sync.Once
	return &Pipe{
		Send: cc.SendDatagram,
		Recv: func(ctx context.Context, buf []byte) (int, error) {
			d, err := sc.ReceiveDatagram(ctx)
			return copy(buf, d), err
		},
		Close: func() error {
			once.Do(func() {
				cc.CloseWithError(0, "")
				sc.CloseWithError(0, "")
				ln.Close()
				closeAll()
			})
			return nil
		},
	}, nil
}

// DTLS is pion/dtls/v3 with ECDHE-ECDSA and AES-256-GCM. Version is 12 for
// DTLS 1.2 or 13 for DTLS 1.3, which pion/dtls/v3 does not implement yet
// (its protocol.IsSupportedVersion accepts only 1.2), so that row reports
// ErrLinkUnsupported.
type DTLS struct{ Version int }

// Name implements Link.
func (d DTLS) Name() string { return fmt.Sprintf("DTLS 1.%d (pion)", d.Version%10) }

// Payload implements Link.
func (DTLS) Payload() int { return UDPPayload }

// Available implements Link.
func (d DTLS) Available() error {
	if d.Version != 12 {
		return fmt.Errorf("%w: pion/dtls/v3 has DTLS 1.2 only", ErrLinkUnsupported)
	}
	return nil
}

// Lossy implements Link.
func (DTLS) Lossy() error { return nil }

// Connect implements Link.
func (d DTLS) Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error) {
	if err := d.Available(); err != nil {
		return nil, err
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	suites := dtls.WithCipherSuites(dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
	ems := dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret)
	sc, err := dtls.ServerWithOptions(server, client.LocalAddr(), dtls.WithCertificates(cert), suites, ems)
	if err != nil {
		return nil, err
	}
	cc, err := dtls.ClientWithOptions(client, server.LocalAddr(), dtls.WithInsecureSkipVerify(true), suites, ems)
	if err != nil {
		sc.Close()
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- sc.HandshakeContext(ctx) }()
	cerr := cc.HandshakeContext(ctx)
	serr := <-errc
	if err := errors.Join(cerr, serr); err != nil {
		cc.Close()
		sc.Close()
		return nil, err
	}
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
			once.Do(func() { cc.Close(); sc.Close() })
			return nil
		},
	}, nil
}

// streamPipe makes a Pipe of a client and a server net.Conn carrying
// messages: Send writes one message; Recv reads one message of n bytes
// (exactly, for a byte stream; one Read for a message-oriented conn).
func streamPipe(cc, sc net.Conn, n int, messages bool) *Pipe {
	r := &ctxReader{set: sc.SetReadDeadline}
	var once sync.Once
	return &Pipe{
		Send: func(p []byte) error {
			_, err := cc.Write(p)
			return err
		},
		Recv: func(ctx context.Context, buf []byte) (int, error) {
			r.arm(ctx)
			if messages {
				return sc.Read(buf)
			}
			return io.ReadFull(sc, buf[:n])
		},
		Close: func() error {
			once.Do(func() { cc.Close(); sc.Close() })
			return nil
		},
	}
}

// tcpPair connects a TCP client to a one-shot loopback listener and runs
// the two sides' handshakes (wrap) concurrently.
func tcpPair(ctx context.Context, wrapClient, wrapServer func(context.Context, net.Conn) (net.Conn, error)) (net.Conn, net.Conn, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type side struct {
		c   net.Conn
		err error
	}
	sch := make(chan side, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			var w net.Conn
			if w, err = wrapServer(ctx, c); err != nil {
				c.Close()
			}
			c = w
		}
		sch <- side{c, err}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", ln.Addr().String())
	if err == nil {
		var w net.Conn
		if w, err = wrapClient(ctx, c); err != nil {
			c.Close()
		}
		c = w
	}
	if err != nil {
		ln.Close()
		if s := <-sch; s.err == nil {
			s.c.Close()
		}
		return nil, nil, err
	}
	s := <-sch
	if s.err != nil {
		c.Close()
		return nil, nil, s.err
	}
	return c, s.c, nil
}

func plain(_ context.Context, c net.Conn) (net.Conn, error) { return c, nil }

// TCP is plain TCP over loopback: the byte-stream baseline.
type TCP struct{}

// Name implements Link.
func (TCP) Name() string { return "TCP" }

// Payload implements Link.
func (TCP) Payload() int { return UDPPayload }

// Available implements Link.
func (TCP) Available() error { return nil }

// Lossy implements Link.
func (TCP) Lossy() error { return ErrNoLoss }

// Reliable marks a link that delivers every message: the goodput
// measurement waits for all of them.
func (TCP) Reliable() {}

// Connect implements Link; client and server are not used.
func (TCP) Connect(ctx context.Context, _, _ net.PacketConn) (*Pipe, error) {
	cc, sc, err := tcpPair(ctx, plain, plain)
	if err != nil {
		return nil, err
	}
	return streamPipe(cc, sc, UDPPayload, false), nil
}

// TLSTCP is TLS 1.3 (crypto/tls, ECDSA P-256 certificate, X25519MLKEM768
// key exchange as Go's default) over loopback TCP.
type TLSTCP struct{}

// Name implements Link.
func (TLSTCP) Name() string { return "TLS 1.3/TCP" }

// Payload implements Link.
func (TLSTCP) Payload() int { return UDPPayload }

// Available implements Link.
func (TLSTCP) Available() error { return nil }

// Lossy implements Link.
func (TLSTCP) Lossy() error { return ErrNoLoss }

// Reliable marks a link that delivers every message: the goodput
// measurement waits for all of them.
func (TLSTCP) Reliable() {}

// Connect implements Link; client and server are not used.
func (TLSTCP) Connect(ctx context.Context, _, _ net.PacketConn) (*Pipe, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	wc := func(ctx context.Context, c net.Conn) (net.Conn, error) {
		t := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		return t, t.HandshakeContext(ctx)
	}
	ws := func(ctx context.Context, c net.Conn) (net.Conn, error) {
		t := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
		return t, t.HandshakeContext(ctx)
	}
	cc, sc, err := tcpPair(ctx, wc, ws)
	if err != nil {
		return nil, err
	}
	return streamPipe(cc, sc, UDPPayload, false), nil
}
