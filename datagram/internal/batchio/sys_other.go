//go:build !linux

package batchio

import "net"

// sysConn is the batched engine; other platforms have none, so a Conn uses
// ReadFrom/WriteTo loops.
type sysConn struct{ saturated bool }

func newSys(*net.UDPConn, int, options) *sysConn { return nil }

func (*sysConn) caps() Caps                                   { return Caps{} }
func (*sysConn) readBatch([]Message, bool, bool) (int, error) { return 0, nil }
func (*sysConn) maxRead() int                                 { return 1 }
func (*sysConn) buffered() bool                               { return false }
func (*sysConn) writeBatch([]Message) (int, error)            { return 0, nil }
