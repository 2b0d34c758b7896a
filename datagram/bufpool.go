package datagram

import (
	"math/bits"
	"sync"
)

// Buffers for datagrams and plaintexts come from shared pools by size
// class (2 KiB, 4 KiB, ... 64 KiB), not from pools of each endpoint: a
// sync.Pool stays referenced for two garbage collections after its last
// use, and would keep a closed endpoint and its sessions alive with it.
const (
	minBufShift = 11 // 2 KiB
	maxBufShift = 16 // 64 KiB: the largest MaxPayload fits
)

// bufClasses holds *[]byte of 1<<(minBufShift+i) bytes. A buffer travels
// with its *[]byte (the receive queue holds them too), so that taking and
// returning one costs a pool operation each and allocates nothing.
var bufClasses [maxBufShift - minBufShift + 1]sync.Pool

// bufClass returns the class of buffers holding n bytes.
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns an empty pooled buffer of at least MaxPayload bytes.
func (ep *endpoint) getBuf() *[]byte {
	c := bufClass(ep.cfg.MaxPayload)
	if bp, _ := bufClasses[c].Get().(*[]byte); bp != nil {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, 1<<(minBufShift+c))
	return &b
}

// putBuf returns a buffer from getBuf (grown or not) to its pool.
func (ep *endpoint) putBuf(bp *[]byte) {
	n := cap(*bp)
	if n < 1<<minBufShift || n > 1<<maxBufShift || n&(n-1) != 0 {
		return // not one of ours: let it go
	}
	bufClasses[bufClass(n)].Put(bp)
}
