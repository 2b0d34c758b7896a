package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// RawBatch is the most datagrams RawUDPBatched writes or reads in one
// system call.
const RawBatch = 64

// rawBatchBuf is the receive buffer of each datagram of a RawUDPBatched
// read: above the messages' 1,400 bytes, so a larger datagram shows as a
// wrong length rather than as a message.
const rawBatchBuf = 2048

// ErrNoBatchIO reports sockets without batched I/O: netsim's wrapper reads
// and writes one datagram at a time, so RawUDPBatched does not run under
// loss (raw UDP is the baseline there, and every link does one datagram
// per system call on the wrapped sockets).
var ErrNoBatchIO = errors.New("netsim: no batch I/O")

// RawUDPBatched is the batched baseline: plain datagrams, no protection, as
// RawUDP, but sent and received through golang.org/x/net/ipv4's
// PacketConn.WriteBatch and ReadBatch (sendmmsg and recvmmsg on Linux; one
// datagram per call elsewhere), up to RawBatch per system call. It does
// not use UDP segmentation or receive coalescing (GSO, GRO), which
// QSMP/UDP uses on top of sendmmsg and recvmmsg.
//
// Send copies the message into a batch and writes the batch once RawBatch
// messages wait; the pipe's Flush writes a last partial batch. It runs on
// native sockets only: under loss, Lossy reports ErrNoBatchIO and its cells
// are n/a.
type RawUDPBatched struct{}

// Name implements Link.
func (RawUDPBatched) Name() string { return "raw UDP (batched)" }

// Payload implements Link.
func (RawUDPBatched) Payload() int { return UDPPayload }

// Available implements Link.
func (RawUDPBatched) Available() error { return nil }

// Lossy implements Link: ErrNoBatchIO.
func (RawUDPBatched) Lossy() error { return ErrNoBatchIO }

// NoHandshake marks a link without a handshake: Run leaves it out of the
// loopback handshake table.
func (RawUDPBatched) NoHandshake() {}

// BatchedIO marks a link that moves many datagrams per system call on
// native sockets.
func (RawUDPBatched) BatchedIO() {}

// Connect implements Link. client and server must be *net.UDPConn (else
// the error wraps ErrNoBatchIO).
func (RawUDPBatched) Connect(_ context.Context, client, server net.PacketConn) (*Pipe, error) {
	cu, ok := client.(*net.UDPConn)
	su, ok2 := server.(*net.UDPConn)
	if !ok || !ok2 {
		return nil, fmt.Errorf("bench: %w (sockets %T and %T)", ErrNoBatchIO, client, server)
	}
	s := newBatchSender(ipv4.NewPacketConn(cu), su.LocalAddr())
	r := newBatchReceiver(ipv4.NewPacketConn(su))
	return &Pipe{
		Send:  s.send,
		Flush: s.flush,
		Recv:  r.recv,
		Close: func() error { return nil }, // the harness closes the sockets
	}, nil
}

// batchSender gathers messages into a batch and writes it in one
// WriteBatch (fewer if the kernel takes part of it; the rest follows).
type batchSender struct {
	pc   *ipv4.PacketConn
	msgs []ipv4.Message // RawBatch of them, each with one buffer, addressed
	n    int            // messages waiting in msgs[:n]
}

func newBatchSender(pc *ipv4.PacketConn, to net.Addr) *batchSender {
	s := &batchSender{pc: pc, msgs: make([]ipv4.Message, RawBatch)}
	for i := range s.msgs {
		s.msgs[i] = ipv4.Message{Buffers: [][]byte{make([]byte, 0, UDPPayload)}, Addr: to}
	}
	return s
}

// send queues a copy of p and writes the batch once it is full.
func (s *batchSender) send(p []byte) error {
	b := &s.msgs[s.n].Buffers[0]
	*b = append((*b)[:0], p...)
	s.n++
	if s.n == len(s.msgs) {
		return s.flush()
	}
	return nil
}

// transientRetries bounds flush's retries of a full socket buffer
// (ENOBUFS), 100 µs apart: a second without progress is an error.
const transientRetries = 10000

// flush writes every waiting message. A full socket buffer is retried; any
// other error drops the batch (its messages are lost) and is returned.
func (s *batchSender) flush() error {
	defer func() { s.n = 0 }()
	for done, tries := 0, 0; done < s.n; {
		k, err := s.pc.WriteBatch(s.msgs[done:s.n], 0)
		done += k
		if err == nil {
			tries = 0
			continue
		}
		if !isTransient(err) || tries >= transientRetries {
			return err
		}
		tries++
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// batchReceiver reads up to RawBatch datagrams per ReadBatch and hands
// them out one per recv.
type batchReceiver struct {
	pc      *ipv4.PacketConn
	msgs    []ipv4.Message
	n, next int // msgs[next:n] are read and not handed out yet
	r       ctxReader
}

func newBatchReceiver(pc *ipv4.PacketConn) *batchReceiver {
	r := &batchReceiver{pc: pc, msgs: make([]ipv4.Message, RawBatch)}
	arena := make([]byte, RawBatch*rawBatchBuf)
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{arena[i*rawBatchBuf : (i+1)*rawBatchBuf : (i+1)*rawBatchBuf]}
	}
	r.r.set = pc.SetReadDeadline
	return r
}

// recv copies the next datagram into buf, reading a new batch when the
// last one is used up; it returns an error once ctx is done.
func (r *batchReceiver) recv(ctx context.Context, buf []byte) (int, error) {
	for r.next == r.n {
		r.r.arm(ctx)
		n, err := r.pc.ReadBatch(r.msgs, 0)
		if err != nil {
			return 0, err
		}
		r.n, r.next = n, 0
	}
	m := &r.msgs[r.next]
	r.next++
	return copy(buf, m.Buffers[0][:m.N]), nil
}
