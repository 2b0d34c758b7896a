package datagram

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
)

// fakeMachine is a handshake machine with chosen message sizes and
// recognizable contents, to drive the UDP transport with messages of any
// size (a Classic McEliece key is 1.36 MB). sizes[i] is the message length
// (after the 21-byte header) of handshake packet i; the client sends the
// even ones. Each side checks every byte it receives.
type fakeMachine struct {
	server  bool
	delay   time.Duration // the listener's connect request takes this long
	handle  *atomic.Int64 // counts Handle calls (may be nil)
	sizes   []int
	next    int // index of the next packet received
	done    bool
	starts  int
	aborted atomic.Bool // Abort was called before the handshake completed
}

var errFake = errors.New("fake machine: wrong message")

func fakeFactory(sizes ...int) func(bool, *keyfile.PublicKey) (handshake.Machine, error) {
	return slowFactory(0, nil, sizes...)
}

// slowFactory is fakeFactory with a listener whose connect request takes
// delay (virtual time under synctest), counting Handle calls in calls.
func slowFactory(delay time.Duration, calls *atomic.Int64, sizes ...int) func(bool, *keyfile.PublicKey) (handshake.Machine, error) {
	return func(server bool, _ *keyfile.PublicKey) (handshake.Machine, error) {
		m := &fakeMachine{server: server, sizes: sizes, handle: calls}
		if server {
			m.delay = delay
		}
		if server {
			m.next = 0
		} else {
			m.next = 1
		}
		return m, nil
	}
}

// fakeMessage returns packet i: a header with the flag i+1 and msglen, then
// a pattern of i.
func fakeMessage(i, size int) []byte {
	h := record.Header{Flag: record.Flag(i + 1), MsgLen: uint32(size), Sequence: uint64(i)}
	b := h.Append(make([]byte, 0, record.HeaderSize+size))
	for j := range size {
		b = append(b, byte(j*7+i*13+j>>8))
	}
	return b
}

func (m *fakeMachine) Start() ([]byte, error) {
	m.starts++
	if m.server {
		return nil, nil
	}
	return fakeMessage(0, m.sizes[0]), nil
}

func (m *fakeMachine) Handle(pkt []byte) ([]byte, error) {
	if m.handle != nil && m.server {
		m.handle.Add(1)
	}
	if m.server && m.next == 0 && m.delay > 0 {
		time.Sleep(m.delay)
	}
	if m.done || m.next >= len(m.sizes) {
		return nil, errFake
	}
	if !bytes.Equal(pkt, fakeMessage(m.next, m.sizes[m.next])) {
		return nil, fmt.Errorf("%w: packet %d", errFake, m.next)
	}
	reply := m.next + 1
	m.next += 2
	if reply >= len(m.sizes) { // the peer sent the last packet
		m.done = true
		return nil, nil
	}
	if reply == len(m.sizes)-1 { // we send the last packet
		m.done = true
	}
	return fakeMessage(reply, m.sizes[reply]), nil
}

func (m *fakeMachine) Done() bool { return m.done }

func (m *fakeMachine) Session() *handshake.Session {
	if !m.done {
		return nil
	}
	secret := make([]byte, record.DatagramSecretSize)
	for i := range secret {
		secret[i] = byte(i)
	}
	rtcs := make([]byte, 32)
	for i := range rtcs {
		rtcs[i] = byte(0x80 + i)
	}
	// A stream without ciphers carries the ratchet state: the records and
	// the ratchets use QSMS's sizes.
	st := record.NewStream(nil, nil, record.StreamConfig{RTCS: rtcs, DatagramSecret: secret})
	return &handshake.Session{DatagramSecret: secret, Server: m.server, Stream: st}
}

func (m *fakeMachine) Expect() (record.Flag, int, bool) {
	if m.done || m.next >= len(m.sizes) {
		return 0, 0, false
	}
	return record.Flag(m.next + 1), m.sizes[m.next], true
}

// Abort implements handshake.Machine: it records an abort before Done.
func (m *fakeMachine) Abort() {
	if !m.done {
		m.aborted.Store(true)
	}
}
