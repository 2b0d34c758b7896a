package keyfile

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// addVectorSeeds adds every vector file with the extension ext as a seed.
func addVectorSeeds(f *testing.F, ext string) {
	files, _, err := listVectorFiles(ext)
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParsePublic checks that ParsePublic never panics, that every error
// wraps a sentinel, and that every accepted input re-serializes to itself.
func FuzzParsePublic(f *testing.F) {
	for _, name := range []string{"sphincs+-s1s_mceliece-s1_sha3_rcs", "sphincs+-s3s_mceliece-s3_sha3_rcs", "dilithium-s1_kyber-s1_sha3_rcs256"} {
		k := fakeKey(mustLookup(f, name), QSMD, 1)
		text := mustText(f, &k.PublicKey)
		f.Add(text)
		f.Add(text[:len(text)-1])
	}
	addVectorSeeds(f, ".qpkey")
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublic(b)
		if err != nil {
			if k != nil {
				t.Fatal("a key and an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownConfig) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		out, err := k.MarshalText()
		if err != nil {
			t.Fatalf("accepted key does not serialize: %v", err)
		}
		if want := bytes.TrimSuffix(b, []byte{0}); !bytes.Equal(out[:len(out)-1], want) {
			t.Fatalf("accepted input does not re-serialize to itself:\n%q\n%q", want, out)
		}
	})
}

// FuzzParsePrivate checks that ParsePrivate never panics, that every error
// wraps a sentinel, and that every accepted input re-serializes to itself.
func FuzzParsePrivate(f *testing.F) {
	for _, name := range []string{"sphincs+-s1s_mceliece-s1_sha3_rcs", "sphincs+-s5s_mceliece-s7_sha3_rcs", "dilithium-s1_kyber-s1_sha3_rcs256"} {
		f.Add(fakeKey(mustLookup(f, name), QSMS, 2).MarshalBinary())
	}
	addVectorSeeds(f, ".qskey")
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivate(b)
		if err != nil {
			if k != nil {
				t.Fatal("a key and an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownConfig) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if out := k.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("accepted input does not re-serialize to itself")
		}
		if len(k.SigningKey) != k.Suite.SigPrivateKeySize || len(k.VerifyKey) != k.Suite.SigPublicKeySize {
			t.Fatal("key sizes do not match the suite")
		}
	})
}
