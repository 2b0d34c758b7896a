package datagram

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// goodputSize is the record size of the goodput benchmark, and
// goodputPayload the MaxPayload that fits it in one QSMS or QSMD record
// (as in the bench module).
const (
	goodputSize    = 1400
	goodputPayload = 1500
)

// goodputIdle is how long a receiver waits for more once the sender is
// done and nothing arrives.
const goodputIdle = 200 * time.Millisecond

// goodput is what one goodput measurement found.
type goodput struct {
	sent, delivered int64
	elapsed         time.Duration // from the first send to the last delivery
	cpu             time.Duration // the process's CPU time meanwhile (0: unknown)
}

// processCPU returns the process's CPU time, where the platform has the
// clock (cpuclock_linux_test.go); nil elsewhere.
var processCPU func() time.Duration

// cores is the CPU the measurement used, in cores.
func (g goodput) cores() float64 {
	if g.elapsed <= 0 {
		return 0
	}
	return g.cpu.Seconds() / g.elapsed.Seconds()
}

func (g goodput) mbps() float64 {
	if g.elapsed <= 0 {
		return 0
	}
	return float64(g.delivered) * goodputSize / 1e6 / g.elapsed.Seconds()
}

// cpuPerRecord is the process's CPU time per record delivered, in ns (0:
// unknown). Per delivered record, so that a receiver that could not keep
// up (and the kernel that dropped the rest) does not look cheap.
func (g goodput) cpuPerRecord() float64 {
	if g.delivered == 0 {
		return 0
	}
	return float64(g.cpu.Nanoseconds()) / float64(g.delivered)
}

func (g goodput) fraction() float64 {
	if g.sent == 0 {
		return 0
	}
	return float64(g.delivered) / float64(g.sent)
}

// baselines of the goodput benchmark measured in this run (MB/s; rawCPU
// in ns of process CPU per datagram).
var baselines struct {
	mu                              sync.Mutex
	raw, opn, one, sl, rawCPU, bare float64 // opn: OpenBatch; one: Open per record; sl: SealDeferred; bare: bareGoodput
}

