package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/record"
)

func TestDescribe(t *testing.T) {
	he := func(err error) error {
		return fmt.Errorf("dial: %w", &handshake.Error{Stage: "connect", Code: record.CodeInvalidInput, Err: err})
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "no error"},
		{withContext("send", context.Canceled), "send: interrupted"},
		{&net.OpError{Op: "dial", Net: "udp", Err: syscall.ECONNREFUSED}, "connection refused (is the server running"},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), "timed out"},
		{&net.OpError{Op: "read", Net: "udp", Err: errors.New("boom")}, "boom"},
		{&net.DNSError{Name: "nowhere.invalid", Err: "no such host"}, "cannot resolve nowhere.invalid: no such host"},
		{he(handshake.ErrPeer), "the peer refused the handshake"},
		{he(handshake.ErrKeyUnknown), "the key id does not match"},
		{he(handshake.ErrConfig), "the peer runs another configuration"},
		{he(handshake.ErrKeyExpired), "a key has expired"},
		{he(suite.ErrVerify), "the peer's signature does not verify"},
		{he(handshake.ErrHash), "handshake failed: "},
		{errors.New("plain"), "plain"},
	} {
		got := describe(tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("describe(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("describe(%v) spans lines: %q", tc.err, got)
		}
	}
	// A contextError is itself an error whose cause can be found.
	err := withContext("accept", io.EOF)
	if !errors.Is(err, io.EOF) || err.Error() != "accept: EOF" {
		t.Errorf("withContext: %v, Is EOF %v", err, errors.Is(err, io.EOF))
	}
	if withContext("nothing", nil) != nil {
		t.Error("withContext of nil is not nil")
	}
}

func TestKeyFileError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "open", Path: "k", Err: fs.ErrPermission}, "k: permission denied"},
		{&fs.PathError{Op: "open", Path: "k", Err: fs.ErrNotExist}, "k: no such file"},
		{fmt.Errorf("k: %w", keyfile.ErrUnknownConfig), "k names a configuration this program does not know"},
		{fmt.Errorf("k: %w", keyfile.ErrMalformed), "k is not a valid QSMP thing file"},
		{&fs.PathError{Op: "read", Path: "k", Err: syscall.EISDIR}, "k: is a directory"},
		{errors.New("other"), "other"},
	} {
		if got := keyFileError("k", "thing", tc.err); got != tc.want {
			t.Errorf("keyFileError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestLoadKeyArguments(t *testing.T) {
	now := time.Now()
	if _, err := loadPrivate(io.Discard, "key", "", now); err == nil || !strings.Contains(err.Error(), "--key is required") {
		t.Errorf("loadPrivate without a path: %v", err)
	}
	if _, err := loadPublic("peer-key", "", now); err == nil || !strings.Contains(err.Error(), "--peer-key is required") {
		t.Errorf("loadPublic without a path: %v", err)
	}
	// An expired secret key (mode 0600) is refused.
	s, _ := suite.Lookup(testConfig)
	k, err := keyfile.GenerateWithLifetime(s, keyfile.QSMS, nil, now.Add(-48*time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "old.qskey")
	if err := keyfile.WritePrivateFile(p, k); err != nil {
		t.Fatal(err)
	}
	k.Clear()
	if _, err := loadPrivate(io.Discard, "key", p, now); err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Errorf("expired secret key: %v", err)
	}
	if _, err := keyConfig(""); err == nil {
		t.Error("keyConfig with no key succeeded")
	}
}

func TestLookupNetworkNotBuilt(t *testing.T) {
	networks["pigeon"] = nil
	defer delete(networks, "pigeon")
	_, err := lookupNetwork("pigeon")
	if !errors.Is(err, errNotAvailable) {
		t.Errorf("lookupNetwork of a network not built: %v", err)
	}
	oneLineError(t, runCmd(t, "", "demo", "--network", "pigeon"), exitUsage, "not available yet")
}

// fakeSession is a session whose replies the test scripts.
type fakeSession struct {
	replies  chan []byte // what Read returns
	readErr  error       // returned once replies is closed
	writeErr error
	max      int

	mu      sync.Mutex
	written []string
	closed  chan struct{}
	once    sync.Once
}

func newFakeSession() *fakeSession {
	return &fakeSession{replies: make(chan []byte, 16), readErr: io.EOF, max: 100, closed: make(chan struct{})}
}

func (f *fakeSession) Read(b []byte) (int, error) {
	select {
	case m, ok := <-f.replies:
		if !ok {
			return 0, f.readErr
		}
		return copy(b, m), nil
	case <-f.closed:
		return 0, net.ErrClosed
	}
}

func (f *fakeSession) Write(b []byte) (int, error) {
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	f.mu.Lock()
	f.written = append(f.written, string(b))
	f.mu.Unlock()
	return len(b), nil
}

func (f *fakeSession) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeSession) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeSession) RemoteAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (f *fakeSession) MaxMessage() int      { return f.max }

