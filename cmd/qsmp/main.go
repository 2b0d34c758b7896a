// Command qsmp generates QSMP keys, runs an echo server and a client, and
// demonstrates a whole session (handshake, data, faults) in one process.
//
// Usage:
//
//	qsmp demo                                  # keys in memory, server and client over loopback
//	qsmp keygen [--config C] [--out DIR] [--duplex]
//	qsmp serve --listen ADDR --key FILE [--network udp|quic|tcp] [--duplex --peer-key FILE]
//	qsmp connect ADDR --server-key FILE [--network ...] [--duplex --key FILE]
//	qsmp bench
//	qsmp help [command]
//
// Every command prints its flags with -h. Failures end with one line on
// standard error and a non-zero exit status: 1 for a failure at run time,
// 2 for a usage error or a feature that is not available.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad arguments, or something not available
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(env *env, args []string) int
}

// env is what a command may touch: its standard streams and the signals
// that stop it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stop, if not nil, is closed when the process is asked to stop
	// (SIGINT, SIGTERM). run sets it up; tests may replace it.
	stop <-chan struct{}
}

func commands() []command {
	return []command{
		{"demo", "run a server and a client in this process and print a summary", runDemo},
		{"keygen", "generate an identity key (.qpkey and .qskey files)", runKeygen},
		{"serve", "run an echo server", runServe},
		{"connect", "connect to a server, send lines from stdin, print replies", runConnect},
		{"bench", "run the benchmark suite", runBench},
	}
}

// run is the whole command: main calls it with the process's arguments
// (without the program name) and streams, and exits with its result.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	stop, cancel := notifyStop()
	defer cancel()
	return runEnv(&env{stdin: stdin, stdout: stdout, stderr: stderr, stop: stop}, args)
}

// runEnv dispatches to a subcommand.
func runEnv(e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 2 && name == "help" {
			errorf(e, "qsmp help: unexpected argument %q (usage: qsmp help [command])", args[2])
			return exitUsage
		}
		if len(args) > 1 && name == "help" {
			for _, c := range commands() {
				if c.name == args[1] {
					return c.run(e, []string{"-h"})
				}
			}
			errorf(e, "qsmp help: unknown command %q (commands: %s)", args[1], commandNames())
			return exitUsage
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(e, args[1:])
		}
	}
	errorf(e, "qsmp: unknown command %q (commands: %s; see 'qsmp help')", name, commandNames())
	return exitUsage
}
