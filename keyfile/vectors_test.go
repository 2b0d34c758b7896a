package keyfile

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

// listVectorFiles returns the files with the extension ext in the vector
// folder, and the folder.
func listVectorFiles(ext string) ([]string, string, error) {
	dir, err := vectors.Dir()
	if err != nil {
		return nil, "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, dir, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ext) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, dir, nil
}

// vectorKeyFiles returns the files with the extension ext in the vector
// folder, and skips the test, saying so, if there are none.
func vectorKeyFiles(t *testing.T, ext string) []string {
	t.Helper()
	out, dir, err := listVectorFiles(ext)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Skipf("no %s files in %s: nothing to check", ext, dir)
	}
	return out
}

// variantOf names the variant of a vector file by its qsms_/qsmd_ prefix.
func variantOf(path string) Variant {
	switch base := filepath.Base(path); {
	case strings.HasPrefix(base, "qsms"):
		return QSMS
	case strings.HasPrefix(base, "qsmd"):
		return QSMD
	}
	return 0
}

// TestVectorPublicFiles parses every .qpkey file of the C implementation and
// re-serializes it byte for byte, with and without the trailing NUL.
func TestVectorPublicFiles(t *testing.T) {
	files := vectorKeyFiles(t, ".qpkey")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		k, err := ParsePublic(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v := variantOf(path); v != 0 && k.Variant != v {
			t.Errorf("%s: variant %v, want %v", name, k.Variant, v)
		}
		if b[len(b)-1] != 0 {
			t.Errorf("%s: the C writer ends the file with a NUL; this one does not", name)
		}
		out, err := k.MarshalText()
		if err != nil {
			t.Errorf("%s: MarshalText: %v", name, err)
			continue
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s: re-serialized file differs from the C file", name)
		}
		if len(b) != PublicTextSize(k.Suite) {
			t.Errorf("%s: %d bytes, PublicTextSize says %d", name, len(b), PublicTextSize(k.Suite))
		}
		k2, err := ParsePublic(b[:len(b)-1])
		if err != nil || !publicEqual(k, k2) {
			t.Errorf("%s: without the trailing NUL: %v", name, err)
		}
		t.Logf("%s: %v", name, k)
	}
	t.Logf("checked %d .qpkey files", len(files))
}

// TestVectorPrivateFiles parses every .qskey file of the C implementation and
// re-serializes it byte for byte.
func TestVectorPrivateFiles(t *testing.T) {
	files := vectorKeyFiles(t, ".qskey")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		k, err := ParsePrivate(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if out := k.MarshalBinary(); !bytes.Equal(out, b) {
			t.Errorf("%s: re-serialized file differs from the C file", name)
		}
		if len(b) != PrivateSize(k.Suite) {
			t.Errorf("%s: %d bytes, PrivateSize says %d", name, len(b), PrivateSize(k.Suite))
		}
	}
	t.Logf("checked %d .qskey files", len(files))
}

// TestVectorKeyPairs checks that each public file agrees with the private
// file of the same name, and that each signing key signs for its
// verification key.
func TestVectorKeyPairs(t *testing.T) {
	files := vectorKeyFiles(t, "public_key.qpkey")
	pairs, signed := 0, 0
	for _, pubPath := range files {
		privPath := strings.TrimSuffix(pubPath, "public_key.qpkey") + "secret_key.qskey"
		name := filepath.Base(pubPath)
		pub, err := ReadPublicFile(pubPath)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		priv, err := ReadPrivateFile(privPath)
		if errors.Is(err, fs.ErrNotExist) {
			t.Logf("%s: no private file %s; pair not checked", name, filepath.Base(privPath))
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(privPath), err)
			continue
		}
		pairs++
		if err := priv.Matches(pub); err != nil {
			t.Errorf("%s and its private file: %v", name, err)
		}
		switch err := priv.CheckPair(); {
		case errors.Is(err, suite.ErrNotImplemented):
			t.Logf("%s: skipped the signing check: %v", name, err)
		case err != nil:
			t.Errorf("%s: %v", filepath.Base(privPath), err)
		default:
			signed++
		}
	}
	t.Logf("checked %d public/private pairs, %d of them by signing", pairs, signed)
	if pairs == 0 {
		t.Errorf("no public/private pair found among %d public files", len(files))
	}
}

