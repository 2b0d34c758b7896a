package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// Losses are the netsim loss rates of the goodput table.
var Losses = []float64{0, 0.01, 0.05, 0.20}

// Options selects and sizes the measurements of Run. Zero fields take the
// defaults of the mode (full, or quick).
type Options struct {
	// Quick runs everything briefly and skips the slow configurations
	// (Classic McEliece, SLH-DSA) of the handshake table.
	Quick bool
	// Only, if not empty, is a regular expression: only measurements whose
	// name matches run ("record/stream RCS-256/1400",
	// "handshake/QSMS/dilithium-s3_kyber-s3_sha3_rcs256",
	// "connect/DTLS 1.2 (pion)", "goodput/QSMP/UDP/5%").
	Only string
	// RecordBudget is the time per record measurement (300 ms; quick 20 ms).
	RecordBudget time.Duration
	// HandshakeIterations is the number of in-memory handshakes per fast
	// configuration (20; quick 3). Slow configurations run SlowIterations.
	HandshakeIterations int
	// SlowIterations is the number of handshakes per slow configuration
	// (1); quick mode skips them.
	SlowIterations int
	// ConnectIterations is the number of loopback handshakes per link
	// (10; quick 2).
	ConnectIterations int
	// Duration is how long each goodput run sends (1 s; quick 150 ms).
	Duration time.Duration
	// Runs is the number of goodput runs per cell, median kept (5; quick 1).
	Runs int
	// Losses are the loss rates (Losses if nil).
	Losses []float64
	// Seed seeds netsim (1 if 0).
	Seed int64
	// Links are the transports of the goodput table (Links() if nil).
	Links []Link
	// ConnectLinks are those of the loopback handshake table
	// (ConnectLinks() if nil).
	ConnectLinks []Link
	// Progress, if not nil, receives one line per measurement.
	Progress io.Writer
}

