package mceliece

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"math/bits"
	"math/rand/v2"
	"sync"
	"testing"
)

// testKey348864 is one mceliece348864 key pair shared by the tests.
var testKey348864 = sync.OnceValues(func() ([]byte, []byte) {
	pk, sk, err := MC348864.GenerateKey(seededReader("test key 348864"))
	if err != nil {
		panic(err)
	}
	return pk, sk
})

// rejection is the implicit-rejection secret SHAKE-256(0x00 ‖ s ‖ C)[:32],
// computed here independently of Decapsulate.
func rejection(p *Params, sk, ct []byte) []byte {
	h := sha3.NewSHAKE256()
	h.Write([]byte{0})
	h.Write(sk[len(sk)-p.n/8:])
	h.Write(ct)
	out := make([]byte, 32)
	h.Read(out)
	return out
}

// ciphertextFor builds C0 ‖ C1 for an arbitrary error vector e (positions).
func ciphertextFor(p *Params, pk []byte, positions []int) (ct, ss []byte) {
	e := make([]uint64, p.words())
	for _, j := range positions {
		e[j>>6] |= 1 << (j & 63)
	}
	ct = make([]byte, p.CiphertextSize())
	p.encode(ct[:p.syndBytes()], e, pk)
	eb := make([]byte, p.n/8)
	wordsToBytes(eb, e)
	h := sha3.NewSHAKE256()
	h.Write([]byte{2})
	h.Write(eb)
	h.Read(ct[p.syndBytes():])
	h.Reset()
	h.Write([]byte{1})
	h.Write(eb)
	h.Write(ct)
	ss = make([]byte, 32)
	h.Read(ss)
	return ct, ss
}

func TestRoundTrip(t *testing.T) {
	p := MC348864
	pk, sk := testKey348864()
	if len(pk) != p.PublicKeySize() || len(sk) != p.PrivateKeySize() {
		t.Fatalf("key sizes %d, %d", len(pk), len(sk))
	}
	if !bytes.Equal(sk[32:40], []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}) {
		t.Errorf("pivot word %x", sk[32:40])
	}
	rng := seededReader("round trip")
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		ct, ss, err := p.Encapsulate(rng, pk)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != p.CiphertextSize() || len(ss) != 32 || seen[string(ss)] {
			t.Fatalf("bad or repeated encapsulation output")
		}
		seen[string(ss)] = true
		got, ok, err := p.DecapsulateChecked(sk, ct)
		if err != nil || !ok || !bytes.Equal(got, ss) {
			t.Fatalf("decapsulation %d: ok=%v err=%v", i, ok, err)
		}
		// Every single-bit change of C0 or C1 is rejected implicitly.
		for _, bit := range []int{0, 8*p.syndBytes() - 1, 8 * p.syndBytes(), 8*len(ct) - 1, 17 + 64*i} {
			ct[bit/8] ^= 1 << (bit % 8)
			got, ok, err := p.DecapsulateChecked(sk, ct)
			if err != nil || ok || !bytes.Equal(got, rejection(p, sk, ct)) {
				t.Fatalf("flipped bit %d: ok=%v err=%v", bit, ok, err)
			}
			ct[bit/8] ^= 1 << (bit % 8)
		}
	}
}

// TestDecodeWeight checks the specification's rule that decoding succeeds
// only for an error vector of weight exactly t: weights t−1 and t+1 give the
// rejection secret even with a matching confirmation C1.
func TestDecodeWeight(t *testing.T) {
	p := MC348864
	pk, sk := testKey348864()
	r := rand.New(rand.NewPCG(9, 10))
	for trial := 0; trial < 3; trial++ {
		perm := r.Perm(p.n)
		for _, w := range []int{p.t, p.t - 1, p.t + 1, 1, 0} {
			ct, ss := ciphertextFor(p, pk, perm[:w])
			got, ok, err := p.DecapsulateChecked(sk, ct)
			if err != nil {
				t.Fatal(err)
			}
			if w == p.t {
				if !ok || !bytes.Equal(got, ss) {
					t.Fatalf("weight t not decoded")
				}
				continue
			}
			if ok || !bytes.Equal(got, rejection(p, sk, ct)) {
				t.Fatalf("weight %d accepted", w)
			}
		}
	}
	// Errors at the first and last positions and at the C0/T boundary.
	pos := []int{0, p.mt() - 1, p.mt(), p.n - 1}
	for j := 1; len(pos) < p.t; j++ {
		pos = append(pos, 7*j+1)
	}
	ct, ss := ciphertextFor(p, pk, pos)
	if got, ok, err := p.DecapsulateChecked(sk, ct); err != nil || !ok || !bytes.Equal(got, ss) {
		t.Fatalf("edge positions not decoded: ok=%v err=%v", ok, err)
	}
}

