package rcs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

// randBytes returns n bytes from r.
func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomLen picks a message length in 0..2000, with lengths near 1400 and
// lengths whose KMAC input ends next to a block boundary (where Finalize
// takes its edge case) over-represented.
func randomLen(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return 1380 + r.IntN(40)
	case 1:
		return r.IntN(40)
	default:
		return r.IntN(2001)
	}
}

// dstMode is how a test op's Dst is given.
type dstMode int

const (
	dstNil      dstMode = iota // nil: the output is allocated
	dstPrefix                  // a prefix with room after it: appended in place
	dstInPlace                 // In[:0]: the output overwrites the input
	dstTooSmall                // a prefix without room: reallocated
	dstModes
)

// makeDst returns a Dst for an op whose output has outLen bytes and input
// in (which it may replace by a copy when the mode is in place), and the
// expected prefix.
func makeDst(r *rand.Rand, mode dstMode, in []byte, outLen int) (dst, newIn, prefix []byte) {
	switch mode {
	case dstPrefix:
		prefix = randBytes(r, r.IntN(5))
		dst = make([]byte, len(prefix), len(prefix)+outLen+r.IntN(3))
		copy(dst, prefix)
		// Fill the spare capacity with a sentinel, checked later.
		for i := len(prefix); i < cap(dst); i++ {
			dst[:cap(dst)][i] = 0xEE
		}
		return dst, in, prefix
	case dstInPlace:
		buf := make([]byte, len(in), max(len(in), outLen))
		copy(buf, in)
		return buf[:0], buf, nil
	case dstTooSmall:
		prefix = randBytes(r, 1+r.IntN(4))
		return prefix[:len(prefix):len(prefix)], in, prefix
	}
	return nil, in, nil
}