func TestConverse(t *testing.T) {
	conv := func(c *fakeSession, stdin io.Reader, stop <-chan struct{}, wait time.Duration) (string, error) {
		var out syncBuffer
		err := converse(&env{stdin: stdin, stdout: &out, stderr: io.Discard, stop: stop}, c, wait)
		c.Close()
		return out.String(), err
	}
	t.Run("all answered", func(t *testing.T) {
		c := newFakeSession()
		c.replies <- []byte("A")
		c.replies <- []byte("B")
		out, err := conv(c, strings.NewReader("a\n\nb\n"), nil, time.Second)
		if err != nil || out != "A\nB\n" || strings.Join(c.written, ",") != "a,b" {
			t.Errorf("out %q, written %q, err %v", out, c.written, err)
		}
	})
	t.Run("closed with replies due", func(t *testing.T) {
		c := newFakeSession()
		c.replies <- []byte("A")
		// The server closes once the input has ended: in the wait for the
		// replies still due.
		pr, pw := io.Pipe()
		go func() {
			io.WriteString(pw, "a\nb\nc\n")
			pw.Close()
			afterWrites(c, 3, func() { close(c.replies) })
		}()
		out, err := conv(c, pr, nil, time.Second)
		if err == nil || !strings.Contains(describe(err), "the server closed the session before replying to 2 of the 3 lines sent") || out != "A\n" {
			t.Errorf("out %q, err %v", out, err)
		}
	})
	t.Run("session fails while sending", func(t *testing.T) {
		c := newFakeSession()
		c.readErr = errors.New("authentication failed")
		close(c.replies)
		// The input stays open until the read failure is seen, so the
		// failure is noticed while sending.
		pr, pw := io.Pipe()
		defer pw.Close()
		go io.WriteString(pw, "a\n")
		_, err := conv(c, pr, nil, time.Second)
		if err == nil || describe(err) != "session failed: authentication failed" {
			t.Errorf("err %v", err)
		}
	})
	t.Run("session fails after the input", func(t *testing.T) {
		c := newFakeSession()
		c.readErr = errors.New("authentication failed")
		// Reads fail only after the line was sent.
		go afterWrites(c, 1, func() { close(c.replies) })
		_, err := conv(c, strings.NewReader("a\n"), nil, time.Second)
		if err == nil || describe(err) != "session failed: authentication failed" {
			t.Errorf("err %v", err)
		}
	})
	t.Run("write fails", func(t *testing.T) {
		c := newFakeSession()
		c.writeErr = errors.New("message too long")
		_, err := conv(c, strings.NewReader("a\n"), nil, time.Second)
		if err == nil || describe(err) != "send: message too long" {
			t.Errorf("err %v", err)
		}
	})
	t.Run("stopped while sending", func(t *testing.T) {
		c := newFakeSession()
		pr, pw := io.Pipe()
		defer pw.Close()
		stop := make(chan struct{})
		close(stop)
		if _, err := conv(c, pr, stop, time.Second); err != nil {
			t.Errorf("err %v", err)
		}
	})
	t.Run("stopped while waiting", func(t *testing.T) {
		c := newFakeSession()
		stop := make(chan struct{})
		time.AfterFunc(50*time.Millisecond, func() { close(stop) })
		if _, err := conv(c, strings.NewReader("a\n"), stop, time.Minute); err != nil {
			t.Errorf("err %v", err)
		}
	})
	t.Run("stdin fails", func(t *testing.T) {
		c := newFakeSession()
		_, err := conv(c, io.MultiReader(strings.NewReader("a"), iotestErrReader{}), nil, time.Second)
		if err == nil || describe(err) != "reading standard input: input/output error" {
			t.Errorf("err %v", err)
		}
	})
}

