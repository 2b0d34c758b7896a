package keccak

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// multiAbsorbers are the eight-lane absorbs the lockstep drivers are
// tested with: the one this build selects and the portable one.
var multiAbsorbers = []struct {
	name    string
	generic bool
}{
	{"x8Absorb", false},
	{"x8AbsorbGeneric", true},
}

// multiDrivers are the lockstep drivers the tests force: the general one,
// and the small-message one (which runs only when every message fits).
var multiDrivers = []struct {
	name  string
	small bool
}{
	{"general", false},
	{"small", true},
}

// splitPieces cuts msg into up to maxPieces pieces at random places (empty
// pieces included).
func splitPieces(r *rand.Rand, msg []byte, maxPieces int) [][]byte {
	n := 1 + r.IntN(maxPieces)
	cuts := make([]int, 0, n+1)
	for i := 0; i < n-1; i++ {
		cuts = append(cuts, r.IntN(len(msg)+1))
	}
	cuts = append(cuts, 0, len(msg))
	for i := 1; i < len(cuts); i++ { // insertion sort: tiny slices
		for k := i; k > 0 && cuts[k] < cuts[k-1]; k-- {
			cuts[k], cuts[k-1] = cuts[k-1], cuts[k]
		}
	}
	pieces := make([][]byte, 0, n)
	for i := 1; i < len(cuts); i++ {
		pieces = append(pieces, msg[cuts[i-1]:cuts[i]])
	}
	return pieces
}

// scalarTag is the reference: a clone of base, Write of every piece,
// Finalize.
func scalarTag(base *KMAC, pieces [][]byte, tagLen int) []byte {
	m := *base
	for _, p := range pieces {
		m.Write(p)
	}
	tag := make([]byte, tagLen)
	m.Finalize(tag)
	return tag
}

// multiBases returns keyed KMACs at the given rate in the states MultiSum
// must accept: freshly keyed (block-aligned), with pending input, and
// running on after a Finalize.
func multiBases(t *testing.T, r *rand.Rand, rate int) map[string]*KMAC {
	k, err := NewKMAC(rate, randomBytes(r, 32+r.IntN(40)), randomBytes(r, r.IntN(10)))
	if err != nil {
		t.Fatal(err)
	}
	if k.s.n != 0 {
		t.Fatalf("NewKMAC at rate %d leaves %d bytes pending: the sponge is not block-aligned", rate, k.s.n)
	}
	pending := k
	pending.Write(randomBytes(r, rate+5))
	running := k
	running.Write(randomBytes(r, 300))
	running.Finalize(make([]byte, 32))
	return map[string]*KMAC{"keyed": &k, "pending": &pending, "running": &running}
}

// TestMultiSumMatchesKMAC compares MultiSum with the scalar KMAC over
// random batches (1..17 messages of 0..3000 bytes in random pieces) at both
// rates and both tag sizes, through the selected absorb and the portable
// one, and counts the messages that hit Finalize's edge case.
func TestMultiSumMatchesKMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 3000))
	var msgs, edges, batches, smallRuns int
	for _, rate := range []int{Rate256, Rate512} {
		bases := multiBases(t, r, rate)
		for _, bname := range []string{"keyed", "pending", "running"} {
			base := bases[bname]
			iters := 60
			if bname != "keyed" {
				iters = 15
			}
			for iter := 0; iter < iters; iter++ {
				n := 1 + r.IntN(17)
				tagLen := []int{32, 64}[r.IntN(2)]
				batch := make([]MultiMessage, n)
				want := make([][]byte, n)
				smallBatch := r.IntN(3) == 0
				for i := range batch {
					var l int
					switch r.IntN(4) {
					case 0: // lengths whose final block hits the edge case
						l = r.IntN(20)*rate + rate - 1 - r.IntN(3) - base.s.n
						l = max(l, 0)
					case 1: // the same tag length for the whole batch, lengths near 1400
						l = 1380 + r.IntN(100)
					default:
						l = r.IntN(3001)
					}
					if smallBatch { // short enough for the small-message driver
						l = r.IntN(smallLaneBytes - rate + 1 - len(base.pending()))
					}
					if (base.s.n+l)%rate+3 >= rate {
						edges++
					}
					batch[i].Pieces = splitPieces(r, randomBytes(r, l), 6)
					tl := tagLen
					if r.IntN(8) == 0 { // other tag lengths, longer than the rate too
						tl = []int{0, 1, 136, 200}[r.IntN(4)]
					}
					batch[i].Tag = make([]byte, tl)
					want[i] = scalarTag(base, batch[i].Pieces, tl)
				}
				before := *base
				for _, ab := range multiAbsorbers {
					for _, d := range multiDrivers {
						for i := range batch {
							clear(batch[i].Tag)
						}
						if base.multiSum(batch, true, ab.generic, d.small) == driverSmall {
							smallRuns++
						}
						for i := range batch {
							if !bytes.Equal(batch[i].Tag, want[i]) {
								t.Fatalf("rate %d, %s base, %s, %s driver: message %d of %d (%d pieces): tag %x, want %x",
									rate, bname, ab.name, d.name, i, n, len(batch[i].Pieces), batch[i].Tag, want[i])
							}
						}
					}
				}
				for i := range batch {
					clear(batch[i].Tag)
				}
				base.MultiSum(batch)
				for i := range batch {
					if !bytes.Equal(batch[i].Tag, want[i]) {
						t.Fatalf("MultiSum: message %d of %d: wrong tag", i, n)
					}
				}
				if *base != before {
					t.Fatal("MultiSum modified the keyed state")
				}
				msgs += n
				batches++
			}
		}
	}
	if edges == 0 {
		t.Fatal("no message hit Finalize's edge case")
	}
	if smallRuns == 0 {
		t.Fatal("no batch ran on the small-message driver")
	}
	t.Logf("%d batches, %d messages (%d in Finalize's edge case) agree with the scalar KMAC (accelerated: %v, %d runs of the small-message driver)",
		batches, msgs, edges, useX8, smallRuns)
}

