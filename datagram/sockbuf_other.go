//go:build !linux

package datagram

import "net"

// receiveBuffer returns the kernel receive buffer of pc in bytes, or 0 if
// unknown (always, on this platform).
func receiveBuffer(net.PacketConn) int { return 0 }
