//go:build linux

package batchio

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// slotSize is one GRO receive buffer: the largest coalesced payload.
	slotSize = 1 << 16
	// groSlotsMax bounds the GRO receive buffers of a Conn.
	groSlotsMax = 16
	// readOOB is the control space per received datagram: a UDP_GRO
	// message and room for others someone else may have turned on.
	readOOB = 128
	// maxSegments is the most datagrams in one payload the kernel hands
	// a GRO socket: a GSO send over loopback arrives whole, and kernels
	// since 6.13 take up to 128 datagrams per send (UDP_MAX_SEGMENTS; GRO
	// from a network device coalesces at most 64).
	maxSegments = 128
	// maxSendSegments is the most datagrams in one GSO send of ours
	// (UDP_MAX_SEGMENTS on kernels before 6.13).
	maxSendSegments = 64
	// maxGSOBytes is the largest GSO payload: the largest UDP payload over
	// IPv4 (65535 - 20 - 8).
	maxGSOBytes = 65507
)

// sysConn is the Linux recvmmsg/sendmmsg engine of a Conn.
type sysConn struct {
	rc     syscall.RawConn
	family int // unix.AF_INET or unix.AF_INET6
	batch  int
	gro    bool
	gso    atomic.Bool

	// Read side, guarded by Conn.rmu.
	rh     []unix.Mmsghdr
	riov   []unix.Iovec
	rname  []unix.RawSockaddrInet6
	roob   []byte
	rcount int
	rn     int
	rerrno syscall.Errno
	nowait bool // the read returns EAGAIN rather than wait
	// saturated: the last read filled every header it offered.
	saturated bool
	readFn    func(uintptr) bool
	arena     []byte     // GRO: the receive buffers
	slots     []segments // GRO: what the last read brought
	nslots    int
	cur       int

	// Write side, guarded by Conn.wmu.
	wh      []unix.Mmsghdr
	wiov    []unix.Iovec
	wname   []unix.RawSockaddrInet6
	woob    []byte
	wfirst  []int  // index of each header's first message
	wseg    []bool // whether a header is a GSO send
	wfrom   int
	wto     int
	wn      int
	werrno  syscall.Errno
	writeFn func(uintptr) bool

	// Statistics, for tests.
	groCoalesced atomic.Uint64 // payloads that held more than one datagram
	gsoSends     atomic.Uint64 // GSO sends the kernel took
	gsoRefused   atomic.Uint64 // GSO sends the kernel refused
}

// newSys sets up recvmmsg/sendmmsg on uc, or returns nil if it cannot.
func newSys(uc *net.UDPConn, batch int, o options) *sysConn {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var family int
	var famErr error
	var gso, gro bool
	err = rc.Control(func(fd uintptr) {
		family, famErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if !o.noGSO {
			_, e := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
			gso = e == nil
		}
		if o.noGRO {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 0)
		} else {
			gro = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
		}
	})
	if err != nil || famErr != nil || (family != unix.AF_INET && family != unix.AF_INET6) {
		return nil
	}
	s := &sysConn{rc: rc, family: family, batch: batch, gro: gro}
	s.gso.Store(gso)
	s.readFn = s.recvmmsg
	s.writeFn = s.sendmmsg

	nr := batch
	if gro {
		nr = min(batch, groSlotsMax)
		if o.groBuffers > 0 {
			nr = min(nr, o.groBuffers)
		}
	}
	s.rh = make([]unix.Mmsghdr, nr)
	s.riov = make([]unix.Iovec, nr)
	s.rname = make([]unix.RawSockaddrInet6, nr)
	for i := range s.rh {
		h := &s.rh[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.rname[i]))
		h.Iov = &s.riov[i]
		h.SetIovlen(1)
	}
	if gro {
		s.arena = make([]byte, nr*slotSize)
		s.roob = make([]byte, nr*readOOB)
		s.slots = make([]segments, nr)
		for i := range s.rh {
			s.riov[i].Base = &s.arena[i*slotSize]
			s.riov[i].SetLen(slotSize)
			s.rh[i].Hdr.Control = &s.roob[i*readOOB]
		}
	}

	s.wh = make([]unix.Mmsghdr, batch)
	s.wname = make([]unix.RawSockaddrInet6, batch)
	s.woob = make([]byte, batch*gsoSpace)
	s.wfirst = make([]int, batch)
	s.wseg = make([]bool, batch)
	s.wiov = make([]unix.Iovec, min(batch*maxSendSegments, MaxBatch))
	return s
}

