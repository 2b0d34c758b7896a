package keyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// TestCheckPrivateMode: a file written by WritePrivateFile passes; any
// access for group or others is refused with a *PermissionError that
// matches ErrPermissions and says how to fix it; owner-only modes pass; a
// missing file is the file system's error.
func TestCheckPrivateMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ServerPrivateFile)
	k := fakeKey(mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256"), QSMS, 7)
	if err := WritePrivateFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivateMode(path); err != nil {
		t.Fatalf("a file from WritePrivateFile: %v", err)
	}
	if err := CheckPrivateMode(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CheckPrivateMode(path); err != nil {
			t.Fatalf("%s has no Unix permissions to check: %v", runtime.GOOS, err)
		}
		return
	}
	for _, mode := range []fs.FileMode{0o400, 0o600, 0o700, 0o200} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if err := CheckPrivateMode(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o644, 0o666, 0o777} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		err := CheckPrivateMode(path)
		var pe *PermissionError
		if !errors.Is(err, ErrPermissions) || !errors.As(err, &pe) || pe.Perm != mode || pe.Path != path {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		// The text cmd/qsmp has always printed.
		want := fmt.Sprintf("permissions %04o are too open: only its owner may read a secret key file (chmod 600 %s)", mode, path)
		if err.Error() != want {
			t.Fatalf("message %q, want %q", err, want)
		}
	}
}

// TestFilesRoundTripVectors: every C key file read with ReadPublicFile or
// ReadPrivateFile and written back with WritePublicFile or
// WritePrivateFile is the same file, byte for byte; the written secret
// file passes CheckPrivateMode.
func TestFilesRoundTripVectors(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for _, ext := range []string{".qpkey", ".qskey"} {
		for _, path := range vectorKeyFiles(t, ext) {
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, filepath.Base(path))
			if ext == ".qpkey" {
				k, err := ReadPublicFile(path)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				err = WritePublicFile(out, k)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
			} else {
				k, err := ReadPrivateFile(path)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if err := WritePrivateFile(out, k); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				k.Clear()
				if err := CheckPrivateMode(out); err != nil {
					t.Errorf("%s: %v", out, err)
				}
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: the file written back differs from the C file", filepath.Base(path))
			}
			n++
		}
	}
	t.Logf("round-tripped %d key files through the file functions", n)
}

// TestVectorKeysExpire: a C public key is valid up to its expiration second
// inclusive and expired one second later, with ErrExpired from CheckFor;
// its private file agrees.
func TestVectorKeysExpire(t *testing.T) {
	files := vectorKeyFiles(t, "public_key.qpkey")
	for _, path := range files {
		k, err := ReadPublicFile(path)
		if err != nil {
			t.Fatal(err)
		}
		at := k.ExpirationTime()
		if k.Expired(at) || k.CheckFor(k.Suite, at) != nil {
			t.Errorf("%s: expired at its expiration time", path)
		}
		if !k.Expired(at.Add(time.Second)) {
			t.Errorf("%s: not expired a second after", path)
		}
		if err := k.CheckFor(k.Suite, at.Add(time.Second)); !errors.Is(err, ErrExpired) {
			t.Errorf("%s: CheckFor a second after: %v", path, err)
		}
		sk, err := ReadPrivateFile(strings.TrimSuffix(path, "public_key.qpkey") + "secret_key.qskey")
		if err != nil {
			t.Fatal(err)
		}
		if sk.Expiration != k.Expiration || !sk.Expired(at.Add(time.Second)) || sk.Expired(at) {
			t.Errorf("%s: the private file expires at %d, the public at %d", path, sk.Expiration, k.Expiration)
		}
		sk.Clear()
	}
	t.Logf("checked the expiration of %d key pairs", len(files))
}

