package kyber

import (
	"bytes"
	"crypto/sha3"
	"fmt"
	"testing"

	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
)

// TestMatchesCircl checks that the generic code at k = 2, 3, 4 is
// byte-for-byte ML-KEM-512/768/1024 as circl implements it: keys,
// ciphertexts and secrets from the same seeds, and decapsulation of valid
// ciphertexts in both directions. (Rejection secrets differ by design.)
func TestMatchesCircl(t *testing.T) {
	cases := []struct {
		p      *Params
		scheme kem.Scheme
	}{{&K2, mlkem512.Scheme()}, {&K3, mlkem768.Scheme()}, {&K4, mlkem1024.Scheme()}}
	rounds := 20
	if testing.Short() {
		rounds = 4
	}
	for _, c := range cases {
		t.Run(c.p.Name, func(t *testing.T) {
			s := c.scheme
			if c.p.PublicKeySize() != s.PublicKeySize() || c.p.PrivateKeySize() != s.PrivateKeySize() || c.p.CiphertextSize() != s.CiphertextSize() {
				t.Fatalf("sizes %d/%d/%d, circl %d/%d/%d", c.p.PublicKeySize(), c.p.PrivateKeySize(), c.p.CiphertextSize(),
					s.PublicKeySize(), s.PrivateKeySize(), s.CiphertextSize())
			}
			rng := sha3.NewSHAKE256()
			fmt.Fprintf(rng, "circl cross-check %s", c.p.Name)
			for round := range rounds {
				seed := make([]byte, SeedSize)
				m := make([]byte, MessageSize)
				rng.Read(seed)
				rng.Read(m)

				pk, sk, err := c.p.NewKeyFromSeed(seed)
				if err != nil {
					t.Fatal(err)
				}
				cpk, csk := s.DeriveKeyPair(seed)
				wantPK, _ := cpk.MarshalBinary()
				wantSK, _ := csk.MarshalBinary()
				if !bytes.Equal(pk, wantPK) {
					t.Fatalf("round %d: public key differs from circl", round)
				}
				if !bytes.Equal(sk, wantSK) {
					t.Fatalf("round %d: private key differs from circl", round)
				}

				ct, ss, err := c.p.EncapsulateDeterministic(pk, m)
				if err != nil {
					t.Fatal(err)
				}
				wantCT, wantSS, err := s.EncapsulateDeterministically(cpk, m)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(ct, wantCT) || !bytes.Equal(ss, wantSS) {
					t.Fatalf("round %d: encapsulation differs from circl", round)
				}

				got, err := c.p.Decapsulate(sk, ct)
				if err != nil || !bytes.Equal(got, ss) {
					t.Fatalf("round %d: decapsulation = %x, %v; want %x", round, got, err, ss)
				}
				// circl's own random encapsulation, decapsulated here.
				ct2, ss2, err := s.Encapsulate(cpk)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := c.p.Decapsulate(sk, ct2); err != nil || !bytes.Equal(got, ss2) {
					t.Fatalf("round %d: decapsulating circl's ciphertext = %x, %v; want %x", round, got, err, ss2)
				}

				// A tampered ciphertext: both reject, with different values.
				ct[round%len(ct)] ^= 1 << (round % 8)
				rej, err := c.p.Decapsulate(sk, ct)
				if err != nil {
					t.Fatal(err)
				}
				circlRej, _ := s.Decapsulate(csk, ct)
				if bytes.Equal(rej, ss) || bytes.Equal(rej, circlRej) {
					t.Fatalf("round %d: rejection secret %x equals the real secret or circl's J(z‖c)", round, rej)
				}
			}
		})
	}
}