func (s *sysConn) caps() Caps {
	return Caps{MMsg: true, GSO: s.gso.Load(), GRO: s.gro}
}

// recvmmsg is the RawConn.Read callback.
func (s *sysConn) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rh[0])), uintptr(s.rcount), 0, 0, 0)
		switch e {
		case 0:
			s.rn = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if s.nowait {
				s.rerrno = e
				return true
			}
			return false
		default:
			s.rerrno = e
			return true
		}
	}
}

// recv reads up to k datagrams into the first k headers; with nowait it
// returns ErrWouldBlock rather than wait for one.
func (s *sysConn) recv(k int, nowait bool) (int, error) {
	s.rcount, s.rn, s.rerrno, s.nowait, s.saturated = k, 0, 0, nowait, false
	if err := s.rc.Read(s.readFn); err != nil {
		return 0, err
	}
	s.saturated = s.rerrno == 0 && s.rn == k
	if s.rerrno == unix.EAGAIN {
		return 0, ErrWouldBlock
	}
	if s.rerrno != 0 {
		return 0, os.NewSyscallError("recvmmsg", s.rerrno)
	}
	return s.rn, nil
}

// maxRead is the most datagrams one recvmmsg brings in.
func (s *sysConn) maxRead() int {
	if s.gro {
		return len(s.rh) * maxSegments
	}
	return len(s.rh)
}

// buffered reports whether the last GRO read left datagrams to hand out.
func (s *sysConn) buffered() bool { return s.cur < s.nslots }

func (s *sysConn) readBatch(msgs []Message, view, nowait bool) (int, error) {
	if s.gro {
		return s.readGRO(msgs, view, nowait)
	}
	k := min(len(msgs), len(s.rh))
	for i := range k {
		setIov(&s.riov[i], msgs[i].Buf)
		s.rh[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	n, err := s.recv(k, nowait)
	for i := range k {
		s.riov[i].Base = nil // keep no caller buffer alive
	}
	if err != nil {
		return 0, err
	}
	for i := range n {
		m := &msgs[i]
		m.N = min(int(s.rh[i].Len), len(m.Buf))
		m.Addr = fromSockaddr(&s.rname[i], s.rh[i].Hdr.Namelen)
	}
	return n, nil
}

// readGRO hands out what the last read left, or reads into the GRO buffers
// and cuts what arrived into datagrams (copies, or with view slices of the
// GRO buffers).
func (s *sysConn) readGRO(msgs []Message, view, nowait bool) (int, error) {
	if n := s.drain(msgs, view); n > 0 {
		return n, nil
	}
	k := min(len(msgs), len(s.rh))
	for i := range k {
		h := &s.rh[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(readOOB)
		h.Flags = 0
	}
	n, err := s.recv(k, nowait)
	if err != nil {
		return 0, err
	}
	for i := range n {
		h := &s.rh[i].Hdr
		p := s.arena[i*slotSize:][:min(int(s.rh[i].Len), slotSize)]
		seg, err := groSegment(s.roob[i*readOOB:][:min(int(h.Controllen), readOOB)])
		if err != nil {
			seg = 0 // cannot happen with a sane kernel; deliver it whole
		}
		s.slots[i].reset(p, seg, fromSockaddr(&s.rname[i], h.Namelen))
		if s.slots[i].ncount > 1 {
			s.groCoalesced.Add(1)
		}
	}
	s.nslots, s.cur = n, 0
	return s.drain(msgs, view), nil
}

// drain hands out datagrams left from the last GRO read.
func (s *sysConn) drain(msgs []Message, view bool) int {
	n := 0
	for s.cur < s.nslots && n < len(msgs) {
		sl := &s.slots[s.cur]
		n += sl.drain(msgs[n:], view)
		if sl.done() {
			sl.p = nil
			s.cur++
		}
	}
	return n
}

// sendmmsg is the RawConn.Write callback.
func (s *sysConn) sendmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.wh[s.wfrom])), uintptr(s.wto-s.wfrom), 0, 0, 0)
		switch e {
		case 0:
			s.wn = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.werrno = e
			return true
		}
	}
}

