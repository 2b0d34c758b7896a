package rcs

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzKey returns the fixed key, nonce and expanded key the fuzz target uses.
func fuzzKey(t testing.TB, wide bool) ([]byte, [32]byte, *Key) {
	size := KeySize256
	if wide {
		size = KeySize512
	}
	key, nonce := seq(0, size), [32]byte(seq(0x80, 32))
	k, err := NewKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, nonce, k
}

// FuzzOpen feeds arbitrary records and associated data to Open, TryOpen and
// OpenOnce. None may panic; all must agree; a failure must be ErrShort or
// ErrAuth, and a failed TryOpen changes nothing; anything accepted must seal
// back to exactly the input.
func FuzzOpen(f *testing.F) {
	for _, wide := range []bool{false, true} {
		_, nonce, k := fuzzKey(f, wide)
		for _, n := range []int{0, 1, 31, 32, 33, 68, 100} {
			ad := seq(0x40, 21)
			f.Add(wide, ad, k.SealOnce(nil, &nonce, ad, seq(0, n)))
			f.Add(wide, []byte(nil), k.SealOnce(nil, &nonce, nil, seq(0, n)))
		}
		f.Add(wide, []byte("ad"), []byte("short"))
	}
	f.Fuzz(func(t *testing.T, wide bool, ad, record []byte) {
		key, nonce, k := fuzzKey(t, wide)
		c, err := New(key, nonce[:])
		if err != nil {
			t.Fatal(err)
		}
		pt, err := c.Open(nil, ad, bytes.Clone(record))
		pt2, err2 := k.OpenOnce(nil, &nonce, ad, bytes.Clone(record))
		if (err == nil) != (err2 == nil) || !bytes.Equal(pt, pt2) {
			t.Fatalf("Open and OpenOnce disagree: %v / %v", err, err2)
		}
		d, _ := New(key, nonce[:])
		fresh := *d
		pt3, err3 := d.TryOpen(nil, ad, bytes.Clone(record))
		if (err == nil) != (err3 == nil) || !bytes.Equal(pt, pt3) {
			t.Fatalf("Open and TryOpen disagree: %v / %v", err, err3)
		}
		if err3 != nil && *d != fresh {
			t.Fatal("a failed TryOpen changed the state")
		}
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrAuth) {
				t.Fatalf("unexpected error %v", err)
			}
			if errors.Is(err, ErrShort) != (len(record) < k.TagSize()) {
				t.Fatalf("ErrShort for a %d-byte record", len(record))
			}
			return
		}
		if again := k.SealOnce(nil, &nonce, ad, pt); !bytes.Equal(again, record) {
			t.Fatal("accepted record does not re-seal to itself")
		}
	})
}
