package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
)

// demoOptions are the demo's flags.
type demoOptions struct {
	network   string
	duplex    bool
	config    string
	loss      float64
	reorder   float64
	duplicate float64
	messages  int
	size      int
	seed      int64
	json      bool
	timeout   time.Duration
}

func (o *demoOptions) faults() bool { return o.loss > 0 || o.reorder > 0 || o.duplicate > 0 }

func (o *demoOptions) mode() string {
	if o.duplex {
		return "duplex"
	}
	return "simplex"
}

// maxDemoMessages bounds --messages (the receivers keep a bitmap).
const maxDemoMessages = 100_000_000

func runDemo(e *env, args []string) int {
	f := newFlags("demo", "[--network "+networkNames()+"] [--mode simplex|duplex] [--config STRING] [--loss P] [--reorder P] [--duplicate P] [--messages N] [--size BYTES] [--seed N] [--json]", `
Generate keys in memory, start a server and a client in this process over
loopback, run the handshake, exchange messages and print a summary.

In simplex mode (QSMS) the client sends --messages messages and the server
echoes each one with "ECHO: " in front; in duplex mode (QSMD) both sides
send --messages messages to each other. Every message carries a sequence
number and a checksum that the receiving application verifies.

With --loss, --reorder or --duplicate the datagrams of both ends go through a
fault simulator (netsim, deterministic from --seed) on the real loopback
sockets; TCP never loses or reorders records, so these flags need a datagram
network. The demo exits 0 only if every message sent was delivered exactly
once and intact or was lost by the simulator, and the application saw no
duplicate, corrupted or unknown message.`)
	var o demoOptions
	var mode string
	f.StringVar(&o.network, "network", defaultNetwork, "`network`: "+networkNames())
	f.StringVar(&mode, "mode", "simplex", "`mode`: simplex (QSMS, echo) or duplex (QSMD, both ways)")
	f.StringVar(&o.config, "config", suite.Default, "configuration `string`")
	f.Float64Var(&o.loss, "loss", 0, "`probability` that a datagram is lost (datagram networks)")
	f.Float64Var(&o.reorder, "reorder", 0, "`probability` that a datagram is held back 10 ms and overtaken")
	f.Float64Var(&o.duplicate, "duplicate", 0, "`probability` that a datagram arrives twice")
	f.IntVar(&o.messages, "messages", 1000, "`number` of messages each way")
	f.IntVar(&o.size, "size", 256, "message size in `bytes` (at least 17)")
	f.Int64Var(&o.seed, "seed", 1, "`seed` of the fault simulator")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this `duration`")
	pos, status, done := f.parse(e, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return f.usageError(e, "unexpected argument %q", pos[0])
	}
	switch mode {
	case "simplex":
	case "duplex":
		o.duplex = true
	default:
		return f.usageError(e, "--mode %q: use simplex or duplex", mode)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", o.loss}, {"reorder", o.reorder}, {"duplicate", o.duplicate}} {
		if !(p.v >= 0 && p.v < 1) {
			return f.usageError(e, "--%s %v: a probability from 0 up to (not including) 1", p.name, p.v)
		}
	}
	switch {
	case o.messages < 1 || o.messages > maxDemoMessages:
		return f.usageError(e, "--messages %d: from 1 to %d", o.messages, maxDemoMessages)
	case o.size < minMessageSize || o.size > 1<<16:
		return f.usageError(e, "--size %d: from %d to 65536 bytes", o.size, minMessageSize)
	case o.timeout <= 0:
		return f.usageError(e, "--timeout must be positive")
	}
	s, err := lookupConfig(o.config)
	if err != nil {
		return f.usageError(e, "%v", err)
	}
	car, err := lookupNetwork(o.network)
	if err != nil {
		return f.usageError(e, "%v", err)
	}
	if _, ok := car.(packetCarrier); o.faults() && !ok {
		return f.usageError(e, "--loss, --reorder and --duplicate need a datagram network (--network udp or quic): %s delivers every record once and in order, so there is nothing to simulate", car.Name())
	}
	sum, err := demo(e, &o, s, car)
	if err != nil {
		return f.fail(e, err)
	}
	if o.json {
		sum.writeJSON(e.stdout)
	} else {
		sum.writeText(e.stdout)
	}
	if !sum.OK {
		return exitFailure
	}
	return exitOK
}

