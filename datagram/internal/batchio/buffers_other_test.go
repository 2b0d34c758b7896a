//go:build !linux

package batchio

import (
	"net"
	"testing"
)

// bigBuffers asks for 8 MiB socket buffers.
func bigBuffers(_ testing.TB, uc *net.UDPConn) {
	_ = uc.SetReadBuffer(8 << 20)
	_ = uc.SetWriteBuffer(8 << 20)
}