// vecKey is an identity key in a handshake vector file.
type vecKey struct {
	KeyID      vectors.Hex `json:"keyid"`
	Expiration uint64      `json:"expiration"`
	VerKey     vectors.Hex `json:"verkey"`
	SigKey     vectors.Hex `json:"sigkey"`
}

// vecHandshake is the part of a qsms/qsmd handshake vector file that
// concerns identity keys.
type vecHandshake struct {
	Config   string  `json:"config"`
	Seed     string  `json:"rng_seed_ascii"`
	FixedUTC int64   `json:"fixed_utc_time"`
	Server   *vecKey `json:"server_key"`
	Listener *vecKey `json:"listener_key"`
	Sender   *vecKey `json:"sender_key"`
	RNGCalls []struct {
		Context string      `json:"context"`
		Offset  int         `json:"offset"`
		Length  int         `json:"length"`
		Bytes   vectors.Hex `json:"bytes"`
	} `json:"rng_calls"`
}

// countingReader counts the bytes drawn from r.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestVectorHandshakeKeys regenerates the identity keys of every handshake
// vector file from its seeded random stream and fixed clock, and checks them
// and their serializations against the vector and the C key files.
func TestVectorHandshakeKeys(t *testing.T) {
	var files []string
	for _, prefix := range []string{"qsms_handshake", "qsmd_handshake"} {
		f, err := vectors.Files(prefix)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Skip("no qsms_handshake/qsmd_handshake files in the vector folder")
	}
	keys, generated, keyFiles := 0, 0, 0
	for _, path := range files {
		name := filepath.Base(path)
		var v vecHandshake
		if err := vectors.Load(path, &v); err != nil {
			t.Error(err)
			continue
		}
		s, err := suite.Lookup(v.Config)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		variant := variantOf(path)
		type role struct {
			name   string
			key    *vecKey
			offset int // where the key id was drawn from the stream
			draw   int // bytes drawn for the key id and the key pair
		}
		var roles []role
		for _, r := range []role{{name: "server", key: v.Server}, {name: "listener", key: v.Listener}, {name: "sender", key: v.Sender}} {
			if r.key == nil {
				continue
			}
			r.offset = -1
			for i, c := range v.RNGCalls {
				if c.Length == KeyIDSize && bytes.Equal(c.Bytes, r.key.KeyID) && i+1 < len(v.RNGCalls) {
					r.offset = c.Offset
					next := v.RNGCalls[i+1]
					r.draw = next.Offset + next.Length - c.Offset
				}
			}
			if r.offset < 0 {
				t.Errorf("%s: %s key id not among the rng calls", name, r.name)
				continue
			}
			if want := uint64(v.FixedUTC) + uint64(DefaultLifetime/time.Second); r.key.Expiration != want {
				t.Errorf("%s: %s expiration %d, want fixed_utc_time + 365 days = %d", name, r.name, r.key.Expiration, want)
			}
			roles = append(roles, r)
		}
		if len(roles) == 0 {
			t.Errorf("%s: no identity key", name)
			continue
		}
		sort.Slice(roles, func(i, j int) bool { return roles[i].offset < roles[j].offset })

		gen := map[string]*PrivateKey{}
		if _, err := s.Signer(); err != nil {
			t.Logf("%s: skipped regenerating the keys: %v", name, err)
		} else {
			h := sha3.NewSHAKE256()
			h.Write([]byte(v.Seed))
			rng := &countingReader{r: h}
			for _, r := range roles {
				if _, err := io.CopyN(io.Discard, rng, int64(r.offset-rng.n)); err != nil || rng.n != r.offset {
					t.Fatalf("%s: cannot seek the stream to %d", name, r.offset)
				}
				k, err := Generate(s, variant, rng, time.Unix(v.FixedUTC, 0))
				if err != nil {
					t.Errorf("%s: %s: %v", name, r.name, err)
					continue
				}
				if got := rng.n - r.offset; got != r.draw {
					t.Errorf("%s: %s: Generate drew %d bytes, the C code %d", name, r.name, got, r.draw)
				}
				checkVecKey(t, name+": generated "+r.name, &k.PublicKey, k.SigningKey, r.key, s, variant)
				gen[r.name] = k
				generated++
			}
		}
		keys += len(roles)

		// The C key files of this vector: qsms_handshake.json ↔
		// qsms_server_{public,secret}_key.*, and so on.
		stem := strings.Replace(strings.TrimSuffix(path, ".json"), "_handshake", "", 1)
		for _, r := range roles {
			pubPath := stem + "_" + r.name + "_public_key.qpkey"
			privPath := stem + "_" + r.name + "_secret_key.qskey"
			pubBytes, err := os.ReadFile(pubPath)
			if errors.Is(err, fs.ErrNotExist) {
				t.Logf("%s: no key file %s for the %s key", name, filepath.Base(pubPath), r.name)
			} else if err != nil {
				t.Error(err)
			} else {
				keyFiles++
				pub, err := ParsePublic(pubBytes)
				if err != nil {
					t.Errorf("%s: %v", filepath.Base(pubPath), err)
				} else {
					checkVecKey(t, filepath.Base(pubPath), pub, nil, r.key, s, variant)
				}
				if k := gen[r.name]; k != nil {
					if out, err := k.MarshalText(); err != nil || !bytes.Equal(out, pubBytes) {
						t.Errorf("%s: the generated key does not serialize to this file (%v)", filepath.Base(pubPath), err)
					}
				}
			}
			privBytes, err := os.ReadFile(privPath)
			if errors.Is(err, fs.ErrNotExist) {
				t.Logf("%s: no key file %s for the %s key", name, filepath.Base(privPath), r.name)
				continue
			} else if err != nil {
				t.Error(err)
				continue
			}
			keyFiles++
			priv, err := ParsePrivate(privBytes)
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(privPath), err)
			} else {
				checkVecKey(t, filepath.Base(privPath), &priv.PublicKey, priv.SigningKey, r.key, s, 0)
			}
			if k := gen[r.name]; k != nil && !bytes.Equal(k.MarshalBinary(), privBytes) {
				t.Errorf("%s: the generated key does not serialize to this file", filepath.Base(privPath))
			}
		}
	}
	t.Logf("checked %d handshake files: %d identity keys, %d regenerated from the seeded stream, %d matching C key files",
		len(files), keys, generated, keyFiles)
}