// demoRun is one run of the demo.
type demoRun struct {
	o   *demoOptions
	car carrier
	ctx context.Context

	// Fault simulation (packet carriers only).
	rawC, rawS       net.PacketConn
	simC, simS       *netsim.Conn
	c2sLink, s2cLink *linkCount

	c2s, s2c   *receiver    // what each side's application received
	sentC      atomic.Int64 // messages the client wrote
	sentS      atomic.Int64 // messages (or echoes) the server wrote
	serverRead atomic.Int64 // records the server application read
	// givenUpC and givenUpS count the messages a sender of an opaque carrier
	// (QUIC) stopped waiting for when its window stalled: the taps cannot
	// tell it which records the simulator lost.
	givenUpC, givenUpS atomic.Int64

	mu        sync.Mutex
	errs      []error
	closing   bool
	srvSess   session
	srvReady  chan struct{}
	readyOnce sync.Once
	// cliReady is closed when the client's handshake is done: the duplex
	// server sends only then, since a record that reaches a client still
	// finishing its handshake cannot be opened and is dropped ("early").
	cliReady chan struct{}
}

// fail records an error of the data phase (ignored once closing).
func (d *demoRun) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closing {
		d.errs = append(d.errs, err)
	}
}

func (d *demoRun) isClosing() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closing
}

// demo runs the whole demo and returns its summary; an error means it could
// not run at all (no keys, no socket, no handshake).
func demo(e *env, o *demoOptions, s *suite.Suite, car carrier) (*demoSummary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	d := &demoRun{o: o, car: car, ctx: ctx, srvReady: make(chan struct{}), cliReady: make(chan struct{})}
	sum := &demoSummary{
		Config: s.Name, Signature: s.SignatureName, KEM: s.KEMName,
		Mode: o.mode(), Network: car.Name(), Messages: o.messages, Size: o.size,
	}
	if o.faults() {
		sum.Faults = &faultSummary{Loss: o.loss, Reorder: o.reorder, Duplicate: o.duplicate, Seed: o.seed}
	}

	// Keys, in memory.
	start := time.Now()
	variant := keyfile.QSMS
	if o.duplex {
		variant = keyfile.QSMD
	}
	var serverKey, clientKey *keyfile.PrivateKey
	err := withProgress(e.stderr, fmt.Sprintf("generating keys (%s)", s.SignatureName), func() error {
		var err error
		if serverKey, err = keyfile.Generate(s, variant, nil, time.Now()); err != nil || !o.duplex {
			return err
		}
		clientKey, err = keyfile.Generate(s, variant, nil, time.Now())
		return err
	})
	if serverKey != nil {
		defer serverKey.Clear()
	}
	if clientKey != nil {
		defer clientKey.Clear()
	}
	if err != nil {
		return nil, withContext("key generation", err)
	}
	srvEP := endpoint{identity: serverKey, duplex: o.duplex, timeout: o.timeout}
	cliEP := endpoint{peer: serverKey.Public(), duplex: o.duplex, timeout: o.timeout}
	if o.duplex {
		cliEP.identity = clientKey
		srvEP.peer = clientKey.Public()
	}
	sum.KeygenMS = ms(time.Since(start))

	// Server and client.
	ln, err := d.listen(srvEP)
	if err != nil {
		d.closeSockets()
		return nil, withContext("cannot start the server", err)
	}
	n := uint64(o.messages)
	d.c2s = newReceiver(dirClient, n, o.size, false)
	d.s2c = newReceiver(dirServer, n, o.size, false)
	if !o.duplex {
		d.s2c = newReceiver(dirClient, n, o.size, true)
	}
	var wg sync.WaitGroup
	srv := &echoServer{log: discardLogger(), ln: ln}
	if o.duplex {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.duplexServer(ln)
		}()
	} else {
		srv.inspect = func(msg []byte) {
			d.serverRead.Add(1)
			d.c2s.accept(msg)
		}
		srv.echoed = func(int) { d.sentS.Add(1) }
		srv.onSession = func(c session) {
			d.mu.Lock()
			d.srvSess = c
			d.mu.Unlock()
			d.readyOnce.Do(func() { close(d.srvReady) })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.serve(ctx); err != nil {
				d.fail(withContext("server", err))
			}
		}()
	}
	stopServer := func() {
		srv.shutdown() // closes ln, and in simplex the session
		wg.Wait()
		d.closeSockets()
	}
	start = time.Now()
	client, err := d.dial(cliEP, ln.Addr())
	if err != nil {
		stopServer()
		return nil, withContext(fmt.Sprintf("no session with the server over %s", car.Name()), err)
	}
	sum.HandshakeMS = ms(time.Since(start))
	close(d.cliReady)
	select {
	case <-d.srvReady:
	case <-ctx.Done():
		client.Close()
		stopServer()
		return nil, withContext("the server did not complete the handshake", ctx.Err())
	}
	limit := client.MaxMessage()
	if !o.duplex {
		limit -= len(echoPrefix)
	}
	if o.size > limit {
		client.Close()
		stopServer()
		why := ""
		if !o.duplex {
			why = fmt.Sprintf(", as the echo adds %d bytes", len(echoPrefix))
		}
		return nil, fmt.Errorf("--size %d is larger than one record can carry over %s here: at most %d bytes%s", o.size, car.Name(), limit, why)
	}

	// Data phase.
	start = time.Now()
	var cwg sync.WaitGroup
	cwg.Add(2)
	go func() {
		defer cwg.Done()
		d.readLoop(client, d.s2c, "client")
	}()
	sendDone := make(chan struct{})
	go func() {
		defer cwg.Done()
		defer close(sendDone)
		progress := d.s2c // simplex: the echoes
		if o.duplex {
			progress = d.c2s
		}
		d.sendLoop(client, dirClient, &d.sentC, progress, d.clientInFlight)
	}()
	<-sendDone
	d.waitSettled()
	sum.DataMS = ms(time.Since(start))

	// Counts before closing, so that the close does not disturb them.
	sum.fill(d)
	if st, ok := client.(statser); ok {
		cs := st.carrierStats()
		sum.Client = &cs
	}
	d.mu.Lock()
	ss := d.srvSess
	d.mu.Unlock()
	if st, ok := ss.(statser); ok {
		cs := st.carrierStats()
		sum.Server = &cs
	}

	// Teardown: the client closes (an encrypted close record), then the server.
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	if err := client.Close(); err != nil && !isClosed(err) {
		d.mu.Lock()
		d.errs = append(d.errs, withContext("client close", err))
		d.mu.Unlock()
	}
	cwg.Wait()
	if ss != nil && o.duplex {
		ss.Close()
	}
	stopServer()
	sum.check(d)
	return sum, nil
}

