//go:build linux

package batchio

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortBalanced: Linux spreads datagrams over SO_REUSEPORT sockets.
const reusePortBalanced = true

// reusePortControl sets SO_REUSEPORT before the socket is bound.
func reusePortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
