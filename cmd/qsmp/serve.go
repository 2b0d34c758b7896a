package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/keyfile"
)

// echoPrefix is what the C sample server puts in front of each echo.
const echoPrefix = "ECHO: "

func runServe(e *env, args []string) int {
	f := newFlags("serve", "[--listen ADDR] [--key FILE] [--network "+networkNames()+"] [--duplex --peer-key FILE]", `
Run an echo service: every record a client sends comes back with the prefix
"ECHO: ", as the C sample server does. Nothing is executed. Sessions and
handshake failures are logged on standard error; SIGINT or SIGTERM stops the
server cleanly (each session gets an encrypted close).

Simplex (QSMS): any client holding the server's public key may connect.
Duplex (QSMD): the listener accepts the one sender whose public key is given
with --peer-key. The configuration comes from the key file.`)
	listen := f.String("listen", "", "`address` to listen on (default 127.0.0.1:31119, with --duplex 127.0.0.1:30118)")
	keyPath := f.String("key", "", "secret key `file` (default "+keyfile.ServerPrivateFile+", with --duplex "+keyfile.ListenerPrivateFile+")")
	network := f.String("network", defaultNetwork, "`network`: "+networkNames())
	duplex := f.Bool("duplex", false, "run QSMD (duplex) as the listener")
	peerPath := f.String("peer-key", "", "with --duplex, the sender's public key `file` (default "+keyfile.SenderPublicFile+")")
	config := f.String("config", "", "expected configuration `string`; the key file's must match (default: the key file's)")
	timeout := f.Duration("timeout", 30*time.Second, "handshake timeout (a `duration`)")
	logLevel := f.String("log-level", "info", "log `level`: debug, info, warn or error")
	jsonLog := f.Bool("json", false, "log in JSON")
	pos, status, done := f.parse(e, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return f.usageError(e, "unexpected argument %q (the address goes with --listen)", pos[0])
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return f.usageError(e, "--log-level %q: use debug, info, warn or error", *logLevel)
	}
	if !*duplex && f.isSet("peer-key") {
		return f.usageError(e, "--peer-key needs --duplex (a simplex server accepts any client)")
	}
	car, err := lookupNetwork(*network)
	if err != nil {
		return f.usageError(e, "%v", err)
	}
	if *timeout <= 0 {
		return f.usageError(e, "--timeout must be positive")
	}
	addr := defaultString(*listen, "127.0.0.1:31119")
	kp := defaultString(*keyPath, keyfile.ServerPrivateFile)
	if *duplex {
		addr = defaultString(*listen, "127.0.0.1:30118")
		kp = defaultString(*keyPath, keyfile.ListenerPrivateFile)
	}
	now := time.Now()
	id, err := loadPrivate(e.stderr, "key", kp, now)
	if err != nil {
		return f.fail(e, err)
	}
	defer id.Clear()
	ep := endpoint{identity: id, duplex: *duplex, timeout: *timeout}
	pp := defaultString(*peerPath, keyfile.SenderPublicFile)
	if *duplex {
		ep.peer, err = loadPublic("peer-key", pp, now)
		if err != nil {
			return f.fail(e, err)
		}
	}
	s, err := keyConfig(*config, namedKey{"--key " + kp, &id.PublicKey}, namedKey{"--peer-key " + pp, ep.peer})
	if err != nil {
		return f.fail(e, err)
	}
	log := newLogger(e.stderr, level, *jsonLog)
	ep.logger = log
	l, err := car.Listen(addr, ep)
	if err != nil {
		return f.fail(e, withContext("cannot listen on "+addr, err))
	}
	mode := "simplex"
	if *duplex {
		mode = "duplex"
	}
	log.Info("listening", "addr", l.Addr().String(), "network", car.Name(), "config", s.Name, "mode", mode, "key_id", fmt.Sprintf("%x", id.KeyID))
	srv := &echoServer{log: log, ln: l}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			log.Info("stopping")
			cancel()
		case <-ctx.Done():
		}
	}()
	err = srv.serve(ctx)
	srv.shutdown()
	if err != nil {
		return f.fail(e, err)
	}
	log.Info("stopped", "sessions", srv.total.Load())
	return exitOK
}

// discardLogger returns a logger that writes nothing.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func defaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// newLogger makes the server's logger.
func newLogger(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// echoServer answers each record with echoPrefix and the record.
type echoServer struct {
	log *slog.Logger
	ln  listener
	// inspect, if set, sees each received message before it is echoed.
	inspect func(msg []byte)
	// echoed, if set, is called after each echo is written.
	echoed func(n int)
	// onSession, if set, sees each session when it is established.
	onSession func(c session)

	mu       sync.Mutex
	sessions map[session]struct{}
	closing  bool
	wg       sync.WaitGroup
	total    atomic.Int64
}

// serve accepts sessions until ctx ends or the listener fails. It returns
// nil when ctx ended.
func (s *echoServer) serve(ctx context.Context) error {
	for {
		c, err := s.ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return withContext("accept", err)
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if s.sessions == nil {
			s.sessions = map[session]struct{}{}
		}
		s.sessions[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.total.Add(1)
		if s.onSession != nil {
			s.onSession(c)
		}
		go s.handle(c)
	}
}

// handle echoes one session's records until it ends.
func (s *echoServer) handle(c session) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, c)
		s.mu.Unlock()
		c.Close()
	}()
	log := s.log.With("remote", c.RemoteAddr().String())
	log.Info("session established")
	start := time.Now()
	max := c.MaxMessage()
	buf := make([]byte, maxRecord)
	out := make([]byte, 0, max)
	var n int64
	for {
		m, err := c.Read(buf)
		if err != nil {
			s.logEnd(log, err, n, time.Since(start))
			return
		}
		msg := buf[:m]
		if s.inspect != nil {
			s.inspect(msg)
		}
		out = append(append(out[:0], echoPrefix...), msg...)
		if len(out) > max {
			log.Debug("echo truncated to the record limit", "size", len(out), "limit", max)
			out = out[:max]
		}
		if _, err := c.Write(out); err != nil {
			s.logEnd(log, err, n, time.Since(start))
			return
		}
		n++
		if s.echoed != nil {
			s.echoed(len(out))
		}
	}
}

func (s *echoServer) logEnd(log *slog.Logger, err error, records int64, d time.Duration) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	switch {
	case errors.Is(err, io.EOF):
		log.Info("session closed by the peer", "records", records, "duration", d.Round(time.Millisecond))
	case closing || errors.Is(err, net.ErrClosed):
		log.Info("session closed", "records", records, "duration", d.Round(time.Millisecond))
	default:
		log.Warn("session ended", "records", records, "duration", d.Round(time.Millisecond), "err", oneLine(describe(err)))
	}
}

// shutdown stops accepting, closes every session (each gets an encrypted
// close) and waits for their goroutines.
func (s *echoServer) shutdown() {
	s.mu.Lock()
	s.closing = true
	open := make([]session, 0, len(s.sessions))
	for c := range s.sessions {
		open = append(open, c)
	}
	s.mu.Unlock()
	s.ln.Close()
	for _, c := range open {
		c.Close()
	}
	s.wg.Wait()
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
