package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// notifyStop returns a channel closed on SIGINT or SIGTERM, and a function
// that stops listening for them.
func notifyStop() (<-chan struct{}, func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx.Done(), cancel
}

func usage(w io.Writer) {
	fmt.Fprint(w, `qsmp: post-quantum secure messaging (QSMP) over UDP, QUIC and TCP

Usage:
  qsmp <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help     show this text, or a command's flags: qsmp help <command>

Start with:
  qsmp demo                 a handshake and 1000 echoed messages over loopback UDP
  qsmp demo --loss 0.05 --reorder 0.05 --duplicate 0.01
  qsmp keygen && qsmp serve            (then, elsewhere: qsmp connect 127.0.0.1:31119)

Run 'qsmp <command> -h' for the flags of a command.
`)
}

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// errorf prints one line on standard error.
func errorf(e *env, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", " ")
	fmt.Fprintln(e.stderr, msg)
}

// cmdFlags is a subcommand's flag set with a one-line error style.
type cmdFlags struct {
	*flag.FlagSet
	name     string // "qsmp demo"
	synopsis string // the usage line after the name
	about    string // a paragraph describing the command
}

func newFlags(name, synopsis, about string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &cmdFlags{FlagSet: fs, name: "qsmp " + name, synopsis: synopsis, about: about}
}

// printUsage writes the command's help text.
func (f *cmdFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n\n%s\n\nFlags:\n", f.name, f.synopsis, strings.TrimSpace(f.about))
	f.VisitAll(func(fl *flag.Flag) {
		name, help := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if len(fl.Name) == 1 {
			line = "  -" + fl.Name
		}
		if name != "" {
			line += " " + strings.ToUpper(name)
		}
		help = strings.ReplaceAll(help, "\n", "\n        ")
		if def := fl.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
			if _, isString := fl.Value.(interface{ IsBoolFlag() bool }); !isString {
				help += fmt.Sprintf(" (default %s)", def)
			}
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, help)
	})
}

// parse parses args, allowing flags after positional arguments
// ("connect ADDR --server-key F"). It returns the positional arguments, and
// done with the exit status when the command must stop here: 0 after -h
// (help printed on stdout), 2 after a bad flag (one line on stderr).
func (f *cmdFlags) parse(e *env, args []string) (pos []string, status int, done bool) {
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.printUsage(e.stdout)
			return nil, exitOK, true
		}
		if err != nil {
			errorf(e, "%s: %v (see '%s -h')", f.name, err, f.name)
			return nil, exitUsage, true
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		// A "--" ends the flags: everything after it is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints one line and returns the usage status.
func (f *cmdFlags) usageError(e *env, format string, args ...any) int {
	errorf(e, "%s: %s (see '%s -h')", f.name, fmt.Sprintf(format, args...), f.name)
	return exitUsage
}

// fail prints one line about a failure at run time and returns status 1.
func (f *cmdFlags) fail(e *env, err error) int {
	errorf(e, "%s: %s", f.name, describe(err))
	return exitFailure
}

// isSet reports whether the flag was given on the command line.
func (f *cmdFlags) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}
