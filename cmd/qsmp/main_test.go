package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
)

func TestMain(m *testing.M) {
	// Shorter waits so that failing runs end quickly.
	quietPeriod = 500 * time.Millisecond
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"), goleak.IgnoreTopFunction("os/signal.loop"))
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command in this process with stdin as input.
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// runWithStop runs the command with a stop channel of the test's.
func runWithStop(stop <-chan struct{}, stdin io.Reader, stdout, stderr io.Writer, args ...string) int {
	return runEnv(&env{stdin: stdin, stdout: stdout, stderr: stderr, stop: stop}, args)
}

// oneLineError checks a failure: the expected status, one line on stderr
// containing want, and nothing that looks like a Go crash.
func oneLineError(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("stderr has %d lines, want one: %q", len(lines), r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not contain %q", r.stderr, want)
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr looks like a crash (%q): %q", bad, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	r := runCmd(t, "", "help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("help: status %d, stderr %q", r.code, r.stderr)
	}
	for _, c := range commands() {
		if !strings.Contains(r.stdout, c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	for _, c := range commands() {
		r := runCmd(t, "", c.name, "-h")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: qsmp "+c.name) || !strings.Contains(r.stdout, "Flags:") {
			t.Errorf("%s -h: status %d, stdout %q", c.name, r.code, r.stdout)
		}
		h := runCmd(t, "", "help", c.name)
		if h.code != 0 || h.stdout != r.stdout {
			t.Errorf("help %s differs from %s -h", c.name, c.name)
		}
	}
	r = runCmd(t, "", "demo", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "-loss") {
		t.Errorf("demo --help: status %d, stdout %q", r.code, r.stdout)
	}
	if r := runCmd(t, ""); r.code != exitUsage || !strings.Contains(r.stderr, "Usage") {
		t.Errorf("no arguments: status %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"demo", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"demo", "--messages", "x"}, `invalid value "x" for flag -messages`},
		{[]string{"demo", "--messages", "0"}, "--messages 0"},
		{[]string{"demo", "--size", "3"}, "--size 3"},
		{[]string{"demo", "--loss", "1.5", "--network", "udp"}, "--loss 1.5"},
		{[]string{"demo", "--mode", "triplex"}, `--mode "triplex"`},
		{[]string{"demo", "--network", "carrier-pigeon"}, `unknown --network "carrier-pigeon"`},
		{[]string{"demo", "--config", "rot13"}, `--config "rot13" is not a known configuration`},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"demo", "--network", "tcp", "--loss", "0.1"}, "need a datagram network"},
		{[]string{"demo", "--network", "tcp", "--reorder", "0.1"}, "need a datagram network"},
		{[]string{"keygen", "--out", dir, "--role", "sender"}, "--role needs --duplex"},
		{[]string{"keygen", "--out", dir, "--duplex", "--role", "boss"}, `--role "boss"`},
		{[]string{"keygen", "--out", dir, "--config", "nope"}, `--config "nope"`},
		{[]string{"serve", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"serve", "--peer-key", "x"}, "--peer-key needs --duplex"},
		{[]string{"serve", "somewhere"}, `unexpected argument "somewhere"`},
		{[]string{"connect"}, "missing the server address"},
		{[]string{"connect", "a:1", "b:2"}, `unexpected argument "b:2"`},
		{[]string{"connect", "a:1", "--key", "x"}, "--key needs --duplex"},
		{[]string{"connect", "a:1", "--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"connect", "a:1", "--wait", "-1s"}, "--wait cannot be negative"},
		{[]string{"help", "demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "now"}, `unexpected argument "now"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			oneLineError(t, runCmd(t, "", tc.args...), exitUsage, tc.want)
		})
	}
}

func TestNetworkNotAvailable(t *testing.T) {
	for name, mk := range networks {
		if mk != nil {
			continue
		}
		r := runCmd(t, "", "demo", "--network", name)
		oneLineError(t, r, exitUsage, "not available yet")
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	r := runCmd(t, "", "keygen", "--out", dir)
	if r.code != 0 {
		t.Fatalf("keygen: status %d, stderr %q", r.code, r.stderr)
	}
	pub, priv := filepath.Join(dir, keyfile.ServerPublicFile), filepath.Join(dir, keyfile.ServerPrivateFile)
	pk, err := keyfile.ReadPublicFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keyfile.ReadPrivateFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Clear()
	if err := sk.Matches(pk); err != nil {
		t.Error(err)
	}
	if err := sk.CheckPair(); err != nil {
		t.Error(err)
	}
	if pk.Suite.Name != suite.Default || pk.Variant != keyfile.QSMS {
		t.Errorf("key is %s %s, want %s QSMS", pk.Variant, pk.Suite.Name, suite.Default)
	}
	checkMode(t, priv, 0o600)
	checkMode(t, pub, 0o644)
	// The output names the key id and the expiration (one year from now).
	if !strings.Contains(r.stdout, hexID(pk)) {
		t.Errorf("output %q does not show the key id %s", r.stdout, hexID(pk))
	}
	exp := pk.ExpirationTime()
	if d := time.Until(exp); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("key expires in %v, want a year", d)
	}
	if !strings.Contains(r.stdout, exp.Format(dateFormat)) {
		t.Errorf("output %q does not show the expiration %s", r.stdout, exp.Format(dateFormat))
	}

	// It does not overwrite without --force.
	before, _ := os.ReadFile(priv)
	oneLineError(t, runCmd(t, "", "keygen", "--out", dir), exitFailure, "already exists")
	if after, _ := os.ReadFile(priv); !bytes.Equal(before, after) {
		t.Error("keygen without --force changed the secret key")
	}
	if r := runCmd(t, "", "keygen", "--out", dir, "--force", "--config", "dilithium-s1_kyber-s1_sha3_rcs256"); r.code != 0 {
		t.Fatalf("keygen --force: status %d, stderr %q", r.code, r.stderr)
	}
	if pk2, err := keyfile.ReadPublicFile(pub); err != nil || pk2.Suite.Name != "dilithium-s1_kyber-s1_sha3_rcs256" || pk2.KeyID == pk.KeyID {
		t.Errorf("keygen --force did not write a new key: %v %v", pk2, err)
	}
	oneLineError(t, runCmd(t, "", "keygen", "--out", filepath.Join(dir, "missing")), exitFailure, "no such directory")
	oneLineError(t, runCmd(t, "", "keygen", "--out", pub), exitFailure, "is not a directory")
}

func TestKeygenDuplex(t *testing.T) {
	dir := t.TempDir()
	r := runCmd(t, "", "keygen", "--out", dir, "--duplex", "--config", "dilithium-s1_kyber-s1_sha3_rcs256")
	if r.code != 0 {
		t.Fatalf("keygen --duplex: status %d, stderr %q", r.code, r.stderr)
	}
	for _, role := range []keyRole{listenerRole, senderRole} {
		pk, err := keyfile.ReadPublicFile(filepath.Join(dir, role.public))
		if err != nil {
			t.Fatal(err)
		}
		if pk.Variant != keyfile.QSMD {
			t.Errorf("%s key is %s, want QSMD", role.role, pk.Variant)
		}
		sk, err := keyfile.ReadPrivateFile(filepath.Join(dir, role.private))
		if err != nil {
			t.Fatal(err)
		}
		if err := sk.Matches(pk); err != nil {
			t.Error(err)
		}
		sk.Clear()
		checkMode(t, filepath.Join(dir, role.private), 0o600)
		if !strings.Contains(r.stdout, hexID(pk)) {
			t.Errorf("output does not show the %s key id", role.role)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, keyfile.ServerPublicFile)); err == nil {
		t.Error("keygen --duplex wrote a server key")
	}
	// --role picks one.
	dir2 := t.TempDir()
	if r := runCmd(t, "", "keygen", "--out", dir2, "--duplex", "--role", "sender"); r.code != 0 {
		t.Fatalf("keygen --role sender: %d %q", r.code, r.stderr)
	}
	entries, _ := os.ReadDir(dir2)
	if len(entries) != 2 {
		t.Errorf("--role sender wrote %d files, want 2", len(entries))
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "sender_") {
			t.Errorf("--role sender wrote %s", e.Name())
		}
	}
}

func TestProgress(t *testing.T) {
	old := progressAfter
	progressAfter = 10 * time.Millisecond
	defer func() { progressAfter = old }()
	var b syncBuffer
	err := withProgress(&b, "working", func() error { time.Sleep(100 * time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "working...") || !regexp.MustCompile(`done in \d+\.\ds`).MatchString(out) {
		t.Errorf("slow work printed %q", out)
	}
	b = syncBuffer{}
	progressAfter = time.Hour
	if err := withProgress(&b, "quick", func() error { return io.EOF }); err != io.EOF {
		t.Errorf("error %v not passed through", err)
	}
	if b.String() != "" {
		t.Errorf("quick work printed %q", b.String())
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
	}
}

func hexID(k *keyfile.PublicKey) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range k.KeyID {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}