func (o *Options) defaults() {
	pick := func(d *time.Duration, full, quick time.Duration) {
		if *d <= 0 {
			*d = full
			if o.Quick {
				*d = quick
			}
		}
	}
	pickN := func(n *int, full, quick int) {
		if *n <= 0 {
			*n = full
			if o.Quick {
				*n = quick
			}
		}
	}
	pick(&o.RecordBudget, 300*time.Millisecond, 20*time.Millisecond)
	pick(&o.Duration, time.Second, 150*time.Millisecond)
	pickN(&o.HandshakeIterations, 20, 3)
	pickN(&o.SlowIterations, 1, 1)
	pickN(&o.ConnectIterations, 10, 2)
	pickN(&o.Runs, 5, 1)
	if o.Losses == nil {
		o.Losses = Losses
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Links == nil {
		o.Links = Links()
	}
	if o.ConnectLinks == nil {
		o.ConnectLinks = ConnectLinks()
	}
}

// Machine describes where the results were measured.
type Machine struct {
	CPUModel   string `json:"cpu_model"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GoVersion  string `json:"go_version"`
	// LoadAvg is /proc/loadavg's 1-minute load when the run started: other
	// work on the machine disturbs the measurements.
	LoadAvg string `json:"load_avg,omitempty"`
}

// ThisMachine describes the running machine; the CPU model comes from
// /proc/cpuinfo where there is one.
func ThisMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GOOS: runtime.GOOS,
		GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), CPUModel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.LoadAvg = f[0]
		}
	}
	return m
}

// Settings records the options a run used.
type Settings struct {
	Quick               bool          `json:"quick"`
	Only                string        `json:"only,omitempty"`
	RecordBudget        time.Duration `json:"record_budget_ns"`
	HandshakeIterations int           `json:"handshake_iterations"`
	SlowIterations      int           `json:"slow_iterations"`
	ConnectIterations   int           `json:"connect_iterations"`
	Duration            time.Duration `json:"goodput_duration_ns"`
	Runs                int           `json:"goodput_runs"`
	Losses              []float64     `json:"losses"`
	Seed                int64         `json:"seed"`
}

// Results is everything one Run measured.
type Results struct {
	Date       time.Time         `json:"date"`
	Machine    Machine           `json:"machine"`
	Settings   Settings          `json:"settings"`
	Records    []RecordResult    `json:"records"`
	Handshakes []HandshakeResult `json:"handshakes"`
	Connects   []ConnectResult   `json:"connects"`
	Goodput    []GoodputResult   `json:"goodput"`
	// Skipped names the measurements left out and why.
	Skipped []string `json:"skipped,omitempty"`
	// Failed names the measurements that failed, with the error.
	Failed []string `json:"failed,omitempty"`
	// Elapsed is how long the run took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// JSON returns the results as indented JSON.
func (r *Results) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Run runs the measurements Options selects, in this order: record
// throughput, in-memory handshakes, loopback handshakes, goodput. A
// measurement that fails is listed in Results.Failed and the run goes on;
// the error returned joins those failures (a link that is not available is
// not a failure: its cells say "n/a"). Only a cancelled ctx or a bad
// Options.Only stops it early.
func Run(ctx context.Context, opt Options) (*Results, error) {
	opt.defaults()
	var only *regexp.Regexp
	if opt.Only != "" {
		var err error
		if only, err = regexp.Compile(opt.Only); err != nil {
			return nil, fmt.Errorf("bench: --only: %w", err)
		}
	}
	res := &Results{Date: time.Now().UTC(), Machine: ThisMachine(), Settings: Settings{
		Quick: opt.Quick, Only: opt.Only, RecordBudget: opt.RecordBudget,
		HandshakeIterations: opt.HandshakeIterations, SlowIterations: opt.SlowIterations,
		ConnectIterations: opt.ConnectIterations, Duration: opt.Duration, Runs: opt.Runs,
		Losses: opt.Losses, Seed: opt.Seed,
	}}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	want := func(name string) bool { return only == nil || only.MatchString(name) }
	var errs []error
	failed := func(name string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.Failed = append(res.Failed, name+": "+err.Error())
		errs = append(errs, err)
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "%s: FAILED: %v\n", name, err)
		}
		return nil
	}
	logf := func(format string, args ...any) {
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, format+"\n", args...)
		}
	}

	for _, size := range RecordSizes {
		for _, p := range RecordProfiles {
			if !want(recordName(p, size)) {
				continue
			}
			r, err := MeasureRecord(ctx, p, size, opt.RecordBudget)
			if err != nil {
				if err := failed(recordName(p, size), err); err != nil {
					return res, err
				}
				continue
			}
			logf("%s: seal %.0f MB/s, open %.0f MB/s", r.Name(), r.SealMBps, r.OpenMBps)
			res.Records = append(res.Records, r)
		}
	}

	for _, duplex := range []bool{false, true} {
		for _, s := range suite.All() {
			name := handshakeName(mode(duplex), s.Name)
			if !want(name) {
				continue
			}
			if !s.Implemented() {
				res.Skipped = append(res.Skipped, name+": not implemented")
				continue
			}
			n := opt.HandshakeIterations
			if Slow(s) {
				if opt.Quick {
					res.Skipped = append(res.Skipped, name+": slow configuration, skipped in quick mode")
					continue
				}
				n = opt.SlowIterations
			}
			r, err := MeasureHandshake(ctx, s, duplex, n)
			if err != nil {
				if err := failed(name, err); err != nil {
					return res, err
				}
				continue
			}
			logf("%s: latency %v, server CPU %v (n=%d)", name, r.Latency, r.ServerCPU, n)
			res.Handshakes = append(res.Handshakes, r)
		}
	}

	for _, l := range opt.ConnectLinks {
		if !want("connect/" + l.Name()) {
			continue
		}
		r, err := MeasureConnect(ctx, l, opt.ConnectIterations)
		if err != nil {
			if err := failed("connect/"+l.Name(), err); err != nil {
				return res, err
			}
			r.Status = "failed"
		}
		logf("%s: latency %v, CPU %v %s", r.Name(), r.Latency, r.CPU, r.Status)
		res.Connects = append(res.Connects, r)
	}

	gopt := GoodputOptions{Duration: opt.Duration, Seed: opt.Seed, Runs: opt.Runs}
	for _, l := range opt.Links {
		warmed := false
		for _, loss := range opt.Losses {
			if !want(goodputName(l.Name(), loss)) {
				continue
			}
			if !warmed && l.Available() == nil {
				// One short unrecorded run first: the first connection
				// of a link pays for code and buffers warming up.
				warmed = true
				w := gopt
				w.Duration, w.Runs = min(gopt.Duration, 200*time.Millisecond), 1
				if _, err := MeasureGoodput(ctx, l, 0, w); err != nil {
					if err := failed(goodputName(l.Name(), 0)+" (warm-up)", err); err != nil {
						return res, err
					}
				}
			}
			r, err := MeasureGoodput(ctx, l, loss, gopt)
			if err != nil {
				if err := failed(r.Name(), err); err != nil {
					return res, err
				}
				r = GoodputResult{Link: l.Name(), Loss: loss, Payload: l.Payload(), Status: "failed"}
			}
			if r.Status != "" {
				logf("%s: %s", r.Name(), r.Status)
			} else {
				logf("%s: %.0f Mbit/s (%d of %d delivered, runs %.0f..%.0f)", r.Name(), r.Mbps, r.Delivered, r.Sent, r.MbpsMin, r.MbpsMax)
			}
			res.Goodput = append(res.Goodput, r)
		}
	}
	return res, errors.Join(errs...)
}
