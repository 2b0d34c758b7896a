// Package netsim simulates an unreliable datagram network for tests.
//
// It offers two things:
//
//   - [Network], an in-memory network with no sockets. [Network.Listen] returns
//     net.PacketConn endpoints with *net.UDPAddr addresses (127.0.0.1 by default).
//     Faults are configured per directed link (a default plus overrides, see
//     [Network.SetLink]) and endpoints can change the address their peers see
//     ([Network.Rebind], NAT rebinding).
//   - [Wrap], a net.PacketConn wrapper over any real socket that applies the same
//     faults to the datagrams written through it (WriteTo). Reads pass through; to
//     disturb both directions, wrap both ends.
//
// # Faults
//
// A [Config] describes the faults of a link: independent loss, bursty loss
// ([GilbertElliott]), reordering, duplication, delay with jitter, bit corruption,
// an MTU above which datagrams are dropped, and a bandwidth limit with a bounded
// queue. Each datagram written on a link goes through these steps, in order:
//
//  1. The random draws for the datagram are taken (always the same number of
//     draws, see Determinism) and the Gilbert-Elliott chain takes one step.
//  2. MTU: a datagram longer than MTU bytes is dropped (Stats.TooBig).
//  3. In-flight limit: if MaxInFlight datagrams of the link are already
//     scheduled, the datagram is dropped (Stats.QueueDropped).
//  4. Bandwidth: the link serialises payload bytes at Bandwidth bytes per second
//     (no header overhead is counted). A datagram that arrives while the link is
//     busy waits in a queue; if the bytes already waiting plus its own length
//     exceed QueueLimit it is dropped (Stats.QueueDropped). An idle link always
//     accepts one datagram. Dropped datagrams do not use bandwidth.
//  5. Loss: the datagram is dropped (Stats.Lost) if the independent draw is below
//     Loss or the Gilbert-Elliott chain loses it. Lost datagrams did use bandwidth
//     (they are lost after the bottleneck).
//  6. Corruption: with probability Corrupt one uniformly chosen bit is flipped.
//  7. Timing: the datagram arrives Delay ± Jitter (uniform, never negative) after
//     it left the bandwidth queue. Jitter (or lowering Delay) never reorders: an
//     arrival time earlier than the previous datagram's on the same link is
//     moved up to it. With
//     probability Reorder the datagram is instead held back for ReorderDelay more
//     and is exempt from that ordering rule, so later datagrams overtake it
//     (Stats.Reordered).
//  8. Duplication: with probability Duplicate a second copy (with the same bytes)
//     arrives right after the first (Stats.Duplicated).
//
// # Determinism
//
// Every link has its own random source (math/rand/v2 PCG) seeded from
// Config.Seed, and takes exactly the same draws for every datagram whatever
// happens to it. So the fault decisions for the i-th datagram of a link depend
// only on the seed, the link and i, never on timing or on other links. What
// depends on the clock is only the bandwidth queue and the delivery times; under
// testing/synctest (virtual time) those are reproducible too, so the same seed
// and the same sequence of writes give the same outcome byte for byte.
// In a [Network] a link is seeded from the network seed and the two endpoints'
// local addresses, and ":0" ports are assigned sequentially from 49152, so a
// test that creates its endpoints in the same order is reproducible. A read on
// a Network endpoint at time t first delivers everything due by t, so the
// result does not depend on which goroutine a synctest bubble runs first when
// several wake at the same instant. (Wrap cannot promise that for the reader
// of the real conn underneath.)
//
// # Time and goroutines
//
// The package starts no goroutines of its own. Delayed datagrams are kept in a
// time-ordered queue driven by one time.AfterFunc timer per Network (or per
// Conn), created on first use and stopped when nothing is pending. Create the
// Network (or call Wrap) and do the first write inside a testing/synctest
// bubble to run it on virtual time.
//
// # Memory
//
// Every queue is bounded: the scheduled datagrams of a link (MaxInFlight), the
// bandwidth queue (QueueLimit) and the receive queue of each in-memory endpoint
// (RecvQueue); beyond them datagrams are dropped and counted, as a router or a
// socket buffer would.
package netsim