// TestMultiSumEdgeLengths runs every pending length 0..rate-1 (so every
// final-block layout, the edge cases included) in one batch per rate, with
// one or two full blocks before it, in increasing and in decreasing order
// (so lanes also take shorter messages after longer ones).
func TestMultiSumEdgeLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, rate := range []int{Rate256, Rate512} {
		base := multiBases(t, r, rate)["keyed"]
		for _, c := range []struct{ tagLen, dir int }{{32, 1}, {64, 1}, {32, -1}, {64, -1}} {
			tagLen := c.tagLen
			batch := make([]MultiMessage, 2*rate)
			for i := range batch {
				l := i
				if c.dir < 0 {
					l = len(batch) - 1 - i
				}
				batch[i] = MultiMessage{Pieces: [][]byte{randomBytes(r, l)}, Tag: make([]byte, tagLen)}
			}
			for _, ab := range multiAbsorbers {
				for _, d := range multiDrivers {
					for i := range batch {
						clear(batch[i].Tag)
					}
					got := base.multiSum(batch, true, ab.generic, d.small)
					if wantDriver := map[bool]multiDriver{false: driverGeneral, true: driverSmall}[d.small]; got != wantDriver {
						t.Fatalf("rate %d, tag %d, %s: the %s driver was asked for, driver %d ran", rate, tagLen, ab.name, d.name, got)
					}
					for i := range batch {
						if want := scalarTag(base, batch[i].Pieces, tagLen); !bytes.Equal(batch[i].Tag, want) {
							t.Fatalf("rate %d, tag %d, %s, %s driver: length %d: wrong tag", rate, tagLen, ab.name, d.name, i)
						}
					}
				}
			}
		}
	}
}

// TestMultiSumClearsScratch checks that the scratch state of both drivers
// is all zero after a run and clear, and that a run really used it.
func TestMultiSumClearsScratch(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	base := multiBases(t, r, Rate256)["keyed"]
	batch := make([]MultiMessage, 9)
	for i := range batch {
		batch[i] = MultiMessage{Pieces: splitPieces(r, randomBytes(r, 500+i), 3), Tag: make([]byte, 32)}
	}
	var w multiWork
	w.run(base, batch, false)
	if w.a == [200]uint64{} {
		t.Fatal("the run left no state behind: nothing to clear")
	}
	w.clear()
	if w.a != [200]uint64{} {
		t.Fatal("clear left sponge states behind")
	}
	for j := range w.lanes {
		l := &w.lanes[j]
		if *l != (multiLane{}) {
			t.Fatalf("clear left lane %d behind", j)
		}
	}

	for i := range batch {
		batch[i] = MultiMessage{Pieces: splitPieces(r, randomBytes(r, 100+30*i), 3), Tag: make([]byte, 32)}
	}
	if !base.smallFits(batch) {
		t.Fatal("the small batch does not fit the small-message driver")
	}
	var sw smallWork
	sw.run(base, batch, false)
	if sw.a == [200]uint64{} || sw.buf == [8][smallLaneBytes]byte{} {
		t.Fatal("the small-message run left no state or blocks behind: nothing to clear")
	}
	sw.clear()
	if sw.a != [200]uint64{} {
		t.Fatal("clear left small-message sponge states behind")
	}
	if sw.buf != [8][smallLaneBytes]byte{} {
		t.Fatal("clear left small-message blocks behind")
	}
}

