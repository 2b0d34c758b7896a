package datagram

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// stallGates holds the read gates of every socket of ep while write runs
// and the datagrams it sent reach the sockets, so that the next reads
// bring in several batches at once and start helper readers.
func stallGates(ep *endpoint, write func()) {
	for _, s := range ep.socks {
		s.gate.mu.Lock()
	}
	defer func() {
		for _, s := range ep.socks {
			s.gate.mu.Unlock()
		}
	}()
	write()
	time.Sleep(20 * time.Millisecond)
}

// helped sums the chunks the helper readers of ep's sockets took.
func helped(ep *endpoint) uint64 {
	var n uint64
	for _, s := range ep.socks {
		n += s.gate.helped.Load()
	}
	return n
}

// gateIdle reports, for a socket nobody sends to, whether its read gate
// is back at rest, or what is left over: no helper running, no chunk
// queued, every ticket done, the primary reader in its read with one read
// state and every other state free, and the bounds of the states and the
// helpers' spare readers kept.
func gateIdle(s *sock) error {
	g := &s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.helpers != 0:
		return fmt.Errorf("%d helpers running", g.helpers)
	case len(g.chunks) != 0 || g.done != g.next:
		return fmt.Errorf("%d chunks queued, tickets done %d of %d", len(g.chunks), g.done, g.next)
	case !g.reading || len(g.free) != g.states-1:
		return fmt.Errorf("reading %v, %d of %d read states free", g.reading, len(g.free), g.states)
	case g.states > maxReadStates || len(g.readers) > maxSockHelpers:
		return fmt.Errorf("%d read states, %d spare readers", g.states, len(g.readers))
	}
	for _, st := range g.free {
		if st.refs != 0 {
			return fmt.Errorf("a free read state has %d chunks outstanding", st.refs)
		}
	}
	for _, r := range g.readers {
		if len(r.todo) != 0 || r.nruns != 0 || r.npend != 0 || len(r.runs) > s.batch {
			return fmt.Errorf("a spare reader holds %d steps, %d runs in use, %d records, %d runs kept", len(r.todo), r.nruns, r.npend, len(r.runs))
		}
	}
	return nil
}

// TestHelperReadersManySessionsKeepOrder: several sessions write bursts
// into one listener at once, so that the chunks the socket readers share
// hold the records of several sessions interleaved, and runs of each
// session's records are opened by different readers at the same time.
// Each session's records must reach its Read complete and in the order
// they were sent; afterwards every socket's read gate must be at rest (no
// ticket, read state or helper left behind).
func TestHelperReadersManySessionsKeepOrder(t *testing.T) {
	twoProcs(t)
	l, cli := goodputListener(t, false)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const sessions, burst, maxRounds = 3, 70, 30
	cs, ss := make([]*Conn, sessions), make([]*Conn, sessions)
	for i := range sessions {
		cs[i], ss[i] = dialLoopback(t, ctx, l, "udp4", cli)
		defer cs[i].Close()
	}
	// Each session's reader checks the order and stops at the total, once
	// it is known.
	totals := make([]chan uint64, sessions)
	errs := make(chan error, sessions)
	for i, s := range ss {
		totals[i] = make(chan uint64, 1)
		go func() {
			buf := make([]byte, 2*goodputSize)
			limit := ^uint64(0)
			for n := uint64(0); n < limit; {
				select {
				case limit = <-totals[i]:
					continue
				default:
				}
				s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				k, err := s.Read(buf)
				if err != nil {
					if ctx.Err() != nil {
						errs <- fmt.Errorf("session %d: %d records read: %v", i, n, err)
						return
					}
					continue
				}
				if got := binary.BigEndian.Uint64(buf[:k]); got != n {
					errs <- fmt.Errorf("session %d: record %d where %d was due", i, got, n)
					return
				}
				n++
			}
			errs <- nil
		}()
	}
	msg := make([]byte, goodputSize)
	var sent uint64 // per session
	rounds := 0
	for ; rounds < maxRounds && (rounds < 3 || helped(l.ep) == 0); rounds++ {
		stallGates(l.ep, func() {
			// The sessions' records interleave on the wire.
			for range burst {
				for _, c := range cs {
					binary.BigEndian.PutUint64(msg, sent)
					if _, err := c.Write(msg); err != nil {
						t.Error(err)
					}
				}
				sent++
			}
		})
		if t.Failed() {
			break
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			in := uint64(0)
			for _, s := range ss {
				in += s.Stats().RecordsIn
			}
			if in >= sessions*sent {
				break
			}
		}
	}
	for i := range ss {
		totals[i] <- sent
	}
	for range ss {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	if helped(l.ep) == 0 {
		t.Fatalf("%d rounds: no helper reader took a chunk", rounds)
	}
	t.Logf("%d rounds of %d records from each of %d sessions; helpers took %d chunks", rounds, burst, sessions, helped(l.ep))
	for i, s := range l.ep.socks {
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if err = gateIdle(s); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("socket %d: %v", i, err)
		}
	}
}

