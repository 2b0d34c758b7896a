package quicx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// Client runs the client side of QSMP over an established QUIC connection
// on which both sides enabled DATAGRAM frames and the server accepts one
// bidirectional stream: it opens the stream, runs the handshake and checks
// the binding. On failure it closes qc with
// CodeHandshake. The QUIC connection belongs to the Conn from then on.
func Client(ctx context.Context, qc *quic.Conn, cfg *Config) (*Conn, error) {
	n, err := cfg.normalize(false)
	if err != nil {
		qc.CloseWithError(CodeHandshake, "qsmp: configuration")
		return nil, err
	}
	return establish(ctx, qc, n, false)
}

// Server runs the listener side of QSMP over an accepted QUIC connection
// (see Client).
func Server(ctx context.Context, qc *quic.Conn, cfg *Config) (*Conn, error) {
	n, err := cfg.normalize(true)
	if err != nil {
		qc.CloseWithError(CodeHandshake, "qsmp: configuration")
		return nil, err
	}
	return establish(ctx, qc, n, true)
}

// establish runs the QSMP handshake on the connection's stream, derives the
// bound datagram keys and exchanges the ready messages. It closes qc on
// failure.
func establish(ctx context.Context, qc *quic.Conn, cfg *config, server bool) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	c, err := runSetup(ctx, qc, cfg, server)
	if err != nil {
		reason := "qsmp: handshake failed"
		var he *handshake.Error
		switch {
		case errors.As(err, &he) && !errors.Is(err, handshake.ErrPeer):
			reason += ": " + he.Code.String() // what the C code's error packet says
		case errors.Is(err, errVariant):
			reason += ": the listener runs " + variantName(cfg.Duplex)
		}
		qc.CloseWithError(CodeHandshake, reason)
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return c, nil
}

func runSetup(ctx context.Context, qc *quic.Conn, cfg *config, server bool) (*Conn, error) {
	cs := qc.ConnectionState()
	if !cs.SupportsDatagrams.Local || !cs.SupportsDatagrams.Remote {
		return nil, fmt.Errorf("%w: QUIC DATAGRAM frames not enabled on both sides", ErrProtocol)
	}
	exporter, err := exportValue(&cs.TLS)
	if err != nil {
		return nil, err
	}
	var st *quic.Stream
	if server {
		st, err = qc.AcceptStream(ctx)
	} else {
		st, err = qc.OpenStreamSync(ctx)
	}
	if err != nil {
		clear(exporter)
		return nil, err
	}
	d, _ := ctx.Deadline()
	st.SetDeadline(d)
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	sess, err := runHandshake(st, cfg, server)
	if err != nil {
		clear(exporter)
		return nil, err
	}
	c, err := newConn(qc, st, cfg, server, sess, exporter)
	if err != nil {
		sess.Stream.Clear()
		clear(sess.DatagramSecret)
		clear(exporter)
		return nil, err
	}
	// Datagrams of the peer may follow its ready message at once.
	c.wg.Add(1)
	go c.drain()
	if err := c.exchangeReady(); err != nil {
		c.teardown(CodeHandshake, "qsmp: handshake failed")
		return nil, err
	}
	st.SetDeadline(time.Time{})
	c.wg.Add(1)
	go c.readStream()
	return c, nil
}

// exchangeReady sends the ready message under the bound epoch-0 keys and
// waits for the peer's: a peer that derived its keys from another QUIC
// connection's exporter (a relayed handshake) fails here with ErrBinding.
func (c *Conn) exchangeReady() error {
	if err := c.writeControl(record.FlagSessionEstablishVerify, []byte{readyByte}); err != nil {
		return err
	}
	ctl, err := c.readControl()
	if err != nil {
		if errors.Is(err, record.ErrAuth) {
			return fmt.Errorf("%w: %w", ErrBinding, err)
		}
		return err
	}
	if ctl.flag != record.FlagSessionEstablishVerify {
		return fmt.Errorf("%w: %v before the ready message", ErrProtocol, ctl.flag)
	}
	return nil
}

// runHandshake drives the handshake machine over the stream, framed as on
// TCP (header, then msglen bytes); the client first writes its preamble.
func runHandshake(st *quic.Stream, cfg *config, server bool) (*handshake.Session, error) {
	var m handshake.Machine
	var err error
	var first []byte
	if server {
		p, err := readPreamble(st)
		if err != nil {
			return nil, err
		}
		if m, err = cfg.serverMachine(p); err != nil {
			return nil, err
		}
	} else {
		if m, err = cfg.clientMachine(); err != nil {
			return nil, err
		}
		p := preamble{duplex: cfg.Duplex}
		if cfg.Duplex {
			p.keyID = cfg.Identity.KeyID
		}
		first = p.append(nil)
	}
	defer m.Abort() // a handshake that does not complete leaves no secret behind (no-op once Done)
	failed := func(err error) error {
		var he *handshake.Error
		if errors.As(err, &he) && !errors.Is(err, handshake.ErrPeer) && he.Packet != nil {
			st.Write(he.Packet) // best effort, as the C code does
		}
		return err
	}
	pkt, err := m.Start()
	if err != nil {
		return nil, failed(err)
	}
	if pkt = append(first, pkt...); len(pkt) > 0 {
		if _, err := st.Write(pkt); err != nil {
			return nil, err
		}
	}
	for !m.Done() {
		_, size, ok := m.Expect()
		if !ok {
			return nil, handshake.ErrState
		}
		in, err := readPacket(st, size)
		if err != nil {
			return nil, err
		}
		out, err := m.Handle(in)
		if err != nil {
			return nil, failed(err)
		}
		if out != nil {
			if _, err := st.Write(out); err != nil {
				// The final message may be the one that failed: the
				// established session is dropped, so zero it (nil
				// before Done).
				m.Session().Clear()
				return nil, err
			}
		}
	}
	return m.Session(), nil
}
