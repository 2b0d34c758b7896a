//go:build linux

package quicx

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// noMoreFiles fails t unless the process holds no more descriptors than
// before (others may close meanwhile; a leak stays).
func noMoreFiles(t *testing.T, before int, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := openFiles(t)
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d open descriptors, %d before", what, n, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDialFailureClosesOwnSocket: a Dial that fails after opening its own
// socket closes it, whether QUIC refuses the configuration at once or the
// QSMP handshake fails against a live listener.
func TestDialFailureClosesOwnSocket(t *testing.T) {
	_, _, other := testKeys(t)
	srvCfg, cliCfg := configs(t, false)
	l, err := Listen("quic", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Warm up (lazy descriptors of the runtime and resolver), then count.
	if c, err := Dial(ctx, "quic", addr, cliCfg); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	before := openFiles(t)

	refused := *cliCfg
	refused.QUICConfig = badVersions()
	for i := 0; i < 3; i++ {
		if c, err := Dial(ctx, "quic", addr, &refused); err == nil {
			c.Close()
			t.Fatal("Dial with an invalid QUIC version succeeded")
		}
	}
	noMoreFiles(t, before, "after Dials QUIC refused")

	wrong := *cliCfg
	wrong.PeerKey = &other.PublicKey
	for i := 0; i < 2; i++ {
		if c, err := Dial(ctx, "quic", addr, &wrong); err == nil {
			c.Close()
			t.Fatal("Dial with the wrong listener key succeeded")
		} else if !errors.Is(err, ErrHandshake) {
			t.Fatalf("dial: %v, want ErrHandshake", err)
		}
	}
	noMoreFiles(t, before, "after failed QSMP handshakes")
}
