// Package stream carries QSMP over TCP exactly as the C programs frame it
// (digest 1.8): each record is the 21-byte header followed by msglen bytes,
// with nothing else on the wire, so a Go host interoperates with the
// original client, server, sender and listener.
//
// Conn has message semantics: one Write seals one record and one Read
// returns one record. The stream record profile is the C one: each
// direction's RCS state runs on, sequence numbers must be consecutive, and
// any failure ends the connection.
package stream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
)

// DefaultHandshakeTimeout bounds a handshake when the context has no
// earlier deadline.
const DefaultHandshakeTimeout = 30 * time.Second

// Errors of this package.
var (
	// ErrConfig reports a Config that cannot work (missing or mismatched keys).
	ErrConfig = errors.New("stream: invalid configuration")
	// ErrRatchetDisabled reports a QSMS symmetric ratchet on a connection
	// that has not enabled it (a C server cannot follow it).
	ErrRatchetDisabled = errors.New("stream: QSMS symmetric ratchet disabled (Config.SymmetricRatchet)")
	// ErrRatchetPending reports a second asymmetric ratchet while one is pending.
	ErrRatchetPending = errors.New("stream: an asymmetric ratchet is already pending")
	// ErrRecordSize reports a peeked msglen of 0 or above 64 KiB, which ends
	// the connection as in the C receive loops.
	ErrRecordSize = errors.New("stream: record length out of range")
	// ErrInvalid reports a nil context, connection or listener passed to
	// this package, or a Conn or Listener that it did not make (a nil
	// pointer or a zero value).
	ErrInvalid = errors.New("stream: invalid argument or unestablished value")
)

