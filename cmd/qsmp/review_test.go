package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/keyfile"
)

// relay forwards UDP datagrams between one client and a server on
// loopback; once drop is set it forwards nothing, as if the server had
// vanished without a word.
type relay struct {
	front, back net.PacketConn
	server      net.Addr
	drop        atomic.Bool
	wg          sync.WaitGroup
}

func newRelay(t *testing.T, server string) *relay {
	t.Helper()
	saddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		front.Close()
		t.Fatal(err)
	}
	r := &relay{front: front, back: back, server: saddr}
	var client atomic.Pointer[net.Addr]
	r.wg.Add(2)
	go func() { // client -> server
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&from)
			if !r.drop.Load() {
				back.WriteTo(buf[:n], saddr)
			}
		}
	}()
	go func() { // server -> client
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := back.ReadFrom(buf)
			if err != nil {
				return
			}
			if to := client.Load(); to != nil && !r.drop.Load() {
				front.WriteTo(buf[:n], *to)
			}
		}
	}()
	t.Cleanup(func() {
		front.Close()
		back.Close()
		r.wg.Wait()
	})
	return r
}

func (r *relay) addr() string { return r.front.LocalAddr().String() }

// TestConnectPeerGone: over UDP a server that vanishes sends nothing, so
// the lines sent after it went away get no reply. connect must say so and
// fail, not exit 0 as if every line had been answered.
func TestConnectPeerGone(t *testing.T) {
	dir := keyDir(t)
	s := startServe(t, "--key", filepath.Join(dir, keyfile.ServerPrivateFile))
	rl := newRelay(t, s.addr)
	pr, pw := io.Pipe()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"connect", rl.addr(), "-q", "--wait", "300ms", "--server-key", filepath.Join(dir, keyfile.ServerPublicFile)}, pr, &out, &errb)
	}()
	io.WriteString(pw, "one\n")
	waitFor(t, func() bool { return out.String() == "ECHO: one\n" })
	rl.drop.Store(true)
	io.WriteString(pw, "two\nthree\n")
	pw.Close()
	select {
	case code := <-done:
		oneLineError(t, result{code, out.String(), errb.String()}, exitFailure, "no reply to 2 of the 3 lines sent")
	case <-time.After(10 * time.Second):
		t.Fatal("connect did not end")
	}
	if out.String() != "ECHO: one\n" {
		t.Errorf("stdout %q", out.String())
	}
}

// TestConnectInterrupted: Ctrl-C during the handshake ends connect with a
// plain word, not Go's "context canceled".
func TestConnectInterrupted(t *testing.T) {
	dir := keyDir(t)
	stop := make(chan struct{})
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWithStop(stop, strings.NewReader("hello\n"), &out, &errb, "connect", freeAddr(t, "udp"), "--server-key", filepath.Join(dir, keyfile.ServerPublicFile))
	}()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	select {
	case code := <-done:
		r := result{code, out.String(), errb.String()}
		oneLineError(t, r, exitFailure, "interrupted")
		if strings.Contains(r.stderr, "context canceled") {
			t.Errorf("stderr %q shows Go's context error", r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect did not stop")
	}
}

// TestDemoInterrupted: Ctrl-C during the data phase reports the
// interruption, not losses that did not happen (records still in the
// sockets counted as lost by the operating system, messages not sent).
func TestDemoInterrupted(t *testing.T) {
	stop := make(chan struct{})
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWithStop(stop, strings.NewReader(""), &out, &errb, "demo", "--json", "--messages", "10000000", "--config", testConfig)
	}()
	time.Sleep(400 * time.Millisecond)
	close(stop)
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
	if out.String() == "" {
		// Stopped before the data phase began.
		oneLineError(t, result{code, out.String(), errb.String()}, exitFailure, "interrupted")
		return
	}
	if code != exitFailure {
		t.Errorf("status %d, want %d", code, exitFailure)
	}
	var s demoSummary
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	if s.OK || len(s.Failures) != 1 || !strings.Contains(s.Failures[0], "interrupted") {
		t.Errorf("failures %q, want one saying the demo was interrupted", s.Failures)
	}
}

// TestSecretKeyTooOpen: a secret key file that others may read is refused,
// as ssh refuses an unprotected private key.
func TestSecretKeyTooOpen(t *testing.T) {
	dir := keyDir(t)
	k := func(name string) string { return filepath.Join(dir, name) }
	if err := os.Chmod(k(keyfile.ServerPrivateFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(k(keyfile.SenderPrivateFile), 0o640); err != nil {
		t.Fatal(err)
	}
	r := serveBriefly(t, "--key", k(keyfile.ServerPrivateFile))
	oneLineError(t, r, exitFailure, "permissions 0644 are too open")
	if !strings.Contains(r.stderr, "chmod 600 "+k(keyfile.ServerPrivateFile)) {
		t.Errorf("stderr %q does not say how to fix it", r.stderr)
	}
	r = runCmd(t, "", "connect", "127.0.0.1:9", "--duplex", "--server-key", k(keyfile.ListenerPublicFile), "--key", k(keyfile.SenderPrivateFile), "--timeout", "1s")
	oneLineError(t, r, exitFailure, "permissions 0640 are too open")
}

// TestSecretKeyCorrupt: a .qskey whose framing is right but whose key
// bytes are damaged is refused at start, instead of a server that starts
// and then fails every handshake in silence.
func TestSecretKeyCorrupt(t *testing.T) {
	dir := keyDir(t)
	b, err := os.ReadFile(filepath.Join(dir, keyfile.ServerPrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	const head = 34 + 8 + keyfile.KeyIDSize // configuration, expiration, key id
	for _, tc := range []struct {
		name string
		at   int
	}{{"signing key", head + 40}, {"verification key", len(b) - 40}} {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte(nil), b...)
			for i := tc.at; i < tc.at+32; i++ {
				bad[i] ^= 0x5a
			}
			p := filepath.Join(t.TempDir(), "bad.qskey")
			if err := os.WriteFile(p, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			r := serveBriefly(t, "--key", p)
			oneLineError(t, r, exitFailure, "is damaged")
		})
	}
}

// serveBriefly runs serve with args on a loopback port and stops it after
// a second if it started (a serve that should have refused to start).
func serveBriefly(t *testing.T, args ...string) result {
	t.Helper()
	stop := make(chan struct{})
	timer := time.AfterFunc(time.Second, func() { close(stop) })
	defer timer.Stop()
	var out, errb syncBuffer
	code := runWithStop(stop, strings.NewReader(""), &out, &errb, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	return result{code, out.String(), errb.String()}
}
