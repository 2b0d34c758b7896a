package rcs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

func seq(start, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i)
	}
	return b
}

func h(s string) []byte { return vectors.MustHex(s) }

// TestSelfTestKAT reproduces QSC's self-test known answers (digest 13.2): the
// AD is set once, before the first transform only; the second transform of
// the same message runs on the same state without AD.
func TestSelfTestKAT(t *testing.T) {
	nonce := h("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0dfdedddcdbdad9d8d7d6d5d4d3d2d1d0")
	ad := bytes.Repeat([]byte{0x01}, 20)
	key16 := seq(0, 16)
	cases := []struct {
		name       string
		key, msg   []byte
		out1, out2 []byte
	}{
		{
			name: "RCS-256",
			key:  append(bytes.Clone(key16), key16...),
			msg:  append(bytes.Clone(key16), key16...),
			out1: h("7940917e9219a31248946f71647b15421535941574f84f79f6110c1f2f776d03" +
				"f38582f301390a6b8807c75914ce0cf410051d73cae97d1d295cb0420146e179"),
			out2: h("abf3574126daa563b423b0eeee9970fd0c8f060f65cb00cdc05bb0dc047db2ad" +
				"a2a39beb441fcd4c5f83f1142f264eefcbaaa51d7874a0e7da0a7b285dfd55aa"),
		},
		{
			name: "RCS-512",
			key:  bytes.Repeat(key16, 4),
			msg:  append(append(bytes.Clone(key16), key16...), seq(0x10, 32)...),
			out1: h("21e97a126e35be731ef204e48248a2eeb01b692992f73786602f21031fbfb7c8a1cf250f2ec948d5985b92667349b72efa751048af0b919ae9e16f177f5c97f2" +
				"c40e0d50727dc9528664f656270e99a4857d7a2c28f965eb9956658145ac9868f3fde25c39ec9eef0c6a7ed955cb3c2f44286cd253c9be0cf3f389313c47e4b2"),
			out2: h("388270bf8df03483bb287ffa527d81403f0362210fd525657c8541250dffe3bad1285fab37a6821da524f3f7ff7efcb39c5b59e3897b177e45d6aa7f4bb5be77" +
				"9cb2429f4693df70d38dbbcb00ee86172435c117d442171a8485a87bf1d7282f2d69032c85f1cd1a1fee794843e0ced7616722a4b0937210e9023220b085ea18"),
		},
	}
	eachImpl(t, func(impl string) {
		for _, tc := range cases {
			selfTestCase(t, impl, tc.name, tc.key, nonce, ad, tc.msg, tc.out1, tc.out2)
		}
	})
}

// selfTestCase runs the two transforms of one 13.2 case on a fresh state
// and opens them on another.
func selfTestCase(t *testing.T, impl, name string, key, nonce, ad, msg, out1, out2 []byte) {
	enc, err := New(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	dec := enc.Clone()
	if got := enc.Seal(nil, ad, msg); !bytes.Equal(got, out1) {
		t.Errorf("%s (%s) out1\n got %x\nwant %x", name, impl, got, out1)
	}
	if got := enc.Seal(nil, nil, msg); !bytes.Equal(got, out2) {
		t.Errorf("%s (%s) out2\n got %x\nwant %x", name, impl, got, out2)
	}
	if pt, err := dec.Open(nil, ad, out1); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("%s (%s): opening out1: %v", name, impl, err)
	}
	if pt, err := dec.Open(nil, nil, out2); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("%s (%s): opening out2: %v", name, impl, err)
	}
	t.Logf("%s, %s block function: self-test KAT (2 transforms) reproduced", name, impl)
}

