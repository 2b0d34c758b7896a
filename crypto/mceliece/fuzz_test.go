package mceliece

import (
	"bytes"
	"errors"
	"testing"
)

// tile repeats data to n bytes (zeros if data is empty).
func tile(data []byte, n int) []byte {
	out := make([]byte, n)
	if len(data) > 0 {
		for i := 0; i < n; i += len(data) {
			copy(out[i:], data)
		}
	}
	return out
}

// FuzzDecapsulate decapsulates arbitrary ciphertexts: with the real
// mceliece348864 test key when keyData is empty and set selects 348864,
// otherwise with a private key tiled from keyData (any bytes of the right
// length are a key the decoder must survive). Decapsulation must never
// panic, must reject exactly the wrong lengths and (6960119) nonzero padding
// bits, must be deterministic, and must return the implicit-rejection
// secret whenever it reports failure.
func FuzzDecapsulate(f *testing.F) {
	pk, sk := testKey348864()
	ct, _, err := MC348864.Encapsulate(seededReader("fuzz seed"), pk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, uint8(0), []byte(nil))
	bad := bytes.Clone(ct)
	bad[3] ^= 0x10
	f.Add(bad, uint8(0), []byte(nil))
	f.Add(ct[:50], uint8(0), []byte(nil))
	f.Add(make([]byte, MC6960119.CiphertextSize()), uint8(3), []byte{0xff})
	f.Fuzz(func(t *testing.T, ct []byte, set uint8, keyData []byte) {
		p := All()[int(set)%5]
		key := sk
		if p != MC348864 || len(keyData) > 0 {
			key = tile(keyData, p.PrivateKeySize())
		}
		ss, ok, err := p.DecapsulateChecked(key, ct)
		if len(ct) != p.CiphertextSize() {
			if !errors.Is(err, ErrCiphertext) || ss != nil || ok {
				t.Fatalf("ciphertext of %d bytes: %v", len(ct), err)
			}
			return
		}
		if r := p.mt() % 8; r != 0 && ct[p.syndBytes()-1]>>r != 0 {
			if !errors.Is(err, ErrCiphertext) {
				t.Fatalf("padding bits accepted: %v", err)
			}
			return
		}
		if err != nil || len(ss) != 32 {
			t.Fatalf("well-formed input: %v, %d-byte secret", err, len(ss))
		}
		if !ok && !bytes.Equal(ss, rejection(p, key, ct)) {
			t.Fatal("failed decapsulation did not give the rejection secret")
		}
		ss2, ok2, _ := p.DecapsulateChecked(key, ct)
		if ok2 != ok || !bytes.Equal(ss, ss2) {
			t.Fatal("decapsulation is not deterministic")
		}
	})
}

// FuzzEncapsulatePublicKey parses arbitrary public keys: data as given
// (almost always the wrong length) or tiled to the right length when fill is
// set, so every set's parser, including 6960119's padding check, sees
// arbitrary well-sized keys. It must never panic, must reject exactly the
// wrong lengths (before drawing randomness) and nonzero padding bits, and
// must otherwise return a ciphertext and secret of the right sizes.
func FuzzEncapsulatePublicKey(f *testing.F) {
	f.Add([]byte{}, uint8(0), false)
	f.Add([]byte{1, 2, 3}, uint8(1), false)
	f.Add([]byte{0x00}, uint8(3), true)
	f.Add([]byte{0xe0}, uint8(3), true)
	f.Add([]byte{0x5a, 0xa5}, uint8(4), true)
	f.Fuzz(func(t *testing.T, data []byte, set uint8, fill bool) {
		p := All()[int(set)%5]
		pk := data
		if fill {
			pk = tile(data, p.PublicKeySize())
		}
		rng := &recordingReader{h: seededReader("fuzz encapsulate")}
		ct, ss, err := p.Encapsulate(rng, pk)
		if len(pk) != p.PublicKeySize() {
			if !errors.Is(err, ErrPublicKey) || ct != nil || ss != nil || len(rng.reads) != 0 {
				t.Fatalf("public key of %d bytes: %v (reads %v)", len(pk), err, rng.reads)
			}
			return
		}
		padding := false
		if w := p.n - p.mt(); w%8 != 0 {
			rb := p.rowBytes()
			for i := rb - 1; i < len(pk); i += rb {
				padding = padding || pk[i]>>(w%8) != 0
			}
		}
		if padding {
			if !errors.Is(err, ErrPublicKey) || ct != nil {
				t.Fatalf("padding bits accepted: %v", err)
			}
			return
		}
		if err != nil || len(ct) != p.CiphertextSize() || len(ss) != 32 {
			t.Fatalf("well-formed key: %v", err)
		}
	})
}
