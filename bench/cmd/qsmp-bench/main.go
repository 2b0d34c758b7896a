// Command qsmp-bench measures qsmp-go against baselines on this machine and
// prints a markdown table with ratios: record seal/open throughput,
// handshake latency and server CPU for every implemented configuration,
// loopback handshakes, and loopback goodput clean (plain sockets, each link
// on its native I/O path) and under netsim loss.
//
// Usage (from the repository root; bench is a module of its own, so the go
// command must run inside it, which -C does):
//
//	go -C bench run ./cmd/qsmp-bench [--quick] [--out DIR] [--only REGEX]
//
// A relative --out is then relative to bench/. --duration and --runs size
// the goodput runs; -q silences the progress lines. A full run takes about
// five minutes on two cores, --quick about fifteen seconds.
// With --out it also writes DIR/results.json, DIR/results.md and
// DIR/goodput.svg (goodput against loss). Progress goes to standard error,
// the table to standard output. The exit status is 1 if a measurement
// failed (the table then holds what was measured before), 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/qsmp-go/qsmp/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("qsmp-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt bench.Options
	out := fs.String("out", "", "directory for results.json, results.md and goodput.svg")
	fs.BoolVar(&opt.Quick, "quick", false, "run briefly and skip the slow (McEliece, SLH-DSA) handshakes")
	fs.StringVar(&opt.Only, "only", "", "run only measurements whose name matches this regular expression\n(names: record/<profile>/<size>, handshake/<QSMS|QSMD>/<config>, connect/<link>, goodput/<link>/<loss>%)")
	fs.DurationVar(&opt.Duration, "duration", 0, "goodput sending time per run (default 1s; quick 150ms)")
	fs.IntVar(&opt.Runs, "runs", 0, "goodput runs per cell, median kept (default 5; quick 1)")
	quiet := fs.Bool("q", false, "no progress on standard error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "qsmp-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if !*quiet {
		opt.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.Run(ctx, opt)
	status := 0
	if err != nil {
		fmt.Fprintf(stderr, "qsmp-bench: %v\n", err)
		status = 1
		if res == nil {
			return 2
		}
	}
	md := res.Markdown()
	fmt.Fprint(stdout, md)
	if *out != "" {
		if err := write(*out, res, md); err != nil {
			fmt.Fprintf(stderr, "qsmp-bench: %v\n", err)
			return 1
		}
		if !*quiet {
			fmt.Fprintf(stderr, "wrote %s (%s)\n", *out, time.Now().Format(time.TimeOnly))
		}
	}
	return status
}

func write(dir string, res *bench.Results, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := res.JSON()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.json": append(js, '\n'),
		"results.md":   []byte(md),
		"goodput.svg":  res.SVG(),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