// TestFileErrors: reading a folder, a small garbage file, or writing onto
// a folder fail with an error (the garbage with ErrMalformed and the path),
// never a panic, and leave no temporary file; a bare file name is written
// into the current folder.
func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	if k, err := ReadPublicFile(dir); err == nil || k != nil {
		t.Errorf("reading a folder as a public key: %v", err)
	}
	if k, err := ReadPrivateFile(dir); err == nil || k != nil {
		t.Errorf("reading a folder as a secret key: %v", err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for what, read := range map[string]func(string) error{
		"public":  func(p string) error { _, err := ReadPublicFile(p); return err },
		"private": func(p string) error { _, err := ReadPrivateFile(p); return err },
	} {
		if err := read(junk); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), junk) {
			t.Errorf("%s key from a small garbage file: %v", what, err)
		}
	}
	k := fakeKey(mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256"), QSMD, 3)
	sub := filepath.Join(dir, "folder")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateFile(sub, k); err == nil {
		t.Error("a key file replaced a folder")
	}
	if err := WritePublicFile(sub, &k.PublicKey); err == nil {
		t.Error("a key file replaced a folder")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d entries left in the folder, want 2 (junk, folder)", len(entries))
	}
	t.Chdir(sub)
	if err := WritePrivateFile(SenderPrivateFile, k); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(sub, SenderPrivateFile)); err != nil || !bytes.Equal(b, k.MarshalBinary()) {
		t.Errorf("a bare file name: %v", err)
	}
}

// TestUnimplementedAndUnknownConfigs: a key whose configuration the suite
// table knows but whose signature scheme is not built parses, serializes
// and checks its sizes, while CheckPair and Generate fail with
// suite.ErrNotImplemented; a key without a configuration gives
// ErrInvalidKey; an unknown configuration string is refused by both
// parsers with ErrUnknownConfig, also matched by suite.ErrUnknownConfig.
func TestUnimplementedAndUnknownConfigs(t *testing.T) {
	real := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	fake := *real
	fake.SignatureName = "no-such-scheme"
	k := fakeKey(&fake, QSMS, 1)
	if err := k.CheckPair(); !errors.Is(err, suite.ErrNotImplemented) {
		t.Fatalf("CheckPair of an unbuilt scheme: %v", err)
	}
	if _, err := Generate(&fake, QSMS, nil, time.Unix(1767225600, 0)); !errors.Is(err, suite.ErrNotImplemented) {
		t.Fatalf("Generate of an unbuilt scheme: %v", err)
	}
	if _, err := k.MarshalText(); err != nil {
		t.Fatalf("MarshalText needs only the sizes: %v", err)
	}
	none := *k
	none.Suite = nil
	if err := none.CheckPair(); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("CheckPair without a configuration: %v", err)
	}
	if err := WritePrivateFile(filepath.Join(t.TempDir(), "x"), &none); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("WritePrivateFile without a configuration: %v", err)
	}
	good := fakeKey(real, QSMS, 2)
	text := mustText(t, &good.PublicKey)
	bin := good.MarshalBinary()
	unknown := "dilithium-s9_kyber-s1_sha3_rcs256"
	if _, err := ParsePublic(bytes.Replace(text, []byte(real.Name), []byte(unknown), 1)); !errors.Is(err, ErrUnknownConfig) || !errors.Is(err, suite.ErrUnknownConfig) || !strings.Contains(err.Error(), unknown) {
		t.Errorf("ParsePublic of an unknown configuration: %v", err)
	}
	copy(bin, unknown)
	if _, err := ParsePrivate(bin); !errors.Is(err, ErrUnknownConfig) || !errors.Is(err, suite.ErrUnknownConfig) {
		t.Errorf("ParsePrivate of an unknown configuration: %v", err)
	}
}

// TestGenerateBeforeEpoch: a clock before 1970 is refused, not wrapped.
func TestGenerateBeforeEpoch(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	if _, err := Generate(s, QSMS, nil, time.Unix(-1, 0)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Generate before the epoch: %v", err)
	}
	if !(&PublicKey{Expiration: 5}).Expired(time.Unix(6, 0)) || (&PublicKey{Expiration: 0}).Expired(time.Unix(-5, 0)) {
		t.Fatal("Expired around the epoch")
	}
}

// TestLongLineInError: an error names at most 48 bytes of a bad line.
func TestLongLineInError(t *testing.T) {
	long := strings.Repeat("A", 300) + "\n"
	_, err := ParsePublic([]byte(long))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "…") || strings.Contains(err.Error(), strings.Repeat("A", 49)) {
		t.Fatalf("error %v", err)
	}
}
