package datagram

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
)

// machineLog records the fake machines a factory made.
type machineLog struct {
	mu sync.Mutex
	ms []*fakeMachine
}

func (l *machineLog) wrap(f func(bool, *keyfile.PublicKey) (handshake.Machine, error)) func(bool, *keyfile.PublicKey) (handshake.Machine, error) {
	return func(server bool, pk *keyfile.PublicKey) (handshake.Machine, error) {
		m, err := f(server, pk)
		if err == nil {
			l.mu.Lock()
			l.ms = append(l.ms, m.(*fakeMachine))
			l.mu.Unlock()
		}
		return m, err
	}
}

// unaborted counts the machines that did not complete and were not
// aborted.
func (l *machineLog) unaborted() (n, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.ms {
		if !m.done && !m.aborted.Load() {
			n++
		}
	}
	return n, len(l.ms)
}

// TestAbandonedHandshakesAborted: handshakes given up (the listener's
// worker finds its job expired, the clients' dials time out and close)
// have their machines aborted, so no secret of theirs is left behind.
func TestAbandonedHandshakesAborted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 11, Delay: 5 * time.Millisecond})
		var calls atomic.Int64
		var srvLog, cliLog machineLog
		sizes := []int{50, 100, 100, 100}
		srv := &Config{newMachine: srvLog.wrap(slowFactory(40*time.Second, &calls, sizes...)), MaxConcurrentKeyGen: 1}
		cli := &Config{newMachine: cliLog.wrap(fakeFactory(sizes...))}
		l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		acceptAll(l)
		for _, err := range dialMany(t, n, l, cli, "127.0.0.1:0", "127.0.0.1:0") {
			if !errors.Is(err, ErrHandshakeTimeout) {
				t.Fatalf("dial: %v, want a timeout", err)
			}
		}
		time.Sleep(time.Minute) // the stuck worker finishes
		if u, total := srvLog.unaborted(); total == 0 || u != 0 {
			t.Errorf("listener: %d of %d unfinished machines not aborted", u, total)
		}
		if u, total := cliLog.unaborted(); total != 2 || u != 0 {
			t.Errorf("clients: %d of %d unfinished machines not aborted", u, total)
		}
	})
}

// TestDialEndsWithMessageWaiting: a dial whose context ends while a
// completed handshake message waits for it leaves neither the message nor
// the machine's secrets behind. The dialing goroutine picks at random
// between the message and the context, so a few rounds take both ways.
func TestDialEndsWithMessageWaiting(t *testing.T) {
	sizes := []int{50, 100, 100, 100}
	var log machineLog
	_, cli := pairConfigs(t, false)
	cli.newMachine = log.wrap(fakeFactory(sizes...))
	const rounds = 24
	for range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		c, err := newClient(newCapturePC("127.0.0.1:6000"), udp(fuzzAddrs[0]), cli, ctx)
		if err != nil {
			t.Fatal(err)
		}
		msg := fakeMessage(1, sizes[1])
		c.mu.Lock()
		c.dispatchLocked(msg, time.Now()) // message 1 completed, for the dialer
		c.mu.Unlock()
		cancel()
		if err := c.clientHandshake(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("handshake: %v, want context.Canceled", err)
		}
		c.Close()
		if !bytes.Equal(msg, make([]byte, len(msg))) {
			t.Fatal("the waiting message was not cleared")
		}
	}
	if u, total := log.unaborted(); total != rounds || u != 0 {
		t.Errorf("%d of %d unfinished machines not aborted", u, total)
	}
}
