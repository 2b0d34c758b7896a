package rcs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

// maxKeyHeap bounds the heap one Key takes: its struct (1,408 bytes: 992
// of round keys, the keyed KMAC, sizes and the reference count) rounded up
// to Go's size class. The UDP carrier keeps two per session.
const maxKeyHeap = 1408

var (
	keySink    *Key
	cipherSink *Cipher
)

// keyHeapBytes returns the heap bytes one NewKey allocates, averaged over n
// keys kept alive.
func keyHeapBytes(t testing.TB, size, n int) float64 {
	keys := make([]*Key, n)
	key := make([]byte, size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keys {
		k, err := NewKey(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keys)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestKeyMemory bounds what a Key costs: one allocation, at most
// maxKeyHeap bytes, and no lazily built state when it is used.
func TestKeyMemory(t *testing.T) {
	if s := unsafe.Sizeof(Key{}); s > maxKeyHeap {
		t.Errorf("unsafe.Sizeof(Key{}) = %d, want at most %d", s, maxKeyHeap)
	}
	for _, size := range []int{KeySize256, KeySize512} {
		key := make([]byte, size)
		allocs := testing.AllocsPerRun(20, func() {
			k, err := NewKey(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			keySink = k
		})
		if allocs != 1 {
			t.Errorf("key %d: NewKey makes %.1f allocations, want 1", size, allocs)
		}
		// Average over many keys; allow 5% for the runtime's own
		// allocations during the measurement.
		heap := keyHeapBytes(t, size, 1000)
		if heap > maxKeyHeap*1.05 {
			t.Errorf("key %d: %.0f heap bytes per NewKey, want at most %d", size, heap, maxKeyHeap)
		}
		t.Logf("key %d: unsafe.Sizeof(Key{}) = %d, heap per NewKey = %.0f bytes", size, unsafe.Sizeof(Key{}), heap)
	}
}

// TestHotPathAllocs checks that sealing and opening allocate nothing when
// dst has room, on every block function this CPU has, and that using a Key
// does not make it grow state behind the caller's back.
func TestHotPathAllocs(t *testing.T) {
	eachImpl(t, func(name string) {
		for _, size := range []int{KeySize256, KeySize512} {
			key, nonce := seq(0, size), [32]byte(seq(0x80, 32))
			k, err := NewKey(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := imageOf(k)
			ad, pt := seq(0x40, 21), seq(0, 1400)
			rec := k.SealOnce(nil, &nonce, ad, pt)
			buf := make([]byte, 0, len(rec))
			tx, _ := New(key, nonce[:])
			rx, _ := New(key, nonce[:])
			checks := map[string]func(){
				"SealOnce": func() { k.SealOnce(buf, &nonce, ad, pt) },
				"OpenOnce": func() {
					if _, err := k.OpenOnce(buf, &nonce, ad, rec); err != nil {
						t.Fatal(err)
					}
				},
				"Seal": func() { tx.Seal(buf, ad, pt) },
				// A record that fails leaves rx as it was, so every
				// run does the same work.
				"TryOpen": func() {
					if _, err := rx.TryOpen(buf, ad, pt); !errors.Is(err, ErrAuth) {
						t.Fatal(err)
					}
				},
				"Open": func() {
					if _, err := rx.Open(buf, ad, pt); !errors.Is(err, ErrAuth) {
						t.Fatal(err)
					}
				},
				"XORKeyStream": func() {
					var ctr [32]byte
					k.XORKeyStream(buf[:100], pt[:100], &ctr)
				},
			}
			for what, f := range checks {
				if a := testing.AllocsPerRun(10, f); a != 0 {
					t.Errorf("%s, key %d: %s allocates %.1f times", name, size, what, a)
				}
			}
			if imageOf(k) != before {
				t.Errorf("%s, key %d: using the Key changed it", name, size)
			}
		}
	})
}

// TestCloneSharesKey: a clone shares the Key and costs one allocation; the
// Key survives until the last of the Cipher and its clones is cleared, and
// is zeroed then.
func TestCloneSharesKey(t *testing.T) {
	a, err := New(seq(0, 64), seq(0x80, 32))
	if err != nil {
		t.Fatal(err)
	}
	k := a.key
	if n := testing.AllocsPerRun(10, func() { cipherSink = a.Clone(); cipherSink.Clear() }); n != 1 {
		t.Errorf("Clone+Clear makes %.1f allocations, want 1", n)
	}
	b := a.Clone()
	c := b.Clone()
	if b.key != k || c.key != k || k.refs.Load() != 3 {
		t.Fatalf("clones do not share the key (refs %d)", k.refs.Load())
	}
	ref, _ := New(seq(0, 64), seq(0x80, 32))
	want := ref.Seal(nil, []byte("ad"), []byte("message"))
	a.Clear()
	a.Clear() // twice: no effect
	if got := b.Seal(nil, []byte("ad"), []byte("message")); !bytes.Equal(got, want) {
		t.Fatal("clearing the original disturbed a clone")
	}
	b.Clear()
	if imageOf(k).rounds == 0 {
		t.Fatal("key cleared while a clone still owns it")
	}
	if pt, err := c.Open(nil, []byte("ad"), want); err != nil || string(pt) != "message" {
		t.Fatalf("last clone: %q, %v", pt, err)
	}
	c.Clear()
	if imageOf(k) != (keyImage{}) {
		t.Fatal("the last Clear left key material")
	}

	// A Cipher from NewCipher never clears the Key, clones or not.
	key, _ := NewKey(seq(0, 32), nil)
	var nonce [32]byte
	d := key.NewCipher(&nonce)
	e := d.Clone()
	d.Clear()
	e.Clear()
	if key.rounds == 0 || key.refs.Load() != 0 {
		t.Fatal("clearing a Cipher from NewCipher cleared the shared Key")
	}
}

// TestCloneConcurrentClear clears clones of one Cipher from several
// goroutines while others still use theirs (run with -race).
func TestCloneConcurrentClear(t *testing.T) {
	a, _ := New(seq(0, 32), seq(0x80, 32))
	k := a.key
	first := a.Clone()
	want := first.Seal(nil, nil, seq(0, 300))
	first.Clear()
	clones := make([]*Cipher, 8)
	for i := range clones {
		clones[i] = a.Clone()
	}
	a.Clear()
	var wg sync.WaitGroup
	errs := make(chan error, len(clones))
	for _, c := range clones {
		wg.Go(func() {
			if got := c.Seal(nil, nil, seq(0, 300)); !bytes.Equal(got, want) {
				errs <- errors.New("a clone sealed differently")
			}
			c.Clear()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if imageOf(k) != (keyImage{}) {
		t.Fatal("key not zeroed after every clone was cleared")
	}
}

// TestTryOpen: TryOpen accepts what Open accepts, and a failure leaves the
// state untouched, so the next genuine record still opens.
func TestTryOpen(t *testing.T) {
	for _, size := range []int{KeySize256, KeySize512} {
		key, nonce := seq(0, size), seq(0x80, 32)
		tx, _ := New(key, nonce)
		rx, _ := New(key, nonce)
		for i := range 5 {
			rec := tx.Seal(nil, []byte("hdr"), seq(i, 40+i))
			bad := bytes.Clone(rec)
			bad[i] ^= 1
			n0, m0, c0 := rx.nonce, rx.mac, rx.ctrBytes
			if _, err := rx.TryOpen(nil, []byte("hdr"), bad); !errors.Is(err, ErrAuth) {
				t.Fatalf("tampered record: %v", err)
			}
			if _, err := rx.TryOpen(nil, []byte("hdr"), rec[:rx.TagSize()-1]); !errors.Is(err, ErrShort) {
				t.Fatalf("short record: %v", err)
			}
			if rx.nonce != n0 || rx.mac != m0 || rx.ctrBytes != c0 {
				t.Fatal("a failed TryOpen changed the state")
			}
			pt, err := rx.TryOpen([]byte("x"), []byte("hdr"), rec)
			if err != nil || !bytes.Equal(pt[1:], seq(i, 40+i)) {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		if rx.Nonce() != tx.Nonce() {
			t.Fatal("receiver and sender nonces differ")
		}
	}
}

// TestPackTwice checks the key packing against the general pack.
func TestPackTwice(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 1000; i++ {
		var w [4]uint64
		var b [BlockSize]byte
		for j := range w {
			w[j] = rng.Uint64()
			binary.LittleEndian.PutUint64(b[8*j:], w[j])
		}
		var want, got [8]uint64
		pack(&want, &w, &w)
		packTwice(&got, &b)
		if got != want {
			t.Fatalf("packTwice(%x) = %x, want %x", w, got, want)
		}
	}
}

// BenchmarkExpandBitsliced256 measures what the portable path adds to each
// call: the bit planes of the 23 round keys of RCS-256.
func BenchmarkExpandBitsliced256(b *testing.B) {
	k, _ := NewKey(make([]byte, KeySize256), nil)
	var bs bitslicedKeys
	for b.Loop() {
		k.expandBitsliced(&bs)
	}
}
