package suite

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"strings"
	"testing"

	"github.com/qsmp-go/qsmp/internal/vectors"
)

// drbg is the vector generator: SHAKE-256 of an ASCII seed, read sequentially.
func drbg(seed string) *sha3.SHAKE {
	h := sha3.NewSHAKE256()
	h.Write([]byte(seed))
	return h
}

func TestTableMatchesDigest(t *testing.T) {
	if got := len(All()); got != 14 {
		t.Fatalf("%d configurations, want 14", got)
	}
	for _, s := range All() {
		if len(s.Name) != 33 {
			t.Errorf("%q: %d characters, want 33", s.Name, len(s.Name))
		}
		w := s.Wire()
		if w[33] != 0 || string(w[:33]) != s.Name {
			t.Errorf("%q: bad wire form %x", s.Name, w)
		}
		got, err := FromWire(w[:])
		if err != nil || got != s {
			t.Errorf("FromWire(%q) = %v, %v", s.Name, got, err)
		}
		if got, err := Lookup(s.Name + "\x00"); err != nil || got != s {
			t.Errorf("Lookup with NUL (%q) = %v, %v", s.Name, got, err)
		}
	}
	for _, bad := range []string{"", "dilithium-s3_kyber-s3_sha3_rcs", "dilithium-s3_kyber-s3_sha3_rcs256x"} {
		if _, err := Lookup(bad); !errors.Is(err, ErrUnknownConfig) {
			t.Errorf("Lookup(%q) error %v, want ErrUnknownConfig", bad, err)
		}
	}
	if _, err := FromWire([]byte("dilithium-s3_kyber-s3_sha3_rcs256")); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("FromWire without NUL accepted: %v", err)
	}
}

func TestSizesMatchSchemes(t *testing.T) {
	for _, s := range All() {
		if k, err := s.KEM(); err == nil {
			if k.PublicKeySize() != s.KEMPublicKeySize || k.PrivateKeySize() != s.KEMPrivateKeySize || k.CiphertextSize() != s.CiphertextSize {
				t.Errorf("%s: KEM sizes %d/%d/%d differ from the table", s.Name, k.PublicKeySize(), k.PrivateKeySize(), k.CiphertextSize())
			}
		} else if !errors.Is(err, ErrNotImplemented) {
			t.Errorf("%s: KEM error %v", s.Name, err)
		}
		if v, err := s.Signer(); err == nil {
			if v.PublicKeySize() != s.SigPublicKeySize || v.PrivateKeySize() != s.SigPrivateKeySize || v.SignatureSize() != s.SignatureSize {
				t.Errorf("%s: signature sizes %d/%d/%d differ from the table", s.Name, v.PublicKeySize(), v.PrivateKeySize(), v.SignatureSize())
			}
		} else if !errors.Is(err, ErrNotImplemented) {
			t.Errorf("%s: signer error %v", s.Name, err)
		}
	}
	for _, name := range []string{"dilithium-s1_kyber-s1_sha3_rcs256", "dilithium-s3_kyber-s3_sha3_rcs256", "dilithium-s5_kyber-s5_sha3_rcs256"} {
		s, _ := Lookup(name)
		if !s.Implemented() {
			t.Errorf("%s must be implemented", name)
		}
	}
}

// heavyUnderRace names the schemes whose generic tests run only without the
// race detector (CI runs the crypto packages a second time without it).
func heavyUnderRace(t *testing.T, name string) bool {
	if raceDetector && strings.HasPrefix(name, "SLH-DSA-") {
		t.Logf("%s: skipped under -race (too slow); it runs in the pass without -race", name)
		return true
	}
	return false
}

func TestKEMRoundTripAndBadInput(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range All() {
		k, err := s.KEM()
		if err != nil || seen[k.Name()] || heavyUnderRace(t, k.Name()) {
			continue
		}
		seen[k.Name()] = true
		t.Run(k.Name(), func(t *testing.T) {
			rng := drbg("kem " + k.Name())
			pk, sk, err := k.GenerateKey(rng)
			if err != nil {
				t.Fatal(err)
			}
			ct, ss, err := k.Encapsulate(rng, pk)
			if err != nil {
				t.Fatal(err)
			}
			ss2, err := k.Decapsulate(sk, ct)
			if err != nil || !bytes.Equal(ss, ss2) || len(ss) != 32 {
				t.Fatalf("decapsulation mismatch: %x vs %x (%v)", ss, ss2, err)
			}
			ct[0] ^= 1
			if ss3, err := k.Decapsulate(sk, ct); err == nil && bytes.Equal(ss3, ss) {
				t.Fatal("tampered ciphertext gave the same secret")
			}
			if _, _, err := k.Encapsulate(rng, pk[1:]); !errors.Is(err, ErrKeySize) {
				t.Errorf("short public key: %v", err)
			}
			if _, err := k.Decapsulate(sk, ct[1:]); !errors.Is(err, ErrCiphertextSize) {
				t.Errorf("short ciphertext: %v", err)
			}
			if _, err := k.Decapsulate(sk[1:], ct); !errors.Is(err, ErrKeySize) {
				t.Errorf("short private key: %v", err)
			}
			if _, _, err := k.GenerateKey(bytes.NewReader(nil)); !errors.Is(err, ErrRandom) {
				t.Errorf("empty random source: %v", err)
			}
		})
	}
}