// send sends headers [from, to) and returns how many the kernel took. A
// kernel error on header from comes back as errno too.
func (s *sysConn) send(from, to int) (int, syscall.Errno, error) {
	s.wfrom, s.wto, s.wn, s.werrno = from, to, 0, 0
	if err := s.rc.Write(s.writeFn); err != nil {
		return 0, 0, err
	}
	if s.werrno != 0 {
		return 0, s.werrno, os.NewSyscallError("sendmmsg", s.werrno)
	}
	return s.wn, 0, nil
}

func (s *sysConn) writeBatch(msgs []Message) (int, error) {
	sent := 0
	probe := -1 // a message being resent unsegmented after a refused GSO send
	for sent < len(msgs) {
		nh, nm, perr := s.pack(msgs[sent:], s.gso.Load())
		if nh == 0 {
			return sent, perr
		}
		retry := false
		for done := 0; done < nh; {
			k, errno, err := s.send(done, nh)
			if err == nil && k <= 0 {
				err = io.ErrNoProgress // sendmmsg never does this
			}
			if err == nil {
				// A resend after a refused GSO send starts with the
				// refused datagrams: now they went through, GSO stays off.
				probe = -1
				for h := done; h < done+k; h++ {
					if s.wseg[h] {
						s.gsoSends.Add(1)
					}
				}
				done += k
				continue
			}
			first := sent + s.wfirst[done]
			if errno != 0 && s.wseg[done] && errno != unix.ENOBUFS && errno != unix.ENOMEM {
				// The kernel refused GSO: turn it off and send these
				// datagrams again, one by one.
				s.gsoRefused.Add(1)
				s.gso.Store(false)
				probe = first
				sent = first
				retry = true
				break
			}
			if probe == first && errno != 0 {
				// The same error without GSO: it was not GSO's fault.
				s.gso.Store(true)
			}
			s.clearIov(nm)
			return first, err
		}
		s.clearIov(nm)
		if retry {
			continue
		}
		sent += nm
		if perr != nil {
			return sent, perr
		}
	}
	return sent, nil
}

// clearIov drops the references to the callers' buffers.
func (s *sysConn) clearIov(n int) {
	for i := range n {
		s.wiov[i].Base = nil
	}
}

// pack lays out the first messages as sendmmsg headers: with gso, each run
// of consecutive datagrams to one address, all as long as the first but
// the last (which may be shorter), becomes one header. It returns the
// number of headers and of messages they hold, and an error for the
// message after them if that one has an unusable address.
func (s *sysConn) pack(msgs []Message, gso bool) (nh, nm int, err error) {
	for nm < len(msgs) && nh < len(s.wh) && nm < len(s.wiov) {
		start := nm
		m := &msgs[nm]
		namelen, err := s.putAddr(&s.wname[nh], m.Addr)
		if err != nil {
			return nh, nm, err
		}
		size := len(m.Buf)
		nm++
		if gso && size > 0 && size <= maxGSOBytes {
			total := size
			for nm < len(msgs) && nm-start < maxSendSegments && nm < len(s.wiov) {
				next := &msgs[nm]
				l := len(next.Buf)
				if next.Addr != m.Addr || l == 0 || l > size || total+l > maxGSOBytes {
					break
				}
				total += l
				nm++
				if l < size {
					break // a short datagram ends the run
				}
			}
		}
		for i := start; i < nm; i++ {
			setIov(&s.wiov[i], msgs[i].Buf)
		}
		h := &s.wh[nh].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.wname[nh]))
		h.Namelen = namelen
		h.Iov = &s.wiov[start]
		h.SetIovlen(nm - start)
		s.wfirst[nh] = start
		s.wseg[nh] = nm-start > 1
		if s.wseg[nh] {
			b := s.woob[nh*gsoSpace:]
			h.Control = &b[0]
			h.SetControllen(putGSO(b, uint16(size)))
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		nh++
	}
	return nh, nm, nil
}

