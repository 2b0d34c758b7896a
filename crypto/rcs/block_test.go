package rcs

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// The reference model below is a direct, byte-level transcription of digest
// 7.3 (Rijndael with Nb = 8), with the S-box computed from its definition.
// It is independent of the bitsliced circuit and of the AES-NI code.

func refMul(a, b byte) byte {
	var p byte
	for i := 0; i < 8; i++ {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1B
		}
		b >>= 1
	}
	return p
}

var refSbox = func() (s [256]byte) {
	for x := 0; x < 256; x++ {
		inv := byte(0)
		for y := 1; y < 256; y++ {
			if refMul(byte(x), byte(y)) == 1 {
				inv = byte(y)
			}
		}
		var out byte
		for i := 0; i < 8; i++ {
			bit := inv>>i ^ inv>>((i+4)%8) ^ inv>>((i+5)%8) ^ inv>>((i+6)%8) ^ inv>>((i+7)%8)
			out |= (bit & 1) << i
		}
		s[x] = out ^ 0x63
	}
	return s
}()

var refShift = [4]int{0, 1, 3, 4}

// refEncrypt encrypts one block with round keys rk (32·(rounds+1) bytes).
func refEncrypt(rk []byte, rounds int, in [32]byte) [32]byte {
	s := in
	for i := range s {
		s[i] ^= rk[i]
	}
	for round := 1; round <= rounds; round++ {
		var t [32]byte
		for c := 0; c < 8; c++ {
			for r := 0; r < 4; r++ {
				t[4*c+r] = refSbox[s[4*((c+refShift[r])%8)+r]]
			}
		}
		if round < rounds {
			for c := 0; c < 8; c++ {
				a0, a1, a2, a3 := t[4*c], t[4*c+1], t[4*c+2], t[4*c+3]
				t[4*c] = refMul(a0, 2) ^ refMul(a1, 3) ^ a2 ^ a3
				t[4*c+1] = a0 ^ refMul(a1, 2) ^ refMul(a2, 3) ^ a3
				t[4*c+2] = a0 ^ a1 ^ refMul(a2, 2) ^ refMul(a3, 3)
				t[4*c+3] = refMul(a0, 3) ^ a1 ^ a2 ^ refMul(a3, 2)
			}
		}
		for i := range t {
			t[i] ^= rk[32*round+i]
		}
		s = t
	}
	return s
}

// refKeyStream is CTR mode over refEncrypt, with a byte-wise carry.
func refKeyStream(k *Key, n int, ctr [32]byte) ([]byte, [32]byte) {
	var out []byte
	for len(out) < n {
		b := refEncrypt(k.rk[:], k.rounds, ctr)
		out = append(out, b[:]...)
		for i := 0; i < 32; i++ {
			ctr[i]++
			if ctr[i] != 0 {
				break
			}
		}
	}
	return out[:n], ctr
}

func TestSboxCircuit(t *testing.T) {
	// Lane j of the planes carries input byte 64·round + j.
	for base := 0; base < 256; base += 64 {
		var p [8]uint64
		for j := 0; j < 64; j++ {
			x := base + j
			for b := 0; b < 8; b++ {
				p[b] |= uint64(x>>b&1) << j
			}
		}
		sboxPlanes(&p)
		for j := 0; j < 64; j++ {
			var y byte
			for b := 0; b < 8; b++ {
				y |= byte(p[b]>>j&1) << b
			}
			if want := refSbox[base+j]; y != want {
				t.Fatalf("S(%#02x) = %#02x, want %#02x", base+j, y, want)
			}
		}
	}
	if refSbox[0] != 0x63 || refSbox[0x53] != 0xED {
		t.Fatalf("reference S-box wrong: S(0)=%#x S(0x53)=%#x", refSbox[0], refSbox[0x53])
	}
}

func TestPackLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 100; iter++ {
		var a, b [4]uint64
		for i := range a {
			a[i], b[i] = rng.Uint64(), rng.Uint64()
		}
		var p [8]uint64
		pack(&p, &a, &b)
		var ab, bb [32]byte
		storeCounter(&ab, &a)
		storeCounter(&bb, &b)
		for k, blk := range [2][32]byte{ab, bb} {
			for c := 0; c < 8; c++ {
				for r := 0; r < 4; r++ {
					for bit := 0; bit < 8; bit++ {
						got := p[bit] >> (8*c + 4*k + r) & 1
						if want := uint64(blk[4*c+r] >> bit & 1); got != want {
							t.Fatalf("block %d byte %d bit %d at the wrong place", k, 4*c+r, bit)
						}
					}
				}
			}
		}
		var a2, b2 [4]uint64
		unpack(&a2, &b2, &p)
		if a2 != a || b2 != b {
			t.Fatal("unpack(pack(x)) != x")
		}
	}
}

func randomKey(t testing.TB, rng *rand.Rand, size int) *Key {
	key := make([]byte, size)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	k, err := NewKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testLengths are message lengths around the block and batch boundaries.
var testLengths = []int{0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128, 129, 160, 255, 256, 257, 511, 512, 513, 1000, 1400}

func TestGenericMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{KeySize256, KeySize512} {
		k := randomKey(t, rng, size)
		for _, n := range testLengths {
			var ctr [32]byte
			for i := range ctr {
				ctr[i] = byte(rng.Uint32())
			}
			if n%3 == 0 { // exercise the carry out of the low words
				for i := 0; i < 16; i++ {
					ctr[i] = 0xFF
				}
			}
			want, wantCtr := refKeyStream(k, n, ctr)
			got := make([]byte, n)
			c := ctr
			xorKeyStreamGeneric(k, got, make([]byte, n), &c)
			if !bytes.Equal(got, want) {
				t.Fatalf("key %d len %d: bitsliced keystream differs from the reference", size, n)
			}
			if c != wantCtr {
				t.Fatalf("key %d len %d: counter %x, want %x", size, n, c, wantCtr)
			}
		}
	}
}

func TestCounterCarry(t *testing.T) {
	var c [4]uint64
	c[0], c[1], c[2], c[3] = ^uint64(0), ^uint64(0), ^uint64(0), 5
	increment(&c)
	if c != [4]uint64{0, 0, 0, 6} {
		t.Fatalf("carry: %x", c)
	}
	c = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	increment(&c)
	if c != [4]uint64{} {
		t.Fatalf("wrap: %x", c)
	}
	var b [32]byte
	binary.LittleEndian.PutUint64(b[8:], 7)
	c = loadCounter(&b)
	if c[1] != 7 {
		t.Fatalf("loadCounter: %x", c)
	}
}
