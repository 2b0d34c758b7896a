package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The benchmark suite is a Go module of its own (bench/, so that its
// baselines never become dependencies of qsmp-go): this command cannot link
// it in, so it runs it from the source tree with the go command.

// moduleRoot is the module path of the repository root.
const moduleRoot = "github.com/qsmp-go/qsmp"

// errNoBench reports that the suite cannot be run from here.
var errNoBench = errors.New("benchmark suite not available")

func runBench(e *env, args []string) int {
	f := newFlags("bench", "[--quick] [--out DIR] [--only REGEX] [--duration D] [--runs N] [-q]", `
Run the benchmark suite of package bench: record seal/open throughput
against AES-GCM and ChaCha20-Poly1305, handshake latency and CPU for every
configuration, loopback handshakes, and goodput over UDP, QUIC, DTLS, TCP
and TLS, clean and under simulated loss. It prints markdown tables; a full
run takes about five minutes on two cores, --quick about fifteen seconds.

The suite is a separate Go module in the source tree (bench/), so this runs
'go -C bench run ./cmd/qsmp-bench' and needs a checkout of qsmp-go (the
current directory or one of its parents) and the go command.`)
	quick := f.Bool("quick", false, "run briefly and skip the slow (McEliece, SLH-DSA) handshakes")
	out := f.String("out", "", "`directory` for results.json, results.md and goodput.svg")
	only := f.String("only", "", "run only the measurements whose name matches this `regex`p\n(record/<profile>/<size>, handshake/<QSMS|QSMD>/<config>, connect/<link>, goodput/<link>/<loss>%)")
	duration := f.Duration("duration", 0, "goodput sending `time` per run (default 1s; quick 150ms)")
	runs := f.Int("runs", 0, "goodput runs per cell, median kept (default 5; quick 1)")
	quiet := f.Bool("q", false, "no progress on standard error")
	pos, status, done := f.parse(e, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return f.usageError(e, "unexpected argument %q", pos[0])
	}
	if *duration < 0 || *runs < 0 {
		return f.usageError(e, "--duration and --runs cannot be negative")
	}
	dir, err := findBench()
	if err != nil {
		errorf(e, "qsmp bench: %v", err)
		return exitUsage
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		errorf(e, "qsmp bench: %v: the go command is not on PATH", errNoBench)
		return exitUsage
	}
	var fwd []string
	if *quick {
		fwd = append(fwd, "--quick")
	}
	if *out != "" {
		abs, err := filepath.Abs(*out) // relative to here, not to bench/
		if err != nil {
			return f.fail(e, err)
		}
		fwd = append(fwd, "--out", abs)
	}
	if *only != "" {
		fwd = append(fwd, "--only", *only)
	}
	if *duration > 0 {
		fwd = append(fwd, "--duration", duration.String())
	}
	if *runs > 0 {
		fwd = append(fwd, "--runs", strconv.Itoa(*runs))
	}
	if *quiet {
		fwd = append(fwd, "-q")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	cmd := benchCommand(ctx, goBin, dir, fwd)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode() // the suite explained itself
		}
		return f.fail(e, withContext("running the benchmark suite", err))
	}
	return exitOK
}

// benchCommand is the go command that runs the suite in dir with args.
func benchCommand(ctx context.Context, goBin, dir string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, goBin, append([]string{"-C", dir, "run", "./cmd/qsmp-bench"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// findBench returns the bench/ folder of the qsmp-go checkout that holds
// the current directory.
func findBench() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %v", errNoBench, err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if modulePath(filepath.Join(dir, "go.mod")) == moduleRoot {
			b := filepath.Join(dir, "bench")
			if modulePath(filepath.Join(b, "go.mod")) == moduleRoot+"/bench" {
				return b, nil
			}
			return "", fmt.Errorf("%w yet: the checkout at %s has no bench module", errNoBench, dir)
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%w: run 'qsmp bench' inside a checkout of qsmp-go (the suite is the bench/ module of the source tree)", errNoBench)
		}
	}
}

// modulePath returns the module line of a go.mod file, or "".
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