// setIov points v at b.
func setIov(v *unix.Iovec, b []byte) {
	if len(b) == 0 {
		v.Base = nil
		v.SetLen(0)
		return
	}
	v.Base = &b[0]
	v.SetLen(len(b))
}

// putAddr writes ap as a socket address for this socket's family into sa
// and returns its length.
func (s *sysConn) putAddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) (uint32, error) {
	a := ap.Addr()
	if !a.IsValid() {
		return 0, fmt.Errorf("%w: %v", ErrBadAddr, ap)
	}
	if s.family == unix.AF_INET {
		a = a.Unmap()
		if !a.Is4() {
			return 0, fmt.Errorf("%w: %v on an IPv4 socket", ErrBadAddr, ap)
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		putPort(&sa4.Port, ap.Port())
		return unix.SizeofSockaddrInet4, nil
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	putPort(&sa.Port, ap.Port())
	if z := a.Zone(); z != "" {
		sa.Scope_id = zoneIndex(z)
	}
	return unix.SizeofSockaddrInet6, nil
}

// fromSockaddr reads a socket address the kernel wrote (IPv4-mapped
// addresses come back as IPv4); anything else gives the zero AddrPort.
func fromSockaddr(sa *unix.RawSockaddrInet6, namelen uint32) netip.AddrPort {
	switch {
	case sa.Family == unix.AF_INET && namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), getPort(&sa4.Port))
	case sa.Family == unix.AF_INET6 && namelen >= unix.SizeofSockaddrInet6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && a.Is6() {
			a = a.WithZone(zoneName(sa.Scope_id))
		}
		return netip.AddrPortFrom(a, getPort(&sa.Port))
	}
	return netip.AddrPort{}
}

// putPort stores port in network byte order in a sockaddr's port field.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// getPort reads a sockaddr's port field.
func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zones caches IPv6 zone names by interface index and back, as the net
// package does.
var zones struct {
	sync.RWMutex
	byIndex map[uint32]string
	byName  map[string]uint32
}

// zoneName names interface idx (its index in decimal if it has no name).
func zoneName(idx uint32) string {
	zones.RLock()
	name, ok := zones.byIndex[idx]
	zones.RUnlock()
	if ok {
		return name
	}
	name = strconv.FormatUint(uint64(idx), 10)
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		name = ifi.Name
	}
	zones.Lock()
	if zones.byIndex == nil {
		zones.byIndex = make(map[uint32]string)
	}
	zones.byIndex[idx] = name
	zones.Unlock()
	return name
}

// zoneIndex is the index of the interface a zone names (a name or a
// decimal index; 0 if unknown).
func zoneIndex(name string) uint32 {
	zones.RLock()
	idx, ok := zones.byName[name]
	zones.RUnlock()
	if ok {
		return idx
	}
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		idx = uint32(n)
	} else if ifi, err := net.InterfaceByName(name); err == nil {
		idx = uint32(ifi.Index)
	}
	zones.Lock()
	if zones.byName == nil {
		zones.byName = make(map[string]uint32)
	}
	zones.byName[name] = idx
	zones.Unlock()
	return idx
}
