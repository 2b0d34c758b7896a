package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

func TestMeasureRecord(t *testing.T) {
	ctx := context.Background()
	for _, p := range RecordProfiles {
		for _, size := range []int{64, 1400} {
			r, err := MeasureRecord(ctx, p, size, time.Millisecond)
			if err != nil {
				t.Fatalf("%s/%d: %v", p, size, err)
			}
			if r.Records < 3*recordBatch || r.Size != size || r.Profile != p {
				t.Errorf("%s/%d: %+v", p, size, r)
			}
			for _, v := range []float64{r.SealMBps, r.OpenMBps, r.SealMedianMBps, r.OpenMedianMBps} {
				if !(v > 0) || math.IsInf(v, 0) {
					t.Errorf("%s/%d: rate %v in %+v", p, size, v, r)
				}
			}
			if r.SealMedianMBps > r.SealMBps || r.OpenMedianMBps > r.OpenMBps {
				t.Errorf("%s/%d: median above best: %+v", p, size, r)
			}
		}
	}
	if _, err := MeasureRecord(ctx, "ROT13", 64, time.Millisecond); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("unknown profile: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := MeasureRecord(cctx, AES256GCM, 64, time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// Each sealer must detect a tampered record: the throughput figures are
// only meaningful if open really verifies.
func TestRecordOpenVerifies(t *testing.T) {
	for _, p := range RecordProfiles {
		so, err := newSealOpener(p)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := so.seal(nil, []byte("some plaintext of a record"))
		if err != nil {
			t.Fatal(err)
		}
		rec[len(rec)-1] ^= 1
		if _, err := so.open(rec); err == nil {
			t.Errorf("%s: tampered record opened", p)
		}
	}
}

func TestMeasureHandshake(t *testing.T) {
	s, err := suite.Lookup(suite.Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, duplex := range []bool{false, true} {
		r, err := MeasureHandshake(context.Background(), s, duplex, 2)
		if err != nil {
			t.Fatal(err)
		}
		if r.Iterations != 2 || r.Latency <= 0 || r.ServerCPU <= 0 || r.ClientCPU <= 0 {
			t.Errorf("%s: %+v", r.Name(), r)
		}
		// QSMS exchanges 4 packets (connect, exchange and establish, each a
		// request and a response), QSMD 6.
		if want := map[bool]int{false: 4, true: 6}[duplex]; r.Packets != want || r.Bytes <= 0 {
			t.Errorf("%s: %d packets, %d bytes; want %d packets", r.Name(), r.Packets, r.Bytes, want)
		}
		if r.ServerCPU+r.ClientCPU > 5*r.Latency {
			t.Errorf("%s: CPU %v+%v far above latency %v", r.Name(), r.ServerCPU, r.ClientCPU, r.Latency)
		}
	}
}

func TestSlow(t *testing.T) {
	for name, want := range map[string]bool{
		suite.Default:                       false,
		"dilithium-s5_kyber-s6_sha3_rcs256": false,
		"dilithium-s1_mceliece-s1_sha3_rcs": true,
		"sphincs+-s1s_mceliece-s1_sha3_rcs": true,
	} {
		s, err := suite.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if Slow(s) != want {
			t.Errorf("Slow(%s) = %v", name, !want)
		}
	}
}

func TestMeasureGoodput(t *testing.T) {
	ctx := context.Background()
	opt := GoodputOptions{Duration: 80 * time.Millisecond, Idle: 50 * time.Millisecond, Seed: 3}
	for _, l := range Links() {
		for _, loss := range []float64{0, 0.2} {
			r, err := MeasureGoodput(ctx, l, loss, opt)
			if err != nil {
				t.Fatalf("%s at %g: %v", l.Name(), loss, err)
			}
			if r.Link != l.Name() || r.Loss != loss {
				t.Errorf("%+v", r)
			}
			unavailable := l.Available() != nil || loss > 0 && l.Lossy() != nil
			if unavailable {
				if !strings.HasPrefix(r.Status, "n/a (") || r.Sent != 0 {
					t.Errorf("%s at %g: unavailable but %+v", l.Name(), loss, r)
				}
				continue
			}
			t.Logf("%s at %g%%: %.0f Mbit/s, %d of %d", l.Name(), loss*100, r.Mbps, r.Delivered, r.Sent)
			if r.Status != "" || !(r.Mbps > 0) || r.Delivered <= 0 || r.Delivered > r.Sent || r.Elapsed <= 0 || r.Runs != 1 {
				t.Errorf("%s at %g: %+v", l.Name(), loss, r)
			}
			if _, ok := l.(interface{ Reliable() }); ok && r.Delivered != r.Sent {
				t.Errorf("%s: reliable link delivered %d of %d", l.Name(), r.Delivered, r.Sent)
			}
			if loss > 0 && r.Sent > 200 && r.DeliveryRatio() > 0.95 {
				t.Errorf("%s at %g: %.3f delivered under 20%% loss each way", l.Name(), loss, r.DeliveryRatio())
			}
		}
	}
}

func TestMeasureGoodputMedian(t *testing.T) {
	opt := GoodputOptions{Duration: 30 * time.Millisecond, Idle: 30 * time.Millisecond, Runs: 3}
	r, err := MeasureGoodput(context.Background(), RawUDP{}, 0, opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Runs != 3 || !(r.MbpsMin <= r.Mbps && r.Mbps <= r.MbpsMax) || !(r.MbpsMin > 0) {
		t.Errorf("%+v", r)
	}
}

func TestMeasureConnect(t *testing.T) {
	for _, l := range ConnectLinks() {
		if _, ok := l.(interface{ NoHandshake() }); ok {
			t.Errorf("%s has no handshake", l.Name())
		}
		r, err := MeasureConnect(context.Background(), l, 2)
		if err != nil {
			t.Fatalf("%s: %v", l.Name(), err)
		}
		if l.Available() != nil {
			if !strings.HasPrefix(r.Status, "n/a (") {
				t.Errorf("%s: %+v", l.Name(), r)
			}
			continue
		}
		if r.Status != "" || r.Iterations != 2 || r.Latency <= 0 || r.CPU < 0 {
			t.Errorf("%s: %+v", l.Name(), r)
		}
	}
}

func TestDTLS13Unsupported(t *testing.T) {
	if err := (DTLS{Version: 13}).Available(); !errors.Is(err, ErrLinkUnsupported) {
		t.Errorf("DTLS 1.3: %v", err)
	}
	if err := (DTLS{Version: 12}).Available(); err != nil {
		t.Errorf("DTLS 1.2: %v", err)
	}
}

// checkSVG parses b as XML and returns the number of elements of each name.
func checkSVG(t *testing.T, b []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	count := map[string]int{}
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
				if se.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", se.Name.Space)
				}
			}
			count[se.Name.Local]++
		}
	}
	if root != "svg" {
		t.Errorf("root element %q", root)
	}
	return count
}

