// Package quicx carries QSMP over QUIC (quic-go) with records in QUIC
// DATAGRAM frames (RFC 9221). It is the complete QUIC carrier behind
// datagram.Dial(ctx, "quic", ...) and datagram.Listen("quic", ...); the
// datagram package adapts it, so its surface is small:
//
//	Dial(ctx, network, addr, *Config) (*Conn, error)          own UDP socket
//	DialPacketConn(ctx, pc, raddr, *Config) (*Conn, error)    caller's socket (netsim)
//	DialTransport(ctx, *quic.Transport, raddr, *Config)       shared client transport
//	Listen(network, addr, *Config) (*Listener, error)         own UDP socket
//	ListenPacketConn(pc, *Config) (*Listener, error)          caller's socket
//	ListenTransport(*quic.Transport, *Config) (*Listener, error)
//	Client(ctx, *quic.Conn, *Config), Server(ctx, *quic.Conn, *Config)  your own QUIC setup
//
//	(*Conn) Read, Write, Close, LocalAddr, RemoteAddr, Set*Deadline (net.Conn)
//	(*Conn) MaxWrite, Rekey(ctx), RatchetAsymmetric(ctx), Migrate(ctx, pc),
//	        Stats, Session, QUIC
//	(*Listener) Accept (net.Listener), AcceptContext(ctx), Close, Addr
//
// network is "quic", "quic4" or "quic6" ("udp", "udp4", "udp6" are
// accepted as synonyms). Config's key, timeout, window, queue, logger, Rand
// and Now fields, the rekey and reject limits and RekeyGrace have the names
// and meanings of datagram.Config's; it adds TLSConfig, QUICConfig and
// CloseTimeout, and has no MaxPayload (QUIC decides the datagram size).
// The errors follow datagram's (which maps them onto its own):
// *MessageTooLargeError (ErrMessageTooLarge) naming the limit,
// *ShortBufferError (ErrShortBuffer, io.ErrShortBuffer) naming the size,
// ErrPeerClosed, ErrConfig, ErrListenerClosed, ErrKeysExhausted,
// ErrNoAsymmetricRatchet, os.ErrDeadlineExceeded, net.ErrClosed, io.EOF
// after the peer's authenticated close.
//
// # What runs where
//
// One QSMP session per QUIC connection. The client opens one bidirectional
// stream and writes a preamble, then both sides run the QSMP handshake on
// it framed exactly as on TCP (21-byte header, then msglen bytes; package
// handshake's machines, unchanged):
//
//	preamble: version 0x01 ‖ variant (0x01 QSMS, 0x02 QSMD) ‖ [initiator key id (16), QSMD]
//
// The QSMD listener looks up the key id with Config.PeerKeys (it never
// tries a list of keys). A handshake failure ends the QUIC connection with
// CodeHandshake and the C code's error name as the reason.
//
// After the handshake every record is a datagram-profile record
// (docs/DATAGRAM.md) behind one prefix byte that names its kind and its
// epoch's parity and is part of the record's AD:
//
//	QUIC DATAGRAM frame:  0x04|E ‖ header ‖ ciphertext ‖ tag     data (flag 0x04)
//	stream frame:         0x05|E ‖ header ‖ ciphertext ‖ tag     control
//
// (E = 0x80 for odd epochs.) One Write is one record is one DATAGRAM
// frame; one Read returns one record. Control records travel on the
// stream, reliably and in order: "ready" (flag 0x0E, one byte 0x01), rekey
// messages (flag 0x12: type ‖ LE64(epoch) ‖ [token]), the asymmetric
// ratchet's request and response (flags 0x10 and 0x11: LE32 offset ‖ a
// fragment of at most 16 KiB of LE64(epoch) ‖ payload, fragments back to
// back) and the close (flag 0x14, one code byte, 0 for a normal close).
// Both share the direction's sequence counter; datagrams are checked by
// the acceptance window (Config.WindowSize), control records must come in
// increasing order.
//
// # Keys and the QUIC binding
//
// Each epoch's datagram secret (Session.DatagramSecret for epoch 0, then
// record.RatchetState.Next's after each ratchet, symmetric or asymmetric)
// is bound to the QUIC connection before any key is derived (BindSecret):
//
//	DS' = cSHAKE(rate, X = DS ‖ TLS-Exporter("EXPORTER-qsmp-go datagram v1", "", 32),
//	             N = "qsmp-go quic v1", S = "")
//	K ‖ B = record.DatagramKeys(DS', direction, epoch)
//
// Right after the handshake both sides send "ready" under these keys and
// wait for the peer's; a session whose handshake was relayed between two
// QUIC connections fails here with ErrBinding, and a record moved to
// another QUIC connection never authenticates there.
//
// # What TLS provides here, and what it does not
//
// QUIC always runs TLS 1.3. By default a Listener presents an ephemeral
// self-signed certificate (ECDSA P-256, made at Listen, never stored) and
// a client verifies nothing; ALPN is "qsmp". This TLS therefore gives
// confidentiality and integrity of the QUIC packets against passive
// observers and off-path attackers (QSMP headers, sequence numbers and the
// handshake are hidden from them), QUIC's own anti-amplification limit and
// its packet-level replay protection. It does NOT authenticate the listener:
// anyone on the path can terminate TLS with a certificate of their own.
// That is safe ONLY because QSMP authenticates the peer (the listener's
// signature; in QSMD both) and the exporter binding above ties every record
// key to this one TLS session: a man in the middle who relays the QSMP
// handshake between two TLS sessions ends up with two QUIC connections
// whose keys differ, and the ready check fails on both sides. The
// confidentiality and authenticity of the application data rest on QSMP
// alone (post-quantum KEM and signature), never on the unauthenticated TLS.
// An on-path attacker can still end the QUIC connection (a QUIC close or
// reset), as on any network: Read then reports ErrConnectionLost, never
// io.EOF, which needs the authenticated close record. Config.TLSConfig may
// add real certificates and verification on top.
//
// # quic-go's queues
//
// The largest record is what quic-go lets one DATAGRAM frame carry now
// (quic.DatagramTooLargeError's MaxDatagramPayloadSize, from the path MTU)
// less the record overhead (prefix, 21-byte header, 32- or 64-byte tag):
// MaxWrite reports it, Write refuses more with a *MessageTooLargeError
// naming it. quic-go's send queue holds 32 frames and SendDatagram blocks
// while it is full (congestion control); Write honours its deadline around
// that wait (a timed-out record may still leave). quic-go's receive queue
// holds 128 frames and drops silently beyond; each Conn drains it at once
// in a goroutine of its own into a bounded queue (Config.ReceiveQueue) and
// counts what it drops there (Stats.QueueDrops). Read verifies records
// (window pre-check, time, tag, window) as it takes them.
//
// # Close and rekey
//
// Close writes the close record on the stream, finishes the stream, waits
// (at most Config.CloseTimeout) until the peer finishes its side, which it
// does as soon as it reads the close record, then closes the QUIC
// connection with CodeClosed. The peer's Read returns what is queued, then
// io.EOF once the QUIC connection is gone (or CloseTimeout after the close
// record, whichever comes first). Rekey runs QSMP's symmetric ratchet and
// RatchetAsymmetric QSMD's asymmetric one on the stream (see those
// methods), and a symmetric ratchet starts by itself after
// Config.RekeyAfterRecords, RekeyAfterBytes or RekeyAfterTime; the previous
// epoch's receive keys stay for Config.RekeyGrace after the peer is seen on
// the new epoch, and a side starts a ratchet only once they are gone.
//
// # Goroutines
//
// A Conn runs two goroutines (the datagram drain and the stream reader),
// at most one sender waiting on quic-go for a Write with a deadline, and,
// briefly, the start of an automatic rekey (so that Write never waits for
// the ratchet); a
// Listener runs one accept loop and one goroutine per handshake in progress
// (at most Config.MaxHandshakes). Close waits for all of them.
package quicx