// TestEdgeLengthKAT reproduces digest 13.3: records at the lengths where the
// KMAC finalization edge case occurs, with a 21-byte AD before each message.
func TestEdgeLengthKAT(t *testing.T) {
	cases := []struct {
		name     string
		key      []byte
		nonce    []byte
		ad       []byte
		msgs     []int
		outs     [][]byte
		edgeCase []bool
	}{
		{
			name:  "RCS-256",
			key:   seq(0, 32),
			nonce: seq(0x20, 32),
			ad:    h("404142434445464748494a4b4c4d4e4f5051525354"),
			msgs:  []int{68, 5},
			outs: [][]byte{
				h("3091913c2f0ecabd5dde2ca9eeb671d1033208cd2627a2c604b8e3ec5d81c97ec5db054fed0a6364bd9032bf0428aef97becc8dd65f065d979c5d25a71d0ab96852185ef" +
					"c52736ea78b930168e798402b76fe85f21fc605a9e0b74e1a53162e89741e257"),
				h("5461d71643" + "f2d494e8edd05b55bafc332c259402c21865faf5206b7279c665506e0dded41e"),
			},
		},
		{
			name:  "RCS-512",
			key:   seq(0, 64),
			nonce: seq(0x40, 32),
			ad:    h("606162636465666768696a6b6c6d6e6f7071727374"),
			msgs:  []int{4, 33},
			outs: [][]byte{
				h("c042ac1f" + "d25b2b892056b3d25d736cc5912c0948b9df3ebecdb27e4929df8d99f286debdb681e715ed6e47900272c38d065bf02acd6dc6209621c2532557d9cf3e7e4a3b"),
				h("71ff5d91fab85f418a08d2d0643674aa5351b89ce14e6aa9c186ea5d8c1c73b304" +
					"0847f129977fea4651ca1dad181b2eca0c079717dedce27f8695c44820acc64a962525f325ee2b7e6b0184ec76da1e430b63186233136e34e30570eae1f829ee"),
			},
		},
	}
	eachImpl(t, func(impl string) {
		for _, tc := range cases {
			enc, err := New(tc.key, tc.nonce)
			if err != nil {
				t.Fatal(err)
			}
			dec := enc.Clone()
			for i, n := range tc.msgs {
				pt := seq(0, n)
				if got := enc.Seal(nil, tc.ad, pt); !bytes.Equal(got, tc.outs[i]) {
					t.Errorf("%s message %d (L=%d)\n got %x\nwant %x", tc.name, i+1, n, got, tc.outs[i])
				}
				if got, err := dec.Open(nil, tc.ad, tc.outs[i]); err != nil || !bytes.Equal(got, pt) {
					t.Errorf("%s message %d: Open: %v", tc.name, i+1, err)
				}
			}
			t.Logf("%s, %s block function: edge-length KAT (%d messages) reproduced", tc.name, impl, len(tc.msgs))
		}
	})
}

func TestBadSizes(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31, 33, 48, 63, 65, 128} {
		if _, err := NewKey(make([]byte, n), nil); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewKey with %d-byte key: %v, want ErrKeySize", n, err)
		}
		if _, err := New(make([]byte, n), make([]byte, 32)); !errors.Is(err, ErrKeySize) {
			t.Errorf("New with %d-byte key: %v, want ErrKeySize", n, err)
		}
	}
	for _, n := range []int{0, 1, 16, 31, 33, 64} {
		for _, ks := range []int{32, 64} {
			if _, err := New(make([]byte, ks), make([]byte, n)); !errors.Is(err, ErrNonceSize) {
				t.Errorf("New with %d-byte nonce: %v, want ErrNonceSize", n, err)
			}
		}
	}
	k, err := NewKey(make([]byte, 64), nil)
	if err != nil || !k.Wide() || k.TagSize() != 64 {
		t.Fatalf("64-byte key: wide=%v tag=%d err=%v", k != nil && k.Wide(), k.TagSize(), err)
	}
	k, err = NewKey(make([]byte, 32), []byte("info"))
	if err != nil || k.Wide() || k.TagSize() != 32 {
		t.Fatalf("32-byte key: err=%v", err)
	}
}

