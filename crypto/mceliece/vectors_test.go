package mceliece

import (
	"bytes"
	"crypto/sha3"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qsmp-go/qsmp/internal/vectors"
)

var long = flag.Bool("long", false, "TestVectors: generate the keys of every set under -race too (by default only mceliece348864's)")

// vectorFile is the schema of mceliece*.json.
type vectorFile struct {
	PKFile string      `json:"pk_file"`
	Sets   []vectorSet `json:"sets"`
}

type vectorSet struct {
	Name  string `json:"name"`
	Sizes struct {
		PK, SK, CT, SS int
	} `json:"sizes"`
	RNGSeed          string `json:"rng_seed_ascii"`
	KeygenCalls      int    `json:"keygen_rng_calls"`
	EncapsulateCalls int    `json:"encapsulate_rng_calls"`
	RNGCalls         []struct {
		Op     string      `json:"op"`
		Offset int         `json:"offset"`
		Length int         `json:"length"`
		Bytes  vectors.Hex `json:"bytes"`
	} `json:"rng_calls"`
	PKSHA3      vectors.Hex `json:"pk_sha3_256"`
	PKFirst64   vectors.Hex `json:"pk_first64"`
	PKLast64    vectors.Hex `json:"pk_last64"`
	SKSHA3      vectors.Hex `json:"sk_sha3_256"`
	SK          vectors.Hex `json:"sk"`
	CT          vectors.Hex `json:"ct"`
	SS          vectors.Hex `json:"ss"`
	Decapsulate struct {
		SS       vectors.Hex `json:"ss"`
		Returned bool        `json:"returned"`
	} `json:"decapsulate"`
	Tampered []struct {
		Corruption string      `json:"corruption"`
		SS         vectors.Hex `json:"ss"`
		Returned   bool        `json:"returned"`
	} `json:"decapsulate_tampered"`
}

