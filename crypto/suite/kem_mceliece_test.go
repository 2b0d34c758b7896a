package suite

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/mceliece"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

// TestMcElieceThroughSuite checks the McEliece adapters against the vector
// files without generating keys: encapsulation to the sidecar public key
// with the recorded draws, and decapsulation (plain and tampered) with every
// recorded private key, all through the suite's KEM interface.
func TestMcElieceThroughSuite(t *testing.T) {
	files, err := vectors.Files("mceliece")
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, path := range files {
		var vf struct {
			PKFile string `json:"pk_file"`
			Sets   []struct {
				Name     string `json:"name"`
				RNGCalls []struct {
					Op    string      `json:"op"`
					Bytes vectors.Hex `json:"bytes"`
				} `json:"rng_calls"`
				PKSHA3   vectors.Hex `json:"pk_sha3_256"`
				SK       vectors.Hex `json:"sk"`
				CT       vectors.Hex `json:"ct"`
				SS       vectors.Hex `json:"ss"`
				Tampered []struct {
					SS vectors.Hex `json:"ss"`
				} `json:"decapsulate_tampered"`
			} `json:"sets"`
		}
		if err := vectors.Load(path, &vf); err != nil {
			t.Fatal(err)
		}
		var sidecar []byte
		if name, _, ok := strings.Cut(vf.PKFile, " "); ok && strings.HasSuffix(name, ".bin") {
			if sidecar, err = vectors.Sidecar(path, name); err != nil {
				t.Fatal(err)
			}
		}
		for _, vs := range vf.Sets {
			k, ok := kems["McEliece-"+strings.TrimPrefix(vs.Name, "mceliece")]
			if !ok {
				t.Errorf("%s: no KEM registered", vs.Name)
				continue
			}
			ss, err := k.Decapsulate(vs.SK, vs.CT)
			if err != nil || !bytes.Equal(ss, vs.SS) {
				t.Errorf("%s: decapsulation %x, %v", k.Name(), ss, err)
			}
			cases++
			ct := bytes.Clone(vs.CT)
			ct[0] ^= 1
			if len(vs.Tampered) > 0 {
				ss, err := k.Decapsulate(vs.SK, ct)
				if err != nil || !bytes.Equal(ss, vs.Tampered[0].SS) {
					t.Errorf("%s: tampered decapsulation %x, %v", k.Name(), ss, err)
				}
				cases++
			}
			if sidecar != nil && len(sidecar) == k.PublicKeySize() {
				var draws []byte
				for _, c := range vs.RNGCalls {
					if c.Op == "encapsulate" {
						draws = append(draws, c.Bytes...)
					}
				}
				ct, ss, err := k.Encapsulate(bytes.NewReader(draws), sidecar)
				if err != nil || !bytes.Equal(ct, vs.CT) || !bytes.Equal(ss, vs.SS) {
					t.Errorf("%s: encapsulation to the sidecar key differs (%v)", k.Name(), err)
				}
				cases++
			}
		}
	}
	if cases == 0 {
		t.Fatal("no McEliece vector cases")
	}
	t.Logf("checked %d McEliece cases through the suite in %d files", cases, len(files))
}

func TestMcElieceErrorMapping(t *testing.T) {
	for _, name := range []string{"McEliece-348864", "McEliece-460896", "McEliece-6688128", "McEliece-6960119", "McEliece-8192128"} {
		k, ok := kems[name]
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		pk := make([]byte, k.PublicKeySize())
		sk := make([]byte, k.PrivateKeySize())
		ct := make([]byte, k.CiphertextSize())
		if _, _, err := k.Encapsulate(drbg("x"), pk[1:]); !errors.Is(err, ErrKeySize) || !errors.Is(err, mceliece.ErrPublicKey) {
			t.Errorf("%s: short public key: %v", name, err)
		}
		if _, _, err := k.Encapsulate(nil, pk); !errors.Is(err, ErrRandom) {
			t.Errorf("%s: nil random source: %v", name, err)
		}
		if _, _, err := k.Encapsulate(bytes.NewReader(nil), pk); !errors.Is(err, ErrRandom) {
			t.Errorf("%s: empty random source: %v", name, err)
		}
		if _, _, err := k.GenerateKey(bytes.NewReader(nil)); !errors.Is(err, ErrRandom) {
			t.Errorf("%s: empty random source for keygen: %v", name, err)
		}
		if _, err := k.Decapsulate(sk[1:], ct); !errors.Is(err, ErrKeySize) {
			t.Errorf("%s: short private key: %v", name, err)
		}
		if _, err := k.Decapsulate(sk, ct[1:]); !errors.Is(err, ErrCiphertextSize) {
			t.Errorf("%s: short ciphertext: %v", name, err)
		}
		if ss, err := k.Decapsulate(sk, ct); err != nil || len(ss) != 32 {
			t.Errorf("%s: well-formed input: %v", name, err)
		}
	}
	k := kems["McEliece-6960119"]
	pk := make([]byte, k.PublicKeySize())
	pk[len(pk)-1] = 0x80 // a padding bit of the last row
	if _, _, err := k.Encapsulate(drbg("x"), pk); !errors.Is(err, ErrKeySize) {
		t.Errorf("public key padding: %v", err)
	}
	ct := make([]byte, k.CiphertextSize())
	ct[k.CiphertextSize()-33] = 0x80 // a padding bit of C0
	if _, err := k.Decapsulate(make([]byte, k.PrivateKeySize()), ct); !errors.Is(err, ErrCiphertextSize) {
		t.Errorf("ciphertext padding: %v", err)
	}
}