// afterWrites calls fn once c has been written n records.
func afterWrites(c *fakeSession, n int, fn func()) {
	for {
		c.mu.Lock()
		w := len(c.written)
		c.mu.Unlock()
		if w >= n {
			fn()
			return
		}
		time.Sleep(time.Millisecond)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, syscall.EIO }

// fakeListener hands out the sessions of its channel, then fails with err.
type fakeListener struct {
	sessions chan session
	err      error
	closed   chan struct{}
	once     sync.Once
	onAccept func()
}

func (l *fakeListener) Accept(ctx context.Context) (session, error) {
	if l.onAccept != nil {
		l.onAccept()
	}
	select {
	case c, ok := <-l.sessions:
		if !ok {
			return nil, l.err
		}
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3} }

func TestEchoServer(t *testing.T) {
	t.Run("accept fails", func(t *testing.T) {
		l := &fakeListener{sessions: make(chan session), err: errors.New("too many open files"), closed: make(chan struct{})}
		close(l.sessions)
		var log syncBuffer
		s := &echoServer{log: newLogger(&log, 0, false), ln: l}
		err := s.serve(context.Background())
		s.shutdown()
		if err == nil || describe(err) != "accept: too many open files" {
			t.Errorf("serve: %v", err)
		}
	})
	t.Run("echoes, truncates, logs the end", func(t *testing.T) {
		l := &fakeListener{sessions: make(chan session, 1), closed: make(chan struct{})}
		c := newFakeSession()
		c.max = 10
		c.readErr = errors.New("authentication failed")
		c.replies <- []byte("hello")
		c.replies <- []byte("a longer message")
		close(c.replies)
		l.sessions <- c
		var log syncBuffer
		s := &echoServer{log: newLogger(&log, -4, false), ln: l}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.serve(ctx) }()
		waitFor(t, func() bool { return strings.Contains(log.String(), "session ended") })
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.shutdown()
		if got := strings.Join(c.written, "|"); got != "ECHO: hell|ECHO: a lo" {
			t.Errorf("echoes %q", got)
		}
		for _, want := range []string{"echo truncated to the record limit", `level=WARN msg="session ended"`, "authentication failed"} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q: %s", want, log.String())
			}
		}
	})
	t.Run("session arriving while closing", func(t *testing.T) {
		c := newFakeSession()
		var s *echoServer
		l := &fakeListener{sessions: make(chan session, 1), closed: make(chan struct{})}
		l.sessions <- c
		l.onAccept = func() {
			s.mu.Lock()
			s.closing = true
			s.mu.Unlock()
		}
		s = &echoServer{log: discardLogger(), ln: l}
		if err := s.serve(context.Background()); err != nil {
			t.Errorf("serve: %v", err)
		}
		select {
		case <-c.closed:
		default:
			t.Error("a session accepted while closing was not closed")
		}
		if s.total.Load() != 0 {
			t.Errorf("%d sessions counted", s.total.Load())
		}
	})
}

func TestSummaryText(t *testing.T) {
	s := &demoSummary{
		Config: testConfig, Signature: "ML-DSA-44", KEM: "ML-KEM-512", Mode: "duplex", Network: "quic",
		Faults: &faultSummary{Loss: 0.05, Reorder: 0.1, Duplicate: 0.01, Seed: 7}, Messages: 10, Size: 100,
		ClientToServer: directionSummary{Sent: 10, LostBySimulator: 1, LostByOS: 2, receiverCounts: receiverCounts{Delivered: 9, Bytes: 20 << 20}},
		ServerToClient: directionSummary{Sent: 0},
		Client:         &carrierStats{RecordsSent: 10, BytesSent: 12 << 10, Retransmissions: -1, Drops: map[string]int64{"time": 2, "duplicate": 1, "epoch": 0}},
		Simulator:      &simSummary{ClientToServer: simStats{Datagrams: 12, Lost: 1, Reordered: 2, Duplicated: 3}},
		Note:           "counted per packet",
		Failures:       []string{"something went wrong"},
	}
	var b strings.Builder
	s.writeText(&b)
	out := b.String()
	for _, want := range []string{
		"qsmp demo: FAILED", "QSMD, both sides send", "loss 5%, reorder 10%, duplicate 1% on every datagram (seed 7)",
		"10 sent, 9 delivered, 1 lost by the simulator (10.0%), 2 lost by the OS", "server → client", "0 sent, 0 delivered, 0 lost by the simulator\n",
		"10 sent, 0 received; 12.0 KiB out, 0 bytes in; dropped: duplicate 1, time 2", "client: 12 datagrams, 1 lost, 2 reordered, 3 duplicated",
		"20.0 MiB in", "note              counted per packet", "failure           something went wrong",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "handshake retransmissions") {
		t.Errorf("a count the carrier does not keep (-1) is printed:\n%s", out)
	}
}

