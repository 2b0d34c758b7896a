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
// timer while idle: one goroutine reads each socket, and a session's timer
// exists only while one of its deadlines is set (a handshake, a
// retransmission, a grace period, a keep-alive, a probe).
package datagram
