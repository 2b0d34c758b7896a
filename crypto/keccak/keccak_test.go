package keccak

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"math/rand/v2"
	"testing"
)

// randomBytes returns n pseudo-random bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestStandardFunctionsMatchStdlib is the property test of issue 2: SHA3-256,
// SHA3-512, SHAKE-256 and cSHAKE-256 equal crypto/sha3 on random inputs, fed
// in random pieces.
func TestStandardFunctionsMatchStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 400; iter++ {
		msg := randomBytes(r, r.IntN(700))
		cuts := []int{0, r.IntN(len(msg) + 1), len(msg)}
		if cuts[1] > cuts[2] {
			cuts[1] = cuts[2]
		}
		feed := func(w interface{ Write([]byte) (int, error) }) {
			w.Write(msg[:cuts[1]])
			w.Write(msg[cuts[1]:])
		}
		outLen := 1 + r.IntN(500)

		if got, want := Sum256(msg), sha3.Sum256(msg); got != want {
			t.Fatalf("SHA3-256 mismatch on %d bytes", len(msg))
		}
		if got, want := Sum512(msg), sha3.Sum512(msg); got != want {
			t.Fatalf("SHA3-512 mismatch on %d bytes", len(msg))
		}
		h := NewSHA3256()
		feed(&h)
		var d [32]byte
		h.Read(d[:])
		if d != sha3.Sum256(msg) {
			t.Fatalf("incremental SHA3-256 mismatch")
		}

		sh := NewSHAKE256()
		feed(&sh)
		got := make([]byte, outLen)
		// read in two pieces to exercise the squeezing buffer
		k := r.IntN(outLen + 1)
		sh.Read(got[:k])
		sh.Read(got[k:])
		want := make([]byte, outLen)
		ref := sha3.NewSHAKE256()
		ref.Write(msg)
		ref.Read(want)
		if !bytes.Equal(got, want) {
			t.Fatalf("SHAKE-256 mismatch on %d bytes, out %d", len(msg), outLen)
		}

		n := randomBytes(r, r.IntN(40))
		s := randomBytes(r, 1+r.IntN(200))
		cs, err := NewCSHAKE(Rate256, n, s)
		if err != nil {
			t.Fatal(err)
		}
		feed(&cs)
		cs.Read(got)
		refc := sha3.NewCSHAKE256(n, s)
		refc.Write(msg)
		refc.Read(want)
		if !bytes.Equal(got, want) {
			t.Fatalf("cSHAKE-256 mismatch (N %d, S %d, X %d bytes)", len(n), len(s), len(msg))
		}
		one := make([]byte, outLen)
		if err := CSHAKE(Rate256, one, msg, n, s); err != nil || !bytes.Equal(one, want) {
			t.Fatalf("one-shot cSHAKE-256 mismatch")
		}
	}
}

// kmacFromStdlib builds standard KMAC256 from crypto/sha3's cSHAKE-256.
func kmacFromStdlib(key, msg, custom []byte, outLen int) []byte {
	c := sha3.NewCSHAKE256([]byte("KMAC"), custom)
	pad := leftEncode(nil, Rate256)
	pad = leftEncode(pad, uint64(len(key))*8)
	pad = append(pad, key...)
	for len(pad)%Rate256 != 0 {
		pad = append(pad, 0)
	}
	c.Write(pad)
	c.Write(msg)
	c.Write(rightEncode(nil, uint64(outLen)*8))
	out := make([]byte, outLen)
	c.Read(out)
	return out
}

// TestKMACMatchesStandardOutsideEdgeCase checks single-message KMAC-256
// against the standard construction wherever QSC's edge case does not apply,
// and that it differs exactly where it does.
func TestKMACMatchesStandardOutsideEdgeCase(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	key := randomBytes(r, 32)
	for msgLen := 0; msgLen < 3*Rate256; msgLen++ {
		msg := randomBytes(r, msgLen)
		for _, outLen := range []int{32, 64} {
			m, _ := NewKMAC(Rate256, key, nil)
			m.Write(msg)
			got := make([]byte, outLen)
			m.Finalize(got)
			want := kmacFromStdlib(key, msg, nil, outLen)
			pending := msgLen % Rate256
			edge := pending+3 >= Rate256
			if edge == bytes.Equal(got, want) {
				t.Fatalf("msg %d, tag %d: edge=%v but equal=%v", msgLen, outLen, edge, !edge)
			}
		}
	}
}

