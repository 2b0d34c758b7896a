package bench

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// relay forwards datagrams between one client and a server for links whose
// API binds its own sockets: the client sends to front and the relay passes
// its datagrams on from back to the server; the server's answers to back go
// out of front to the last client address seen. With front and back being
// the harness's sockets, netsim-wrapped under loss, faults apply in both
// directions.
type relay struct {
	front, back net.PacketConn
	wg          sync.WaitGroup
	once        sync.Once
	stopped     atomic.Bool
}

func startRelay(front, back net.PacketConn, server net.Addr) *relay {
	r := &relay{front: front, back: back}
	var mu sync.Mutex
	var clientAddr net.Addr
	r.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				if !r.stopped.Load() && isTransient(err) {
					continue
				}
				return
			}
			mu.Lock()
			clientAddr = from
			mu.Unlock()
			_, _ = back.WriteTo(buf[:n], server)
		}
	})
	r.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := back.ReadFrom(buf)
			if err != nil {
				if !r.stopped.Load() && isTransient(err) {
					continue
				}
				return
			}
			mu.Lock()
			to := clientAddr
			mu.Unlock()
			if to != nil {
				_, _ = front.WriteTo(buf[:n], to)
			}
		}
	})
	return r
}

// stop ends both forwarding goroutines and waits for them; the sockets stay
// open (the harness closes them).
func (r *relay) stop() {
	r.once.Do(func() {
		r.stopped.Store(true)
		past := time.Unix(1, 0)
		_ = r.front.SetReadDeadline(past)
		_ = r.back.SetReadDeadline(past)
		r.wg.Wait()
	})
}