// BenchmarkGoodput measures the goodput of 1400-byte records over loopback
// UDP and prints, side by side in one run, its two baselines:
//
//   - raw: plain UDP datagrams of the same size with the carrier's socket
//     batching (batchio: WriteBatch of up to 64 datagrams, GSO where the
//     kernel has it; ReadBatch of 64, GRO), one sender and one receiver;
//   - open-batch: record.Opener.OpenBatch of 1400-byte datagram-profile
//     records (QSMS, RCS-256), 16 per call, on one core: the receiver's
//     cryptographic cost as the receive path pays it (the lower baseline);
//   - open: the same through Opener.Open one record at a time, for
//     reference;
//   - seal-batch: record.Sealer.Defer and SealDeferred over 16 records at
//     a time, as the sender's socket goroutine seals them, on one core;
//   - bare: the same records with no carrier at all: one goroutine seals
//     them 16 at a time (as seal-batch) and sends them 64 at a time (as
//     raw), one receives them (as raw) and opens them 16 at a time (as
//     open-batch), copying each plaintext out as Read would. No sessions,
//     flow control, acknowledgements or statistics; what the receiver
//     does not keep up with is lost. No carrier on this machine can beat
//     it: it is the cryptography and the socket I/O alone;
//   - qsmp: one Conn writing (Dial) and one reading (Listen, as many
//     SO_REUSEPORT sockets as GOMAXPROCS), QSMS;
//   - qsmp-flows: 4 x GOMAXPROCS such sessions at once, writing n records
//     between them; sockets is the number of the listener's sockets that
//     carried sessions (the kernel spreads them by address and port).
//
// Each reports goodput-MB/s (delivered payload over the time from the
// first send to the last delivery) and, for raw and qsmp, the fraction of
// records delivered (delivered, at 0 % loss: what the receiver did not
// keep up with). bare and qsmp also report their ratio to the lower of raw
// and open-batch (x-baseline); qsmp its ratio to raw and open
// (x-one-by-one) and to bare (x-bare), measuring the baselines first if
// their sub-benchmarks did not run.
//
// raw and qsmp also report the process's CPU time per record delivered (cpu-ns/rec,
// sender and receiver together), and qsmp the budget it implies: sealing
// and opening a record (the seal-batch and open-batch rates) plus what the
// kernel costs per datagram (raw's cpu-ns/rec) is the work no carrier can
// avoid; on GOMAXPROCS cores shared by sender and receiver that bounds
// goodput at ceiling-MB/s (x-ceiling: the bound over the lower baseline),
// and carrier-ns/rec is what the carrier spends per record beyond it:
//
//	go test -run XXX -bench '^BenchmarkGoodput$' -benchtime 300000x ./datagram/
func BenchmarkGoodput(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		g := rawGoodput(b, b.N)
		report(b, g)
		b.ReportMetric(g.cpuPerRecord(), "cpu-ns/rec")
		baselines.mu.Lock()
		baselines.raw, baselines.rawCPU = g.mbps(), g.cpuPerRecord()
		baselines.mu.Unlock()
	})
	b.Run("open", func(b *testing.B) {
		mbps := openRate(b, b.N, false)
		b.ReportMetric(mbps, "goodput-MB/s")
		baselines.mu.Lock()
		baselines.one = mbps
		baselines.mu.Unlock()
	})
	b.Run("open-batch", func(b *testing.B) {
		mbps := openRate(b, b.N, true)
		b.ReportMetric(mbps, "goodput-MB/s")
		baselines.mu.Lock()
		baselines.opn = mbps
		baselines.mu.Unlock()
	})
	b.Run("seal-batch", func(b *testing.B) {
		mbps := sealRate(b, b.N)
		b.ReportMetric(mbps, "goodput-MB/s")
		baselines.mu.Lock()
		baselines.sl = mbps
		baselines.mu.Unlock()
	})
	b.Run("bare", func(b *testing.B) {
		g := bareGoodput(b, b.N)
		report(b, g)
		b.ReportMetric(g.cpuPerRecord(), "cpu-ns/rec")
		baselines.mu.Lock()
		raw, opn := baselines.raw, baselines.opn
		baselines.bare = g.mbps()
		baselines.mu.Unlock()
		if raw > 0 && opn > 0 {
			b.ReportMetric(g.mbps()/min(raw, opn), "x-baseline")
		}
	})
	b.Run("qsmp-flows", func(b *testing.B) {
		flows := 4 * runtime.GOMAXPROCS(0)
		g, socks := qsmpGoodputFlows(b, b.N, flows, false)
		report(b, g)
		b.ReportMetric(float64(socks), "sockets")
	})
	b.Run("qsmp", func(b *testing.B) {
		g := qsmpGoodput(b, b.N, false)
		report(b, g)
		baselines.mu.Lock()
		raw, opn, one, sl, rawCPU, bare := baselines.raw, baselines.opn, baselines.one, baselines.sl, baselines.rawCPU, baselines.bare
		baselines.mu.Unlock()
		if raw == 0 {
			r := rawGoodput(b, 200000)
			raw, rawCPU = r.mbps(), r.cpuPerRecord()
		}
		if opn == 0 {
			opn = openRate(b, 100000, true)
		}
		if one == 0 {
			one = openRate(b, 100000, false)
		}
		if sl == 0 {
			sl = sealRate(b, 100000)
		}
		if bare == 0 {
			bare = bareGoodput(b, 300000).mbps()
		}
		low := min(raw, opn)
		b.ReportMetric(g.mbps()/low, "x-baseline")
		b.ReportMetric(g.mbps()/bare, "x-bare")
		b.ReportMetric(g.mbps()/min(raw, one), "x-one-by-one")
		b.ReportMetric(g.cores(), "cores")
		b.Logf("qsmp %.1f MB/s (%.3f delivered), raw UDP %.1f MB/s, open %.1f MB/s (batched as the receiver opens; %.1f one by one): %.2fx the lower (%.2fx with one-by-one open); bare pipeline (no carrier) %.1f MB/s = %.2fx the lower, qsmp at %.2fx of it",
			g.mbps(), g.fraction(), raw, opn, one, g.mbps()/low, g.mbps()/min(raw, one), bare, bare/low, g.mbps()/bare)
		if bd, ok := goodputBudget(g, sl, opn, rawCPU, runtime.GOMAXPROCS(0)); ok && b.N >= 10000 {
			b.ReportMetric(g.cpuPerRecord(), "cpu-ns/rec")
			b.ReportMetric(bd.ceiling, "ceiling-MB/s")
			b.ReportMetric(bd.ceiling/low, "x-ceiling")
			b.ReportMetric(bd.carrier, "carrier-ns/rec")
			b.Logf("per record: seal %.0f ns + open %.0f ns + socket I/O %.0f ns (raw UDP's CPU per datagram) = %.0f ns of unavoidable work; qsmp spent %.0f ns of CPU, so the carrier's share is %.0f ns. On %d cores shared by sender and receiver, the unavoidable work alone caps goodput at %.0f MB/s = %.2fx the lower baseline",
				bd.seal, bd.open, rawCPU, bd.floor, g.cpuPerRecord(), bd.carrier, runtime.GOMAXPROCS(0), bd.ceiling, bd.ceiling/low)
		}
	})
}

