package batchio

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// bigBuffers gives a socket 8 MiB send and receive buffers, past the
// system limit when running as root, so that tests do not lose datagrams.
func bigBuffers(t testing.TB, uc *net.UDPConn) {
	t.Helper()
	const size = 8 << 20
	rc, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rerr, werr error
	if err := rc.Control(func(fd uintptr) {
		rerr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		werr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
	}); err != nil {
		t.Fatal(err)
	}
	if rerr != nil {
		_ = uc.SetReadBuffer(size)
	}
	if werr != nil {
		_ = uc.SetWriteBuffer(size)
	}
}