// batchKeys returns an RCS-256 and an RCS-512 key.
func batchKeys(t testing.TB, r *rand.Rand) []*Key {
	var keys []*Key
	for _, size := range []int{KeySize256, KeySize512} {
		k, err := NewKey(randBytes(r, size), nil)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// smallLen picks a message length for the small-message path (0..256),
// with 64, 256 and lengths around a block boundary over-represented, and
// now and then (one in eight) a length too long for it.
func smallLen(r *rand.Rand) int {
	switch r.IntN(8) {
	case 0:
		return 64
	case 1:
		return smallMaxLen
	case 2:
		return max(0, BlockSize*r.IntN(9)-1+r.IntN(3))
	case 3:
		return smallMaxLen + 1 + r.IntN(1500)
	}
	return r.IntN(smallMaxLen + 1)
}

// lengthProfiles are the message-length distributions of the batch tests:
// lengths of every size (mostly through the general path), and short
// lengths (mostly through the small-message path).
var lengthProfiles = []struct {
	name string
	pick func(*rand.Rand) int
}{
	{"mixed", randomLen},
	{"small", smallLen},
}

// TestSealOnceBatchMatchesSealOnce compares SealOnceBatch with SealOnce on
// random batches (1..70 ops of 0..2000 bytes or of mostly 0..256 bytes,
// random AD and nonces, every kind of Dst) for RCS-256 and RCS-512, the
// short ones with every block function this CPU has.
func TestSealOnceBatchMatchesSealOnce(t *testing.T) {
	for _, prof := range lengthProfiles {
		if prof.name == "mixed" {
			testSealOnceBatch(t, prof.name, prof.pick)
			continue
		}
		eachImpl(t, func(name string) { testSealOnceBatch(t, prof.name+", "+name, prof.pick) })
	}
}

func testSealOnceBatch(t *testing.T, name string, pick func(*rand.Rand) int) {
	r := rand.New(rand.NewPCG(256, 512))
	total, small := 0, 0
	for _, k := range batchKeys(t, r) {
		for iter := 0; iter < 40; iter++ {
			n := 1 + r.IntN(70)
			if iter%4 == 0 {
				n = 1 + r.IntN(9)
			}
			ops := make([]OnceOp, n)
			want := make([][]byte, n)
			prefixes := make([][]byte, n)
			for i := range ops {
				op := &ops[i]
				pt := randBytes(r, pick(r))
				op.AD = randBytes(r, []int{0, 21, r.IntN(300)}[r.IntN(3)])
				op.Nonce = [32]byte(randBytes(r, 32))
				if r.IntN(3) == 0 { // a counter about to carry out of its low word
					for b := 0; b < 8; b++ {
						op.Nonce[b] = 0xFF
					}
				}
				want[i] = k.SealOnce(nil, &op.Nonce, op.AD, pt)
				op.Dst, op.In, prefixes[i] = makeDst(r, dstMode(r.IntN(int(dstModes))), pt, len(pt)+k.TagSize())
				op.Err = errors.New("stale")
			}
			nonces := make([][32]byte, n)
			for i := range ops {
				nonces[i] = ops[i].Nonce
			}
			small += smallOps(ops, 0)
			k.SealOnceBatch(ops)
			for i, op := range ops {
				if op.Err != nil {
					t.Fatalf("key %d, op %d: Err = %v", len(k.rk), i, op.Err)
				}
				if !bytes.Equal(op.Out[:len(prefixes[i])], prefixes[i]) || !bytes.Equal(op.Out[len(prefixes[i]):], want[i]) {
					t.Fatalf("tag size %d, batch of %d, op %d (%d bytes): output differs from SealOnce", k.TagSize(), n, i, len(want[i]))
				}
				if op.Nonce != nonces[i] {
					t.Fatalf("op %d: nonce modified", i)
				}
				if cap(op.Dst) >= len(op.Dst)+len(want[i]) && &op.Out[0] != &op.Dst[:1][0] {
					t.Fatalf("op %d: output reallocated although Dst had room", i)
				}
			}
			total += n
		}
	}
	if small == 0 {
		t.Fatalf("%s: no op took the small-message path", name)
	}
	t.Logf("%s: %d sealed messages (%d on the small-message path) equal SealOnce's (eight-lane Keccak: %v)",
		name, total, small, keccak.X8Accelerated())
}

// smallOps returns how many ops of ops the batch functions give to the
// small-message path (as SealOnceBatch and OpenOnceBatch split them).
func smallOps(ops []OnceOp, extra int) int {
	total := 0
	for len(ops) > 0 {
		if n := smallRun(ops, extra); n > 1 {
			total += n
			ops = ops[n:]
			continue
		}
		ops = ops[generalRun(ops, extra):]
	}
	return total
}

// tamper damages a sealed record in one of several ways and returns it.
func tamper(r *rand.Rand, rec []byte, ad []byte, tagSize int) (newRec, newAD []byte, short bool) {
	rec = bytes.Clone(rec)
	switch r.IntN(4) {
	case 0: // a bit of the tag
		rec[len(rec)-1-r.IntN(tagSize)] ^= 1 << r.IntN(8)
	case 1: // a bit of the ciphertext, or of the tag if there is none
		rec[r.IntN(len(rec))] ^= 1 << r.IntN(8)
	case 2: // the AD, or the record's length
		if len(ad) > 0 {
			ad = bytes.Clone(ad)
			ad[r.IntN(len(ad))] ^= 0x40
		} else if len(rec) > tagSize {
			rec = rec[1:]
		} else {
			rec[0] ^= 1
		}
	case 3: // shorter than the tag
		return rec[:r.IntN(tagSize)], ad, true
	}
	return rec, ad, false
}

// TestOpenOnceBatchMatchesOpenOnce opens random batches of genuine and
// tampered records (of every size, and mostly short ones) and compares
// every op with OpenOnce: tampered ops fail alone, with ErrAuth or
// ErrShort, and write nothing to their Dst region. The short records are
// opened with every block function this CPU has.
func TestOpenOnceBatchMatchesOpenOnce(t *testing.T) {
	for _, prof := range lengthProfiles {
		if prof.name == "mixed" {
			testOpenOnceBatch(t, prof.name, prof.pick)
			continue
		}
		eachImpl(t, func(name string) { testOpenOnceBatch(t, prof.name+", "+name, prof.pick) })
	}
}

func testOpenOnceBatch(t *testing.T, name string, pick func(*rand.Rand) int) {
	r := rand.New(rand.NewPCG(1400, 8))
	var total, bad, small int
	for _, k := range batchKeys(t, r) {
		for iter := 0; iter < 40; iter++ {
			n := 1 + r.IntN(70)
			if iter%4 == 0 {
				n = 1 + r.IntN(9)
			}
			ops := make([]OnceOp, n)
			pts := make([][]byte, n)
			prefixes := make([][]byte, n)
			tampered := make([]bool, n)
			for i := range ops {
				op := &ops[i]
				pts[i] = randBytes(r, pick(r))
				op.AD = randBytes(r, []int{0, 21, r.IntN(300)}[r.IntN(3)])
				op.Nonce = [32]byte(randBytes(r, 32))
				rec := k.SealOnce(nil, &op.Nonce, op.AD, pts[i])
				if r.IntN(5) == 0 || (n > 2 && i == n/2) {
					rec, op.AD, _ = tamper(r, rec, op.AD, k.TagSize())
					tampered[i] = true
					bad++
				}
				op.Dst, op.In, prefixes[i] = makeDst(r, dstMode(r.IntN(int(dstModes))), rec, len(rec))
				op.Out, op.Err = []byte("stale"), errors.New("stale")
			}
			// What OpenOnce says about each op, on copies of the inputs.
			wantOut := make([][]byte, n)
			wantErr := make([]error, n)
			for i, op := range ops {
				wantOut[i], wantErr[i] = k.OpenOnce(nil, &op.Nonce, op.AD, bytes.Clone(op.In))
			}
			inBefore := make([][]byte, n)
			for i := range ops {
				inBefore[i] = bytes.Clone(ops[i].In)
			}
			small += smallOps(ops, k.TagSize())
			k.OpenOnceBatch(ops)
			for i, op := range ops {
				if op.Err != wantErr[i] { // the same sentinel, not just errors.Is
					t.Fatalf("tag size %d, batch of %d, op %d (tampered %v): Err = %v, OpenOnce says %v",
						k.TagSize(), n, i, tampered[i], op.Err, wantErr[i])
				}
				if tampered[i] != (op.Err != nil) {
					t.Fatalf("op %d: tampered %v but Err = %v", i, tampered[i], op.Err)
				}
				if op.Err != nil {
					if op.Out != nil {
						t.Fatalf("op %d failed but Out is not nil", i)
					}
					// Nothing written: an in-place input is intact, a
					// Dst with room still holds its sentinel.
					if !bytes.Equal(op.In, inBefore[i]) {
						t.Fatalf("op %d failed but its input was overwritten", i)
					}
					if len(prefixes[i]) > 0 && cap(op.Dst) > len(op.Dst) {
						spare := op.Dst[len(op.Dst):cap(op.Dst)]
						if !bytes.Equal(spare, bytes.Repeat([]byte{0xEE}, len(spare))) {
							t.Fatalf("op %d failed but wrote to its Dst", i)
						}
					}
					continue
				}
				if !bytes.Equal(op.Out[:len(prefixes[i])], prefixes[i]) || !bytes.Equal(op.Out[len(prefixes[i]):], pts[i]) ||
					!bytes.Equal(op.Out[len(prefixes[i]):], wantOut[i]) {
					t.Fatalf("op %d: plaintext differs", i)
				}
			}
			total += n
		}
	}
	if bad == 0 {
		t.Fatal("no tampered op was tested")
	}
	if small == 0 {
		t.Fatalf("%s: no op took the small-message path", name)
	}
	t.Logf("%s: %d opened messages (%d tampered, %d on the small-message path) agree with OpenOnce", name, total, bad, small)
}

// TestBatchVectors runs the rcs*.json known answers through the batch
// functions: each case (and the first message of each sequence, which is
// sealed on a fresh state) is sealed and opened in a batch of nine ops in
// which it appears three times between messages of its own key; its
// tampered record must fail alone.
func TestBatchVectors(t *testing.T) {
	files, err := vectors.Files("rcs")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no rcs*.json vector files found")
	}
	r := rand.New(rand.NewPCG(7, 7))
	var cases int
	for _, path := range files {
		var f rcsFile
		if err := vectors.Load(path, &f); err != nil {
			t.Fatal(err)
		}
		type kat struct {
			name                  string
			key, info, nonce, ad  []byte
			pt, ctAndTag          []byte
			roundtrip, rejectsBad bool
		}
		var kats []kat
		for _, tc := range f.Cases {
			kats = append(kats, kat{tc.Name, tc.Key, tc.Info, tc.Nonce, tc.AD, tc.Plaintext, tc.CiphertextAndTag,
				tc.RoundtripOK == nil || *tc.RoundtripOK, tc.TamperedRejected == nil || *tc.TamperedRejected})
		}
		for _, sq := range f.Sequences {
			if len(sq.Messages) > 0 {
				m := sq.Messages[0]
				kats = append(kats, kat{sq.Name + "[0]", sq.Key, sq.Info, sq.Nonce, m.AD, m.Plaintext, m.CiphertextAndTag, true, true})
			}
		}
		if len(kats) == 0 {
			t.Fatalf("%s: nothing to check", path)
		}
		for _, kt := range kats {
			k, err := NewKey(kt.key, kt.info)
			if err != nil {
				t.Fatalf("%s: %v", kt.name, err)
			}
			ops := make([]OnceOp, 9)
			for i := range ops {
				if i%4 == 0 {
					ops[i] = OnceOp{Nonce: [32]byte(kt.nonce), AD: kt.ad, In: kt.pt}
				} else {
					ops[i] = OnceOp{Nonce: [32]byte(randBytes(r, 32)), AD: randBytes(r, 21), In: randBytes(r, randomLen(r))}
				}
			}
			k.SealOnceBatch(ops)
			for i := 0; i < len(ops); i += 4 {
				if !bytes.Equal(ops[i].Out, kt.ctAndTag) {
					t.Fatalf("%s: SealOnceBatch op %d\n got %x\nwant %x", kt.name, i, ops[i].Out, kt.ctAndTag)
				}
			}
			open := make([]OnceOp, len(ops))
			for i, op := range ops {
				open[i] = OnceOp{Nonce: op.Nonce, AD: op.AD, In: op.Out}
			}
			bad := bytes.Clone(kt.ctAndTag)
			bad[len(bad)-1] ^= 1
			open[4].In = bad
			k.OpenOnceBatch(open)
			for i, op := range open {
				switch {
				case i == 4:
					if errors.Is(op.Err, ErrAuth) != kt.rejectsBad {
						t.Fatalf("%s: tampered op: Err = %v", kt.name, op.Err)
					}
				case i%4 == 0:
					if ok := op.Err == nil && bytes.Equal(op.Out, kt.pt); ok != kt.roundtrip {
						t.Fatalf("%s: OpenOnceBatch op %d: ok = %v (%v)", kt.name, i, ok, op.Err)
					}
				default:
					if op.Err != nil || !bytes.Equal(op.Out, ops[i].In) {
						t.Fatalf("%s: OpenOnceBatch op %d (filler): %v", kt.name, i, op.Err)
					}
				}
			}
			cases++
		}
	}
	t.Logf("checked %d files: %d known answers through SealOnceBatch and OpenOnceBatch", len(files), cases)
}

// TestBatchAllocs checks that the batch functions allocate nothing when
// every Dst has room, for batches of 1, 8 and 40 records of 1400 bytes
// and of 64 bytes.
func TestBatchAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range batchKeys(t, r) {
		for _, c := range []struct{ n, size int }{{1, 1400}, {8, 1400}, {40, 1400}, {1, 64}, {8, 64}, {40, 64}} {
			n, size := c.n, c.size
			seal, open := make([]OnceOp, n), make([]OnceOp, n)
			for i := range seal {
				pt := randBytes(r, size)
				seal[i] = OnceOp{Dst: make([]byte, 0, size+TagSize512), AD: randBytes(r, 21), In: pt}
				rec := k.SealOnce(nil, &seal[i].Nonce, seal[i].AD, pt)
				open[i] = OnceOp{Dst: make([]byte, 0, size), AD: seal[i].AD, In: rec}
			}
			if a := testing.AllocsPerRun(20, func() { k.SealOnceBatch(seal) }); a != 0 {
				t.Errorf("tag size %d, batch of %d x %d bytes: SealOnceBatch allocates %.1f times", k.TagSize(), n, size, a)
			}
			if a := testing.AllocsPerRun(20, func() { k.OpenOnceBatch(open) }); a != 0 {
				t.Errorf("tag size %d, batch of %d x %d bytes: OpenOnceBatch allocates %.1f times", k.TagSize(), n, size, a)
			}
			for i, op := range open {
				if op.Err != nil {
					t.Fatalf("op %d: %v", i, op.Err)
				}
			}
		}
	}
}

