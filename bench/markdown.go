package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// Markdown renders the results as markdown tables with ratios: record
// throughput against AES-256-GCM, in-memory handshakes against the default
// configuration, loopback handshakes against DTLS 1.2, and goodput against
// raw UDP at the same loss (batching links also against raw UDP (batched)).
func (r *Results) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	mode := "full"
	if r.Settings.Quick {
		mode = "quick (indicative only)"
	}
	w("# qsmp-go benchmarks\n\n")
	w("%s UTC on %s (%d CPUs, GOMAXPROCS %d), %s/%s, %s; load average %s at the start; mode: %s; run took %s.\n",
		r.Date.Format("2006-01-02 15:04"), m.CPUModel, m.NumCPU, m.GOMAXPROCS, m.GOOS, m.GOARCH,
		m.GoVersion, m.LoadAvg, mode, r.Elapsed.Round(time.Second))

	if len(r.Records) > 0 {
		w("\n## Record throughput\n\n")
		w("One core, MB/s of plaintext (10^6 bytes): the fastest batch of 64 records in %s (the median batch is in the JSON). Each record has a 21-byte header as associated data. Ratios are against AES-256-GCM at the same size.\n\n", r.Settings.RecordBudget)
		w("| profile | size | seal MB/s | open MB/s | seal vs AES-GCM | open vs AES-GCM |\n")
		w("|---|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Records {
			ref, ok := r.record(AES256GCM, x.Size)
			w("| %s | %d | %.0f | %.0f | %s | %s |\n", x.Profile, x.Size, x.SealMBps, x.OpenMBps,
				ratioCell(x.SealMBps, ref.SealMBps, ok), ratioCell(x.OpenMBps, ref.OpenMBps, ok))
		}
	}

	if len(r.Handshakes) > 0 {
		w("\n## Handshake in memory\n\n")
		w("The handshake state machines exchanging packets in memory (crypto/rand, fresh identities per configuration). Latency is the whole exchange with both sides computing in turn (a zero-delay network); CPU is each side's thread CPU time. Median latency and mean CPU over n handshakes; ratios are against QSMS with %s.\n\n", suite.Default)
		w("| mode | configuration | KEM | signature | n | latency ms | server CPU ms | client CPU ms | bytes | latency vs default | server CPU vs default |\n")
		w("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		ref, ok := r.handshake("QSMS", suite.Default)
		for _, x := range r.Handshakes {
			kem, sig := "", ""
			if s, err := suite.Lookup(x.Config); err == nil {
				kem, sig = s.KEMName, s.SignatureName
			}
			w("| %s | %s | %s | %s | %d | %s | %s | %s | %d | %s | %s |\n", x.Mode, x.Config, kem, sig, x.Iterations,
				ms(x.Latency), ms(x.ServerCPU), ms(x.ClientCPU), x.Bytes,
				ratioCell(float64(x.Latency), float64(ref.Latency), ok), ratioCell(float64(x.ServerCPU), float64(ref.ServerCPU), ok))
		}
	}

	if len(r.Connects) > 0 {
		w("\n## Handshake over loopback\n\n")
		w("Time until both ends are established, over plain sockets on 127.0.0.1 (no netsim; QSMP links use %s, QSMS unless marked QSMD). CPU is the whole process's, both ends together. Median latency and mean CPU over n; ratios are against DTLS 1.2.\n\n", LinkConfig)
		w("| link | n | latency ms | CPU ms | latency vs DTLS 1.2 | CPU vs DTLS 1.2 |\n")
		w("|---|---:|---:|---:|---:|---:|\n")
		ref, ok := r.connect(DTLS{Version: 12}.Name())
		for _, x := range r.Connects {
			if x.Status != "" {
				w("| %s | | %s | | | |\n", x.Link, x.Status)
				continue
			}
			w("| %s | %d | %s | %s | %s | %s |\n", x.Link, x.Iterations, ms(x.Latency), ms(x.CPU),
				ratioCell(float64(x.Latency), float64(ref.Latency), ok), ratioCell(float64(x.CPU), float64(ref.CPU), ok))
		}
	}

	if len(r.Goodput) > 0 {
		losses := r.losses()
		w("\n## Goodput over loopback\n\n")
		w("Mbit/s of delivered payload (median of %d runs of %s each); in brackets the share of sent messages delivered and the ratio to raw UDP at the same loss, and for a link that batches its socket I/O (QSMP/UDP and quic-go, on native sockets) also its ratio to raw UDP (batched). ",
			r.Settings.Runs, r.Settings.Duration)
		w("Columns marked native ran on plain UDP sockets, each link on its own I/O path (raw UDP one datagram per system call; raw UDP (batched) up to %d per sendmmsg/recvmmsg; QSMP/UDP sendmmsg with GSO and recvmmsg with GRO; quic-go recvmmsg and GSO). ", RawBatch)
		w("Columns marked netsim ran on netsim-wrapped sockets, which take one datagram per system call for every link, so batching links lose their batching there and raw UDP (batched) is n/a; the loss is applied to both directions after the handshake. ")
		w("Nothing is retransmitted on these datagram links, and quic-go's congestion control slows its sender under loss. TCP rows are for reference and cannot run under netsim.\n\n")
		w("| link | payload |")
		for _, l := range losses {
			if k := r.socketsAt(l); k != "" {
				w(" loss %g%% (%s) |", l*100, k)
			} else {
				w(" loss %g%% |", l*100)
			}
		}
		w("\n|---|---:|")
		for range losses {
			w("---:|")
		}
		w("\n")
		batchedRef := RawUDPBatched{}.Name()
		for _, link := range r.goodputLinks() {
			payload := 0
			for _, x := range r.Goodput {
				if x.Link == link && x.Status == "" {
					payload = x.Payload
				}
			}
			if payload > 0 {
				w("| %s | %d |", link, payload)
			} else {
				w("| %s | |", link)
			}
			said := ""
			for _, l := range losses {
				x, ok := r.goodput(link, l)
				switch {
				case !ok:
					w(" |")
				case said != "" && x.Status == said:
					w(" n/a |")
				case x.Status != "":
					w(" %s |", x.Status)
					said = x.Status
				default:
					ref, rok := r.goodput(RawUDP{}.Name(), l)
					rok = rok && ref.Status == ""
					w(" %.0f (%.1f%%, %s", x.Mbps, 100*x.DeliveryRatio(), ratioCell(x.Mbps, ref.Mbps, rok))
					if bref, bok := r.goodput(batchedRef, l); x.BatchedIO && link != batchedRef && bok && bref.Status == "" {
						w("; %s batched", ratioCell(x.Mbps, bref.Mbps, true))
					}
					w(") |")
				}
			}
			w("\n")
		}
	}

	if len(r.Failed) > 0 {
		w("\n## Failed\n\n")
		for _, s := range r.Failed {
			w("- %s\n", s)
		}
	}

	if len(r.Skipped) > 0 {
		w("\n## Skipped\n\n")
		for _, s := range r.Skipped {
			w("- %s\n", s)
		}
	}
	return b.String()
}

