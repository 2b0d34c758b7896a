package kyber

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"testing"
)

// fit stretches or truncates b to exactly size bytes by repetition, so that
// fuzzed inputs also reach the code behind the length checks.
func fit(b []byte, size int) []byte {
	out := make([]byte, size)
	if len(b) == 0 {
		return out
	}
	for i := range out {
		out[i] = b[i%len(b)]
	}
	return out
}

func fuzzParams(sel byte) *Params { return allParams[int(sel)%len(allParams)] }

// isSentinel reports whether err wraps one of the package's errors.
func isSentinel(err error) bool {
	for _, s := range []error{ErrParams, ErrSeedSize, ErrMessageSize, ErrPublicKeySize,
		ErrPublicKeyModulus, ErrPrivateKeySize, ErrPrivateKeyHash, ErrCiphertextSize} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzDecapsulate decapsulates arbitrary key and ciphertext bytes. With
// exact set, the inputs are fitted to the right sizes and the key's H(ek)
// is repaired, so decapsulation must run to the end and succeed.
func FuzzDecapsulate(f *testing.F) {
	for i, p := range allParams {
		seed := fit([]byte{byte(i), 1, 2, 3}, SeedSize)
		pk, sk, err := p.NewKeyFromSeed(seed)
		if err != nil {
			f.Fatal(err)
		}
		ct, _, err := p.EncapsulateDeterministic(pk, seed[:MessageSize])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), sk, ct, false)
		f.Add(byte(i), sk[:len(sk)-1], ct, false)
		f.Add(byte(i), sk, ct[1:], false)
		f.Add(byte(i), []byte{0xff}, []byte{0xff}, true)
	}
	f.Fuzz(func(t *testing.T, sel byte, sk, ct []byte, exact bool) {
		p := fuzzParams(sel)
		if exact {
			sk = fit(sk, p.PrivateKeySize())
			ct = fit(ct, p.CiphertextSize())
			k := p.K
			h := sha3.Sum256(sk[384*k : 768*k+32])
			copy(sk[768*k+32:], h[:])
		}
		ss, err := p.Decapsulate(sk, ct)
		if err != nil {
			if exact || !isSentinel(err) || ss != nil {
				t.Fatalf("Decapsulate: %v (exact %v)", err, exact)
			}
			return
		}
		if len(ss) != SharedKeySize {
			t.Fatalf("secret of %d bytes", len(ss))
		}
		again, err := p.Decapsulate(sk, ct)
		if err != nil || !bytes.Equal(ss, again) {
			t.Fatal("decapsulation is not deterministic")
		}
	})
}

// FuzzEncapsulate encapsulates to arbitrary key bytes. With exact set, the
// key is fitted to the right size and its coefficients reduced mod q, so
// encapsulation must succeed.
func FuzzEncapsulate(f *testing.F) {
	for i, p := range allParams {
		seed := fit([]byte{byte(i), 9, 8, 7}, SeedSize)
		pk, _, err := p.NewKeyFromSeed(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), pk, seed[:MessageSize], false)
		f.Add(byte(i), pk[:len(pk)-1], seed[:MessageSize], false)
		f.Add(byte(i), []byte{0xff, 0xff, 0xff}, []byte{1}, true)
	}
	f.Fuzz(func(t *testing.T, sel byte, pk, m []byte, exact bool) {
		p := fuzzParams(sel)
		if exact {
			pk = fit(pk, p.PublicKeySize())
			m = fit(m, MessageSize)
			var c poly
			for i := range p.K {
				decode12(&c, pk[384*i:])
				encode12(pk[384*i:], &c)
			}
		}
		ct, ss, err := p.EncapsulateDeterministic(pk, m)
		if err != nil {
			if exact || !isSentinel(err) || ct != nil || ss != nil {
				t.Fatalf("Encapsulate: %v (exact %v)", err, exact)
			}
			return
		}
		if len(ct) != p.CiphertextSize() || len(ss) != SharedKeySize {
			t.Fatalf("sizes %d, %d", len(ct), len(ss))
		}
	})
}
