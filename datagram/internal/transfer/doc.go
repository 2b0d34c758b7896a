// Package transfer moves one message of known size reliably over an
// unreliable datagram path, without doing any I/O: a Sender cuts the message
// into fragments and decides what to send and resend from the acks and the
// time it is given; a Reassembler rebuilds the message from fragments in any
// order, in memory bounded by a shared Budget, and reports the byte ranges it
// holds for the acks; an RTT estimates the round-trip time and the
// retransmission timeout (RFC 6298). The Sender's congestion control tells
// random loss, which lossy links have without being congested, from
// congestion (a queue in the RTT, a high loss rate), and bounds its window
// by the measured bandwidth-delay product.
//
// Nothing here starts a goroutine, sets a timer or reads the clock: every
// method that needs the time takes it, so the UDP carrier drives it from its
// own loop and tests run in simulated time. No state is kept per byte: the
// Sender keeps a small record per fragment and the Reassembler a set of
// intervals, so messages from 71 bytes to the 1.4 MB of a Classic McEliece
// key cost the same per fragment.
package transfer