func ms(d time.Duration) string {
	v := float64(d) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// ratioCell prints a/b as "0.45×", or "–" when there is no reference.
func ratioCell(a, b float64, ok bool) string {
	q := ratio(a, b)
	if !ok || math.IsNaN(q) || math.IsInf(q, 0) {
		return "–"
	}
	if q >= 10 {
		return fmt.Sprintf("%.0f×", q)
	}
	return fmt.Sprintf("%.2f×", q)
}

func (r *Results) record(p RecordProfile, size int) (RecordResult, bool) {
	for _, x := range r.Records {
		if x.Profile == p && x.Size == size {
			return x, true
		}
	}
	return RecordResult{}, false
}

func (r *Results) handshake(mode, config string) (HandshakeResult, bool) {
	for _, x := range r.Handshakes {
		if x.Mode == mode && x.Config == config {
			return x, true
		}
	}
	return HandshakeResult{}, false
}

func (r *Results) connect(link string) (ConnectResult, bool) {
	for _, x := range r.Connects {
		if x.Link == link && x.Status == "" {
			return x, true
		}
	}
	return ConnectResult{}, false
}

func (r *Results) goodput(link string, loss float64) (GoodputResult, bool) {
	for _, x := range r.Goodput {
		if x.Link == link && x.Loss == loss {
			return x, true
		}
	}
	return GoodputResult{}, false
}

// socketsAt is the kind of sockets (GoodputResult.Sockets) of the measured
// goodput cells at loss, or "" if they differ or none was measured.
func (r *Results) socketsAt(loss float64) string {
	k := ""
	for _, x := range r.Goodput {
		if x.Loss != loss || x.Sockets == "" {
			continue
		}
		if k != "" && x.Sockets != k {
			return ""
		}
		k = x.Sockets
	}
	return k
}

// goodputLinks lists the links of the goodput results in first-seen order.
func (r *Results) goodputLinks() []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range r.Goodput {
		if !seen[x.Link] {
			seen[x.Link] = true
			out = append(out, x.Link)
		}
	}
	return out
}

// losses lists the loss rates of the goodput results in increasing order.
func (r *Results) losses() []float64 {
	var out []float64
	seen := map[float64]bool{}
	for _, x := range r.Goodput {
		if !seen[x.Loss] {
			seen[x.Loss] = true
			out = append(out, x.Loss)
		}
	}
	slices.Sort(out)
	return out
}
