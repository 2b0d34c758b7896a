package keccak

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/qsmp-go/qsmp/internal/vectors"
)

type keccakFile struct {
	Vectors []struct {
		Function string         `json:"function"`
		Mapping  string         `json:"sp800_185_mapping"`
		Args     map[string]any `json:"args"`
		Output   vectors.Hex    `json:"output"`
	} `json:"vectors"`
}

var patternRE = regexp.MustCompile(`^msg_([0-9a-f]{2})\.\.([0-9a-f]{2})`)

// arg decodes a vector argument: hex, a msg_XX..YY pattern, or an _ascii
// variant of the name.
func arg(args map[string]any, name string) ([]byte, error) {
	if v, ok := args[name+"_ascii"]; ok {
		return []byte(v.(string)), nil
	}
	v, ok := args[name]
	if !ok {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("argument %s is %T", name, v)
	}
	if m := patternRE.FindStringSubmatch(s); m != nil {
		lo, _ := strconv.ParseUint(m[1], 16, 8)
		hi, _ := strconv.ParseUint(m[2], 16, 8)
		var b []byte
		for i := lo; i <= hi; i++ {
			b = append(b, byte(i))
		}
		return b, nil
	}
	return hex.DecodeString(s)
}

// run computes one keccak.json case by its QSC function name.
func run(fn string, args map[string]any, outLen int) ([]byte, error) {
	m, err := arg(args, "M")
	if err != nil {
		return nil, err
	}
	x, _ := arg(args, "X")
	n, _ := arg(args, "N")
	s, _ := arg(args, "S")
	k, _ := arg(args, "K")
	out := make([]byte, outLen)
	switch {
	case strings.HasPrefix(fn, "qsc_sha3_compute256"):
		d := Sum256(m)
		return d[:], nil
	case strings.HasPrefix(fn, "qsc_sha3_compute512"):
		d := Sum512(m)
		return d[:], nil
	case strings.HasPrefix(fn, "qsc_sha3_initialize"):
		h := NewSHA3256()
		h.Write(m[:50])
		h.Write(m[50:])
		h.Read(out)
		return out, nil
	case strings.HasPrefix(fn, "qsc_shake256_compute"):
		ShakeSum256(out, m)
		return out, nil
	case strings.HasPrefix(fn, "qsc_cshake256_compute"):
		return out, CSHAKE(Rate256, out, x, n, s)
	case strings.HasPrefix(fn, "qsc_cshake512_compute"):
		return out, CSHAKE(Rate512, out, x, n, s)
	case strings.HasPrefix(fn, "qsc_cshake_initialize(state, rate_256"):
		sp, err := NewCSHAKE(Rate256, n, s)
		if err != nil {
			return nil, err
		}
		sp.Write(x)
		sp.Read(out)
		return out, nil
	case strings.HasPrefix(fn, "qsc_kmac256_compute"), strings.HasPrefix(fn, "qsc_kmac512_compute"):
		rate := Rate256
		if strings.HasPrefix(fn, "qsc_kmac512") {
			rate = Rate512
		}
		mac, err := NewKMAC(rate, k, s)
		if err != nil {
			return nil, err
		}
		mac.Write(x)
		mac.Finalize(out)
		return out, nil
	case strings.HasPrefix(fn, "qsc_kmac_initialize(rate_256"):
		mac, _ := NewKMAC(Rate256, k, s)
		mac.Write(x[:100])
		mac.Finalize(out[:outLen/2])
		mac.Write(x[100:])
		mac.Finalize(out[outLen/2:])
		return out, nil
	}
	return nil, fmt.Errorf("unknown function %q", fn)
}

// TestVectors checks every case of every keccak* file (DESIGN.md section 8).
func TestVectors(t *testing.T) {
	files, err := vectors.Files("keccak")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no keccak vector files")
	}
	cases := 0
	for _, f := range files {
		var kf keccakFile
		if err := vectors.Load(f, &kf); err != nil {
			t.Fatal(err)
		}
		for i, v := range kf.Vectors {
			got, err := run(v.Function, v.Args, len(v.Output))
			if err != nil {
				t.Errorf("%s case %d (%s): %v", f, i, v.Function, err)
				continue
			}
			if !bytes.Equal(got, v.Output) {
				t.Errorf("%s case %d (%s):\n got %x\nwant %x", f, i, v.Function, got, v.Output)
			}
			cases++
		}
	}
	t.Logf("keccak vectors: %d files, %d cases reproduced", len(files), cases)
}