// listen starts the server: over the fault stack for a packet carrier.
func (d *demoRun) listen(ep endpoint) (listener, error) {
	pc, ok := d.car.(packetCarrier)
	if !ok {
		return d.car.Listen("127.0.0.1:0", ep)
	}
	var err error
	if d.rawS, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if d.rawC, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	for _, c := range []net.PacketConn{d.rawS, d.rawC} {
		if u, ok := c.(*net.UDPConn); ok {
			u.SetReadBuffer(4 << 20)
			u.SetWriteBuffer(4 << 20)
		}
	}
	d.c2sLink = newLinkCount(pc.IsDataRecord)
	d.s2cLink = newLinkCount(pc.IsDataRecord)
	cfg := netsim.Config{Loss: d.o.loss, Reorder: d.o.reorder, Duplicate: d.o.duplicate}
	cfg.Seed = d.o.seed
	if d.simC, err = netsim.Wrap(&tap{PacketConn: d.rawC, out: d.c2sLink, in: d.s2cLink}, cfg); err != nil {
		return nil, err
	}
	cfg.Seed = d.o.seed + 1
	if d.simS, err = netsim.Wrap(&tap{PacketConn: d.rawS, out: d.s2cLink, in: d.c2sLink}, cfg); err != nil {
		return nil, err
	}
	return pc.ListenPacket(&tap{PacketConn: d.simS, above: true, out: d.s2cLink}, ep)
}