func TestSignerRoundTripAndBadInput(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range All() {
		v, err := s.Signer()
		if err != nil || seen[v.Name()] || heavyUnderRace(t, v.Name()) {
			continue
		}
		seen[v.Name()] = true
		t.Run(v.Name(), func(t *testing.T) {
			rng := drbg("sig " + v.Name())
			pk, sk, err := v.GenerateKey(rng)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("transcript hash stands in here..")
			sm, err := v.Sign(rng, sk, msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sm) != v.SignatureSize()+len(msg) || !bytes.Equal(sm[v.SignatureSize():], msg) {
				t.Fatalf("signed message layout wrong: %d bytes", len(sm))
			}
			got, err := v.Open(pk, sm)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("Open = %q, %v", got, err)
			}
			for _, i := range []int{0, v.SignatureSize() / 2, v.SignatureSize() - 1, len(sm) - 1} {
				sm[i] ^= 0x40
				if _, err := v.Open(pk, sm); !errors.Is(err, ErrVerify) {
					t.Errorf("flip at %d: %v, want ErrVerify", i, err)
				}
				sm[i] ^= 0x40
			}
			if _, err := v.Open(pk, sm[:10]); !errors.Is(err, ErrVerify) {
				t.Errorf("truncated: %v", err)
			}
			if _, err := v.Open(pk[1:], sm); !errors.Is(err, ErrKeySize) {
				t.Errorf("short public key: %v", err)
			}
			if _, err := v.Sign(rng, sk[1:], msg); !errors.Is(err, ErrKeySize) {
				t.Errorf("short private key: %v", err)
			}
		})
	}
}

// TestHandshakeVectorKeys derives the identity keys of the handshake vectors
// from their recorded draws.
func TestHandshakeVectorKeys(t *testing.T) {
	type key struct {
		Verkey vectors.Hex `json:"verkey"`
		Sigkey vectors.Hex `json:"sigkey"`
	}
	type call struct {
		Context string      `json:"context"`
		Bytes   vectors.Hex `json:"bytes"`
	}
	var files []string
	for _, p := range []string{"qsms_handshake", "qsmd_handshake"} {
		f, err := vectors.Files(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f...)
	}
	checked := 0
	for _, f := range files {
		var v struct {
			Config      string `json:"config"`
			ServerKey   *key   `json:"server_key"`
			ListenerKey *key   `json:"listener_key"`
			SenderKey   *key   `json:"sender_key"`
			RNGCalls    []call `json:"rng_calls"`
		}
		if err := vectors.Load(f, &v); err != nil {
			t.Fatal(err)
		}
		s, err := Lookup(v.Config)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := s.Signer()
		if err != nil {
			t.Logf("%s: skipped (%v)", f, err)
			continue
		}
		var keys []*key
		for _, k := range []*key{v.ServerKey, v.ListenerKey, v.SenderKey} {
			if k != nil {
				keys = append(keys, k)
			}
		}
		var seeds [][]byte
		for _, c := range v.RNGCalls {
			if bytes.Contains([]byte(c.Context), []byte("signature keypair")) {
				seeds = append(seeds, c.Bytes)
			}
		}
		if len(seeds) != len(keys) {
			t.Fatalf("%s: %d key draws for %d keys", f, len(seeds), len(keys))
		}
		for i, k := range keys {
			pk, sk, err := signer.GenerateKey(bytes.NewReader(seeds[i]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pk, k.Verkey) || !bytes.Equal(sk, k.Sigkey) {
				t.Errorf("%s: key %d differs from the vector", f, i)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no keys checked")
	}
	t.Logf("derived %d identity keys from %d files", checked, len(files))
}
