// Package datagram carries QSMP over raw UDP: Dial and Listen get two hosts
// from nothing to an authenticated session across a lossy, hostile network,
// and Conn moves records (docs/DATAGRAM.md).
//
// The handshake is the original one, byte for byte (package handshake);
// only its transport is new. Every datagram starts with a 10-byte envelope
// naming the receiver's random 64-bit session id, so one socket serves many
// sessions. A listener first answers a client with a stateless cookie (a MAC
// over its address, port and session id, never larger than the request)
// and creates state only for a client that echoes it: nothing is generated,
// signed or sent in quantity to an address that has not proven it receives
// there, and no plaintext error is ever sent. Handshake messages are cut
// into fragments that fit Config.MaxPayload, acknowledged selectively,
// paced and retransmitted on RTT-derived timers, and reassembled in memory
// bounded per listener; the receiver knows each message's exact size from
// the handshake machine. A message the machine rejects is dropped and
// counted, and the handshake goes on. Key generation, signing and
// decapsulation run on a bounded worker pool, never on the receive
// goroutine; half-open sessions, queued steps and per-prefix handshake
// rates are bounded too.
//
// After the handshake, records use the datagram profile (package record):
// keys per direction and epoch drawn from the handshake's KDF stream, each
// record independently verifiable, the envelope authenticated as part of
// the AD, an anti-replay window per direction. Conn is a net.Conn with
// message semantics; its Close sends an authenticated close record.
// Unauthenticated close and error packets are ignored.
//
// Behind the data runs an authenticated control channel (docs/DATAGRAM.md
// section 7): reliable, fragmented control messages processed exactly
// once, which carry QSMP's symmetric ratchet (Conn.Rekey, and automatic
// rekeys after Config's limits) and QSMD's asymmetric ratchet of any size
// (Conn.RatchetAsymmetric), each moving the session to a new epoch whose
// keys both sides hold before either sends under them; authenticated
// keep-alives, dead-peer detection and an idle timeout; and the validation
// of a peer's new address (roaming) with an encrypted path challenge.
//
// Established sessions hold no goroutine, and with the default Config no
// timer while idle: one goroutine reads each socket (with helper
// goroutines while more is waiting than it keeps up with, which open the
// socket's records on other cores; the records still reach each session in
// the order they arrived), and a session's timer exists only while one of
// its deadlines is set (a handshake, a retransmission, a grace period, a
// keep-alive, a probe).
//
// # QUIC
//
// The network "quic" (also "quic4", "quic6"; Config.Network "quic" for
// DialPacketConn and NewListener) runs the same Conn and Listener with one
// QSMP session per QUIC connection (RFC 9000, quic-go):
// the handshake on the connection's one stream, every record in one QUIC
// DATAGRAM frame (RFC 9221), ratchets and the close on the stream, every
// record key bound to the QUIC connection's TLS exporter (package
// datagram/internal/quicx, docs/DATAGRAM.md "QUIC binding"). The API and
// the errors are those of the UDP carrier; the differences:
//
//   - MaxWrite is what one DATAGRAM frame carries on the current path (from
//     about 1,190 bytes before QUIC's path MTU discovery, more after it),
//     not Config.MaxPayload, which QUIC ignores.
//   - Write blocks while QUIC's congestion control holds quic-go's datagram
//     send queue full (records are congestion-controlled, never
//     retransmitted); the write deadline bounds that wait.
//   - Close sends the close record on the reliable stream and waits (at
//     most 2 s) for the peer to confirm it before it ends the QUIC
//     connection. Listener.Close closes the sessions it accepted, as on
//     UDP.
//   - A QUIC connection that ends without the peer's authenticated close
//     (an on-path attacker can always end one) fails Read and Write with
//     ErrConnectionLost, never io.EOF; after QUIC's idle timeout they fail
//     with ErrIdleTimeout or ErrPeerDead, as below.
//   - A handshake the listener refuses fails at once with
//     ErrHandshakeFailed (QUIC tells the client); one that does not finish
//     in time fails with ErrHandshakeTimeout.
//   - Liveness is QUIC's: Config.IdleTimeout becomes QUIC's idle timeout
//     (quic.Config.MaxIdleTimeout; errors ErrIdleTimeout). Without it,
//     DeadPeerTimeout does (errors ErrPeerDead) and QUIC pings the peer
//     every third of it while nothing else is sent, so that an idle session
//     with a live peer stays up as on UDP; with neither, the idle timeout
//     is a year. Config.KeepAlive sets QUIC's keep-alive period
//     (quic.Config.KeepAlivePeriod). PassiveKeepAlive is not used: QUIC
//     acknowledges what it receives.
//   - Roaming is QUIC's connection migration and NAT rebinding (path
//     validation included).
//   - ReceiveQueue defaults to 1,024 records (quic-go delivers in bursts).
//     MaxHalfOpen bounds the QSMP handshakes in progress on a listener
//     (64 if 0); the cookie, reassembly, key-generation queue and prefix
//     rate fields have no counterpart: QUIC sends at most three times what
//     it received to an unvalidated address, and the QSMP handshake (key
//     generation, signing) starts only once the QUIC handshake has
//     validated the client's address.
//   - QUIC discards a packet that arrives after its sender has seen the
//     gap it left acknowledged (a few round trips later): a record held
//     back that long is lost, never delivered late.
//   - Stats: Drops.Auth includes datagrams too malformed to try a key on
//     (a bad prefix byte or header), as on UDP; the handshake and
//     retransmission counters, keep-alives and path counters stay 0 (QUIC
//     keeps its own); ControlSent and ControlReceived count ratchet
//     messages on the stream. ListenerStats has Established, Failed,
//     HalfOpenFull, AcceptFull, HalfOpen and Sessions.
package datagram
