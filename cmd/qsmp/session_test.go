package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
)

const testConfig = "dilithium-s1_kyber-s1_sha3_rcs256"

// keyDir writes simplex and duplex keys of testConfig into a new folder.
func keyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{{"keygen", "--out", dir, "--config", testConfig}, {"keygen", "--out", dir, "--config", testConfig, "--duplex"}} {
		if r := runCmd(t, "", args...); r.code != 0 {
			t.Fatalf("%v: %d %s", args, r.code, r.stderr)
		}
	}
	return dir
}

// server is a serve command running in this process.
type server struct {
	addr string
	log  *syncBuffer
	stop chan struct{}
	done chan int
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// startServe runs serve with args (plus --listen 127.0.0.1:0) and waits
// until it listens.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{log: &syncBuffer{}, stop: make(chan struct{}), done: make(chan int, 1)}
	args = append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)
	go func() { s.done <- runWithStop(s.stop, strings.NewReader(""), &syncBuffer{}, s.log, args...) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(s.log.String()); m != nil {
			s.addr = m[1] + m[2]
			break
		}
		select {
		case code := <-s.done:
			t.Fatalf("serve exited with %d: %s", code, s.log.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", s.log.String())
		}
	}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// shutdown stops the server as SIGINT would and checks it exits 0.
func (s *server) shutdown(t *testing.T) {
	t.Helper()
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("serve exited with %d: %s", code, s.log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop: %s", s.log.String())
	}
	if !strings.Contains(s.log.String(), "msg=stopped") && !strings.Contains(s.log.String(), `"msg":"stopped"`) {
		t.Errorf("serve log lacks the stop: %s", s.log.String())
	}
}

func TestServeConnect(t *testing.T) {
	dir := keyDir(t)
	k := func(name string) string { return filepath.Join(dir, name) }
	for _, network := range availableNetworks() {
		t.Run(network+"/simplex", func(t *testing.T) {
			s := startServe(t, "--network", network, "--key", k(keyfile.ServerPrivateFile))
			r := runCmd(t, "hello\n\nworld, again\n", "connect", s.addr, "--network", network, "--server-key", k(keyfile.ServerPublicFile))
			if r.code != 0 || r.stdout != "ECHO: hello\nECHO: world, again\n" {
				t.Errorf("connect: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "connected to "+s.addr) {
				t.Errorf("connect stderr %q", r.stderr)
			}
			// Two clients at once.
			done := make(chan result, 2)
			for i := range 2 {
				go func() {
					var out, errb syncBuffer
					in := strings.Repeat("line\n", 50+i)
					code := run([]string{"connect", s.addr, "-q", "--network", network, "--server-key", k(keyfile.ServerPublicFile)}, strings.NewReader(in), &out, &errb)
					done <- result{code, out.String(), errb.String()}
				}()
			}
			for range 2 {
				r := <-done
				if n := strings.Count(r.stdout, "ECHO: line\n"); r.code != 0 || (n != 50 && n != 51) || r.stderr != "" {
					t.Errorf("concurrent connect: status %d, %d echoes, stderr %q", r.code, n, r.stderr)
				}
			}
			// A line longer than a record is refused with one line.
			r = runCmd(t, "short\n"+strings.Repeat("x", 70000)+"\n", "connect", s.addr, "-q", "--network", network, "--server-key", k(keyfile.ServerPublicFile))
			oneLineError(t, r, exitFailure, "longer than the largest record")
			// The last client may exit before the server logs its session
			// (over UDP the listener finishes after the client): wait for it.
			for deadline := time.Now().Add(5 * time.Second); strings.Count(s.log.String(), "session established") < 4 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			s.shutdown(t)
			if n := strings.Count(s.log.String(), "session established"); n != 4 {
				t.Errorf("%d sessions logged, want 4: %s", n, s.log.String())
			}
		})
		t.Run(network+"/duplex", func(t *testing.T) {
			s := startServe(t, "--network", network, "--duplex", "--key", k(keyfile.ListenerPrivateFile), "--peer-key", k(keyfile.SenderPublicFile), "--json", "--log-level", "debug")
			r := runCmd(t, "ping\n", "connect", s.addr, "--network", network, "--duplex", "--server-key", k(keyfile.ListenerPublicFile), "--key", k(keyfile.SenderPrivateFile))
			if r.code != 0 || r.stdout != "ECHO: ping\n" {
				t.Errorf("connect --duplex: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			// A sender the listener does not know is refused.
			r = runCmd(t, "ping\n", "connect", s.addr, "--network", network, "--duplex", "--server-key", k(keyfile.ListenerPublicFile), "--key", k(keyfile.ListenerPrivateFile), "--timeout", "1500ms")
			oneLineError(t, r, exitFailure, "over "+network)
			s.shutdown(t)
			if !strings.Contains(s.log.String(), `"msg":"listening"`) {
				t.Errorf("--json log is not JSON: %s", s.log.String())
			}
		})
	}
}

// TestServeStopsSessions checks that stopping the server closes the open
// sessions: the client sees the close.
func TestServeStopsSessions(t *testing.T) {
	dir := keyDir(t)
	s := startServe(t, "--key", filepath.Join(dir, keyfile.ServerPrivateFile))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"connect", s.addr, "--server-key", filepath.Join(dir, keyfile.ServerPublicFile)}, pr, &out, &errb)
	}()
	pw.WriteString("first\n")
	waitFor(t, func() bool { return out.String() == "ECHO: first\n" })
	s.shutdown(t)
	select {
	case code := <-done:
		if code != exitFailure || !strings.Contains(errb.String(), "the server closed the session") {
			t.Errorf("connect after the server stopped: status %d, stderr %q", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect did not notice the server stopping")
	}
}

func TestConnectKeyErrors(t *testing.T) {
	dir := keyDir(t)
	k := func(name string) string { return filepath.Join(dir, name) }
	garbage := filepath.Join(dir, "garbage.qpkey")
	os.WriteFile(garbage, []byte("------BEGIN QSMS PUBLIC KEY BLOCK------\nnot really\n"), 0o644)
	pubBytes, _ := os.ReadFile(k(keyfile.ServerPublicFile))
	truncated := filepath.Join(dir, "truncated.qpkey")
	os.WriteFile(truncated, pubBytes[:len(pubBytes)/2], 0o644)
	otherS5 := t.TempDir()
	if r := runCmd(t, "", "keygen", "--out", otherS5, "--config", "dilithium-s5_kyber-s5_sha3_rcs256"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	expired := filepath.Join(dir, "expired.qpkey")
	writeExpiredKey(t, expired)
	// Nothing listens there: these fail before any network traffic.
	const addr = "127.0.0.1:9"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing key file", []string{"--server-key", k("nope.qpkey")}, "no such file"},
		{"corrupt key file", []string{"--server-key", garbage}, "is not a valid QSMP public key (.qpkey) file"},
		{"truncated key file", []string{"--server-key", truncated}, "is not a valid QSMP public key (.qpkey) file"},
		{"secret instead of public", []string{"--server-key", k(keyfile.ServerPrivateFile)}, "is a secret key file"},
		{"public instead of secret", []string{"--duplex", "--server-key", k(keyfile.ListenerPublicFile), "--key", k(keyfile.SenderPublicFile)}, "is a public key file"},
		{"expired key", []string{"--server-key", expired}, "the key expired on"},
		{"wrong config flag", []string{"--server-key", k(keyfile.ServerPublicFile), "--config", "dilithium-s5_kyber-s5_sha3_rcs256"}, "does not match"},
		{"unknown config flag", []string{"--server-key", k(keyfile.ServerPublicFile), "--config", "x"}, "not a known configuration"},
		{"keys of two configurations", []string{"--duplex", "--server-key", filepath.Join(otherS5, keyfile.ServerPublicFile), "--key", k(keyfile.SenderPrivateFile)}, "different configurations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "hello\n", append([]string{"connect", addr}, tc.args...)...)
			oneLineError(t, r, exitFailure, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

func TestConnectNetworkErrors(t *testing.T) {
	dir := keyDir(t)
	k := func(name string) string { return filepath.Join(dir, name) }
	other := t.TempDir()
	if r := runCmd(t, "", "keygen", "--out", other, "--config", testConfig); r.code != 0 {
		t.Fatal(r.stderr)
	}
	otherS5 := t.TempDir()
	if r := runCmd(t, "", "keygen", "--out", otherS5, "--config", "dilithium-s5_kyber-s5_sha3_rcs256"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// What each failure looks like: TCP reports refusals; over UDP a
	// listener never answers in plaintext, so every failure is silence;
	// over QUIC nothing answers on a closed port, and a listener refuses a
	// handshake with a reason.
	type want struct{ unreachable, wrongKey, wrongConfig, wrongMode string }
	wants := map[string]want{
		"tcp": {"connection refused", "handshake failed", "handshake failed", "the server closed the connection during the handshake"},
		"udp": {"no answer", "no answer", "no answer", "no answer"},
		// QUIC answers: the listener ends the connection with the reason.
		"quic": {"timed out", "key_unrecognized", "key_unrecognized", "the listener runs QSMS"},
	}
	for _, network := range availableNetworks() {
		w, ok := wants[network]
		if !ok {
			t.Errorf("no expectations for network %s", network)
			continue
		}
		t.Run(network, func(t *testing.T) {
			s := startServe(t, "--network", network, "--key", k(keyfile.ServerPrivateFile))
			closed := freeAddr(t, network)
			for _, tc := range []struct {
				name string
				args []string
				want string
			}{
				{"unreachable", []string{closed, "--server-key", k(keyfile.ServerPublicFile)}, w.unreachable},
				{"bad address", []string{"no-port-here", "--server-key", k(keyfile.ServerPublicFile)}, "cannot connect to no-port-here"},
				{"another server's key", []string{s.addr, "--server-key", filepath.Join(other, keyfile.ServerPublicFile)}, w.wrongKey},
				{"another configuration", []string{s.addr, "--server-key", filepath.Join(otherS5, keyfile.ServerPublicFile)}, w.wrongConfig},
				{"duplex client, simplex server", []string{s.addr, "--duplex", "--server-key", k(keyfile.ServerPublicFile), "--key", k(keyfile.SenderPrivateFile)}, w.wrongMode},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					args := append([]string{"connect", "--network", network, "--timeout", "1500ms"}, tc.args...)
					r := runCmd(t, "hello\n", args...)
					oneLineError(t, r, exitFailure, tc.want)
					if r.stdout != "" {
						t.Errorf("stdout %q", r.stdout)
					}
				})
			}
		})
	}

	t.Run("tcp handshake timeout", func(t *testing.T) {
		// A TCP listener that accepts and never answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}
		}()
		r := runCmd(t, "", "connect", "--network", "tcp", l.Addr().String(), "--server-key", k(keyfile.ServerPublicFile), "--timeout", "300ms")
		oneLineError(t, r, exitFailure, "timed out")
	})
}

// freeAddr returns a loopback address where nothing listens on network.
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "tcp" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

func TestServeErrors(t *testing.T) {
	dir := keyDir(t)
	k := func(name string) string { return filepath.Join(dir, name) }
	busyTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyTCP.Close()
	busyUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing key", []string{"--key", k("none.qskey")}, "no such file"},
		{"public key as key", []string{"--key", k(keyfile.ServerPublicFile)}, "is a public key file"},
		{"wrong config", []string{"--key", k(keyfile.ServerPrivateFile), "--config", suite.Default}, "does not match"},
		{"duplex without peer key file", []string{"--duplex", "--key", k(keyfile.ListenerPrivateFile), "--peer-key", k("nobody.qpkey")}, "no such file"},
		{"tcp address in use", []string{"--network", "tcp", "--listen", busyTCP.Addr().String(), "--key", k(keyfile.ServerPrivateFile)}, "cannot listen on"},
		{"udp address in use", []string{"--network", "udp", "--listen", busyUDP.LocalAddr().String(), "--key", k(keyfile.ServerPrivateFile)}, "cannot listen on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oneLineError(t, runCmd(t, "", append([]string{"serve"}, tc.args...)...), exitFailure, tc.want)
		})
	}
}

// writeExpiredKey writes a public key that expired a day ago.
func writeExpiredKey(t *testing.T, path string) {
	t.Helper()
	s, err := suite.Lookup(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyfile.GenerateWithLifetime(s, keyfile.QSMS, nil, time.Now().Add(-48*time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Clear()
	if err := keyfile.WritePublicFile(path, k.Public()); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