func TestFixedWeight(t *testing.T) {
	for _, p := range All() {
		rng := &recordingReader{h: seededReader("fixed weight " + p.Name())}
		for i := 0; i < 20; i++ {
			e := make([]uint64, p.words())
			if err := p.fixedWeight(rng, e); err != nil {
				t.Fatal(err)
			}
			w := 0
			for _, x := range e {
				w += bits.OnesCount64(x)
			}
			if w != p.t {
				t.Fatalf("%s: weight %d", p.Name(), w)
			}
			if p.n%64 != 0 && e[len(e)-1]>>(p.n%64) != 0 {
				t.Fatalf("%s: error position beyond n", p.Name())
			}
		}
		for _, n := range rng.reads {
			if n != 2*p.tau() {
				t.Fatalf("%s: read of %d bytes, want %d", p.Name(), n, 2*p.tau())
			}
		}
		if want := map[string]int{"mceliece348864": 256, "mceliece460896": 384, "mceliece6688128": 512,
			"mceliece6960119": 476, "mceliece8192128": 256}[p.Name()]; 2*p.tau() != want {
			t.Errorf("%s: FixedWeight block %d bytes, vector says %d", p.Name(), 2*p.tau(), want)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, p := range All() {
		pk := make([]byte, p.PublicKeySize())
		sk := make([]byte, p.PrivateKeySize())
		ct := make([]byte, p.CiphertextSize())
		rng := seededReader("bad input")
		for _, n := range []int{0, 1, len(pk) - 1, len(pk) + 1} {
			if _, _, err := p.Encapsulate(rng, pk[:0:0]); !errors.Is(err, ErrPublicKey) {
				t.Errorf("%s: empty public key: %v", p.Name(), err)
			}
			if _, _, err := p.Encapsulate(rng, make([]byte, n)); !errors.Is(err, ErrPublicKey) {
				t.Errorf("%s: public key of %d bytes: %v", p.Name(), n, err)
			}
		}
		for _, n := range []int{0, len(sk) - 1, len(sk) + 1} {
			if _, err := p.Decapsulate(make([]byte, n), ct); !errors.Is(err, ErrPrivateKey) {
				t.Errorf("%s: private key of %d bytes: %v", p.Name(), n, err)
			}
		}
		for _, n := range []int{0, len(ct) - 1, len(ct) + 1} {
			if _, err := p.Decapsulate(sk, make([]byte, n)); !errors.Is(err, ErrCiphertext) {
				t.Errorf("%s: ciphertext of %d bytes: %v", p.Name(), n, err)
			}
		}
		// A zero public key is well formed (T = 0, so C0 is e's first mt bits).
		ct2, ss, err := p.Encapsulate(rng, pk)
		if err != nil || len(ct2) != len(ct) || len(ss) != 32 {
			t.Errorf("%s: zero public key: %v", p.Name(), err)
		}
		// A zero private key is well formed too; decoding fails, so the
		// result is the rejection secret.
		got, ok, err := p.DecapsulateChecked(sk, ct2)
		if err != nil || ok || !bytes.Equal(got, rejection(p, sk, ct2)) {
			t.Errorf("%s: zero private key: ok=%v err=%v", p.Name(), ok, err)
		}
		if _, _, err := p.GenerateKey(bytes.NewReader(make([]byte, 31))); !errors.Is(err, ErrRandom) {
			t.Errorf("%s: short random source: %v", p.Name(), err)
		}
		if _, _, err := p.GenerateKey(nil); !errors.Is(err, ErrRandom) {
			t.Errorf("%s: nil random source: %v", p.Name(), err)
		}
		if _, _, err := p.Encapsulate(bytes.NewReader(make([]byte, 2*p.tau()-1)), pk); !errors.Is(err, ErrRandom) {
			t.Errorf("%s: short random source for encapsulation: %v", p.Name(), err)
		}
		if _, _, err := p.NewKeyFromSeed(make([]byte, 31)); !errors.Is(err, ErrSeed) {
			t.Errorf("%s: short seed: %v", p.Name(), err)
		}
	}
}

// TestPadding6960119 checks the padding rules of the only set whose rows and
// C0 do not end on a byte boundary.
func TestPadding6960119(t *testing.T) {
	p := MC6960119
	if (p.n-p.mt())%8 == 0 || p.mt()%8 == 0 {
		t.Fatal("6960119 should have padding bits")
	}
	for _, q := range All() {
		if q != p && ((q.n-q.mt())%8 != 0 || q.mt()%8 != 0) {
			t.Fatalf("%s has padding bits", q.Name())
		}
	}
	pk := make([]byte, p.PublicKeySize())
	rb := p.rowBytes()
	for _, row := range []int{0, 700, p.mt() - 1} {
		pk[row*rb+rb-1] = 0x80
		rng := &recordingReader{h: seededReader("padding")}
		if _, _, err := p.Encapsulate(rng, pk); !errors.Is(err, ErrPublicKey) {
			t.Errorf("padding bit in row %d: %v", row, err)
		}
		if len(rng.reads) == 0 || rng.reads[0] != 2*p.tau() {
			t.Errorf("padding bit in row %d: reads %v, want the FixedWeight draw first", row, rng.reads)
		}
		pk[row*rb+rb-1] = 0x1f // the 5 used bits of the last byte
		if _, _, err := p.Encapsulate(seededReader("padding"), pk); err != nil {
			t.Errorf("used bits in the last byte of row %d rejected: %v", row, err)
		}
	}
	sk := make([]byte, p.PrivateKeySize())
	ct := make([]byte, p.CiphertextSize())
	ct[p.syndBytes()-1] = 0x08
	if _, err := p.Decapsulate(sk, ct); !errors.Is(err, ErrCiphertext) {
		t.Errorf("ciphertext padding bit: %v", err)
	}
	ct[p.syndBytes()-1] = 0x07
	if _, err := p.Decapsulate(sk, ct); err != nil {
		t.Errorf("ciphertext used bits rejected: %v", err)
	}
}