// TestBatchOverlapPanics: an inexact overlap of an op's output and input
// panics, as in SealOnce and OpenOnce.
func TestBatchOverlapPanics(t *testing.T) {
	k, _ := NewKey(seq(0, 32), nil)
	for _, f := range []func(ops []OnceOp){k.SealOnceBatch, k.OpenOnceBatch} {
		func() {
			buf := make([]byte, 400)
			ops := []OnceOp{{In: seq(0, 100)}, {Dst: buf[1:1], In: buf[:100]}, {In: seq(0, 50)}}
			defer func() {
				if recover() == nil {
					t.Fatal("inexact overlap not detected")
				}
			}()
			f(ops)
		}()
	}
}

// TestBatchClearedKeyPanics: a cleared Key panics in the batch functions
// as it does in SealOnce.
func TestBatchClearedKeyPanics(t *testing.T) {
	k, _ := NewKey(seq(0, 32), nil)
	k.Clear()
	defer func() {
		if recover() == nil {
			t.Fatal("a cleared key sealed a batch")
		}
	}()
	k.SealOnceBatch(make([]OnceOp, 3))
}

// FuzzOpenOnceBatch opens a fuzzed record in the middle of a batch of
// genuine ones and compares every op with OpenOnce.
func FuzzOpenOnceBatch(f *testing.F) {
	for _, wide := range []bool{false, true} {
		_, nonce, k := fuzzKey(f, wide)
		for _, n := range []int{0, 1, 33, 100, 1400} {
			ad := seq(0x40, 21)
			f.Add(wide, uint8(5), ad, k.SealOnce(nil, &nonce, ad, seq(0, n)))
		}
		f.Add(wide, uint8(1), []byte(nil), []byte("short"))
		// Short records in a batch of eight (the small-message path).
		for _, n := range []int{64, 256} {
			ad := seq(0x40, 25)
			f.Add(wide, uint8(7), ad, k.SealOnce(nil, &nonce, ad, seq(0, n)))
		}
	}
	f.Fuzz(func(t *testing.T, wide bool, n uint8, ad, record []byte) {
		_, nonce, k := fuzzKey(t, wide)
		count := 1 + int(n)%17
		ops := make([]OnceOp, count)
		want := make([][]byte, count)
		for i := range ops {
			ops[i] = OnceOp{Nonce: nonce, AD: ad, In: record}
			if i != count/2 {
				want[i] = seq(i, 37*i)
				ops[i].In = k.SealOnce(nil, &nonce, ad, want[i])
			}
		}
		k.OpenOnceBatch(ops)
		for i, op := range ops {
			out, err := k.OpenOnce(nil, &nonce, ad, op.In)
			if err != op.Err || !bytes.Equal(out, op.Out) {
				t.Fatalf("op %d: batch (%x, %v), OpenOnce (%x, %v)", i, op.Out, op.Err, out, err)
			}
			if i != count/2 && (err != nil || !bytes.Equal(out, want[i])) {
				t.Fatalf("genuine op %d failed: %v", i, err)
			}
		}
	})
}