func TestRunQuick(t *testing.T) {
	var progress bytes.Buffer
	opt := Options{
		Quick:    true,
		Only:     `^(record/.*/1400|handshake/QSMS/dilithium-s1_kyber.*|handshake/QSMD/dilithium-s1_mceliece.*|connect/DTLS 1\.2.*|goodput/(raw UDP( \(batched\))?|DTLS.*|TCP|QSMP/(QUIC|UDP))/(0|5)%)$`,
		Duration: 40 * time.Millisecond,
		Progress: &progress,
	}
	res, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != len(RecordProfiles) || len(res.Handshakes) != 1 || len(res.Connects) != 1 {
		t.Fatalf("selection: %d records, %d handshakes, %d connects", len(res.Records), len(res.Handshakes), len(res.Connects))
	}
	if len(res.Goodput) != 7*2 {
		t.Fatalf("%d goodput cells: %+v", len(res.Goodput), res.Goodput)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "quick") {
		t.Errorf("skipped: %q", res.Skipped)
	}
	if res.Machine.NumCPU <= 0 || res.Machine.GoVersion == "" || res.Date.IsZero() || res.Elapsed <= 0 {
		t.Errorf("machine: %+v", res.Machine)
	}
	if strings.Count(progress.String(), "\n") < len(res.Records)+len(res.Goodput) {
		t.Errorf("progress:\n%s", progress.String())
	}

	js, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("JSON does not parse back: %v", err)
	}
	if len(back.Goodput) != len(res.Goodput) || back.Records[0].SealMBps != res.Records[0].SealMBps ||
		back.Handshakes[0].Latency != res.Handshakes[0].Latency || !back.Date.Equal(res.Date) {
		t.Errorf("JSON round trip changed the results")
	}

	md := res.Markdown()
	for _, want := range []string{"## Record throughput", "## Handshake in memory", "## Handshake over loopback",
		"## Goodput over loopback", "| raw UDP | 1400 |", "| raw UDP (batched) | 1400 |", "1.00×", "× batched)",
		"loss 0% (native)", "loss 5% (netsim)", "n/a (netsim: no batch I/O)", "n/a (", "## Skipped", res.Machine.CPUModel} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	count := checkSVG(t, res.SVG())
	if count["polyline"] < 2 || count["circle"] < 4 {
		t.Errorf("SVG elements: %v", count)
	}
}