func TestTruncated(t *testing.T) {
	for _, ks := range []int{32, 64} {
		c, err := New(seq(0, ks), seq(0x80, 32))
		if err != nil {
			t.Fatal(err)
		}
		k, _ := NewKey(seq(0, ks), nil)
		nonce := [32]byte(seq(0x80, 32))
		sealed := c.Clone().Seal(nil, []byte("hdr"), []byte("hello"))
		for n := 0; n < len(sealed); n++ {
			d := c.Clone()
			_, err := d.Open(nil, []byte("hdr"), sealed[:n])
			if n < c.TagSize() {
				if !errors.Is(err, ErrShort) || !errors.Is(err, ErrAuth) {
					t.Fatalf("key %d: %d-byte input: %v, want ErrShort (an ErrAuth)", ks, n, err)
				}
				if d.ctrBytes != 1 || d.Nonce() != c.Nonce() {
					t.Fatalf("key %d: ErrShort changed the state", ks)
				}
			} else if !errors.Is(err, ErrAuth) || errors.Is(err, ErrShort) {
				t.Fatalf("key %d: %d-byte truncation: %v, want ErrAuth", ks, n, err)
			}
			if _, err := k.OpenOnce(nil, &nonce, []byte("hdr"), sealed[:n]); err == nil {
				t.Fatalf("key %d: OpenOnce accepted a %d-byte truncation", ks, n)
			}
		}
	}
}

// TestTamperEveryBit flips each bit of a short record (AD, ciphertext and
// tag) and checks that Open and OpenOnce reject it with ErrAuth, and that a
// failed Open leaves the state as the C code does.
func TestTamperEveryBit(t *testing.T) {
	for _, ks := range []int{32, 64} {
		key, nonce := seq(0, ks), [32]byte(seq(0x80, 32))
		k, err := NewKey(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		ad := seq(0x40, 21)
		pt := []byte("a short record")
		sealed := k.SealOnce(nil, &nonce, ad, pt)
		flips := 0
		for _, target := range []string{"ad", "ct"} {
			buf := ad
			if target == "ct" {
				buf = sealed
			}
			for i := 0; i < 8*len(buf); i++ {
				badAD, badCT := bytes.Clone(ad), bytes.Clone(sealed)
				if target == "ad" {
					badAD[i/8] ^= 1 << (i % 8)
				} else {
					badCT[i/8] ^= 1 << (i % 8)
				}
				c := k.NewCipher(&nonce)
				out, err := c.Open(nil, badAD, badCT)
				if !errors.Is(err, ErrAuth) || out != nil {
					t.Fatalf("key %d: flip %s bit %d: %v", ks, target, i, err)
				}
				// C side effects: MAC and ctr_bytes advanced, nonce not.
				if c.Nonce() != nonce || c.ctrBytes != 1+uint64(len(pt)) || c.mac == k.mac {
					t.Fatalf("key %d: failed Open left unexpected state", ks)
				}
				if _, err := k.OpenOnce(nil, &nonce, badAD, badCT); !errors.Is(err, ErrAuth) {
					t.Fatalf("key %d: OpenOnce flip %s bit %d: %v", ks, target, i, err)
				}
				flips++
			}
		}
		// The untampered record still opens.
		if got, err := k.OpenOnce(nil, &nonce, ad, sealed); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("key %d: genuine record rejected: %v", ks, err)
		}
		t.Logf("key %d: %d single-bit flips rejected", ks, flips)
	}
}

// TestFailureBreaksStream checks the documented consequence of the C side
// effects: after one failed Open, the genuine record fails too.
func TestFailureBreaksStream(t *testing.T) {
	enc, _ := New(seq(0, 32), seq(0x80, 32))
	dec := enc.Clone()
	r1 := enc.Seal(nil, []byte("h1"), []byte("first"))
	bad := bytes.Clone(r1)
	bad[0] ^= 1
	if _, err := dec.Open(nil, []byte("h1"), bad); !errors.Is(err, ErrAuth) {
		t.Fatal("tampered record accepted")
	}
	if _, err := dec.Open(nil, []byte("h1"), r1); !errors.Is(err, ErrAuth) {
		t.Fatal("genuine record accepted after a failure: the state should be out of step")
	}
}