// Config configures a connection. The configuration string comes from the
// keys: Identity's and PeerKey's must agree.
type Config struct {
	// Identity is the host's own key: required on a QSMS server, a QSMD
	// listener and a QSMD initiator.
	Identity *keyfile.PrivateKey
	// PeerKey is the peer's public key: on a client, the server's (QSMS) or
	// listener's (QSMD); on a QSMD listener, the one initiator it accepts
	// (the C listener is bound to one peer).
	PeerKey *keyfile.PublicKey
	// Duplex selects QSMD; otherwise QSMS.
	Duplex bool
	// HandshakeTimeout bounds a handshake (DefaultHandshakeTimeout if 0).
	HandshakeTimeout time.Duration
	// TimeThreshold is the accepted clock difference in seconds: 0 means
	// 60 s as in the C code; negative disables the check.
	TimeThreshold int64
	// SymmetricRatchet allows the QSMS symmetric ratchet, which we make
	// work in both directions but which a C QSMS server cannot follow
	// (docs/COMPATIBILITY.md). QSMD always allows it.
	SymmetricRatchet bool
	// MaxHandshakes bounds concurrent server handshakes (default 64).
	MaxHandshakes int
	// Rand and Now replace crypto/rand and time.Now (tests).
	Rand io.Reader
	Now  func() time.Time
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func (c *Config) now() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// suite returns the configuration both keys agree on.
func (c *Config) suite() (*suite.Suite, error) {
	s, err := keyfile.AgreedSuite(c.Identity, c.PeerKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

func (c *Config) handshakeConfig() (handshake.Config, error) {
	s, err := c.suite()
	if err != nil {
		return handshake.Config{}, err
	}
	return handshake.Config{Suite: s, Rand: c.rand(), Now: c.now(), TimeThreshold: c.TimeThreshold}, nil
}

// errNilConfig is the error of a nil *Config.
var errNilConfig = fmt.Errorf("%w: nil *Config", ErrConfig)

// checkArgs checks the arguments every handshake entry point takes.
func checkArgs(ctx context.Context, c net.Conn, cfg *Config) error {
	switch {
	case ctx == nil:
		return fmt.Errorf("%w: nil context", ErrInvalid)
	case c == nil:
		return fmt.Errorf("%w: nil net.Conn", ErrInvalid)
	case cfg == nil:
		return errNilConfig
	}
	return nil
}

// clientMachine builds the initiator's state machine.
func (c *Config) clientMachine() (handshake.Machine, error) {
	if c == nil {
		return nil, errNilConfig
	}
	hc, err := c.handshakeConfig()
	if err != nil {
		return nil, err
	}
	if c.PeerKey == nil {
		return nil, fmt.Errorf("%w: a client needs the server's public key (PeerKey)", ErrConfig)
	}
	if c.Duplex {
		if c.Identity == nil {
			return nil, fmt.Errorf("%w: a QSMD initiator needs its own key (Identity)", ErrConfig)
		}
		return handshake.NewQSMDClient(hc, c.Identity.HandshakeIdentity(), c.PeerKey.HandshakeIdentity())
	}
	return handshake.NewQSMSClient(hc, c.PeerKey.HandshakeIdentity())
}

// serverMachine builds the responder's state machine.
func (c *Config) serverMachine() (handshake.Machine, error) {
	if c == nil {
		return nil, errNilConfig
	}
	hc, err := c.handshakeConfig()
	if err != nil {
		return nil, err
	}
	if c.Identity == nil {
		return nil, fmt.Errorf("%w: a server needs its own key (Identity)", ErrConfig)
	}
	if c.Duplex {
		if c.PeerKey == nil {
			return nil, fmt.Errorf("%w: a QSMD listener needs the initiator's public key (PeerKey)", ErrConfig)
		}
		peer := c.PeerKey.VerifyKey
		return handshake.NewQSMDServer(hc, c.Identity.HandshakeIdentity(), func([handshake.KeyIDSize]byte) ([]byte, error) {
			return peer, nil
		})
	}
	return handshake.NewQSMSServer(hc, c.Identity.HandshakeIdentity())
}

// readRecord reads one framed record: the header, then msglen bytes, with
// msglen bounded by max.
func readRecord(r io.Reader, max int) ([]byte, error) {
	return readRecordLimit(r, func(record.Flag) int { return max })
}

// dataLimit is the C receive loops' bound on msglen (digest 1.7), except
// for asymmetric-ratchet records, which McEliece configurations make larger.
func dataLimit(f record.Flag) int {
	if f == record.FlagAsymmetricRatchetRequest || f == record.FlagAsymmetricRatchetResponse {
		return record.AsymmetricRatchetMax + 64
	}
	return record.MessageMax
}

// readRecordLimit reads one framed record with msglen bounded by limit(flag).
func readRecordLimit(r io.Reader, limit func(record.Flag) int) ([]byte, error) {
	var hdr [record.HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size, err := recordSize(hdr[:], limit)
	if err != nil {
		return nil, err
	}
	pkt := make([]byte, size)
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(r, pkt[record.HeaderSize:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the header came, the record did not
		}
		return nil, err
	}
	return pkt, nil
}

// recordSize returns the whole size of the record whose header is hdr,
// with msglen bounded by limit(flag).
func recordSize(hdr []byte, limit func(record.Flag) int) (int, error) {
	h, _ := record.ParseHeader(hdr)
	if h.MsgLen == 0 || int64(h.MsgLen) > int64(limit(h.Flag)) {
		return 0, fmt.Errorf("%w: msglen %d (flag %v)", ErrRecordSize, h.MsgLen, h.Flag)
	}
	return record.HeaderSize + int(h.MsgLen), nil
}

// runHandshake drives m over conn until it is established.
func runHandshake(ctx context.Context, conn net.Conn, m handshake.Machine, timeout time.Duration) (err error) {
	defer m.Abort() // a handshake that does not complete leaves no secret behind (no-op once Done)
	defer func() {
		if err != nil {
			// Established, but its last message or the deadline reset
			// failed: the caller drops the session, so zero it (nil
			// before Done).
			m.Session().Clear()
		}
	}()
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	send := func(pkt []byte) error {
		_, err := conn.Write(pkt)
		return err
	}
	failed := func(err error) error {
		var he *handshake.Error
		if errors.As(err, &he) && !errors.Is(err, handshake.ErrPeer) && he.Packet != nil {
			send(he.Packet) // best effort, as the C code does
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	}
	pkt, err := m.Start()
	if err != nil {
		return failed(err)
	}
	if pkt != nil {
		if err := send(pkt); err != nil {
			return failed(err)
		}
	}
	for !m.Done() {
		_, size, ok := m.Expect()
		if !ok {
			return handshake.ErrState
		}
		in, err := readRecord(conn, size)
		if err != nil {
			return failed(err)
		}
		out, err := m.Handle(in)
		if err != nil {
			return failed(err)
		}
		if out != nil {
			if err := send(out); err != nil {
				return failed(err)
			}
		}
	}
	return conn.SetDeadline(time.Time{})
}