func report(b *testing.B, g goodput) {
	b.ReportMetric(g.mbps(), "goodput-MB/s")
	b.ReportMetric(g.fraction(), "delivered")
	b.ReportMetric(0, "ns/op")
}

// loopbackPair returns two batchio-wrapped UDP sockets on 127.0.0.1 set up
// as the carrier sets up its own.
func loopbackPair(tb testing.TB) (a, b *batchio.Conn, aAddr, bAddr netip.AddrPort) {
	tb.Helper()
	mk := func() (*batchio.Conn, netip.AddrPort) {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		setSocketBuffers(pc)
		return batchio.New(pc, batchSize), pc.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	a, aAddr = mk()
	b, bAddr = mk()
	return a, b, aAddr, bAddr
}

// rawGoodput sends n datagrams from one socket to another with the
// carrier's batching and counts what arrives.
func rawGoodput(tb testing.TB, n int) goodput {
	src, dst, _, to := loopbackPair(tb)
	defer src.Close()
	var delivered, lastNano atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuNow()
	start := time.Now()
	wg.Go(func() {
		msgs := make([]batchio.Message, batchSize)
		for i := range msgs {
			msgs[i].Buf = make([]byte, goodputPayload+1)
		}
		for {
			k, err := dst.ReadBatch(msgs)
			if err != nil {
				return
			}
			for _, m := range msgs[:k] {
				if m.N == goodputSize {
					delivered.Add(1)
				}
			}
			lastNano.Store(int64(time.Since(start)))
		}
	})
	out := make([]batchio.Message, batchSize)
	for i := range out {
		out[i] = batchio.Message{Buf: make([]byte, goodputSize), Addr: to}
	}
	for sent := 0; sent < n; {
		k := min(n-sent, batchSize)
		w, err := src.WriteBatch(out[:k])
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			tb.Fatal(err)
		}
		sent += w
	}
	waitDelivered(&delivered, &lastNano, int64(n), start)
	cpu := cpuNow() - cpu0
	dst.Close()
	wg.Wait()
	return goodput{sent: int64(n), delivered: delivered.Load(), elapsed: time.Duration(lastNano.Load()), cpu: cpu}
}

// waitDelivered waits until want records arrived or none did for
// goodputIdle.
func waitDelivered(delivered, lastNano *atomic.Int64, want int64, start time.Time) {
	sentAt := time.Since(start)
	for delivered.Load() < want {
		time.Sleep(5 * time.Millisecond)
		last := max(time.Duration(lastNano.Load()), sentAt)
		if time.Since(start)-last >= goodputIdle {
			return
		}
	}
}

