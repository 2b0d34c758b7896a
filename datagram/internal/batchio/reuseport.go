package batchio

import (
	"context"
	"fmt"
	"net"
	"runtime"
)

// ListenReusePort opens n UDP sockets bound to the same address with
// SO_REUSEPORT, so that the kernel spreads incoming flows over them by a
// hash of each datagram's 4-tuple (one flow always reaches the same socket
// while the set of sockets stays the same). n == 0 means
// runtime.GOMAXPROCS(0). An address with port 0 gets one ephemeral port
// shared by all n sockets. Closing one socket moves its flows to the
// others.
//
// Where the kernel does not balance SO_REUSEPORT sockets (every platform
// but Linux) it returns one socket. On Linux, sockets of the same user that
// already use the port with SO_REUSEPORT share the flows too: give port 0
// or a port no other program of this user binds.
func ListenReusePort(ctx context.Context, network, address string, n int) ([]net.PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("%w: %q", ErrNetwork, network)
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: %d", ErrCount, n)
	}
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if !reusePortBalanced {
		n = 1
	}
	lc := net.ListenConfig{Control: reusePortControl}
	first, err := lc.ListenPacket(ctx, network, address)
	if err != nil {
		return nil, err
	}
	conns := make([]net.PacketConn, 1, n)
	conns[0] = first
	bound := first.LocalAddr().String() // the same IP and the port it got
	for len(conns) < n {
		pc, err := lc.ListenPacket(ctx, network, bound)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, err
		}
		conns = append(conns, pc)
	}
	return conns, nil
}
