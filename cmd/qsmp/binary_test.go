package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/keyfile"
)

// TestBinary builds the command and runs keygen, serve and connect as
// separate processes, as a user would.
func TestBinary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build qsmp: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "qsmp")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keys := filepath.Join(dir, "keys")
	os.Mkdir(keys, 0o700)
	if out, err := exec.CommandContext(ctx, bin, "keygen", "--out", keys, "--config", testConfig).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}

	serve := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--key", filepath.Join(keys, keyfile.ServerPrivateFile))
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	// The first log line names the address.
	lines := bufio.NewScanner(stderr)
	var addr string
	var log strings.Builder
	for addr == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := regexp.MustCompile(`msg=listening addr=(\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("serve did not report its address:\n%s", log.String())
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	connect := exec.CommandContext(ctx, bin, "connect", addr, "--server-key", filepath.Join(keys, keyfile.ServerPublicFile))
	connect.Stdin = strings.NewReader("hello from another process\n")
	out, err := connect.Output()
	if err != nil {
		t.Fatalf("connect: %v (%s)", err, exitStderr(err))
	}
	if string(out) != "ECHO: hello from another process\n" {
		t.Errorf("connect printed %q", out)
	}

	// A failing connect exits 1 with one line.
	bad := exec.CommandContext(ctx, bin, "connect", addr, "--server-key", filepath.Join(keys, "missing.qpkey"))
	if err := bad.Run(); err == nil || bad.ProcessState.ExitCode() != 1 {
		t.Errorf("connect with a missing key: %v", err)
	}

	// SIGINT stops the server cleanly.
	serve.Process.Signal(syscall.SIGINT)
	logText := log.String() + <-rest // all read before Wait closes the pipe
	werr := serve.Wait()
	if werr != nil {
		t.Errorf("serve after SIGINT: %v\n%s", werr, logText)
	}
	for _, want := range []string{"session established", "session closed by the peer", "msg=stopped"} {
		if !strings.Contains(logText, want) {
			t.Errorf("serve log lacks %q:\n%s", want, logText)
		}
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
