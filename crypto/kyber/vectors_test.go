package kyber

import (
	"bytes"
	"crypto/sha3"
	"path/filepath"
	"testing"

	"github.com/qsmp-go/qsmp/internal/vectors"
)

// k5File is the layout of the kyber_k5*.json known-answer files.
type k5File struct {
	ParameterSet struct {
		K, N, Q, Eta1, Eta2, DU, DV int
	} `json:"parameter_set"`
	Sizes struct {
		PK, SK, CT, SS int
	} `json:"sizes"`
	Cases []struct {
		Name           string      `json:"name"`
		KeygenRNG      vectors.Hex `json:"keygen_rng_64"`
		D              vectors.Hex `json:"d"`
		Z              vectors.Hex `json:"z"`
		PK             vectors.Hex `json:"pk"`
		PKSHA3         vectors.Hex `json:"pk_sha3_256"`
		SK             vectors.Hex `json:"sk"`
		SKSHA3         vectors.Hex `json:"sk_sha3_256"`
		EncapsRNG      vectors.Hex `json:"encaps_rng_m"`
		CT             vectors.Hex `json:"ct"`
		SS             vectors.Hex `json:"ss"`
		DecapsSS       vectors.Hex `json:"decaps_ss"`
		DecapsReturned bool        `json:"decaps_returned"`
		Rejection      *struct {
			Corruption     string      `json:"corruption"`
			CorruptedCT    vectors.Hex `json:"corrupted_ct"`
			DecapsSS       vectors.Hex `json:"decaps_ss"`
			DecapsReturned bool        `json:"decaps_returned"`
			FIPS203J       vectors.Hex `json:"fips203_J_z_ct"`
			EqualsFIPS203J bool        `json:"equals_fips203_J"`
		} `json:"implicit_rejection"`
	} `json:"cases"`
}

// TestVectors reproduces every case of the kyber_k5*.json files from the C
// implementation: key generation from the 64-byte draw, encapsulation from
// the 32-byte draw, decapsulation, and the implicit-rejection secrets.
func TestVectors(t *testing.T) {
	files, err := vectors.Files("kyber_k5")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no kyber_k5*.json vector files found")
	}
	p := &K5
	var nCases, nReject int
	for _, path := range files {
		var f k5File
		if err := vectors.Load(path, &f); err != nil {
			t.Fatal(err)
		}
		ps := f.ParameterSet
		if ps.K != p.K || ps.N != n || ps.Q != q || ps.Eta1 != p.Eta1 || ps.Eta2 != p.Eta2 || ps.DU != p.DU || ps.DV != p.DV {
			t.Fatalf("%s: parameter set %+v is not K5", filepath.Base(path), ps)
		}
		if f.Sizes.PK != p.PublicKeySize() || f.Sizes.SK != p.PrivateKeySize() || f.Sizes.CT != p.CiphertextSize() || f.Sizes.SS != SharedKeySize {
			t.Fatalf("%s: sizes %+v differ from K5's", filepath.Base(path), f.Sizes)
		}
		if len(f.Cases) == 0 {
			t.Fatalf("%s: no cases", filepath.Base(path))
		}
		for _, c := range f.Cases {
			if !bytes.Equal(c.KeygenRNG, append(append([]byte{}, c.D...), c.Z...)) {
				t.Errorf("%s: keygen_rng_64 is not d ‖ z", c.Name)
			}
			pk, sk, err := p.NewKeyFromSeed(c.KeygenRNG)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if !bytes.Equal(pk, c.PK) {
				t.Errorf("%s: public key differs", c.Name)
			}
			if h := sha3.Sum256(pk); !bytes.Equal(h[:], c.PKSHA3) {
				t.Errorf("%s: SHA3-256(pk) differs", c.Name)
			}
			if !bytes.Equal(sk, c.SK) {
				t.Errorf("%s: private key differs", c.Name)
			}
			if h := sha3.Sum256(sk); !bytes.Equal(h[:], c.SKSHA3) {
				t.Errorf("%s: SHA3-256(sk) differs", c.Name)
			}
			ct, ss, err := p.EncapsulateDeterministic(c.PK, c.EncapsRNG)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if !bytes.Equal(ct, c.CT) || !bytes.Equal(ss, c.SS) {
				t.Errorf("%s: encapsulation differs", c.Name)
			}
			got, err := p.Decapsulate(c.SK, c.CT)
			if (err == nil) != c.DecapsReturned {
				t.Errorf("%s: decapsulation error %v, C returned %v", c.Name, err, c.DecapsReturned)
			}
			if !bytes.Equal(got, c.DecapsSS) {
				t.Errorf("%s: decapsulation gave %x, want %x", c.Name, got, c.DecapsSS)
			}
			nCases++
			if r := c.Rejection; r != nil {
				if r.EqualsFIPS203J || bytes.Equal(r.DecapsSS, r.FIPS203J) {
					t.Errorf("%s: vector says the rejection value equals J(z‖c); this package implements QSC's SHAKE-256(z‖c′)", c.Name)
				}
				rej, err := p.Decapsulate(c.SK, r.CorruptedCT)
				if (err == nil) != r.DecapsReturned {
					t.Errorf("%s: rejection error %v, C returned %v", c.Name, err, r.DecapsReturned)
				}
				if !bytes.Equal(rej, r.DecapsSS) {
					t.Errorf("%s: rejection secret %x, want %x (%s)", c.Name, rej, r.DecapsSS, r.Corruption)
				}
				// The FIPS 203 value J(z ‖ c) over the received ciphertext,
				// which QSC does not use, must match the vector's record of it.
				j := sha3.NewSHAKE256()
				j.Write(c.Z)
				j.Write(r.CorruptedCT)
				fips := make([]byte, 32)
				j.Read(fips)
				if !bytes.Equal(fips, r.FIPS203J) {
					t.Errorf("%s: J(z‖c) = %x, vector records %x", c.Name, fips, r.FIPS203J)
				}
				nReject++
			}
		}
	}
	t.Logf("checked %d file(s), %d case(s), %d implicit-rejection case(s)", len(files), nCases, nReject)
}
