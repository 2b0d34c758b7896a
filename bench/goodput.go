package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// ErrNotBuilt reports a link whose transport is not built yet; its rows
// print "n/a (not built yet)".
var ErrNotBuilt = errors.New("not built yet")

// ErrNoLoss reports a link that cannot run under netsim loss (it does not
// run over the UDP sockets netsim wraps, as TCP).
var ErrNoLoss = errors.New("TCP: netsim wraps UDP only")

// ErrLinkUnsupported reports a link the library it compares against does
// not support (as DTLS 1.3 in pion/dtls/v3).
var ErrLinkUnsupported = errors.New("unsupported")

// Pipe is one direction of an established link: Send on the client end,
// Recv on the server end.
type Pipe struct {
	// Send sends one message.
	Send func(p []byte) error
	// Recv receives one message into buf and returns its length. It
	// returns an error once ctx is done.
	Recv func(ctx context.Context, buf []byte) (int, error)
	// Close releases both ends.
	Close func() error
	// Flush, if not nil, sends what Send has buffered and not sent yet. A
	// pipe whose Send may hold messages back (RawUDPBatched) sets it; the
	// goodput harness calls it once after its last Send, and reports its
	// error as a send error, so that no message counted as sent is
	// silently held back.
	Flush func() error
}

// Link is one transport under test, pluggable into MeasureGoodput and
// MeasureConnect.
type Link interface {
	// Name names the link in tables ("raw UDP", "QSMP/UDP", ...).
	Name() string
	// Payload is the message size the sender uses.
	Payload() int
	// Available returns nil if the link can run, or why not (wrapping
	// ErrNotBuilt or ErrLinkUnsupported).
	Available() error
	// Connect establishes the link (handshake included) from the client
	// to the server. client and server are two UDP sockets on loopback:
	// plain *net.UDPConn for a measurement without loss (so that the link
	// uses its native I/O path, batched where it batches), and
	// *netsim.Conn wrappers of them for a lossy one. A link that does not
	// run over them (TCP) opens its own loopback sockets and returns
	// ErrNoLoss from Lossy.
	Connect(ctx context.Context, client, server net.PacketConn) (*Pipe, error)
	// Lossy returns nil if the link runs over the given sockets, so that
	// netsim faults apply to it, or why not.
	Lossy() error
}

// GoodputResult is one link's goodput at one loss rate.
type GoodputResult struct {
	Link string  `json:"link"`
	Loss float64 `json:"loss"` // netsim loss probability each way
	// Status is empty for a measured cell, else why it is not ("n/a (not
	// built yet)").
	Status string `json:"status,omitempty"`
	// Sockets is the kind of UDP sockets the link was given: SocketsNative
	// (plain *net.UDPConn, at loss 0) or SocketsNetsim (netsim-wrapped,
	// under loss); empty for a cell not measured. TCP links open their
	// own sockets and report SocketsNative.
	Sockets string `json:"sockets,omitempty"`
	// BatchedIO is true when the link moves many datagrams per system
	// call in this measurement (a BatchedIO link on native sockets).
	BatchedIO bool  `json:"batched_io,omitempty"`
	Payload   int   `json:"payload"`   // bytes per message
	Sent      int64 `json:"sent"`      // messages the sender sent
	Delivered int64 `json:"delivered"` // messages the receiver got
	// Elapsed is from the first send to the last delivery.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Mbps is delivered payload in megabits (10^6 bits) per second: the
	// median run's (Sent, Delivered and Elapsed are that run's too).
	Mbps float64 `json:"mbps"`
	// Runs is the number of runs; MbpsMin and MbpsMax their extremes.
	Runs    int     `json:"runs"`
	MbpsMin float64 `json:"mbps_min"`
	MbpsMax float64 `json:"mbps_max"`
}

// Name is the measurement's name for Options.Only.
func (r GoodputResult) Name() string { return goodputName(r.Link, r.Loss) }

func goodputName(link string, loss float64) string {
	return fmt.Sprintf("goodput/%s/%g%%", link, loss*100)
}

// DeliveryRatio is Delivered/Sent (0 when nothing was sent).
func (r GoodputResult) DeliveryRatio() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Delivered) / float64(r.Sent)
}

// GoodputOptions parameterises MeasureGoodput.
type GoodputOptions struct {
	// Duration is how long the sender sends.
	Duration time.Duration
	// Seed seeds netsim's fault pattern.
	Seed int64
	// Idle is how long the receiver waits for more after the sender stops
	// and nothing arrives (default 200 ms).
	Idle time.Duration
	// Runs is the number of runs, each on a fresh connection (default 1);
	// the result is the median run by goodput. Loopback goodput on a busy
	// machine varies from run to run by a factor up to two.
	Runs int
}

