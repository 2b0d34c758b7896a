package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/qsmp-go/qsmp/datagram"
	"github.com/qsmp-go/qsmp/keyfile"
)

func runConnect(e *env, args []string) int {
	f := newFlags("connect", "ADDR [--server-key FILE] [--network "+networkNames()+"] [--duplex --key FILE]", `
Connect to a QSMP server, send each line of standard input as one record, and
print every record that comes back on standard output, one a line. When the
input ends, wait for the replies still due (up to --wait), then close the
session with an encrypted close. Any failure (key file, configuration,
unreachable server, handshake, a line left without a reply) ends with one
line on standard error and exit status 1. SIGINT or SIGTERM ends the session
at once (exit 0 once connected).

Simplex (QSMS) needs the server's public key. Duplex (QSMD) also needs this
host's own secret key (the sender's), which the listener must know.`)
	serverKey := f.String("server-key", "", "the server's public key `file` (default "+keyfile.ServerPublicFile+", with --duplex "+keyfile.ListenerPublicFile+")")
	network := f.String("network", defaultNetwork, "`network`: "+networkNames())
	duplex := f.Bool("duplex", false, "run QSMD (duplex) as the sender")
	keyPath := f.String("key", "", "with --duplex, this host's secret key `file` (default "+keyfile.SenderPrivateFile+")")
	config := f.String("config", "", "expected configuration `string`; the key files' must match (default: the key file's)")
	timeout := f.Duration("timeout", 30*time.Second, "`duration` allowed to connect and complete the handshake")
	wait := f.Duration("wait", 3*time.Second, "after the input ends, how long (a `duration`) to wait for replies still due")
	quiet := f.Bool("q", false, "do not print the connection line on standard error")
	pos, status, done := f.parse(e, args)
	if done {
		return status
	}
	switch {
	case len(pos) == 0:
		return f.usageError(e, "missing the server address (for example 127.0.0.1:31119)")
	case len(pos) > 1:
		return f.usageError(e, "unexpected argument %q", pos[1])
	case !*duplex && f.isSet("key"):
		return f.usageError(e, "--key needs --duplex (a simplex client has no key of its own)")
	case *timeout <= 0:
		return f.usageError(e, "--timeout must be positive")
	case *wait < 0:
		return f.usageError(e, "--wait cannot be negative")
	}
	addr := pos[0]
	car, err := lookupNetwork(*network)
	if err != nil {
		return f.usageError(e, "%v", err)
	}
	now := time.Now()
	spath := defaultString(*serverKey, keyfile.ServerPublicFile)
	if *duplex {
		spath = defaultString(*serverKey, keyfile.ListenerPublicFile)
	}
	ep := endpoint{duplex: *duplex, timeout: *timeout}
	ep.peer, err = loadPublic("server-key", spath, now)
	if err != nil {
		return f.fail(e, err)
	}
	var own *keyfile.PublicKey
	kp := defaultString(*keyPath, keyfile.SenderPrivateFile)
	if *duplex {
		ep.identity, err = loadPrivate(e.stderr, "key", kp, now)
		if err != nil {
			return f.fail(e, err)
		}
		defer ep.identity.Clear()
		own = &ep.identity.PublicKey
	}
	s, err := keyConfig(*config, namedKey{"--server-key " + spath, ep.peer}, namedKey{"--key " + kp, own})
	if err != nil {
		return f.fail(e, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	c, err := car.Dial(ctx, addr, ep)
	if err != nil {
		what := fmt.Sprintf("cannot connect to %s over %s", addr, car.Name())
		switch {
		case isTimeout(err):
			what = fmt.Sprintf("no session with %s over %s within %v", addr, car.Name(), *timeout)
			if h, ok := car.(interface{ silentFailure() string }); ok {
				err = errors.New(h.silentFailure())
			}
		case closedByPeer(err):
			err = errors.New("the server closed the connection during the handshake (does it run the same mode, simplex or --duplex, and the same configuration?)")
		}
		return f.fail(e, withContext(what, err))
	}
	mode := "simplex"
	if *duplex {
		mode = "duplex"
	}
	if !*quiet {
		fmt.Fprintf(e.stderr, "qsmp: connected to %s over %s (%s, %s) in %v\n", c.RemoteAddr(), car.Name(), s.Name, mode, time.Since(start).Round(time.Millisecond))
	}
	err = converse(e, c, *wait)
	cerr := c.Close()
	if err == nil && cerr != nil && !isClosed(cerr) {
		err = withContext("close", cerr)
	}
	if err != nil {
		return f.fail(e, err)
	}
	return exitOK
}

// converse sends the lines of e.stdin and prints the replies.
func converse(e *env, c session, wait time.Duration) error {
	done := make(chan struct{})
	defer close(done)
	type reply struct{ err error }
	replies := make(chan reply)
	// The reader prints every record and reports each one, then its end.
	go func() {
		buf := make([]byte, maxRecord)
		for {
			n, err := c.Read(buf)
			if err == nil {
				e.stdout.Write(append(buf[:n:n], '\n'))
			}
			select {
			case replies <- reply{err: err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	type line struct {
		text []byte
		eof  bool
		err  error
	}
	lines := make(chan line)
	go func() {
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 4096), c.MaxMessage()+1)
		for sc.Scan() {
			select {
			case lines <- line{text: append([]byte(nil), sc.Bytes()...)}:
			case <-done:
				return
			}
		}
		err := sc.Err()
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("an input line is longer than the largest record (%d bytes)", c.MaxMessage())
		}
		select {
		case lines <- line{eof: err == nil, err: err}:
		case <-done:
		}
	}()

	var sent, got int
	peerEnded := func(r reply) error {
		if errors.Is(r.err, io.EOF) {
			if got < sent {
				return fmt.Errorf("the server closed the session before replying to %d of the %d lines sent", sent-got, sent)
			}
			return errors.New("the server closed the session")
		}
		return withContext("session failed", r.err)
	}
	// Send every line.
	for reading := true; reading; {
		select {
		case l := <-lines:
			if l.err != nil {
				return withContext("reading standard input", l.err)
			}
			if l.eof {
				reading = false
				break
			}
			if len(l.text) == 0 {
				continue // a record cannot be empty
			}
			if _, err := c.Write(l.text); err != nil {
				return withContext("send", err)
			}
			sent++
		case r := <-replies:
			if r.err != nil {
				return peerEnded(r)
			}
			got++
		case <-e.stop:
			return nil
		}
	}
	// Wait for the replies still due: until as many came back as were sent,
	// or nothing arrived for the wait time. A reply missing then is a
	// failure: over UDP and QUIC a server that went away says nothing.
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for got < sent {
		select {
		case r := <-replies:
			if r.err != nil {
				return peerEnded(r)
			}
			got++
			timer.Reset(wait)
		case <-timer.C:
			return fmt.Errorf("no reply to %d of the %d lines sent (nothing came for %v, --wait): the server may be gone, or the records were lost", sent-got, sent, wait)
		case <-e.stop:
			return nil
		}
	}
	return nil
}

// isClosed reports an error from closing what was already closed.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// closedByPeer reports an error that means the peer hung up.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// isTimeout reports an error that means time ran out.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, datagram.ErrHandshakeTimeout)
}