// TestOutOfOrder: tags chain, so the second record cannot be opened first.
func TestOutOfOrder(t *testing.T) {
	enc, _ := New(seq(0, 64), seq(0x80, 32))
	dec := enc.Clone()
	r1 := enc.Seal(nil, []byte("h"), []byte("one"))
	r2 := enc.Seal(nil, []byte("h"), []byte("two"))
	if _, err := dec.Clone().Open(nil, []byte("h"), r2); !errors.Is(err, ErrAuth) {
		t.Fatal("record 2 opened before record 1")
	}
	for i, r := range [][]byte{r1, r2} {
		if _, err := dec.Open(nil, []byte("h"), r); err != nil {
			t.Fatalf("record %d in order: %v", i+1, err)
		}
	}
}

// TestSealOnceMatchesNew checks SealOnce/OpenOnce against New followed by one
// Seal/Open on random inputs, and that neither changes the Key or *nonce.
// keyImage is a comparable copy of a Key's contents, the reference count
// aside.
type keyImage struct {
	rounds, tagSize int
	rk              [(maxRounds + 1) * BlockSize]byte
	mac             keccak.KMAC
	refs            int32
}

func imageOf(k *Key) keyImage {
	return keyImage{k.rounds, k.tagSize, k.rk, k.mac, k.refs.Load()}
}

func TestSealOnceMatchesNew(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for iter := 0; iter < 200; iter++ {
		ks := KeySize256
		if iter%2 == 1 {
			ks = KeySize512
		}
		key := make([]byte, ks)
		var nonce [32]byte
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		for i := range nonce {
			nonce[i] = byte(rng.Uint32())
		}
		ad := make([]byte, rng.IntN(40))
		pt := make([]byte, rng.IntN(600))
		for i := range ad {
			ad[i] = byte(rng.Uint32())
		}
		for i := range pt {
			pt[i] = byte(rng.Uint32())
		}
		k, err := NewKey(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		before := imageOf(k)
		c, err := New(key, nonce[:])
		if err != nil {
			t.Fatal(err)
		}
		want := c.Seal(nil, ad, pt)
		n0 := nonce
		got := k.SealOnce([]byte("prefix"), &nonce, ad, pt)
		if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
			t.Fatalf("iter %d: SealOnce differs from New+Seal", iter)
		}
		opened, err := k.OpenOnce([]byte("x"), &nonce, ad, want)
		if err != nil || !bytes.Equal(opened[1:], pt) || opened[0] != 'x' {
			t.Fatalf("iter %d: OpenOnce: %v", iter, err)
		}
		d, _ := New(key, nonce[:])
		if p2, err := d.Open(nil, ad, got[6:]); err != nil || !bytes.Equal(p2, pt) {
			t.Fatalf("iter %d: New+Open of SealOnce output: %v", iter, err)
		}
		if nonce != n0 || imageOf(k) != before {
			t.Fatalf("iter %d: SealOnce/OpenOnce modified the key or the nonce", iter)
		}
	}
}

// TestAliasing checks in-place Seal and Open (dst = input[:0]).
func TestAliasing(t *testing.T) {
	for _, ks := range []int{32, 64} {
		enc, _ := New(seq(0, ks), seq(0x80, 32))
		dec := enc.Clone()
		ref := enc.Clone()
		pt := seq(7, 300)
		want := ref.Seal(nil, []byte("ad"), pt)
		buf := make([]byte, len(pt), len(pt)+ks)
		copy(buf, pt)
		got := enc.Seal(buf[:0], []byte("ad"), buf)
		if !bytes.Equal(got, want) || &got[0] != &buf[0] {
			t.Fatalf("key %d: in-place Seal wrong or reallocated", ks)
		}
		out, err := dec.Open(got[:0], []byte("ad"), got)
		if err != nil || !bytes.Equal(out, pt) || &out[0] != &got[0] {
			t.Fatalf("key %d: in-place Open: %v", ks, err)
		}
		k, _ := NewKey(seq(0, ks), nil)
		nonce := [32]byte(seq(0x80, 32))
		buf = append(buf[:0], pt...)
		got = k.SealOnce(buf[:0], &nonce, []byte("ad"), buf)
		if !bytes.Equal(got, want) {
			t.Fatalf("key %d: in-place SealOnce", ks)
		}
		out, err = k.OpenOnce(got[:0], &nonce, []byte("ad"), got)
		if err != nil || !bytes.Equal(out, pt) {
			t.Fatalf("key %d: in-place OpenOnce: %v", ks, err)
		}
	}
}