// dial connects the client to the server at addr.
func (d *demoRun) dial(ep endpoint, addr net.Addr) (session, error) {
	pc, ok := d.car.(packetCarrier)
	if !ok {
		return d.car.Dial(d.ctx, addr.String(), ep)
	}
	return pc.DialPacket(d.ctx, &tap{PacketConn: d.simC, above: true, out: d.c2sLink}, d.rawS.LocalAddr(), ep)
}

// closeSockets closes the demo's own sockets (the carrier may have closed
// them already).
func (d *demoRun) closeSockets() {
	if d.simC != nil {
		d.simC.Close()
	}
	if d.simS != nil {
		d.simS.Close()
	}
	if d.rawC != nil {
		d.rawC.Close()
	}
	if d.rawS != nil {
		d.rawS.Close()
	}
}

// duplexServer accepts the one session of the duplex demo, and reads and
// sends on it.
func (d *demoRun) duplexServer(ln listener) {
	c, err := ln.Accept(d.ctx)
	if err != nil {
		if !d.isClosing() && d.ctx.Err() == nil {
			d.fail(withContext("server accept", err))
		}
		return
	}
	d.mu.Lock()
	d.srvSess = c
	d.mu.Unlock()
	d.readyOnce.Do(func() { close(d.srvReady) })
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-d.cliReady:
		case <-d.ctx.Done():
			return
		}
		d.sendLoop(c, dirServer, &d.sentS, d.s2c, d.serverInFlight)
	}()
	d.readLoop(c, d.c2s, "server")
	wg.Wait()
}

// readLoop delivers one side's records to its receiver until the session
// ends.
func (d *demoRun) readLoop(c session, r *receiver, side string) {
	buf := make([]byte, maxRecord)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !isClosed(err) && !d.isClosing() {
				d.fail(withContext(side+" read", err))
			}
			return
		}
		if side == "server" {
			d.serverRead.Add(1)
		}
		r.accept(buf[:n])
	}
}

// windowBytes bounds the payload in flight of one sender, so that the
// loopback sockets never overflow (their losses would not be the
// simulator's).
const windowBytes = 256 << 10

// sendLoop writes the messages of one direction, keeping at most a window
// of them in flight: inFlight counts those sent and neither answered
// (delivered, or echoed back) nor lost by the simulator. When the window
// stays full for a while it sends anyway, so that a loss it cannot see does
// not stall it.
func (d *demoRun) sendLoop(c session, dir byte, sent *atomic.Int64, progress *receiver, inFlight func() int64) {
	window := int64(windowBytes / d.o.size)
	window = max(1, min(window, 128)) // below the receive queue of a datagram Conn
	msg := make([]byte, d.o.size)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := range uint64(d.o.messages) {
		for waits := 0; inFlight() >= window && waits < 20; waits++ {
			timer.Reset(10 * time.Millisecond)
			select {
			case <-progress.progress:
			case <-timer.C:
			case <-d.ctx.Done():
				return
			}
		}
		if f := inFlight(); f >= window {
			d.giveUp(dir, f)
		}
		if d.ctx.Err() != nil {
			return
		}
		makeMessage(msg, dir, seq)
		if _, err := c.Write(msg); err != nil {
			d.fail(withContext("write", err))
			return
		}
		sent.Add(1)
	}
}

// clientInFlight counts the client's messages not yet answered (in
// simplex, by the echo) nor certainly lost. Only the simulator's losses are
// certain; a record in a socket or a receive queue is still in flight.
func (d *demoRun) clientInFlight() int64 {
	if _, ok := d.car.(opaquePackets); ok {
		got := d.s2c.counts().Delivered
		if d.o.duplex {
			got = d.c2s.counts().Delivered
		}
		return d.sentC.Load() - got - d.givenUpC.Load()
	}
	if d.o.duplex {
		return d.sentC.Load() - d.c2s.counts().Delivered - simLost(d.simC)
	}
	return d.sentC.Load() - d.s2c.counts().Delivered - simLost(d.simC) - simLost(d.simS)
}

// serverInFlight counts the duplex server's messages not yet delivered to
// the client nor certainly lost.
func (d *demoRun) serverInFlight() int64 {
	if _, ok := d.car.(opaquePackets); ok {
		return d.sentS.Load() - d.s2c.counts().Delivered - d.givenUpS.Load()
	}
	return d.sentS.Load() - d.s2c.counts().Delivered - simLost(d.simS)
}