func TestBadRates(t *testing.T) {
	for _, rate := range []int{0, 7, 12, 176, -8} {
		if _, err := NewSponge(rate, dsSHAKE); !errors.Is(err, ErrRate) {
			t.Errorf("NewSponge(%d): %v", rate, err)
		}
		if _, err := NewCSHAKE(rate, nil, nil); !errors.Is(err, ErrRate) {
			t.Errorf("NewCSHAKE(%d): %v", rate, err)
		}
		if _, err := NewKMAC(rate, nil, nil); !errors.Is(err, ErrRate) {
			t.Errorf("NewKMAC(%d): %v", rate, err)
		}
		if err := CSHAKE(rate, make([]byte, 8), nil, nil, nil); !errors.Is(err, ErrRate) {
			t.Errorf("CSHAKE(%d): %v", rate, err)
		}
	}
}

// TestKMACCloneIsIndependent: a copied KMAC value evolves independently.
func TestKMACCloneIsIndependent(t *testing.T) {
	base, _ := NewKMAC(Rate512, []byte("key"), nil)
	a, b := base, base
	a.Write([]byte("one"))
	b.Write([]byte("one"))
	var ta, tb, tc [64]byte
	a.Finalize(ta[:])
	b.Finalize(tb[:])
	if ta != tb {
		t.Fatal("clones of the same state disagree")
	}
	c := base
	c.Write([]byte("two"))
	c.Finalize(tc[:])
	if tc == ta {
		t.Fatal("different messages gave the same tag")
	}
}

func TestLeftRightEncode(t *testing.T) {
	cases := []struct {
		x           uint64
		left, right string
	}{
		{0, "\x01\x00", "\x00\x01"},
		{136, "\x01\x88", "\x88\x01"},
		{256, "\x02\x01\x00", "\x01\x00\x02"},
		{1 << 63, "\x08\x80\x00\x00\x00\x00\x00\x00\x00", "\x80\x00\x00\x00\x00\x00\x00\x00\x08"},
	}
	for _, c := range cases {
		if got := string(leftEncode(nil, c.x)); got != c.left {
			t.Errorf("left_encode(%d) = %x", c.x, got)
		}
		if got := string(rightEncode(nil, c.x)); got != c.right {
			t.Errorf("right_encode(%d) = %x", c.x, got)
		}
	}
}

// TestF1600ZeroState checks Keccak-f[1600] of the all-zero state against the
// Keccak team's published intermediate values (KeccakF-1600-IntermediateValues,
// "after permutation"). It runs whichever permute this build selects.
func TestF1600ZeroState(t *testing.T) {
	want := [25]uint64{
		0xF1258F7940E1DDE7, 0x84D5CCF933C0478A, 0xD598261EA65AA9EE, 0xBD1547306F80494D, 0x8B284E056253D057,
		0xFF97A42D7F8E6FD4, 0x90FEE5A0A44647C4, 0x8C5BDA0CD6192E76, 0xAD30A6F71B19059C, 0x30935AB7D08FFC64,
		0xEB5AA93F2317D635, 0xA9A6E6260D712103, 0x81A57C16DBCF555F, 0x43B831CD0347C826, 0x01F22F1A11A5569F,
		0x05E5635A21D9AE61, 0x64BEFEF28CC970F2, 0x613670957BC46611, 0xB87C5A554FD00ECB, 0x8C3EE88A1CCF32C8,
		0x940C7922AE3A2614, 0x1841F924A2C509E4, 0x16F53526E70465C2, 0x75F644E97F30A13B, 0xEAF1FF7B5CECA249,
	}
	var a, g [25]uint64
	F1600(&a)
	permuteGeneric(&g)
	if a != want {
		t.Fatalf("F1600(0) = %x\nwant %x", a, want)
	}
	if g != want {
		t.Fatalf("permuteGeneric(0) = %x\nwant %x", g, want)
	}
}

var sink [1400]byte

func BenchmarkKeccakSHAKE256_1400(b *testing.B) {
	msg := make([]byte, 1400)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewSHAKE256()
		s.Write(msg)
		s.Read(sink[:32])
	}
}

func BenchmarkStdlibSHAKE256_1400(b *testing.B) {
	msg := make([]byte, 1400)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		s := sha3.NewSHAKE256()
		s.Write(msg)
		s.Read(sink[:32])
	}
}

func BenchmarkF1600(b *testing.B) {
	var a [25]uint64
	for b.Loop() {
		F1600(&a)
	}
}

func BenchmarkKMAC512Clone(b *testing.B) {
	base, _ := NewKMAC(Rate512, make([]byte, 64), nil)
	b.ReportAllocs()
	for b.Loop() {
		k := base
		k.Write(sink[:100])
		k.Finalize(sink[:64])
	}
}