func paramsByName(name string) *Params {
	for _, p := range All() {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// slowSet reports whether a set's key generation is left out: all five run
// by default (about 2.5 s), but under the race detector only mceliece348864
// does unless -long is given. The private keys recorded in the vectors are
// used for decapsulation either way.
func slowSet(name string) bool {
	return raceEnabled && !*long && name != "mceliece348864"
}

// recordingReader is the vector generator, SHAKE-256 of the ASCII seed read
// sequentially, recording the length of every read.
type recordingReader struct {
	h     *sha3.SHAKE
	reads []int
}

func (r *recordingReader) Read(b []byte) (int, error) {
	r.reads = append(r.reads, len(b))
	return r.h.Read(b)
}

func newRecordingReader(seed string) *recordingReader {
	h := sha3.NewSHAKE256()
	h.Write([]byte(seed))
	return &recordingReader{h: h}
}

// TestVectors checks every set of every mceliece*.json vector file: key
// generation from the recorded random stream (public-key hash, first and
// last 64 bytes, the full private key), the exact sequence of random reads,
// encapsulation (ciphertext and secret), decapsulation and the tampered
// decapsulations (implicit rejection and the C return value).
func TestVectors(t *testing.T) {
	files, err := vectors.Files("mceliece")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no mceliece vector files")
	}
	nfiles, ncases, skipped := 0, 0, 0
	for _, path := range files {
		var vf vectorFile
		if err := vectors.Load(path, &vf); err != nil {
			t.Fatal(err)
		}
		if len(vf.Sets) == 0 {
			t.Logf("%s: skipped (no McEliece sets in this file)", filepath.Base(path))
			continue
		}
		nfiles++
		// pk_file names a sidecar holding the full public key of one set:
		// "mceliece348864_pk.bin = …".
		var pkFile []byte
		pkName, _, _ := strings.Cut(vf.PKFile, " ")
		if strings.HasSuffix(pkName, ".bin") {
			if pkFile, err = vectors.Sidecar(path, pkName); err != nil {
				t.Fatalf("%s: %v", filepath.Base(path), err)
			}
		}
		for _, vs := range vf.Sets {
			p := paramsByName(vs.Name)
			if p == nil {
				t.Logf("%s: set %q skipped (not implemented)", filepath.Base(path), vs.Name)
				skipped++
				continue
			}
			if slowSet(vs.Name) {
				t.Logf("%s: %s key generation skipped under -race (run with -long); decapsulation checked with the recorded key", filepath.Base(path), vs.Name)
				skipped++
				ncases += checkWithoutKeygen(t, p, &vs)
				continue
			}
			var sidecar []byte
			if strings.HasPrefix(pkName, vs.Name+"_") {
				sidecar = pkFile
			}
			ncases += checkSet(t, p, &vs, sidecar)
		}
	}
	t.Logf("checked %d cases in %d files (%d sets skipped or without key generation)", ncases, nfiles, skipped)
}

func checkSizes(t *testing.T, p *Params, vs *vectorSet) {
	t.Helper()
	if p.PublicKeySize() != vs.Sizes.PK || p.PrivateKeySize() != vs.Sizes.SK ||
		p.CiphertextSize() != vs.Sizes.CT || p.SharedSecretSize() != vs.Sizes.SS {
		t.Fatalf("%s: sizes %d/%d/%d/%d, vector %+v", p.Name(), p.PublicKeySize(), p.PrivateKeySize(),
			p.CiphertextSize(), p.SharedSecretSize(), vs.Sizes)
	}
}

// checkSet runs the whole set and returns the number of cases checked.
func checkSet(t *testing.T, p *Params, vs *vectorSet, pkFile []byte) int {
	t.Helper()
	checkSizes(t, p, vs)
	rng := newRecordingReader(vs.RNGSeed)
	pk, sk, err := p.GenerateKey(rng)
	if err != nil {
		t.Fatalf("%s: GenerateKey: %v", p.Name(), err)
	}
	cases := 1
	sum := sha3.Sum256(pk)
	if !bytes.Equal(sum[:], vs.PKSHA3) || !bytes.Equal(pk[:64], vs.PKFirst64) || !bytes.Equal(pk[len(pk)-64:], vs.PKLast64) {
		t.Errorf("%s: public key differs (sha3 %x)", p.Name(), sum)
	}
	if !bytes.Equal(sk, vs.SK) {
		t.Errorf("%s: private key differs at byte %d", p.Name(), firstDiff(sk, vs.SK))
	}
	if sum := sha3.Sum256(sk); !bytes.Equal(sum[:], vs.SKSHA3) {
		t.Errorf("%s: private key hash differs", p.Name())
	}
	if pkFile != nil {
		if !bytes.Equal(pk, pkFile) {
			t.Errorf("%s: public key differs from the sidecar file", p.Name())
		}
		cases++
	}
	ct, ss, err := p.Encapsulate(rng, pk)
	if err != nil {
		t.Fatalf("%s: Encapsulate: %v", p.Name(), err)
	}
	cases++
	if !bytes.Equal(ct, vs.CT) || !bytes.Equal(ss, vs.SS) {
		t.Errorf("%s: encapsulation differs\nct %x\nss %x", p.Name(), ct, ss)
	}
	checkReads(t, p, vs, rng.reads)
	return cases + checkDecaps(t, p, vs, vs.SK)
}

// checkWithoutKeygen checks what needs no key generation: encapsulation is
// not possible without the full public key, so only decapsulation.
func checkWithoutKeygen(t *testing.T, p *Params, vs *vectorSet) int {
	t.Helper()
	checkSizes(t, p, vs)
	return checkDecaps(t, p, vs, vs.SK)
}

func checkReads(t *testing.T, p *Params, vs *vectorSet, reads []int) {
	t.Helper()
	if len(reads) != len(vs.RNGCalls) || len(reads) != vs.KeygenCalls+vs.EncapsulateCalls {
		t.Errorf("%s: %d random reads, vector lists %d", p.Name(), len(reads), len(vs.RNGCalls))
		return
	}
	off := 0
	for i, c := range vs.RNGCalls {
		if reads[i] != c.Length || c.Offset != off || len(c.Bytes) != c.Length {
			t.Errorf("%s: read %d of %d bytes at %d, vector %s %d at %d", p.Name(), i, reads[i], off, c.Op, c.Length, c.Offset)
		}
		off += reads[i]
	}
}

func checkDecaps(t *testing.T, p *Params, vs *vectorSet, sk []byte) int {
	t.Helper()
	ss, ok, err := p.DecapsulateChecked(sk, vs.CT)
	if err != nil {
		t.Fatalf("%s: Decapsulate: %v", p.Name(), err)
	}
	if !bytes.Equal(ss, vs.Decapsulate.SS) || ok != vs.Decapsulate.Returned {
		t.Errorf("%s: decapsulation gives %x (%v), want %x (%v)", p.Name(), ss, ok, vs.Decapsulate.SS, vs.Decapsulate.Returned)
	}
	cases := 1
	for _, tc := range vs.Tampered {
		ct := bytes.Clone(vs.CT)
		var idx int
		var x byte
		if _, err := fmt.Sscanf(tc.Corruption, "ct[%d] ^= 0x%x", &idx, &x); err != nil || idx < 0 || idx >= len(ct) {
			t.Errorf("%s: cannot read corruption %q: %v", p.Name(), tc.Corruption, err)
			continue
		}
		ct[idx] ^= x
		ss, ok, err := p.DecapsulateChecked(sk, ct)
		if err != nil {
			t.Errorf("%s: %s: %v", p.Name(), tc.Corruption, err)
			continue
		}
		if !bytes.Equal(ss, tc.SS) || ok != tc.Returned {
			t.Errorf("%s: %s gives %x (%v), want %x (%v)", p.Name(), tc.Corruption, ss, ok, tc.SS, tc.Returned)
		}
		cases++
	}
	return cases
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
