package datagram

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/netsim"
)

// dialMany dials the listener from k clients at the given addresses at
// once and returns their errors (connected Conns are closed at the end).
func dialMany(t *testing.T, n *netsim.Network, l *Listener, cli *Config, addrs ...string) []error {
	t.Helper()
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	var conns []*Conn
	var mu sync.Mutex
	for i, a := range addrs {
		pc := listenPC(t, n, a)
		wg.Go(func() {
			c, err := DialPacketConn(context.Background(), pc, l.Addr(), cli)
			errs[i] = err
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	return errs
}

// acceptAll accepts and closes sessions until the listener closes.
func acceptAll(l *Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func TestListenerLimits(t *testing.T) {
	net := func(t *testing.T) *netsim.Network {
		return newNet(t, netsim.Config{Seed: 11, Delay: 5 * time.Millisecond})
	}
	t.Run("queue overflow recovers", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := net(t)
			sizes := []int{3000, 100, 100, 100}
			srv := &Config{newMachine: slowFactory(2*time.Second, nil, sizes...), MaxConcurrentKeyGen: 1, MaxQueuedKeyGen: 1}
			cli := &Config{newMachine: fakeFactory(sizes...)}
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			acceptAll(l)
			for i, err := range dialMany(t, n, l, cli, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0") {
				if err != nil {
					t.Errorf("client %d: %v", i, err)
				}
			}
			st := l.Stats()
			t.Logf("%+v", st)
			if st.QueueFull == 0 || st.Established != 4 {
				t.Fatalf("queue never overflowed or not every client got in: %+v", st)
			}
		})
	})
	t.Run("expired in queue", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := net(t)
			var calls atomic.Int64
			sizes := []int{50, 100, 100, 100}
			srv := &Config{newMachine: slowFactory(40*time.Second, &calls, sizes...), MaxConcurrentKeyGen: 1}
			cli := &Config{newMachine: fakeFactory(sizes...)}
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			acceptAll(l)
			errs := dialMany(t, n, l, cli, "127.0.0.1:0", "127.0.0.1:0")
			for _, err := range errs {
				if !errors.Is(err, ErrHandshakeTimeout) {
					t.Fatalf("dial: %v, want a timeout", err)
				}
			}
			time.Sleep(time.Minute) // the stuck worker finishes
			st := l.Stats()
			if st.Expired != 1 || calls.Load() != 1 || st.HalfOpen != 0 {
				t.Fatalf("expired %d, machine calls %d (want 1 and 1); %+v", st.Expired, calls.Load(), st)
			}
		})
	})
	t.Run("half-open limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := net(t)
			sizes := []int{50, 100, 100, 100}
			srv := &Config{newMachine: slowFactory(3*time.Second, nil, sizes...), MaxHalfOpen: 1}
			cli := &Config{newMachine: fakeFactory(sizes...)}
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			acceptAll(l)
			for i, err := range dialMany(t, n, l, cli, "127.0.0.1:0", "127.0.0.1:0") {
				if err != nil {
					t.Errorf("client %d: %v", i, err)
				}
			}
			if st := l.Stats(); st.HalfOpenFull == 0 || st.Established != 2 {
				t.Fatalf("%+v", st)
			}
		})
	})
	t.Run("prefix rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := net(t)
			sizes := []int{50, 100, 100, 100}
			srv := &Config{newMachine: fakeFactory(sizes...), PrefixRate: 0.2, PrefixBurst: 1}
			cli := &Config{newMachine: fakeFactory(sizes...)}
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			acceptAll(l)
			start := time.Now()
			errs := dialMany(t, n, l, cli, "127.0.7.1:1000", "127.0.7.2:1000", "127.0.8.1:1000")
			for i, err := range errs {
				if err != nil {
					t.Errorf("client %d: %v", i, err)
				}
			}
			st := l.Stats()
			if st.RateLimited == 0 || st.Established != 3 || time.Since(start) < 4*time.Second {
				t.Fatalf("rate limit not applied: %+v after %v", st, time.Since(start))
			}
		})
	})
	t.Run("reassembly budget", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := net(t)
			sizes := []int{3000, 100, 100, 100}
			srv := &Config{newMachine: fakeFactory(sizes...), MaxReassemblyBytes: 5000}
			cli := &Config{newMachine: fakeFactory(sizes...), HandshakeTimeout: 5 * time.Second}
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for _, err := range dialMany(t, n, l, cli, "127.0.0.1:0") {
				if !errors.Is(err, ErrHandshakeTimeout) {
					t.Fatalf("dial with a 15 KB reassembly against a 5 KB budget: %v", err)
				}
			}
			if st := l.Stats(); st.BudgetFull == 0 || st.HalfOpen != 0 || st.Sessions != 0 {
				t.Fatalf("%+v", st)
			}
			if used := l.ep.budget.Used(); used != 0 {
				t.Fatalf("budget still holds %d bytes", used)
			}
		})
	})
	t.Run("half-open deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sizes := []int{3000, 100, 100, 100}
			pc := newCapturePC("127.0.0.1:4433")
			l, err := NewListener(pc, &Config{newMachine: fakeFactory(sizes...)})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			A := netip.MustParseAddrPort("127.0.0.1:5000")
			msg0 := fakeMessage(0, sizes[0])
			req := fragments(msg0, 0, 0, 9, nil, nil, 1000)
			l.ep.handle(req[0], udp(A))
			cr, _ := wire.ParseCookieReply(pc.take(A)[0])
			l.ep.handle(fragments(msg0, 0, 0, 9, cr.Cookie[:], nil, 1000)[0], udp(A))
			if st := l.Stats(); st.HalfOpen != 1 || l.ep.budget.Used() == 0 {
				t.Fatalf("%+v", st)
			}
			time.Sleep(DefaultHandshakeTimeout + time.Second)
			if st := l.Stats(); st.HalfOpen != 0 || st.Sessions != 0 || st.Failed != 1 || l.ep.budget.Used() != 0 {
				t.Fatalf("after the deadline: %+v, budget %d", st, l.ep.budget.Used())
			}
		})
	})
}