// The values of GoodputResult.Sockets.
const (
	// SocketsNative: plain *net.UDPConn sockets, each link on its own I/O
	// path (sendmmsg, GSO and the like where it uses them).
	SocketsNative = "native"
	// SocketsNetsim: netsim-wrapped sockets, one datagram per system call
	// for every link.
	SocketsNetsim = "netsim"
)

// socketsFor is the kind of sockets MeasureGoodput gives links at loss.
func socketsFor(loss float64) string {
	if loss > 0 {
		return SocketsNetsim
	}
	return SocketsNative
}

// batchedIO reports whether link moves many datagrams per system call on
// the sockets it gets at loss: it has a BatchedIO method and gets native
// sockets (netsim's wrapper reads and writes one datagram at a time).
func batchedIO(link Link, loss float64) bool {
	_, ok := link.(interface{ BatchedIO() })
	return ok && socketsFor(loss) == SocketsNative
}

// statusOf turns a "cannot run" reason into the table's wording.
func statusOf(err error) string { return "n/a (" + err.Error() + ")" }

// MeasureGoodput connects link over two loopback UDP sockets, sends
// Payload-byte messages for opt.Duration, and counts what arrives; it does
// so opt.Runs times and keeps the median run. At loss 0 the sockets are
// plain *net.UDPConn, so that each link runs on its native I/O path; at
// loss > 0 each is wrapped by netsim, which gets the loss rate once the
// handshake is done. A link that is not available,
// or cannot run under loss when loss > 0, gives a result whose Status says
// so, and no error.
func MeasureGoodput(ctx context.Context, link Link, loss float64, opt GoodputOptions) (GoodputResult, error) {
	res := GoodputResult{Link: link.Name(), Loss: loss, Payload: link.Payload()}
	if err := link.Available(); err != nil {
		res.Status = statusOf(err)
		return res, nil
	}
	if loss > 0 {
		if err := link.Lossy(); err != nil {
			res.Status = statusOf(err)
			return res, nil
		}
	}
	runs := make([]GoodputResult, max(opt.Runs, 1))
	for i := range runs {
		o := opt
		o.Seed = opt.Seed + int64(i)*7919
		r, err := goodputOnce(ctx, link, loss, o)
		if err != nil {
			return r, err
		}
		runs[i] = r
	}
	slices.SortFunc(runs, func(a, b GoodputResult) int { return cmp.Compare(a.Mbps, b.Mbps) })
	res = runs[len(runs)/2]
	res.Runs, res.MbpsMin, res.MbpsMax = len(runs), runs[0].Mbps, runs[len(runs)-1].Mbps
	return res, nil
}

func goodputOnce(ctx context.Context, link Link, loss float64, opt GoodputOptions) (GoodputResult, error) {
	res := GoodputResult{Link: link.Name(), Loss: loss, Payload: link.Payload(),
		Sockets: socketsFor(loss), BatchedIO: batchedIO(link, loss)}
	if opt.Idle <= 0 {
		opt.Idle = 200 * time.Millisecond
	}
	var client, server net.PacketConn
	var sims []*netsim.Conn
	if res.Sockets == SocketsNetsim {
		c, s, err := simPair(opt.Seed)
		if err != nil {
			return res, err
		}
		client, server, sims = c, s, []*netsim.Conn{c, s}
	} else {
		c, s, err := udpPair()
		if err != nil {
			return res, err
		}
		client, server = c, s
	}
	defer client.Close()
	defer server.Close()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pipe, err := link.Connect(cctx, client, server)
	if err != nil {
		return res, fmt.Errorf("bench: %s connect: %w", link.Name(), err)
	}
	defer pipe.Close()
	for _, c := range sims {
		if err := c.SetConfig(netsim.Config{Loss: loss}); err != nil {
			return res, err
		}
	}

	size := link.Payload()
	start := time.Now()
	var lastNano atomic.Int64 // last delivery, nanoseconds after start
	var delivered atomic.Int64
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var recvErr error
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := pipe.Recv(rctx, buf)
			if err != nil {
				if rctx.Err() == nil {
					recvErr = err
				}
				return
			}
			if n == size {
				delivered.Add(1)
				lastNano.Store(int64(time.Since(start)))
			}
		}
	})

	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	// A sender blocked for good (a flow-controlled link whose peer went
	// away) is released by closing the pipe well after the sending time.
	watchdog := time.AfterFunc(opt.Duration+10*time.Second, func() { pipe.Close() })
	defer watchdog.Stop()
	var sendErr error
	for time.Since(start) < opt.Duration && ctx.Err() == nil {
		if err := pipe.Send(msg); err != nil {
			if isTransient(err) {
				continue
			}
			if time.Since(start) < opt.Duration {
				sendErr = err
			}
			break
		}
		res.Sent++
	}
	// A pipe that buffers sends what it holds: every message counted in
	// res.Sent has left, or the measurement fails.
	if pipe.Flush != nil {
		if err := pipe.Flush(); err != nil && sendErr == nil {
			sendErr = fmt.Errorf("flush: %w", err)
		}
	}
	// Drain: wait until everything sent has arrived, or, on a link that
	// may lose messages, until nothing has arrived for opt.Idle; at most
	// 10 s. A failed send ends the measurement at once.
	_, reliable := link.(interface{ Reliable() })
	sentAt := time.Since(start)
	for sendErr == nil && delivered.Load() < res.Sent {
		time.Sleep(min(opt.Idle/4, 10*time.Millisecond))
		last := time.Duration(lastNano.Load())
		el := time.Since(start)
		if !reliable && el-max(last, sentAt) >= opt.Idle || el-sentAt > 10*time.Second {
			break
		}
	}
	stop()
	pipe.Close()
	wg.Wait()
	if sendErr != nil {
		return res, fmt.Errorf("bench: %s send: %w", link.Name(), sendErr)
	}
	if recvErr != nil {
		return res, fmt.Errorf("bench: %s receive: %w", link.Name(), recvErr)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Delivered = delivered.Load()
	res.Elapsed = time.Duration(lastNano.Load())
	if res.Elapsed > 0 {
		res.Mbps = float64(res.Delivered) * float64(size) * 8 / 1e6 / res.Elapsed.Seconds()
	}
	return res, nil
}

