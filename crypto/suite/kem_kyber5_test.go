package suite

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/kyber"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

// kyber5DrawLog serves data and records the size of every Read call.
type kyber5DrawLog struct {
	data  []byte
	reads []int
}

func (r *kyber5DrawLog) Read(p []byte) (int, error) {
	r.reads = append(r.reads, len(p))
	n := copy(p, r.data)
	r.data = r.data[n:]
	if n == 0 && len(p) > 0 {
		return 0, errors.New("kyber5DrawLog: exhausted")
	}
	return n, nil
}

func TestKyber5Registered(t *testing.T) {
	s, err := Lookup("dilithium-s5_kyber-s6_sha3_rcs256")
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.KEM()
	if err != nil {
		t.Fatal(err)
	}
	if k.Name() != "Kyber-K5" || k.PublicKeySize() != 1952 || k.PrivateKeySize() != 3936 || k.CiphertextSize() != 1920 {
		t.Fatalf("%s: sizes %d/%d/%d", k.Name(), k.PublicKeySize(), k.PrivateKeySize(), k.CiphertextSize())
	}
}

// TestKyber5Vectors replays the C implementation's random draws through the
// KEM interface: one 64-byte read for key generation, one 32-byte read for
// encapsulation, and the recorded keys, ciphertexts and secrets.
func TestKyber5Vectors(t *testing.T) {
	files, err := vectors.Files("kyber_k5")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no kyber_k5*.json vector files")
	}
	k := kyber5{}
	cases := 0
	for _, path := range files {
		var f struct {
			Cases []struct {
				Name      string      `json:"name"`
				KeygenRNG vectors.Hex `json:"keygen_rng_64"`
				EncapsRNG vectors.Hex `json:"encaps_rng_m"`
				PK, SK    vectors.Hex
				CT, SS    vectors.Hex
				Rejection *struct {
					CorruptedCT vectors.Hex `json:"corrupted_ct"`
					DecapsSS    vectors.Hex `json:"decaps_ss"`
				} `json:"implicit_rejection"`
			} `json:"cases"`
		}
		if err := vectors.Load(path, &f); err != nil {
			t.Fatal(err)
		}
		if len(f.Cases) == 0 {
			t.Fatalf("%s: no cases", path)
		}
		for _, c := range f.Cases {
			r := &kyber5DrawLog{data: append(append([]byte{}, c.KeygenRNG...), c.EncapsRNG...)}
			pk, sk, err := k.GenerateKey(r)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			ct, ss, err := k.Encapsulate(r, pk)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if len(r.reads) != 2 || r.reads[0] != 64 || r.reads[1] != 32 || len(r.data) != 0 {
				t.Errorf("%s: reads %v (left %d bytes), want [64 32]", c.Name, r.reads, len(r.data))
			}
			if !bytes.Equal(pk, c.PK) || !bytes.Equal(sk, c.SK) || !bytes.Equal(ct, c.CT) || !bytes.Equal(ss, c.SS) {
				t.Errorf("%s: output differs from the vector", c.Name)
			}
			if got, err := k.Decapsulate(sk, ct); err != nil || !bytes.Equal(got, c.SS) {
				t.Errorf("%s: decapsulation %x, %v", c.Name, got, err)
			}
			if rj := c.Rejection; rj != nil {
				if got, err := k.Decapsulate(sk, rj.CorruptedCT); err != nil || !bytes.Equal(got, rj.DecapsSS) {
					t.Errorf("%s: rejection secret %x, %v; want %x", c.Name, got, err, rj.DecapsSS)
				}
			}
			cases++
		}
	}
	t.Logf("checked %d file(s), %d case(s) through the KEM interface", len(files), cases)
}

func TestKyber5Errors(t *testing.T) {
	k := kyber5{}
	rng := drbg("kyber5 errors")
	pk, sk, err := k.GenerateKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	ct, _, err := k.Encapsulate(rng, pk)
	if err != nil {
		t.Fatal(err)
	}

	// A coefficient equal to q: rejected as a malformed key, nothing drawn.
	bad := bytes.Clone(pk)
	bad[0], bad[1] = 0x01, bad[1]&0xf0|0x0d
	r := &kyber5DrawLog{data: make([]byte, 32)}
	if _, _, err := k.Encapsulate(r, bad); !errors.Is(err, ErrKeySize) || !errors.Is(err, kyber.ErrPublicKeyModulus) {
		t.Errorf("coefficient q: %v", err)
	}
	if _, _, err := k.Encapsulate(r, pk[:100]); !errors.Is(err, ErrKeySize) {
		t.Errorf("short key: %v", err)
	}
	if len(r.reads) != 0 {
		t.Errorf("bad keys drew randomness: %v", r.reads)
	}

	// A short random source.
	if _, _, err := k.Encapsulate(bytes.NewReader(make([]byte, 31)), pk); !errors.Is(err, ErrRandom) {
		t.Errorf("31-byte source: %v", err)
	}
	if _, _, err := k.GenerateKey(bytes.NewReader(make([]byte, 63))); !errors.Is(err, ErrRandom) {
		t.Errorf("63-byte source: %v", err)
	}
	if _, _, err := k.GenerateKey(nil); !errors.Is(err, ErrRandom) {
		t.Errorf("nil source: %v", err)
	}

	// A private key whose H(ek) does not match.
	badSK := bytes.Clone(sk)
	badSK[5*384] ^= 1
	if _, err := k.Decapsulate(badSK, ct); !errors.Is(err, ErrDecapsulate) || !errors.Is(err, ErrKeySize) {
		t.Errorf("hash mismatch: %v", err)
	}
	if _, err := k.Decapsulate(sk, append(bytes.Clone(ct), 0)); !errors.Is(err, ErrCiphertextSize) {
		t.Errorf("long ciphertext: %v", err)
	}
}