// TestHelperReadersClose: the listener, its sessions and the clients are
// closed while helper readers are at work on a burst (opening chunks,
// waiting for their turn, reading). Every Close must return, and every
// reader, helpers included, must end (the package's TestMain fails on a
// goroutine left behind).
func TestHelperReadersClose(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	const rounds, sessions, burst = 4, 2, 150
	busy := 0
	for round := range rounds {
		l, cli := goodputListener(t, false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cs, ss := make([]*Conn, sessions), make([]*Conn, sessions)
		for i := range sessions {
			cs[i], ss[i] = dialLoopback(t, ctx, l, "udp4", cli)
		}
		cancel()
		msg := make([]byte, goodputSize)
		stallGates(l.ep, func() {
			for i := range burst {
				for _, c := range cs {
					binary.BigEndian.PutUint64(msg, uint64(i))
					c.Write(msg)
				}
			}
		})
		// Close once a helper is at work (or soon after the release).
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if l.ep.helpers.Load() > 0 {
				busy++
				break
			}
			runtime.Gosched()
		}
		var wg sync.WaitGroup
		closed := make(chan struct{})
		// Round by round a different order: sessions first, listener first.
		if round%2 == 0 {
			for i := range sessions {
				wg.Go(func() { ss[i].Close() })
			}
			wg.Go(func() { l.Close() })
		} else {
			wg.Go(func() { l.Close() })
			for i := range sessions {
				wg.Go(func() { ss[i].Close() })
			}
		}
		for _, c := range cs {
			wg.Go(func() { c.Close() })
		}
		go func() {
			wg.Wait()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("round %d: Close did not return\n%s", round, buf[:runtime.Stack(buf, true)])
		}
		select {
		case <-l.ep.readDone:
		default:
			t.Fatalf("round %d: the listener's readers still run after Close", round)
		}
		for _, s := range l.ep.socks {
			if n := s.gate.helpers; n != 0 {
				t.Fatalf("round %d: %d helpers counted after Close", round, n)
			}
		}
		if n := l.ep.helpers.Load(); n != 0 {
			t.Fatalf("round %d: the endpoint counts %d helpers after Close", round, n)
		}
	}
	t.Logf("%d of %d rounds closed with a helper at work", busy, rounds)
}

// flakyPC fails every other read with a transient error (not a timeout,
// not a closed socket) once failing is set.
type flakyPC struct {
	net.PacketConn
	failing atomic.Bool
	n       atomic.Int64
	failed  atomic.Int64
}

var errFlaky = errors.New("flaky read")

func (p *flakyPC) ReadFrom(b []byte) (int, net.Addr, error) {
	if p.failing.Load() && p.n.Add(1)%2 == 0 {
		p.failed.Add(1)
		return 0, nil, errFlaky
	}
	return p.PacketConn.ReadFrom(b)
}

// TestGateReadErrorsKeepReadState: every failed read hands its read state
// back and takes no ticket. A socket whose reads keep failing now and then
// goes on reading with the one read state it had (a state kept by a failed
// read would be replaced, up to the limit of 4, and the socket would then
// stall), and its records still arrive.
func TestGateReadErrorsKeepReadState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 53})
		srv, cli := pairConfigs(t, false)
		pc := &flakyPC{PacketConn: listenPC(t, n, "127.0.0.1:0")}
		p := wrappedPair(t, n, srv, cli, pc)
		defer p.close()
		pc.failing.Store(true)
		for i := range 3 * maxReadStates {
			exchange(t, p.server, p.client, fmt.Sprint("record ", i))
		}
		pc.failing.Store(false)
		time.Sleep(10 * time.Millisecond) // past a failed read's pause
		synctest.Wait()                   // the client's reader is back in its read
		if pc.failed.Load() < maxReadStates {
			t.Fatalf("%d reads failed: the test tests nothing", pc.failed.Load())
		}
		s := p.client.sock()
		if err := gateIdle(s); err != nil {
			t.Fatal(err)
		}
		if s.gate.states != 1 {
			t.Fatalf("%d read states made after %d failed reads, want 1", s.gate.states, pc.failed.Load())
		}
	})
}
