package keyfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	k, err := Generate(s, QSMD, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, ListenerPublicFile)
	privPath := filepath.Join(dir, ListenerPrivateFile)

	// An existing world-readable file must not keep its mode.
	if err := os.WriteFile(privPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePublicFile(pubPath, &k.PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateFile(privPath, k); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		for path, mode := range map[string]fs.FileMode{pubPath: PublicFileMode, privPath: PrivateFileMode} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), mode)
			}
		}
	}
	text, _ := k.MarshalText()
	if b, err := os.ReadFile(pubPath); err != nil || !bytes.Equal(b, text) {
		t.Errorf("public file differs from MarshalText: %v", err)
	}
	if b, err := os.ReadFile(privPath); err != nil || !bytes.Equal(b, k.MarshalBinary()) {
		t.Errorf("private file differs from MarshalBinary: %v", err)
	}
	pub, err := ReadPublicFile(pubPath)
	if err != nil || !publicEqual(pub, &k.PublicKey) {
		t.Fatalf("ReadPublicFile: %v", err)
	}
	priv, err := ReadPrivateFile(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := priv.Matches(pub); err != nil || !bytes.Equal(priv.SigningKey, k.SigningKey) {
		t.Errorf("ReadPrivateFile: %v", err)
	}

	// Failed writes leave nothing behind.
	bad := *k
	bad.SigningKey = bad.SigningKey[:10]
	if err := WritePrivateFile(filepath.Join(dir, "bad.qskey"), &bad); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("writing a bad key: %v", err)
	}
	badPub := k.Public()
	badPub.Variant = 0
	if err := WritePublicFile(filepath.Join(dir, "bad.qpkey"), badPub); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("writing a key without variant: %v", err)
	}
	if err := WritePublicFile(filepath.Join(dir, "no", "such", "dir.qpkey"), pub); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only the two key files", names)
	}

	// Reading errors.
	if _, err := ReadPublicFile(filepath.Join(dir, "missing.qpkey")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadPrivateFile(filepath.Join(dir, "missing.qskey")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxPrivate+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, read := range []func(string) error{
		func(p string) error { _, err := ReadPublicFile(p); return err },
		func(p string) error { _, err := ReadPrivateFile(p); return err },
	} {
		if err := read(big); !errors.Is(err, ErrMalformed) {
			t.Errorf("oversized file: %v", err)
		}
	}
	_, err = ReadPrivateFile(pubPath)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), pubPath) {
		t.Errorf("a .qpkey read as .qskey: %v", err)
	}
	_, err = ReadPublicFile(privPath)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), privPath) {
		t.Errorf("a .qskey read as .qpkey: %v", err)
	}
}
