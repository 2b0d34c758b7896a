package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qsmp-go/qsmp/bench"
)

func TestQuickRunWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	code := run([]string{"--quick", "--out", dir, "--duration", "30ms",
		"--only", `^(record/AES-256-GCM/1400|goodput/raw UDP/.*)$`}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "| AES-256-GCM | 1400 |") || !strings.Contains(stdout.String(), "| raw UDP | 1400 |") {
		t.Errorf("table:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "goodput/raw UDP/20%") {
		t.Errorf("progress:\n%s", stderr.String())
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if len(res.Records) != 1 || len(res.Goodput) != len(bench.Losses) || !res.Settings.Quick {
		t.Errorf("results.json: %d records, %d goodput cells", len(res.Records), len(res.Goodput))
	}
	for _, g := range res.Goodput {
		if !(g.Mbps > 0) {
			t.Errorf("goodput %+v", g)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil || string(md) != stdout.String() {
		t.Errorf("results.md differs from the printed table (%v)", err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "goodput.svg"))
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(svg))
	n := 0
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("goodput.svg: %v", err)
		}
		n++
	}
	if n < 10 {
		t.Errorf("goodput.svg has %d tokens", n)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--only", "("}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d", args, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("%q: no message", args)
		}
	}
}
