package datagram

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
)

// capturePC is a net.PacketConn for driving an endpoint by hand: reads
// block until Close, and writes are recorded. Tests feed datagrams straight
// to endpoint.handle with any source address.
type capturePC struct {
	local  net.Addr
	mu     sync.Mutex
	out    []sent
	bytes  map[netip.AddrPort]int
	closed chan struct{}
	once   sync.Once
}

type sent struct {
	to   netip.AddrPort
	data []byte
}

func newCapturePC(local string) *capturePC {
	return &capturePC{
		local:  net.UDPAddrFromAddrPort(netip.MustParseAddrPort(local)),
		bytes:  make(map[netip.AddrPort]int),
		closed: make(chan struct{}),
	}
}

func (p *capturePC) ReadFrom([]byte) (int, net.Addr, error) {
	<-p.closed
	return 0, nil, net.ErrClosed
}

func (p *capturePC) WriteTo(b []byte, to net.Addr) (int, error) {
	select {
	case <-p.closed:
		return 0, net.ErrClosed
	default:
	}
	ap, ok := addrPortOf(to)
	if !ok {
		return 0, net.InvalidAddrError("bad address")
	}
	p.mu.Lock()
	p.out = append(p.out, sent{ap, append([]byte(nil), b...)})
	p.bytes[ap] += len(b)
	p.mu.Unlock()
	return len(b), nil
}

func (p *capturePC) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *capturePC) LocalAddr() net.Addr              { return p.local }
func (p *capturePC) SetDeadline(time.Time) error      { return nil }
func (p *capturePC) SetReadDeadline(time.Time) error  { return nil }
func (p *capturePC) SetWriteDeadline(time.Time) error { return nil }
func (p *capturePC) sentTo(a netip.AddrPort) (n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes[a]
}

// take returns and forgets the datagrams sent to a.
func (p *capturePC) take(a netip.AddrPort) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var got [][]byte
	rest := p.out[:0]
	for _, s := range p.out {
		if s.to == a {
			got = append(got, s.data)
		} else {
			rest = append(rest, s)
		}
	}
	p.out = rest
	return got
}

// fragments cuts message idx into fragment datagrams of the given payload.
func fragments(msg []byte, idx uint8, receiver, sender uint64, cookie []byte, keyID *[16]byte, payload int) [][]byte {
	var out [][]byte
	for off := 0; off < len(msg); off += payload {
		end := min(off+payload, len(msg))
		f := wire.Fragment{
			Receiver: receiver, Sender: sender, Message: idx, Length: uint32(len(msg)),
			Offset: uint32(off), Cookie: cookie, InitiatorKeyID: keyID, Data: msg[off:end],
		}
		out = append(out, f.Append(nil))
	}
	return out
}

// reassemble rebuilds message idx from fragment datagrams (it ignores
// other kinds), returning the sender id too; ok is false if incomplete.
func reassemble(t testing.TB, dgs [][]byte, idx uint8) (msg []byte, sender uint64, ok bool) {
	t.Helper()
	var have []bool
	for _, d := range dgs {
		f, err := wire.ParseFragment(d)
		if err != nil || f.Message != idx {
			continue
		}
		if msg == nil {
			msg = make([]byte, f.Length)
			have = make([]bool, f.Length)
		}
		copy(msg[f.Offset:], f.Data)
		for i := range f.Data {
			have[int(f.Offset)+i] = true
		}
		sender = f.Sender
	}
	for _, h := range have {
		if !h {
			return nil, 0, false
		}
	}
	return msg, sender, msg != nil
}
