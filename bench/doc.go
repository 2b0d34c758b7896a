// Package bench measures qsmp-go against baselines on this machine, in one
// run, and reports the results as a markdown table, JSON and an SVG chart.
//
// It measures three things:
//
//   - Record throughput: seal and open of the stream and datagram record
//     profiles (RCS-256 and RCS-512), next to AES-256-GCM and
//     ChaCha20-Poly1305 with the same 21-byte associated data
//     (MeasureRecord).
//   - Handshakes: for every implemented configuration, QSMS and QSMD run in
//     memory through the handshake state machines, timing the whole exchange
//     and each side's thread CPU time (MeasureHandshake); and the handshake
//     latency and process CPU of each transport over loopback, QSMP next to
//     DTLS 1.2, QUIC and TLS 1.3 (MeasureConnect).
//   - Goodput over loopback for each transport (a Link), clean on plain
//     sockets and under netsim loss (MeasureGoodput).
//
// Every measurement is a function returning a result struct; Run runs the
// selection that Options names and collects them into Results, whose
// Markdown, JSON and SVG methods present them. The command
// bench/cmd/qsmp-bench wraps Run.
//
// This package lives in its own module (github.com/qsmp-go/qsmp/bench) so
// that its baselines (pion/dtls) never become dependencies of qsmp-go.
//
// # Goodput method
//
// Two UDP sockets are bound on 127.0.0.1 with 8 MiB buffers. Without loss
// (the 0% column) the link gets them as they are, plain *net.UDPConn, so
// that every link runs on its own native I/O path: raw UDP one datagram
// per system call, raw UDP (batched) up to RawBatch per sendmmsg and
// recvmmsg (golang.org/x/net/ipv4 WriteBatch and ReadBatch), QSMP/UDP
// (package datagram) sendmmsg with GSO and recvmmsg with GRO, quic-go
// recvmmsg and GSO, pion/dtls one datagram at a time. Under loss (the
// other columns) each socket is wrapped with netsim.Wrap (seeded, so a run
// is repeatable in its fault pattern); the link's handshake runs on the
// clean wrapped sockets, then both wrappers get the loss rate, so loss
// applies to both directions of the data phase (data and, for QUIC,
// acknowledgements). A netsim wrapper reads and writes one datagram per
// system call, so on those columns every link does, and raw UDP (batched)
// is n/a (ErrNoBatchIO): raw UDP is the baseline there. GoodputResult.Sockets
// records which kind a cell ran on, and the report marks each column
// "native" or "netsim".
//
// The sender writes fixed-size messages (1400 bytes; 1100 for QUIC
// datagrams, which must fit one QUIC packet) as fast as the link accepts
// them for a fixed time; a link that buffers messages (raw UDP (batched))
// sends what it holds when the sender stops (Pipe.Flush). The receiver
// counts the messages of the right size it gets; after the sender stops it
// waits until nothing has arrived for a short idle period. Goodput is
// delivered payload bytes divided by the time from the first send to the
// last delivery. Nothing is retransmitted on any of these links (they are
// all datagram services), so under loss the goodput shows how much of the
// offered load arrives, plus, for QUIC, how its congestion controller
// reacts to the loss. At 0% loss the share delivered shows how far the
// receiver keeps up with a sender that is not paced.
//
// Ratios are against raw UDP at the same loss; a link that batches its
// socket I/O (QSMP/UDP, quic-go datagrams: GoodputResult.BatchedIO) is also
// compared with raw UDP (batched), which uses sendmmsg and recvmmsg but not
// GSO and GRO, so a batching link may exceed it.
//
// Links that bind their own sockets (QSMP/QUIC, whose API takes addresses)
// run through a relay whose two sockets are the harness's (wrapped under
// loss); the relay moves one datagram per system call. The loopback
// handshake table (MeasureConnect) uses plain sockets, no netsim. TCP links
// (plain TCP, TLS 1.3, QSMP/TCP) are measured without loss for reference.
// A link that cannot run reports why in its cells ("n/a (not built yet)").
//
// Each cell is the median of several runs, each on a fresh connection, after
// one unrecorded warm-up run per link. Loopback results on a small machine
// vary between runs; other load on the machine (Machine.LoadAvg) lowers
// them.
package bench
