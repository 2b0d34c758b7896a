//go:build linux

package datagram

import (
	"net"

	"golang.org/x/sys/unix"
)

// receiveBuffer returns the kernel receive buffer of pc in bytes (the
// kernel's figure, which counts its own overhead), or 0 if unknown.
func receiveBuffer(pc net.PacketConn) int {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return 0
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	var n int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		n, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil || gerr != nil {
		return 0
	}
	return n
}
