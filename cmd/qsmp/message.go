package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// Demo messages carry what the receiving application needs to check them:
//
//	dir (1) ‖ seq (8, big-endian) ‖ filler ‖ checksum (8)
//
// dir is 'C' for client to server and 'S' for server to client, so a
// record reflected back to its sender is caught; the checksum is the first 8
// bytes of SHA-256 over everything before it; the filler is derived from
// seq, so the whole message is predictable.
const (
	msgHeader   = 1 + 8
	msgChecksum = 8
	// minMessageSize is the smallest --size.
	minMessageSize = msgHeader + msgChecksum
)

const (
	dirClient = 'C'
	dirServer = 'S'
)

// makeMessage writes message seq of direction dir into b (len(b) is the
// size).
func makeMessage(b []byte, dir byte, seq uint64) {
	b[0] = dir
	binary.BigEndian.PutUint64(b[1:], seq)
	body := b[msgHeader : len(b)-msgChecksum]
	x := seq*0x9e3779b97f4a7c15 + uint64(dir)
	for i := range body {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		body[i] = byte(x)
	}
	sum := sha256.Sum256(b[:len(b)-msgChecksum])
	copy(b[len(b)-msgChecksum:], sum[:msgChecksum])
}

// receiver checks the messages of one direction as the application sees
// them: each of the n sequence numbers must arrive at most once, intact.
type receiver struct {
	dir  byte
	n    uint64
	size int
	echo bool // messages arrive with echoPrefix in front

	mu         sync.Mutex
	seen       []uint64 // bitmap of delivered sequence numbers
	delivered  int64
	bytes      int64
	duplicates int64
	corrupted  int64 // wrong size, checksum, direction or prefix
	outOfRange int64 // a sequence number never sent
	progress   chan struct{}
}

func newReceiver(dir byte, n uint64, size int, echo bool) *receiver {
	return &receiver{dir: dir, n: n, size: size, echo: echo, seen: make([]uint64, (n+63)/64), progress: make(chan struct{}, 1)}
}

// accept checks one message as delivered to the application.
func (r *receiver) accept(msg []byte) {
	defer func() {
		select {
		case r.progress <- struct{}{}:
		default:
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.echo {
		if !bytes.HasPrefix(msg, []byte(echoPrefix)) {
			r.corrupted++
			return
		}
		msg = msg[len(echoPrefix):]
	}
	if len(msg) != r.size || msg[0] != r.dir {
		r.corrupted++
		return
	}
	sum := sha256.Sum256(msg[:len(msg)-msgChecksum])
	if !bytes.Equal(sum[:msgChecksum], msg[len(msg)-msgChecksum:]) {
		r.corrupted++
		return
	}
	seq := binary.BigEndian.Uint64(msg[1:])
	if seq >= r.n {
		r.outOfRange++
		return
	}
	if r.seen[seq/64]&(1<<(seq%64)) != 0 {
		r.duplicates++
		return
	}
	r.seen[seq/64] |= 1 << (seq % 64)
	r.delivered++
	r.bytes += int64(len(msg))
}

// receiverCounts is a snapshot of a receiver.
type receiverCounts struct {
	Delivered  int64 `json:"delivered"`
	Bytes      int64 `json:"bytes"`
	Duplicates int64 `json:"duplicates"`
	Corrupted  int64 `json:"corrupted"`
	OutOfRange int64 `json:"out_of_range"`
}

func (r *receiver) counts() receiverCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return receiverCounts{Delivered: r.delivered, Bytes: r.bytes, Duplicates: r.duplicates, Corrupted: r.corrupted, OutOfRange: r.outOfRange}
}
