//go:build !linux

package batchio

import "syscall"

// reusePortBalanced: elsewhere SO_REUSEPORT does not spread datagrams over
// sockets, so ListenReusePort opens one.
const reusePortBalanced = false

// reusePortControl leaves the socket as it is.
func reusePortControl(string, string, syscall.RawConn) error { return nil }
