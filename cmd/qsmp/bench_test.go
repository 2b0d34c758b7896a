package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFindBench(t *testing.T) {
	// From this package's folder the checkout's bench module is found.
	dir, err := findBench()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "bench" || modulePath(filepath.Join(dir, "go.mod")) != moduleRoot+"/bench" {
		t.Errorf("findBench = %s", dir)
	}
	if modulePath(filepath.Join(dir, "..", "go.mod")) != moduleRoot {
		t.Errorf("%s is not in the qsmp-go checkout", dir)
	}
}

func TestBenchOutsideCheckout(t *testing.T) {
	t.Chdir(t.TempDir())
	oneLineError(t, runCmd(t, "", "bench", "--quick"), exitUsage, "inside a checkout of qsmp-go")
}

func TestBenchCheckoutWithoutSuite(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("// a checkout\nmodule github.com/qsmp-go/qsmp\n\ngo 1.26\n"), 0o644)
	sub := filepath.Join(root, "cmd", "qsmp")
	os.MkdirAll(sub, 0o755)
	t.Chdir(sub)
	oneLineError(t, runCmd(t, "", "bench"), exitUsage, "has no bench module")
}

func TestBenchCommand(t *testing.T) {
	cmd := benchCommand(context.Background(), "/usr/bin/go", "/src/bench", []string{"--quick", "--only", "record/.*"})
	want := []string{"/usr/bin/go", "-C", "/src/bench", "run", "./cmd/qsmp-bench", "--quick", "--only", "record/.*"}
	if !slices.Equal(cmd.Args, want) {
		t.Errorf("args %q, want %q", cmd.Args, want)
	}
}

func TestModulePath(t *testing.T) {
	dir := t.TempDir()
	for in, want := range map[string]string{
		"module github.com/qsmp-go/qsmp\n":                 moduleRoot,
		"// c\nmodule \"github.com/qsmp-go/qsmp/bench\"\n": moduleRoot + "/bench",
		"modulex foo\n": "",
		"go 1.26\n":     "",
	} {
		p := filepath.Join(dir, "go.mod")
		os.WriteFile(p, []byte(in), 0o644)
		if got := modulePath(p); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", strings.TrimSpace(in), got, want)
		}
	}
	if got := modulePath(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("a missing go.mod gives %q", got)
	}
}