// checkVecKey compares a key with a vector key. sk is nil for a public key;
// variant 0 skips the variant check.
func checkVecKey(t *testing.T, what string, k *PublicKey, sk []byte, want *vecKey, s *suite.Suite, variant Variant) {
	t.Helper()
	if k.Suite != s {
		t.Errorf("%s: configuration %v, want %s", what, k.Suite, s.Name)
	}
	if variant != 0 && k.Variant != variant {
		t.Errorf("%s: variant %v, want %v", what, k.Variant, variant)
	}
	if !bytes.Equal(k.KeyID[:], want.KeyID) {
		t.Errorf("%s: key id %x, want %x", what, k.KeyID, want.KeyID)
	}
	if k.Expiration != want.Expiration {
		t.Errorf("%s: expiration %d, want %d", what, k.Expiration, want.Expiration)
	}
	if !bytes.Equal(k.VerifyKey, want.VerKey) {
		t.Errorf("%s: verification key differs", what)
	}
	if sk != nil && !bytes.Equal(sk, want.SigKey) {
		t.Errorf("%s: signing key differs", what)
	}
}

// publicEqual compares two public keys field by field.
func publicEqual(a, b *PublicKey) bool {
	return a.Variant == b.Variant && a.Suite == b.Suite && a.KeyID == b.KeyID &&
		a.Expiration == b.Expiration && bytes.Equal(a.VerifyKey, b.VerifyKey)
}