// TestSummaryCheckOpaque checks the verdict for a carrier whose packets the
// taps cannot look into.
func TestSummaryCheckOpaque(t *testing.T) {
	d := &demoRun{o: &demoOptions{messages: 10, duplex: true}, car: quicCarrier{}, ctx: context.Background()}
	d.errs = []error{withContext("server read", errors.New("boom"))}
	d.serverRead.Store(10)
	s := &demoSummary{
		ClientToServer: directionSummary{Sent: 10, LostBySimulator: 2, receiverCounts: receiverCounts{Delivered: 8, Duplicates: 1}},
		ServerToClient: directionSummary{Sent: 9, LostBySimulator: 0, receiverCounts: receiverCounts{Delivered: 9}},
		Server:         &carrierStats{Drops: map[string]int64{"authentication": 3}},
	}
	s.check(d)
	want := []string{
		"server read: boom",
		"the server sent 9 of 10 messages",
		"client to server: the application saw 1 duplicate, 0 corrupted and 0 unknown messages",
		"the server's carrier dropped 3 records it received",
		"2 records did not reach the server, but the simulator lost and reordered no packet",
	}
	if s.OK || strings.Join(s.Failures, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(s.Failures, "\n"), strings.Join(want, "\n"))
	}
}

// TestBenchRunsSuite runs 'qsmp bench' with a stand-in go command that
// records its arguments, and checks the flags it forwards and the exit
// status it passes through.
func TestBenchRunsSuite(t *testing.T) {
	bin := t.TempDir()
	record := filepath.Join(bin, "args")
	script := "#!/bin/sh\necho \"$@\" > " + record + "\necho suite output\nexit ${QSMP_FAKE_GO_EXIT:-0}\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	out := t.TempDir()
	r := runCmd(t, "", "bench", "--quick", "--out", out, "--only", "record/.*", "--duration", "200ms", "--runs", "2", "-q")
	if r.code != 0 || r.stdout != "suite output\n" {
		t.Fatalf("bench: status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	args, _ := os.ReadFile(record)
	dir, _ := findBench()
	want := "-C " + dir + " run ./cmd/qsmp-bench --quick --out " + out + " --only record/.* --duration 200ms --runs 2 -q\n"
	if string(args) != want {
		t.Errorf("go called with %q, want %q", args, want)
	}
	t.Setenv("QSMP_FAKE_GO_EXIT", "3")
	if r := runCmd(t, "", "bench"); r.code != 3 {
		t.Errorf("a failing suite: status %d, want 3", r.code)
	}
	oneLineError(t, runCmd(t, "", "bench", "--runs", "-1"), exitUsage, "cannot be negative")
	t.Setenv("PATH", t.TempDir())
	oneLineError(t, runCmd(t, "", "bench"), exitUsage, "the go command is not on PATH")
}

func TestTapBuffers(t *testing.T) {
	// A conn without buffer settings: nothing to forward, no error.
	tp := &tap{PacketConn: struct{ net.PacketConn }{}}
	if tp.SetReadBuffer(1<<20) != nil || tp.SetWriteBuffer(1<<20) != nil {
		t.Error("setting buffers of a conn without them failed")
	}
}

func TestKeygenWriteFails(t *testing.T) {
	dir := t.TempDir()
	// A folder where the secret key file would go: the rename fails.
	if err := os.Mkdir(filepath.Join(dir, keyfile.ServerPrivateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, keyfile.ServerPrivateFile, "x"), nil, 0o600)
	r := runCmd(t, "", "keygen", "--out", dir, "--force", "--config", testConfig)
	oneLineError(t, r, exitFailure, "writing the secret key")
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(io.Discard) {
		t.Error("a file or a discard writer taken for a terminal")
	}
}

// TestSummaryCheckDatagram checks the verdict for a carrier whose records
// the taps count.
func TestSummaryCheckDatagram(t *testing.T) {
	d := &demoRun{o: &demoOptions{messages: 10}, car: udpCarrier{}, ctx: context.Background()}
	d.serverRead.Store(9)
	s := &demoSummary{
		ClientToServer: directionSummary{Sent: 9, LostByOS: 1, receiverCounts: receiverCounts{Delivered: 8, Corrupted: 1}},
		ServerToClient: directionSummary{Sent: 8, receiverCounts: receiverCounts{Delivered: 8}},
	}
	s.check(d)
	want := []string{
		"the client sent 9 of 10 messages",
		"the server echoed 8 of the 9 messages it received",
		"client to server: 9 sent but 8 delivered and 0 lost by the simulator",
		"client to server: 1 records lost by the operating system (socket buffers), not by the simulator",
		"client to server: the application saw 0 duplicate, 1 corrupted and 0 unknown messages",
	}
	if s.OK || strings.Join(s.Failures, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(s.Failures, "\n"), strings.Join(want, "\n"))
	}
	// A run that timed out reports only that.
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	d = &demoRun{o: &demoOptions{messages: 10, timeout: time.Second}, car: udpCarrier{}, ctx: ctx}
	s = &demoSummary{ClientToServer: directionSummary{Sent: 3}}
	s.check(d)
	if s.OK || len(s.Failures) != 1 || s.Failures[0] != "timed out after 1s (--timeout) with 3 of 10 messages sent" {
		t.Errorf("failures %q", s.Failures)
	}
}

// TestDemoLoopsFail checks that a failing session in the data phase is
// recorded as a failure of the run, and ignored once the run is closing.
func TestDemoLoopsFail(t *testing.T) {
	newRun := func(car carrier) *demoRun {
		return &demoRun{o: &demoOptions{messages: 5, size: minMessageSize}, car: car, ctx: context.Background(),
			c2s: newReceiver(dirClient, 5, minMessageSize, false), s2c: newReceiver(dirServer, 5, minMessageSize, false)}
	}
	d := newRun(udpCarrier{})
	w := newFakeSession()
	w.writeErr = errors.New("no buffer space")
	d.sendLoop(w, dirClient, &d.sentC, d.s2c, func() int64 { return 0 })
	r := newFakeSession()
	r.readErr = errors.New("authentication failed")
	close(r.replies)
	d.readLoop(r, d.c2s, "server")
	l := &fakeListener{sessions: make(chan session), err: errors.New("listener broke"), closed: make(chan struct{})}
	close(l.sessions)
	d.duplexServer(l)
	var got []string
	for _, err := range d.errs {
		got = append(got, describe(err))
	}
	want := "write: no buffer space|server read: authentication failed|server accept: listener broke"
	if strings.Join(got, "|") != want {
		t.Errorf("errors %q, want %q", strings.Join(got, "|"), want)
	}
	// Once closing, a read that fails is the close, not a failure.
	d.closing = true
	r = newFakeSession()
	r.readErr = errors.New("reset")
	close(r.replies)
	d.readLoop(r, d.c2s, "client")
	if len(d.errs) != 3 {
		t.Errorf("a failure while closing was recorded: %v", d.errs)
	}

	// An opaque carrier whose window stays full gives the records up after
	// 20 waits and sends on.
	d = newRun(quicCarrier{})
	d.o.messages = 1
	s := newFakeSession()
	start := time.Now()
	d.sendLoop(s, dirClient, &d.sentC, d.s2c, func() int64 { return 1 << 20 })
	if d.sentC.Load() != 1 || len(s.written) != 1 || d.givenUpC.Load() != 1<<20 {
		t.Errorf("sent %d, written %d, given up %d", d.sentC.Load(), len(s.written), d.givenUpC.Load())
	}
	if time.Since(start) < 20*10*time.Millisecond {
		t.Errorf("the sender did not wait for the window (%v)", time.Since(start))
	}
	d.giveUp(dirServer, 7)
	if d.givenUpS.Load() != 7 {
		t.Errorf("given up by the server %d", d.givenUpS.Load())
	}
	// Other carriers never give records up: they count the losses.
	d = newRun(udpCarrier{})
	d.giveUp(dirClient, 7)
	if d.givenUpC.Load() != 0 {
		t.Errorf("udp gave up %d", d.givenUpC.Load())
	}
}