// isTransient reports a send error worth retrying: a full socket buffer.
func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errNoBufs)
}

// udpSocket binds a UDP socket on 127.0.0.1 with large buffers, so that
// the kernel, not the socket, is the bottleneck.
func udpSocket() (*net.UDPConn, error) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = pc.SetReadBuffer(8 << 20)
	_ = pc.SetWriteBuffer(8 << 20)
	return pc, nil
}

// udpPair binds two plain UDP sockets on 127.0.0.1: what links get when
// nothing is to be simulated.
func udpPair() (client, server *net.UDPConn, err error) {
	if client, err = udpSocket(); err != nil {
		return nil, nil, err
	}
	if server, err = udpSocket(); err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}

// simPair binds two UDP sockets on 127.0.0.1 and wraps each in netsim
// with a clean link (faults are set later), seeded differently.
func simPair(seed int64) (client, server *netsim.Conn, err error) {
	mk := func(seed int64) (*netsim.Conn, error) {
		pc, err := udpSocket()
		if err != nil {
			return nil, err
		}
		c, err := netsim.Wrap(pc, netsim.Config{Seed: seed})
		if err != nil {
			pc.Close()
			return nil, err
		}
		return c, nil
	}
	if client, err = mk(seed); err != nil {
		return nil, nil, err
	}
	if server, err = mk(seed ^ 0x5eed); err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}

// ConnectResult is a link's handshake latency over loopback.
type ConnectResult struct {
	Link       string `json:"link"`
	Status     string `json:"status,omitempty"`
	Iterations int    `json:"iterations"`
	// Latency is the median time for Connect to return with both ends
	// established.
	Latency time.Duration `json:"latency_ns"`
	// CPU is the process's CPU time per handshake, both ends and every
	// goroutine together.
	CPU time.Duration `json:"cpu_ns"`
}

// Name is the measurement's name for Options.Only.
func (r ConnectResult) Name() string { return "connect/" + r.Link }

// MeasureConnect establishes link iterations times over plain loopback
// sockets (*net.UDPConn, no netsim wrapper) and returns the median latency and the mean process CPU per
// handshake.
func MeasureConnect(ctx context.Context, link Link, iterations int) (ConnectResult, error) {
	res := ConnectResult{Link: link.Name()}
	if err := link.Available(); err != nil {
		res.Status = statusOf(err)
		return res, nil
	}
	if iterations < 1 {
		iterations = 1
	}
	var cpu time.Duration
	walls := make([]time.Duration, 0, iterations)
	for range iterations {
		client, server, err := udpPair()
		if err != nil {
			return res, err
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		c0, t0 := processCPU(), time.Now()
		pipe, err := link.Connect(cctx, client, server)
		walls = append(walls, time.Since(t0))
		cpu += processCPU() - c0
		cancel()
		if err == nil {
			pipe.Close()
		}
		client.Close()
		server.Close()
		if err != nil {
			return res, fmt.Errorf("bench: %s connect: %w", link.Name(), err)
		}
	}
	res.Iterations = iterations
	slices.Sort(walls)
	res.Latency = walls[len(walls)/2]
	res.CPU = cpu / time.Duration(iterations)
	return res, nil
}

// ratio returns a/b, or NaN when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}
