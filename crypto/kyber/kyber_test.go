package kyber

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"testing"
)

var allParams = []*Params{&K2, &K3, &K4, &K5}

func TestSizes(t *testing.T) {
	want := map[string][3]int{
		"ML-KEM-512":  {800, 1632, 768},
		"ML-KEM-768":  {1184, 2400, 1088},
		"ML-KEM-1024": {1568, 3168, 1568},
		"Kyber-K5":    {1952, 3936, 1920}, // digest table 3.3
	}
	for _, p := range allParams {
		w := want[p.Name]
		if got := [3]int{p.PublicKeySize(), p.PrivateKeySize(), p.CiphertextSize()}; got != w {
			t.Errorf("%s: sizes %v, want %v", p.Name, got, w)
		}
		if err := p.check(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	if K5.K != 5 || K5.Eta1 != 2 || K5.Eta2 != 2 || K5.DU != 11 || K5.DV != 5 {
		t.Errorf("K5 = %+v", K5)
	}
}

// TestDomainByte checks that key generation derives ρ from G(d ‖ byte(k)):
// ρ is the last 32 bytes of the encapsulation key.
func TestDomainByte(t *testing.T) {
	seed := make([]byte, SeedSize)
	rng("domain byte").Read(seed)
	for _, p := range allParams {
		pk, _, err := p.NewKeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		g := sha3.Sum512(append(append([]byte{}, seed[:32]...), byte(p.K)))
		if !bytes.Equal(pk[384*p.K:], g[:32]) {
			t.Errorf("%s: ρ is not the first half of G(d ‖ %d)", p.Name, p.K)
		}
	}
}

// expectedRejection recomputes QSC's rejection secret SHAKE-256(z ‖ c′)
// step by step from FIPS 203 Algorithm 18.
func expectedRejection(p *Params, sk, ct []byte) []byte {
	k := p.K
	w := newWork(k)
	in := make([]byte, 64)
	w.decrypt(p, in[:32], sk[:384*k], ct)
	copy(in[32:], sk[768*k+32:768*k+64])
	g := sha3.Sum512(in)
	ek := sk[384*k : 768*k+32]
	w.loadPublicKey(ek)
	c2 := make([]byte, len(ct))
	w.encrypt(p, c2, ek[384*k:], in[:32], g[32:])
	h := sha3.NewSHAKE256()
	h.Write(sk[768*k+64:])
	h.Write(c2)
	out := make([]byte, 32)
	h.Read(out)
	return out
}

func TestRoundTripAndRejection(t *testing.T) {
	r := rng("round trip")
	for _, p := range allParams {
		t.Run(p.Name, func(t *testing.T) {
			for round := range 10 {
				seed := make([]byte, SeedSize)
				m := make([]byte, MessageSize)
				r.Read(seed)
				r.Read(m)
				seedCopy, mCopy := bytes.Clone(seed), bytes.Clone(m)
				pk, sk, err := p.NewKeyFromSeed(seed)
				if err != nil {
					t.Fatal(err)
				}
				if len(pk) != p.PublicKeySize() || len(sk) != p.PrivateKeySize() {
					t.Fatalf("key sizes %d, %d", len(pk), len(sk))
				}
				if !bytes.Equal(sk[384*p.K:768*p.K+32], pk) || !bytes.Equal(sk[768*p.K+64:], seed[32:]) {
					t.Fatal("decapsulation key layout is not dk_PKE ‖ ek ‖ H(ek) ‖ z")
				}
				if h := sha3.Sum256(pk); !bytes.Equal(sk[768*p.K+32:768*p.K+64], h[:]) {
					t.Fatal("decapsulation key does not hold H(ek)")
				}
				pk2, sk2, _ := p.NewKeyFromSeed(seed)
				if !bytes.Equal(pk, pk2) || !bytes.Equal(sk, sk2) {
					t.Fatal("key generation is not deterministic")
				}
				ct, ss, err := p.EncapsulateDeterministic(pk, m)
				if err != nil {
					t.Fatal(err)
				}
				if len(ct) != p.CiphertextSize() || len(ss) != SharedKeySize {
					t.Fatalf("sizes %d, %d", len(ct), len(ss))
				}
				if !bytes.Equal(seed, seedCopy) || !bytes.Equal(m, mCopy) {
					t.Fatal("inputs were modified")
				}
				got, err := p.Decapsulate(sk, ct)
				if err != nil || !bytes.Equal(got, ss) {
					t.Fatalf("decapsulation = %x, %v; want %x", got, err, ss)
				}

				bad := bytes.Clone(ct)
				bad[(round*97)%len(bad)] ^= 1 << (round % 8)
				rej, err := p.Decapsulate(sk, bad)
				if err != nil {
					t.Fatalf("implicit rejection returned an error: %v", err)
				}
				if bytes.Equal(rej, ss) {
					t.Fatal("tampered ciphertext gave the real secret")
				}
				if want := expectedRejection(p, sk, bad); !bytes.Equal(rej, want) {
					t.Fatalf("rejection secret %x, want SHAKE-256(z ‖ c′) = %x", rej, want)
				}
				j := sha3.NewSHAKE256()
				j.Write(sk[768*p.K+64:])
				j.Write(bad)
				fips := make([]byte, 32)
				j.Read(fips)
				if bytes.Equal(rej, fips) {
					t.Fatal("rejection secret equals FIPS 203's J(z ‖ c)")
				}
			}
		})
	}
}

func TestInputErrors(t *testing.T) {
	for _, p := range allParams {
		t.Run(p.Name, func(t *testing.T) {
			seed := make([]byte, SeedSize)
			m := make([]byte, MessageSize)
			pk, sk, err := p.NewKeyFromSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			ct, _, err := p.EncapsulateDeterministic(pk, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []int{0, 32, 63, 65} {
				if _, _, err := p.NewKeyFromSeed(make([]byte, l)); !errors.Is(err, ErrSeedSize) {
					t.Errorf("seed of %d bytes: %v", l, err)
				}
			}
			for _, b := range [][]byte{nil, pk[1:], append(bytes.Clone(pk), 0)} {
				if _, _, err := p.EncapsulateDeterministic(b, m); !errors.Is(err, ErrPublicKeySize) {
					t.Errorf("public key of %d bytes: %v", len(b), err)
				}
				if err := p.CheckPublicKey(b); !errors.Is(err, ErrPublicKeySize) {
					t.Errorf("CheckPublicKey, %d bytes: %v", len(b), err)
				}
			}
			for _, b := range [][]byte{nil, m[1:], append(bytes.Clone(m), 0)} {
				if _, _, err := p.EncapsulateDeterministic(pk, b); !errors.Is(err, ErrMessageSize) {
					t.Errorf("m of %d bytes: %v", len(b), err)
				}
			}
			for _, b := range [][]byte{nil, sk[1:], append(bytes.Clone(sk), 0)} {
				if _, err := p.Decapsulate(b, ct); !errors.Is(err, ErrPrivateKeySize) {
					t.Errorf("private key of %d bytes: %v", len(b), err)
				}
			}
			for _, b := range [][]byte{nil, ct[1:], append(bytes.Clone(ct), 0)} {
				if _, err := p.Decapsulate(sk, b); !errors.Is(err, ErrCiphertextSize) {
					t.Errorf("ciphertext of %d bytes: %v", len(b), err)
				}
			}

			// Modulus check: two 12-bit values in the first and in the last
			// three-byte group of t̂; any value >= q must be rejected.
			pair := func(a, b uint16) [3]byte {
				return [3]byte{byte(a), byte(a>>8) | byte(b<<4), byte(b >> 4)}
			}
			for _, off := range []int{0, 384*p.K - 3} {
				for _, c := range []struct {
					a, b uint16
					ok   bool
				}{
					{q - 1, q - 1, true}, {0, 0, true},
					{q, q - 1, false}, {q - 1, q, false}, {4095, 0, false}, {0, 4095, false}, {4095, 4095, false},
				} {
					bad := bytes.Clone(pk)
					v := pair(c.a, c.b)
					copy(bad[off:], v[:])
					_, _, err := p.EncapsulateDeterministic(bad, m)
					if cerr := p.CheckPublicKey(bad); !errors.Is(cerr, err) {
						t.Errorf("CheckPublicKey says %v, EncapsulateDeterministic %v", cerr, err)
					}
					if c.ok && err != nil {
						t.Errorf("values %d, %d at byte %d rejected: %v", c.a, c.b, off, err)
					}
					if !c.ok && !errors.Is(err, ErrPublicKeyModulus) {
						t.Errorf("values %d, %d at byte %d: %v, want ErrPublicKeyModulus", c.a, c.b, off, err)
					}
				}
			}

			// Hash check: change ek or H(ek) inside sk.
			for _, off := range []int{384 * p.K, 768*p.K + 31, 768*p.K + 32, 768*p.K + 63} {
				bad := bytes.Clone(sk)
				bad[off] ^= 1
				if _, err := p.Decapsulate(bad, ct); !errors.Is(err, ErrPrivateKeyHash) {
					t.Errorf("sk byte %d changed: %v, want ErrPrivateKeyHash", off, err)
				}
			}
			// Changing dk_PKE or z is not detectable and must not fail.
			for _, off := range []int{0, 768*p.K + 64} {
				bad := bytes.Clone(sk)
				bad[off] ^= 1
				if _, err := p.Decapsulate(bad, ct); err != nil {
					t.Errorf("sk byte %d changed: %v", off, err)
				}
			}
		})
	}
}

func TestBadParams(t *testing.T) {
	seed := make([]byte, SeedSize)
	for _, p := range []*Params{
		nil,
		{K: 0, Eta1: 2, Eta2: 2, DU: 10, DV: 4},
		{K: maxK + 1, Eta1: 2, Eta2: 2, DU: 10, DV: 4},
		{K: 2, Eta1: 1, Eta2: 2, DU: 10, DV: 4},
		{K: 2, Eta1: 2, Eta2: 4, DU: 10, DV: 4},
		{K: 2, Eta1: 2, Eta2: 2, DU: 12, DV: 4},
		{K: 2, Eta1: 2, Eta2: 2, DU: 10, DV: 0},
	} {
		if _, _, err := p.NewKeyFromSeed(seed); !errors.Is(err, ErrParams) {
			t.Errorf("%+v: NewKeyFromSeed: %v", p, err)
		}
		if _, _, err := p.EncapsulateDeterministic(nil, nil); !errors.Is(err, ErrParams) {
			t.Errorf("%+v: Encapsulate: %v", p, err)
		}
		if _, err := p.Decapsulate(nil, nil); !errors.Is(err, ErrParams) {
			t.Errorf("%+v: Decapsulate: %v", p, err)
		}
	}
}

// TestOtherShapes runs the generic code on parameter sets outside the four
// named ones (the extremes of the admitted range).
func TestOtherShapes(t *testing.T) {
	seed := make([]byte, SeedSize)
	m := make([]byte, MessageSize)
	rng("other shapes").Read(seed)
	for _, p := range []*Params{
		{Name: "k1", K: 1, Eta1: 3, Eta2: 3, DU: 11, DV: 11},
		{Name: "k8", K: maxK, Eta1: 3, Eta2: 3, DU: 11, DV: 5},
		{Name: "k3-d7-d3", K: 3, Eta1: 2, Eta2: 2, DU: 7, DV: 3},
	} {
		pk, sk, err := p.NewKeyFromSeed(seed)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		ct, ss, err := p.EncapsulateDeterministic(pk, m)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		got, err := p.Decapsulate(sk, ct)
		if err != nil || !bytes.Equal(got, ss) {
			t.Fatalf("%s: decapsulation = %x, %v; want %x", p.Name, got, err, ss)
		}
	}
}

// TestConcurrentUse runs the operations from several goroutines at once; under
// -race it checks that Params methods share no state.
func TestConcurrentUse(t *testing.T) {
	seed := make([]byte, SeedSize)
	pk, sk, err := K5.NewKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := K5.EncapsulateDeterministic(pk, seed[:MessageSize])
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			m := fit([]byte{byte(g)}, MessageSize)
			for range 5 {
				if _, _, err := K5.NewKeyFromSeed(seed); err != nil {
					errs <- err
					return
				}
				ct, ss, err := K5.EncapsulateDeterministic(pk, m)
				if err != nil {
					errs <- err
					return
				}
				if got, err := K5.Decapsulate(sk, ct); err != nil || !bytes.Equal(got, ss) {
					errs <- errors.New("decapsulation mismatch")
					return
				}
				if ct, _, _ := K5.EncapsulateDeterministic(pk, seed[:MessageSize]); !bytes.Equal(ct, want) {
					errs <- errors.New("encapsulation not deterministic under concurrency")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