func TestRunBadOnly(t *testing.T) {
	if _, err := Run(context.Background(), Options{Only: "("}); err == nil {
		t.Error("bad regular expression accepted")
	}
}

// Markdown and SVG on fixed results: the ratios, the n/a cells.
func TestMarkdownFixed(t *testing.T) {
	res := &Results{
		Date:    time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Machine: Machine{CPUModel: "Test <CPU> & co", NumCPU: 2},
		Records: []RecordResult{
			{Profile: AES256GCM, Size: 1400, SealMBps: 1000, OpenMBps: 2000},
			{Profile: StreamRCS256, Size: 1400, SealMBps: 250, OpenMBps: 100},
		},
		Handshakes: []HandshakeResult{
			{Config: suite.Default, Mode: "QSMS", Iterations: 3, Latency: 2 * time.Millisecond, ServerCPU: time.Millisecond},
			{Config: suite.Default, Mode: "QSMD", Iterations: 3, Latency: 5 * time.Millisecond, ServerCPU: 3 * time.Millisecond},
		},
		Goodput: []GoodputResult{
			{Link: "raw UDP", Loss: 0, Payload: 1400, Sent: 100, Delivered: 100, Mbps: 1000},
			{Link: "raw UDP", Loss: 0.05, Payload: 1400, Sent: 100, Delivered: 95, Mbps: 800},
			{Link: "QSMP/UDP", Loss: 0, Payload: 1400, Sent: 100, Delivered: 50, Mbps: 250},
			{Link: "QSMP/UDP", Loss: 0.05, Payload: 1400, Sent: 100, Delivered: 40, Mbps: 200},
			{Link: "QSMP/QUIC", Loss: 0, Status: "n/a (not built yet)"},
			{Link: "QSMP/QUIC", Loss: 0.05, Status: "n/a (not built yet)"},
		},
	}
	md := res.Markdown()
	for _, want := range []string{
		"| stream RCS-256 | 1400 | 250 | 100 | 0.25× | 0.05× |",
		"| QSMD | " + suite.Default + " | ML-KEM-768 | ML-DSA-65 | 3 | 5.00 | 3.00 |",
		"2.50× | 3.00× |",
		"| QSMP/UDP | 1400 | 250 (50.0%, 0.25×) | 200 (40.0%, 0.25×) |",
		"| QSMP/QUIC | | n/a (not built yet) | n/a |",
		"| link | payload | loss 0% | loss 5% |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	svg := res.SVG()
	count := checkSVG(t, svg)
	if count["polyline"] != 2 {
		t.Errorf("polylines: %v", count)
	}
	if !bytes.Contains(svg, []byte("QSMP/QUIC — n/a")) || !bytes.Contains(svg, []byte("Test &lt;CPU&gt; &amp; co")) {
		t.Errorf("SVG legend or escaping:\n%s", svg)
	}
	// No results at all still give a valid chart.
	checkSVG(t, (&Results{}).SVG())
}

// The goodput table names the sockets of each column and gives batching
// links their ratio to the batched baseline where it was measured.
func TestMarkdownBatched(t *testing.T) {
	res := &Results{Goodput: []GoodputResult{
		{Link: "raw UDP", Loss: 0, Sockets: SocketsNative, Sent: 10, Delivered: 10, Mbps: 1000},
		{Link: "raw UDP", Loss: 0.05, Sockets: SocketsNetsim, Sent: 10, Delivered: 9, Mbps: 500},
		{Link: "raw UDP (batched)", Loss: 0, Sockets: SocketsNative, BatchedIO: true, Sent: 10, Delivered: 10, Mbps: 4000},
		{Link: "raw UDP (batched)", Loss: 0.05, Status: statusOf(ErrNoBatchIO)},
		{Link: "QSMP/UDP", Loss: 0, Sockets: SocketsNative, BatchedIO: true, Sent: 10, Delivered: 10, Mbps: 3000},
		{Link: "QSMP/UDP", Loss: 0.05, Sockets: SocketsNetsim, Sent: 10, Delivered: 9, Mbps: 250},
		{Link: "DTLS 1.2 (pion)", Loss: 0, Sockets: SocketsNative, Sent: 10, Delivered: 10, Mbps: 500},
	}}
	md := res.Markdown()
	for _, want := range []string{
		"| link | payload | loss 0% (native) | loss 5% (netsim) |",
		"| raw UDP (batched) | | 4000 (100.0%, 4.00×) | n/a (netsim: no batch I/O) |",
		"| QSMP/UDP | | 3000 (100.0%, 3.00×; 0.75× batched) | 250 (90.0%, 0.50×) |",
		"| DTLS 1.2 (pion) | | 500 (100.0%, 0.50×) | |",
		"Columns marked native ran on plain UDP sockets",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// brokenLink fails to connect.
type brokenLink struct{}

func (brokenLink) Name() string     { return "broken" }
func (brokenLink) Payload() int     { return 100 }
func (brokenLink) Available() error { return nil }
func (brokenLink) Lossy() error     { return nil }
func (brokenLink) Connect(context.Context, net.PacketConn, net.PacketConn) (*Pipe, error) {
	return nil, errors.New("no route to nowhere")
}

// A failing measurement is reported and the run goes on.
func TestRunGoesOnAfterFailure(t *testing.T) {
	res, err := Run(context.Background(), Options{
		Quick: true, Only: `^(goodput/.*/0%|connect/.*)$`, Duration: 20 * time.Millisecond,
		Links: []Link{brokenLink{}, RawUDP{}}, ConnectLinks: []Link{brokenLink{}},
	})
	if err == nil || !strings.Contains(err.Error(), "no route to nowhere") {
		t.Fatalf("error: %v", err)
	}
	if len(res.Failed) != 3 { // connect, warm-up, goodput
		t.Errorf("failed: %q", res.Failed)
	}
	if len(res.Goodput) != 2 || res.Goodput[0].Status != "failed" || !(res.Goodput[1].Mbps > 0) {
		t.Errorf("goodput: %+v", res.Goodput)
	}
	if md := res.Markdown(); !strings.Contains(md, "## Failed") || !strings.Contains(md, "| broken | | failed |") {
		t.Errorf("markdown:\n%s", md)
	}
}
