// Package batchio gives the UDP carrier high-throughput socket I/O: many
// datagrams per system call and, where the kernel has them, UDP segmentation
// offload on send and receive coalescing on receive.
//
// On Linux a Conn over a *net.UDPConn reads with recvmmsg and writes with
// sendmmsg (through golang.org/x/sys/unix on the socket's syscall.RawConn,
// so the runtime poller still parks the goroutine and deadlines and Close
// work as on the net.UDPConn). When the kernel allows it, a Conn also:
//
//   - sends each run of consecutive equal-size datagrams to one address as
//     a single UDP GSO super-datagram (a UDP_SEGMENT control message; the
//     kernel or the NIC cuts it), straight from the callers' buffers;
//   - turns UDP_GRO on, so the kernel may deliver several datagrams from one
//     sender coalesced in one buffer, and cuts them back apart at the
//     segment size the kernel reports (the last segment may be shorter).
//
// A kernel that refuses a GSO send makes the Conn turn GSO off and send the
// same datagrams again, unsegmented; callers see no difference. Options can
// turn GSO, GRO or the system calls themselves off, and every other platform
// and every net.PacketConn that is not a *net.UDPConn uses plain
// ReadFrom/WriteTo loops with the same results.
//
// Messages carry netip.AddrPort addresses and caller-owned buffers, so the
// steady state allocates nothing per datagram (golang.org/x/net's
// ipv4.PacketConn.ReadBatch allocates a net.UDPAddr for every datagram
// read; the benchmark compares the two).
//
// ListenReusePort opens several sockets on one address with SO_REUSEPORT,
// so the kernel spreads a server's flows, hashed by 4-tuple, over one reader
// goroutine per socket and so over every core.
package batchio