// TestMultiSumSmallBoundary checks where the small-message driver stops:
// a batch whose longest message takes exactly the lane's blocks runs on
// it, one byte more runs on the general driver, and both give the scalar
// tags.
func TestMultiSumSmallBoundary(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, rate := range []int{Rate256, Rate512} {
		base := multiBases(t, r, rate)["keyed"]
		for _, tagLen := range []int{32, 64} {
			// The longest message that fits: its blocks fill the lane, and
			// one byte more would add a block.
			longest := 0
			for l := 0; l <= smallLaneBytes; l++ {
				if smallBlocks(l, tagLen, rate)*rate <= smallLaneBytes {
					longest = l
				}
			}
			for _, extra := range []int{0, 1} {
				batch := make([]MultiMessage, 8)
				for i := range batch {
					batch[i] = MultiMessage{Pieces: splitPieces(r, randomBytes(r, longest-3*i), 4), Tag: make([]byte, tagLen)}
				}
				batch[5].Pieces = splitPieces(r, randomBytes(r, longest+extra), 4)
				want := map[int]multiDriver{0: driverSmall, 1: driverGeneral}[extra]
				if got := base.multiSum(batch, true, false, true); got != want {
					t.Fatalf("rate %d, tag %d, longest message %d bytes: driver %d ran, want %d", rate, tagLen, longest+extra, got, want)
				}
				for i := range batch {
					if w := scalarTag(base, batch[i].Pieces, tagLen); !bytes.Equal(batch[i].Tag, w) {
						t.Fatalf("rate %d, tag %d, message %d: wrong tag", rate, tagLen, i)
					}
				}
			}
		}
	}
}

// TestMultiSumSmallLaneReuse runs, for every length that fits the
// small-message driver, eight messages of the longest length that fits
// and then eight of that length, so that every lane builds the second
// message over the blocks of the first: a byte of the first left behind in
// the padding would change the tag.
func TestMultiSumSmallLaneReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	cases := 0
	for _, rate := range []int{Rate256, Rate512} {
		base := multiBases(t, r, rate)["keyed"]
		longest := 0
		for l := 0; l <= smallLaneBytes; l++ {
			if smallBlocks(l, 32, rate)*rate <= smallLaneBytes {
				longest = l
			}
		}
		batch := make([]MultiMessage, 16)
		for i := range batch {
			batch[i].Tag = make([]byte, 32)
		}
		for i := 0; i < 8; i++ {
			batch[i].Pieces = [][]byte{randomBytes(r, longest)}
		}
		for l := 0; l <= longest; l++ {
			for i := 8; i < 16; i++ {
				batch[i].Pieces = [][]byte{randomBytes(r, l)}
			}
			if got := base.multiSum(batch, true, false, true); got != driverSmall {
				t.Fatalf("rate %d, length %d: driver %d ran, not the small-message one", rate, l, got)
			}
			for i := 8; i < 16; i++ {
				if w := scalarTag(base, batch[i].Pieces, 32); !bytes.Equal(batch[i].Tag, w) {
					t.Fatalf("rate %d: message %d of %d bytes after one of %d: wrong tag", rate, i, l, longest)
				}
			}
			cases++
		}
	}
	t.Logf("%d lengths checked after the longest", cases)
}

// TestMultiSumAllocs checks that MultiSum allocates nothing.
func TestMultiSumAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	base := multiBases(t, r, Rate256)["keyed"]
	batch := make([]MultiMessage, 8)
	for i := range batch {
		batch[i] = MultiMessage{Pieces: [][]byte{randomBytes(r, 21), randomBytes(r, 1400)}, Tag: make([]byte, 32)}
	}
	if n := testing.AllocsPerRun(50, func() { base.MultiSum(batch) }); n != 0 {
		t.Fatalf("MultiSum allocates %v times per call", n)
	}
}

