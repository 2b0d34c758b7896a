// Package vectors locates and decodes the known-answer files produced by the
// original C implementation (DESIGN.md section 8).
//
// The folder is named by the environment variable QSMP_VECTORS; when it is
// unset the folder is testdata/vectors at the module root. Conformance tests
// in each package ask for the files whose names start with the prefixes they
// own, check every case, and report how many files and cases they checked.
package vectors

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EnvVar is the environment variable that names the vector folder.
const EnvVar = "QSMP_VECTORS"

// ErrNoModuleRoot is returned when no go.mod is found above the working
// directory and QSMP_VECTORS is unset.
var ErrNoModuleRoot = errors.New("vectors: no go.mod above the working directory and QSMP_VECTORS unset")

// Dir returns the vector folder: $QSMP_VECTORS, or testdata/vectors at the
// module root found by walking up from the working directory.
func Dir() (string, error) {
	if d := os.Getenv(EnvVar); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testdata", "vectors"), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", ErrNoModuleRoot
		}
		d = parent
	}
}

// Files returns the .json files in the vector folder whose base names start
// with prefix, sorted by name.
func Files(prefix string) ([]string, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("vectors: reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || !strings.HasPrefix(name, prefix) {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	sort.Strings(out)
	return out, nil
}

// Load decodes the JSON file at path into v.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("vectors: %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Sidecar reads a file that a vector file names (a .bin next to it).
func Sidecar(vectorPath, name string) ([]byte, error) {
	if name != filepath.Base(name) {
		return nil, fmt.Errorf("vectors: sidecar name %q must be a plain file name", name)
	}
	return os.ReadFile(filepath.Join(filepath.Dir(vectorPath), name))
}

// Hex is a byte string that decodes from a hex JSON string.
type Hex []byte

// UnmarshalJSON decodes a JSON string of hex digits.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("vectors: bad hex: %w", err)
	}
	*h = d
	return nil
}

// MustHex decodes a hex string and panics on error; for test literals only.
func MustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