// giveUp stops counting the n messages of direction dir in flight after
// the window stalled, for an opaque carrier: on loopback none is still on
// its way after that long. (Other carriers count the simulator's losses.)
// The window of at most 128 records in flight also keeps QUIC's receive
// queue (128 DATAGRAM frames, dropped silently beyond) from overflowing.
func (d *demoRun) giveUp(dir byte, n int64) {
	if _, ok := d.car.(opaquePackets); !ok {
		return
	}
	if dir == dirClient {
		d.givenUpC.Add(n)
	} else {
		d.givenUpS.Add(n)
	}
}

// simLost returns the datagrams sim lost (all kinds: the few handshake
// datagrams lost only make the window a little larger).
func simLost(sim *netsim.Conn) int64 {
	if sim == nil {
		return 0
	}
	return int64(sim.Stats().Lost)
}

// settled reports whether every message written has been delivered or
// lost, and nothing is left in the simulator or the sockets.
func (d *demoRun) settled() bool {
	c2s, s2c := d.c2sLink.snapshot(), d.s2cLink.snapshot()
	if c2s.OSLost+s2c.OSLost > 0 {
		return false
	}
	for _, sim := range []*netsim.Conn{d.simC, d.simS} {
		if sim != nil && sim.Stats().InFlight > 0 {
			return false
		}
	}
	cs, ss := d.c2s.counts(), d.s2c.counts()
	if _, ok := d.car.(opaquePackets); ok {
		// The taps count packets: settled once every record arrived, or
		// after the quiet period.
		c2s.SimLost, s2c.SimLost = 0, 0
	}
	if cs.Delivered+c2s.SimLost != d.sentC.Load() {
		return false
	}
	if !d.o.duplex && d.sentS.Load() != d.serverRead.Load() {
		return false // the server has echoes still to write
	}
	sentS := d.sentS.Load()
	if d.o.duplex && sentS != int64(d.o.messages) {
		return false // the duplex server is still sending
	}
	return ss.Delivered+s2c.SimLost == sentS
}

// quietPeriod is how long the demo waits without any progress before it
// stops waiting for messages still due.
var quietPeriod = 2 * time.Second

// waitSettled waits until settled, until nothing moves for quietPeriod,
// or until the run is stopped.
func (d *demoRun) waitSettled() {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := d.fingerprint(), time.Now()
	for !d.settled() {
		select {
		case <-tick.C:
		case <-d.ctx.Done():
			return
		}
		if fp := d.fingerprint(); fp != last {
			last, lastChange = fp, time.Now()
		} else if time.Since(lastChange) > d.quiet() {
			return
		}
		d.mu.Lock()
		failed := len(d.errs) > 0
		d.mu.Unlock()
		if failed {
			return
		}
	}
}

// opaqueQuiet is how long nothing may move once no packet is left in the
// simulator or a socket, for a carrier whose records the taps cannot count
// (QUIC): a record not delivered by then was lost.
const opaqueQuiet = 250 * time.Millisecond

// quiet is how long waitSettled waits without progress.
func (d *demoRun) quiet() time.Duration {
	if _, ok := d.car.(opaquePackets); !ok {
		return quietPeriod
	}
	c2s, s2c := d.c2sLink.snapshot(), d.s2cLink.snapshot()
	for _, sim := range []*netsim.Conn{d.simC, d.simS} {
		if sim != nil && sim.Stats().InFlight > 0 {
			return quietPeriod
		}
	}
	if c2s.OSLost+s2c.OSLost > 0 || d.sentC.Load() != int64(d.o.messages) {
		return quietPeriod
	}
	return min(opaqueQuiet, quietPeriod)
}

// fingerprint changes whenever any count of the run moves.
func (d *demoRun) fingerprint() [6]int64 {
	c2s, s2c := d.c2sLink.snapshot(), d.s2cLink.snapshot()
	return [6]int64{d.sentC.Load(), d.sentS.Load(), d.c2s.counts().Delivered, d.s2c.counts().Delivered, c2s.Received + c2s.SimLost, s2c.Received + s2c.SimLost}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