// FuzzMultiSum cuts the input into messages and pieces and checks
// MultiSum against the scalar KMAC.
func FuzzMultiSum(f *testing.F) {
	f.Add(false, uint8(3), uint16(1), []byte("hello, world"))
	f.Add(true, uint8(8), uint16(7), bytes.Repeat([]byte{0xA5}, 1500))
	f.Add(false, uint8(17), uint16(133), bytes.Repeat([]byte{1, 2, 3}, 1200))
	f.Fuzz(func(t *testing.T, wide bool, n uint8, seed uint16, data []byte) {
		rate := Rate256
		if wide {
			rate = Rate512
		}
		base, err := NewKMAC(rate, []byte("fuzz key"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(seed), 0))
		count := 1 + int(n)%24
		batch := make([]MultiMessage, count)
		for i := range batch {
			lo := r.IntN(len(data) + 1)
			hi := lo + r.IntN(len(data)-lo+1)
			batch[i] = MultiMessage{Pieces: splitPieces(r, data[lo:hi], 5), Tag: make([]byte, []int{32, 64, 7}[r.IntN(3)])}
		}
		base.MultiSum(batch)
		for i := range batch {
			if want := scalarTag(&base, batch[i].Pieces, len(batch[i].Tag)); !bytes.Equal(batch[i].Tag, want) {
				t.Fatalf("message %d: tag %x, want %x", i, batch[i].Tag, want)
			}
		}
	})
}

// BenchmarkMultiSum1400 measures KMAC-256 tags of 1400-byte messages (with
// 21 bytes of associated data in front, as RCS absorbs them) eight at a
// time, next to BenchmarkKMAC1400, the same messages one at a time.
func BenchmarkMultiSum1400(b *testing.B) { benchMultiSum(b, Rate256, 8) }

// BenchmarkMultiSum512_1400 is BenchmarkMultiSum1400 at rate 72.
func BenchmarkMultiSum512_1400(b *testing.B) { benchMultiSum(b, Rate512, 8) }

// BenchmarkKMAC1400 is the per-message yardstick for BenchmarkMultiSum1400.
func BenchmarkKMAC1400(b *testing.B) { benchMultiSum(b, Rate256, 1) }

func benchMultiSum(b *testing.B, rate, n int) {
	base, err := NewKMAC(rate, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	ad, msg := make([]byte, 21), make([]byte, 1400)
	batch := make([]MultiMessage, n)
	for i := range batch {
		batch[i] = MultiMessage{Pieces: [][]byte{ad, msg}, Tag: make([]byte, 32)}
	}
	b.SetBytes(int64(n * len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		base.MultiSum(batch)
	}
}

// BenchmarkMultiSumSmall measures KMAC-256 tags of eight short messages
// laid out as RCS absorbs a record of ct bytes with 25 bytes of associated
// data (AD, its length, the nonce, the ciphertext, the length field: five
// pieces), on the general driver, on the small-message driver, and one
// message at a time with the scalar KMAC. The throughput counts ct bytes.
func BenchmarkMultiSumSmall(b *testing.B) {
	for _, ct := range []int{64, 256} {
		for _, d := range []struct {
			name            string
			lockstep, small bool
		}{{"general", true, false}, {"small", true, true}, {"scalar", false, false}} {
			b.Run(fmt.Sprintf("ct=%d/%s", ct, d.name), func(b *testing.B) {
				base, err := NewKMAC(Rate256, make([]byte, 32), nil)
				if err != nil {
					b.Fatal(err)
				}
				ad, adLen, nonce, msg, ctLen := make([]byte, 25), make([]byte, 4), make([]byte, 32), make([]byte, ct), make([]byte, 8)
				batch := make([]MultiMessage, 8)
				for i := range batch {
					batch[i] = MultiMessage{Pieces: [][]byte{ad, adLen, nonce, msg, ctLen}, Tag: make([]byte, 32)}
				}
				b.SetBytes(int64(len(batch) * ct))
				b.ReportAllocs()
				for b.Loop() {
					base.multiSum(batch, d.lockstep && useX8, false, d.small)
				}
			})
		}
	}
}

// TestRightEncodeLen checks rightEncodeLen against rightEncode.
func TestRightEncodeLen(t *testing.T) {
	for _, x := range []uint64{0, 1, 255, 256, 65535, 65536, 1 << 40, 1<<56 - 1, 1 << 56, ^uint64(0)} {
		if got, want := rightEncodeLen(x), len(rightEncode(nil, x)); got != want {
			t.Errorf("rightEncodeLen(%d) = %d, want %d", x, got, want)
		}
	}
}
