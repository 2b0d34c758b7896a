package record

import (
	"bytes"
	"crypto/rand"
	"sync/atomic"
	"testing"
)

// TestDeferEqualsSeal: Defer then SealDeferred (in batches of any size, in
// place) produces byte for byte what Seal produces for the same sequence
// numbers, at both widths, and the records open.
func TestDeferEqualsSeal(t *testing.T) {
	for _, wide := range []bool{false, true} {
		secret := make([]byte, DatagramSecretSize)
		rand.Read(secret)
		key, base, err := DatagramKeys(wide, secret, ClientToServer, 0)
		if err != nil {
			t.Fatal(err)
		}
		var c1, c2 atomic.Uint64
		direct, deferred := NewSealer(key, base, &c1), NewSealer(key, base, &c2)
		prefix := []byte("0123456789")
		for _, n := range []int{1, 2, 7, 8, 9, 16, 17, 40} {
			var bufs [][]byte
			var ds []*Deferred
			var want [][]byte
			for i := range n {
				pt := make([]byte, randN(1500))
				if i%5 == 0 {
					pt = pt[:0]
				}
				rand.Read(pt)
				w, seq1, err := direct.Seal(append([]byte(nil), prefix...), prefix, FlagEncryptedMessage, pt, 1000)
				if err != nil {
					t.Fatal(err)
				}
				d := new(Deferred)
				b, seq2, err := deferred.Defer(d, append([]byte(nil), prefix...), prefix, FlagEncryptedMessage, pt, 1000)
				if err != nil || seq1 != seq2 || len(b) != len(w) {
					t.Fatalf("Defer: %v, sequence %d vs %d, %d vs %d bytes", err, seq2, seq1, len(b), len(w))
				}
				bufs, ds, want = append(bufs, b), append(ds, d), append(want, w)
			}
			deferred.SealDeferred(bufs, ds)
			for i := range bufs {
				if !bytes.Equal(bufs[i], want[i]) {
					t.Fatalf("wide %v, batch of %d: record %d differs from Seal's", wide, n, i)
				}
			}
		}
	}
}

func TestDeferLimits(t *testing.T) {
	s, _, _ := batchPair(t, false)
	if _, _, err := s.Defer(new(Deferred), nil, make([]byte, MaxBatchAD), FlagEncryptedMessage, nil, 0); err == nil {
		t.Fatal("a prefix too long for the batch AD was taken")
	}
	if _, _, err := s.Defer(new(Deferred), nil, nil, FlagEncryptedMessage, make([]byte, DatagramMaxPlaintext+1), 0); err == nil {
		t.Fatal("an oversized plaintext was taken")
	}
}