// openRate opens n 1400-byte QSMS datagram-profile records on one core
// and returns the plaintext rate in MB/s: one Open per record, or, with
// batch, OpenBatch over the 16 records the receive path opens together.
func openRate(tb testing.TB, n int, batch bool) float64 {
	secret := make([]byte, record.DatagramSecretSize)
	rand.Read(secret)
	key, base, err := record.DatagramKeys(false, secret, record.ClientToServer, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var ctr atomic.Uint64
	s := record.NewSealer(key, base, &ctr)
	win, _ := window.NewSync(window.DefaultSize)
	o := record.NewOpener(key, base, win, nil, record.DefaultTimeThreshold)
	msg := make([]byte, goodputSize)
	env := make([]byte, envelopeSize)
	now := record.UnixTime(time.Now())
	recs := make([][]byte, 1024)
	for i := range recs {
		recs[i], _, _ = s.Seal(nil, env, record.FlagEncryptedMessage, msg, now)
	}
	outs := make([][]byte, maxPendingRecords)
	for i := range outs {
		outs[i] = make([]byte, 0, goodputPayload)
	}
	items := make([]record.OpenItem, maxPendingRecords)
	var spent time.Duration
	for done := 0; done < n; {
		k := min(n-done, len(recs))
		t0 := time.Now()
		if batch {
			for i := 0; i < k; i += len(items) {
				g := items[:min(len(items), k-i)]
				for j := range g {
					g[j] = record.OpenItem{Dst: outs[j][:0], Prefix: env, Pkt: recs[i+j]}
				}
				o.OpenBatch(g, now)
				for j := range g {
					if g[j].Err != nil {
						tb.Fatal(g[j].Err)
					}
				}
			}
		} else {
			for _, r := range recs[:k] {
				if _, _, err := o.Open(outs[0][:0], env, r, now); err != nil {
					tb.Fatal(err)
				}
			}
		}
		spent += time.Since(t0)
		done += k
		for i := range recs[:k] {
			recs[i], _, _ = s.Seal(recs[i][:0], env, record.FlagEncryptedMessage, msg, now)
		}
	}
	return float64(n) * goodputSize / 1e6 / spent.Seconds()
}

// budget is the CPU account of one goodput run (ns per record; MB/s).
type budget struct {
	seal, open, floor, carrier, ceiling float64
}

// goodputBudget accounts g's CPU time per record against the work no
// carrier avoids: sealing (sealMBps), opening (openMBps) and the kernel's
// cost per datagram (rawCPU, ns). With that work alone on cores cores,
// goodput would be ceiling. ok is false if the process CPU is unknown.
func goodputBudget(g goodput, sealMBps, openMBps, rawCPU float64, cores int) (b budget, ok bool) {
	if g.cpu <= 0 || sealMBps <= 0 || openMBps <= 0 {
		return b, false
	}
	b.seal = goodputSize * 1e3 / sealMBps
	b.open = goodputSize * 1e3 / openMBps
	b.floor = b.seal + b.open + rawCPU
	b.carrier = g.cpuPerRecord() - b.floor
	b.ceiling = float64(cores) * goodputSize * 1e3 / b.floor
	return b, true
}

// sealRate seals n 1400-byte QSMS datagram-profile records on one core as
// the sender's socket goroutine does (Sealer.Defer, then SealDeferred over
// runs of 16) and returns the plaintext rate in MB/s.
func sealRate(tb testing.TB, n int) float64 {
	secret := make([]byte, record.DatagramSecretSize)
	rand.Read(secret)
	key, base, err := record.DatagramKeys(false, secret, record.ClientToServer, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var ctr atomic.Uint64
	s := record.NewSealer(key, base, &ctr)
	msg := make([]byte, goodputSize)
	env := make([]byte, envelopeSize)
	now := record.UnixTime(time.Now())
	bufs := make([][]byte, maxSealRun)
	ds := make([]*record.Deferred, maxSealRun)
	for i := range bufs {
		bufs[i] = make([]byte, 0, goodputPayload+64)
		ds[i] = new(record.Deferred)
	}
	var spent time.Duration
	for done := 0; done < n; done += len(bufs) {
		t0 := time.Now()
		for i := range bufs {
			bufs[i], _, err = s.Defer(ds[i], append(bufs[i][:0], env...), env, record.FlagEncryptedMessage, msg, now)
			if err != nil {
				tb.Fatal(err)
			}
		}
		s.SealDeferred(bufs, ds)
		spent += time.Since(t0)
	}
	return float64(n) * goodputSize / 1e6 / spent.Seconds()
}

// goodputDebug, if set, sees the first Conns and the Listener of
// qsmpGoodputFlows once it is done.
var goodputDebug func(c, s *Conn, l *Listener)

// qsmpGoodput writes n 1400-byte records from a dialed Conn to an accepted
// one over loopback UDP and counts what Read returns.
func qsmpGoodput(tb testing.TB, n int, duplex bool) goodput {
	g, _ := qsmpGoodputFlows(tb, n, 1, duplex)
	return g
}

// qsmpGoodputFlows dials flows Conns to one listener, writes n 1400-byte
// records spread over them, one goroutine each, and counts what the
// accepted Conns' Reads return. It also returns how many of the
// listener's sockets carried sessions.
func qsmpGoodputFlows(tb testing.TB, n, flows int, duplex bool) (goodput, int) {
	l, cli := goodputListener(tb, duplex)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*Conn, flows)
	servers := make([]*Conn, flows)
	for i := range flows {
		c, s := dialLoopback(tb, ctx, l, "udp4", cli)
		defer c.Close()
		clients[i], servers[i] = c, s
	}
	used := make(map[*sock]bool)
	for _, s := range servers {
		used[s.sk] = true
	}
	var delivered, lastNano atomic.Int64
	var readers, writers sync.WaitGroup
	cpu0 := cpuNow()
	start := time.Now()
	for _, s := range servers {
		readers.Go(func() { countReads(s, int64(n), start, &delivered, &lastNano) })
	}
	for i, c := range clients {
		writers.Go(func() {
			msg := make([]byte, goodputSize)
			for range n/flows + min(1, max(0, n%flows-i)) {
				if _, err := c.Write(msg); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	writers.Wait()
	waitDelivered(&delivered, &lastNano, int64(n), start)
	// Up to the wait's last poll: a little idle time after the last
	// delivery is counted in the elapsed time's stead.
	cpu := cpuNow() - cpu0
	for _, s := range servers {
		s.SetReadDeadline(time.Now())
	}
	readers.Wait()
	if goodputDebug != nil {
		goodputDebug(clients[0], servers[0], l)
	}
	return goodput{sent: int64(n), delivered: delivered.Load(), elapsed: time.Duration(lastNano.Load()), cpu: cpu}, len(used)
}

// bareGoodput is the goodput of 1400-byte QSMS datagram-profile records
// with no carrier: one goroutine seals them (Sealer.Defer, SealDeferred
// over 16) into datagrams with an envelope and sends 64 at a time, one
// reads them (ReadBatchView, as the socket reader does), opens them
// (OpenBatch over 16, the window checked) and copies each plaintext into
// one buffer, as a Read would. The sender never waits for the receiver:
// what it cannot keep up with is lost, and counted out of the goodput.
func bareGoodput(tb testing.TB, n int) goodput {
	src, dst, _, to := loopbackPair(tb)
	defer src.Close()
	secret := make([]byte, record.DatagramSecretSize)
	rand.Read(secret)
	sealKey, sealBase, err := record.DatagramKeys(false, secret, record.ClientToServer, 0)
	if err != nil {
		tb.Fatal(err)
	}
	openKey, openBase, err := record.DatagramKeys(false, secret, record.ClientToServer, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var ctr atomic.Uint64
	s := record.NewSealer(sealKey, sealBase, &ctr)
	win, _ := window.NewSync(window.DefaultSize)
	o := record.NewOpener(openKey, openBase, win, nil, record.DefaultTimeThreshold)
	env := make([]byte, envelopeSize)
	var delivered, failed, lastNano atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuNow()
	start := time.Now()
	wg.Go(func() {
		const stride = goodputPayload + 1
		msgs := make([]batchio.Message, batchSize)
		arena := make([]byte, len(msgs)*stride)
		outs := make([][]byte, maxPendingRecords)
		for i := range outs {
			outs[i] = make([]byte, 0, goodputPayload)
		}
		items := make([]record.OpenItem, maxPendingRecords)
		user := make([]byte, 2*goodputSize)
		for {
			for i := range msgs {
				msgs[i].Buf = arena[i*stride : (i+1)*stride : (i+1)*stride]
			}
			k, err := dst.ReadBatchView(msgs)
			if err != nil {
				return
			}
			now := record.UnixTime(time.Now())
			for i := 0; i < k; i += len(items) {
				g := items[:min(len(items), k-i)]
				for j := range g {
					m := msgs[i+j].Buf[:msgs[i+j].N]
					g[j] = record.OpenItem{Dst: outs[j][:0], Prefix: m[:envelopeSize], Pkt: m[envelopeSize:]}
				}
				o.OpenBatch(g, now)
				for j := range g {
					if g[j].Err != nil {
						failed.Add(1)
					} else if copy(user, g[j].Out) == goodputSize {
						delivered.Add(1)
					}
				}
			}
			lastNano.Store(int64(time.Since(start)))
		}
	})
	out := make([]batchio.Message, batchSize)
	for i := range out {
		out[i] = batchio.Message{Buf: make([]byte, 0, goodputPayload+64), Addr: to}
	}
	var bufs [maxSealRun][]byte
	var ds [maxSealRun]*record.Deferred
	for i := range ds {
		ds[i] = new(record.Deferred)
	}
	msg := make([]byte, goodputSize)
	for sent := 0; sent < n; {
		k := min(n-sent, len(out))
		now := record.UnixTime(time.Now())
		for i := 0; i < k; i += maxSealRun {
			r := min(maxSealRun, k-i)
			for j := range r {
				b, _, err := s.Defer(ds[j], append(out[i+j].Buf[:0], env...), env, record.FlagEncryptedMessage, msg, now)
				if err != nil {
					tb.Fatal(err)
				}
				out[i+j].Buf, bufs[j] = b, b
			}
			s.SealDeferred(bufs[:r], ds[:r])
		}
		w, err := src.WriteBatch(out[:k])
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			tb.Fatal(err)
		}
		sent += w
	}
	waitDelivered(&delivered, &lastNano, int64(n), start)
	cpu := cpuNow() - cpu0
	dst.Close()
	wg.Wait()
	if f := failed.Load(); f > 0 {
		tb.Fatalf("bare pipeline: %d records failed to open", f)
	}
	return goodput{sent: int64(n), delivered: delivered.Load(), elapsed: time.Duration(lastNano.Load()), cpu: cpu}
}

// goodputListener listens on loopback UDP as the goodput benchmarks do
// (QSMS, or QSMD with duplex; records of goodputSize in one datagram; no
// handshake rate limit) and returns the listener and the clients' Config.
func goodputListener(tb testing.TB, duplex bool) (*Listener, *Config) {
	srv, cli := pairConfigs(tb, duplex)
	srv.MaxPayload, cli.MaxPayload = goodputPayload, goodputPayload
	srv.PrefixRate = -1
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		tb.Fatal(err)
	}
	return l, cli
}

// goodputSession dials one session to a goodput listener (QSMS) and
// returns a context for the test's waits and the dialed and accepted Conns;
// all are closed (cancelled) when the test ends.
func goodputSession(tb testing.TB) (ctx context.Context, c, s *Conn) {
	tb.Helper()
	l, cli := goodputListener(tb, false)
	tb.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	c, s = dialLoopback(tb, ctx, l, "udp4", cli)
	tb.Cleanup(func() { c.Close() })
	return ctx, c, s
}

// countReads reads s until it fails, counting the goodputSize records it
// returns in delivered and storing the time since start in lastNano every
// 16 records and at the nth: a clock read per 16 records, as the raw
// receiver reads it per batch (the last delivery is off by at most 15
// records).
func countReads(s *Conn, n int64, start time.Time, delivered, lastNano *atomic.Int64) {
	buf := make([]byte, 2*goodputSize)
	for {
		k, err := s.Read(buf)
		if err != nil {
			return
		}
		if k == goodputSize {
			if d := delivered.Add(1); d%16 == 0 || d == n {
				lastNano.Store(int64(time.Since(start)))
			}
		}
	}
}

// cpuNow returns the process's CPU time, or 0 where the platform does not
// tell (a goodput's cpu is then 0: unknown).
func cpuNow() time.Duration {
	if processCPU == nil {
		return 0
	}
	return processCPU()
}
