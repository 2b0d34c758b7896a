//go:build linux

package batchio

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// errControl reports a control message the kernel should never have
// written: a length shorter than its header or past the buffer, or a
// UDP_GRO message with no room for its value.
var errControl = errors.New("batchio: malformed control message")

// cmsgHdrLen is the aligned size of a cmsghdr: where its data starts.
var cmsgHdrLen = unix.CmsgLen(0)

// cmsgAlign rounds n up to the kernel's control-message alignment (the
// size of a long, which is the size of a pointer on Linux).
func cmsgAlign(n int) int {
	const a = unix.SizeofPtr
	return (n + a - 1) &^ (a - 1)
}

// cmsgLenField reads the length field at the start of a cmsghdr (a
// size_t).
func cmsgLenField(b []byte) uint64 {
	if unix.SizeofPtr == 8 {
		return binary.NativeEndian.Uint64(b)
	}
	return uint64(binary.NativeEndian.Uint32(b))
}

// groSegment finds the UDP_GRO control message in oob, the control data of
// one received datagram, and returns the segment size it gives (0 when
// there is none: the payload is one datagram). It reads the bytes without
// assuming their alignment and never reads past oob.
func groSegment(oob []byte) (int, error) {
	lenSize := unix.SizeofPtr
	for len(oob) >= cmsgHdrLen {
		l := cmsgLenField(oob)
		if l < uint64(cmsgHdrLen) || l > uint64(len(oob)) {
			return 0, errControl
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		data := oob[cmsgHdrLen:l]
		if level == unix.IPPROTO_UDP && typ == unix.UDP_GRO {
			if len(data) < 4 {
				return 0, errControl
			}
			seg := int32(binary.NativeEndian.Uint32(data))
			if seg <= 0 {
				return 0, errControl
			}
			return int(seg), nil
		}
		next := cmsgAlign(int(l))
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return 0, nil
}

// gsoSpace is the control space of one UDP_SEGMENT message.
var gsoSpace = unix.CmsgSpace(2)

// putGSO writes a UDP_SEGMENT control message giving segment size seg at
// the start of b (at least gsoSpace bytes) and returns its length.
func putGSO(b []byte, seg uint16) int {
	clear(b[:gsoSpace])
	l := unix.CmsgLen(2)
	if unix.SizeofPtr == 8 {
		binary.NativeEndian.PutUint64(b, uint64(l))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(l))
	}
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr:], uint32(unix.IPPROTO_UDP))
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr+4:], uint32(unix.UDP_SEGMENT))
	binary.NativeEndian.PutUint16(b[cmsgHdrLen:], seg)
	return gsoSpace
}

// putGRO writes a UDP_GRO control message as the kernel does (for tests
// and the fuzzer) and returns its aligned length.
func putGRO(b []byte, seg int32) int {
	space := unix.CmsgSpace(4)
	clear(b[:space])
	l := unix.CmsgLen(4)
	if unix.SizeofPtr == 8 {
		binary.NativeEndian.PutUint64(b, uint64(l))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(l))
	}
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr:], uint32(unix.IPPROTO_UDP))
	binary.NativeEndian.PutUint32(b[unix.SizeofPtr+4:], uint32(unix.UDP_GRO))
	binary.NativeEndian.PutUint32(b[cmsgHdrLen:], uint32(seg))
	return space
}