func TestOverlapPanics(t *testing.T) {
	k, _ := NewKey(seq(0, 32), nil)
	var nonce [32]byte
	buf := make([]byte, 200)
	defer func() {
		if recover() == nil {
			t.Fatal("inexact overlap not detected")
		}
	}()
	k.SealOnce(buf[1:1], &nonce, nil, buf[:100])
}

// TestCloneIndependent: a clone advances on its own, and Clear on one does
// not disturb the other.
func TestCloneIndependent(t *testing.T) {
	a, _ := New(seq(0, 32), seq(0x80, 32))
	b := a.Clone()
	ra := a.Seal(nil, nil, []byte("x"))
	b.Clear()
	c, _ := New(seq(0, 32), seq(0x80, 32))
	c.Seal(nil, nil, []byte("x"))
	if !bytes.Equal(a.Seal(nil, nil, []byte("y")), c.Seal(nil, nil, []byte("y"))) {
		t.Fatal("clearing a clone disturbed the original")
	}
	if len(ra) != 33 || a.TagSize() != 32 || a.Wide() {
		t.Fatal("unexpected sizes")
	}
	if *b != (Cipher{}) {
		t.Fatal("Clear left state behind")
	}
}

// TestXORKeyStream checks counter continuity: two calls equal one call when
// the first ends on a block boundary, and the counter advances by
// ceil(len/32).
func TestXORKeyStream(t *testing.T) {
	k, _ := NewKey(seq(0, 32), nil)
	var c1, c2 [32]byte
	c1[0], c2[0] = 0xFE, 0xFE
	src := seq(0, 200)
	one := make([]byte, 200)
	k.XORKeyStream(one, src, &c1)
	two := make([]byte, 200)
	k.XORKeyStream(two[:64], src[:64], &c2)
	k.XORKeyStream(two[64:], src[64:], &c2)
	if !bytes.Equal(one, two) || c1 != c2 {
		t.Fatal("split keystream differs")
	}
	// 200 bytes = 7 blocks from 0xFE: 0xFE + 7 = 0x105.
	if c1[0] != 0x05 || c1[1] != 0x01 {
		t.Fatalf("counter after 7 blocks: %x", c1[:2])
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short dst not detected")
		}
	}()
	k.XORKeyStream(make([]byte, 10), src, &c1)
}

// TestKeyConcurrent uses one Key from several goroutines at once (run with
// -race): SealOnce and OpenOnce must not write to it.
func TestKeyConcurrent(t *testing.T) {
	k, err := NewKey(seq(0, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [32]byte
	want := k.SealOnce(nil, &nonce, []byte("ad"), seq(0, 500))
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				n := nonce
				got := k.SealOnce(nil, &n, []byte("ad"), seq(0, 500))
				if !bytes.Equal(got, want) {
					done <- errors.New("concurrent SealOnce gave a different record")
					return
				}
				if _, err := k.OpenOnce(nil, &n, []byte("ad"), got); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestClearedKeyPanics: a cleared Key is a programming error that must fail
// loudly rather than run a zero-round cipher.
func TestClearedKeyPanics(t *testing.T) {
	k, _ := NewKey(seq(0, 32), nil)
	k.Clear()
	if *k != (Key{}) {
		t.Fatal("Clear left key material")
	}
	var nonce [32]byte
	defer func() {
		if recover() == nil {
			t.Fatal("SealOnce on a cleared key did not panic")
		}
	}()
	k.SealOnce(nil, &nonce, nil, []byte("x"))
}
