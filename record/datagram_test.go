package record

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/qsmp-go/qsmp/window"
)

var update = flag.Bool("update", false, "rewrite record/testdata/datagram_vectors.json")

func pattern(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// datagramPair returns a sealer and an opener for one direction.
func datagramPair(t testing.TB, wide bool, dir Direction, epoch uint64) (*Sealer, *Opener, *window.Drops) {
	t.Helper()
	secret := pattern(DatagramSecretSize, 0x10)
	key, base, err := DatagramKeys(wide, secret, dir, epoch)
	if err != nil {
		t.Fatal(err)
	}
	var counter atomic.Uint64
	win, err := window.NewSync(window.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	drops := &window.Drops{}
	return NewSealer(key, base, &counter), NewOpener(key, base, win, drops, DefaultTimeThreshold), drops
}

// keystreamBlocks seals len zero bytes and returns the keystream blocks.
func keystreamBlocks(t testing.TB, s *Sealer, n int) [][32]byte {
	rec, _, err := s.Seal(nil, nil, FlagEncryptedMessage, make([]byte, n), 1000)
	if err != nil {
		t.Fatal(err)
	}
	ct := rec[HeaderSize : HeaderSize+n]
	var out [][32]byte
	for i := 0; i+32 <= len(ct); i += 32 {
		var b [32]byte
		copy(b[:], ct[i:])
		out = append(out, b)
	}
	return out
}

func TestRecordNonce(t *testing.T) {
	var base [32]byte
	for i := range base {
		base[i] = 0xFF
	}
	n := RecordNonce(&base, 1) // base + 2^11 wraps modulo 2^256
	want := make([]byte, 32)
	want[1] = 0x07
	for i := 0; i < 1; i++ {
		want[i] = 0xFF
	}
	if !bytes.Equal(n[:], want) {
		t.Fatalf("nonce %x, want %x", n, want)
	}
	var zero [32]byte
	n = RecordNonce(&zero, ^uint64(0))
	// (2^64-1)·2^11 = 2^75 - 2^11
	exp := [32]byte{0: 0x00, 1: 0xF8, 2: 0xFF, 3: 0xFF, 4: 0xFF, 5: 0xFF, 6: 0xFF, 7: 0xFF, 8: 0xFF, 9: 0x07}
	if n != exp {
		t.Fatalf("nonce %x, want %x", n, exp)
	}
}

// TestKeystreamNeverRepeats: maximum-length records at adjacent sequence
// numbers share no keystream block, and equal sequence numbers in the two
// directions (and two epochs) give different keystreams.
func TestKeystreamNeverRepeats(t *testing.T) {
	for _, wide := range []bool{false, true} {
		seen := map[[32]byte]string{}
		add := func(blocks [][32]byte, who string) {
			for _, b := range blocks {
				if prev, ok := seen[b]; ok {
					t.Fatalf("keystream block of %s repeats one of %s", who, prev)
				}
				seen[b] = who
			}
		}
		for _, dir := range []Direction{ClientToServer, ServerToClient} {
			for _, epoch := range []uint64{0, 1} {
				s, _, _ := datagramPair(t, wide, dir, epoch)
				s.counter.Store(41) // sequence 42 and 43: adjacent
				add(keystreamBlocks(t, s, DatagramMaxPlaintext), "first record")
				add(keystreamBlocks(t, s, DatagramMaxPlaintext), "adjacent record")
			}
		}
		if len(seen) != 8*(DatagramMaxPlaintext/32) {
			t.Fatalf("%d distinct blocks", len(seen))
		}
	}
}

func TestDatagramSealOpenAndDrops(t *testing.T) {
	for _, wide := range []bool{false, true} {
		s, o, drops := datagramPair(t, wide, ClientToServer, 0)
		env := []byte{1, 4, 9, 9, 9, 9, 9, 9, 9, 9}
		var recs [][]byte
		for i := 0; i < 5; i++ {
			r, seq, err := s.Seal(nil, env, FlagEncryptedMessage, []byte{byte(i), 'x'}, 1000)
			if err != nil || seq != uint64(i+1) {
				t.Fatalf("seal %d: seq %d, %v", i, seq, err)
			}
			recs = append(recs, r)
		}
		// Reordered delivery is fine.
		for _, i := range []int{3, 0, 4, 1} {
			h, pt, err := o.Open(nil, env, recs[i], 1000)
			if err != nil || h.Sequence != uint64(i+1) || pt[0] != byte(i) {
				t.Fatalf("open %d: %v", i, err)
			}
		}
		// Replay.
		if _, _, err := o.Open(nil, env, recs[0], 1000); !errors.Is(err, window.ErrDuplicate) {
			t.Fatalf("replay: %v", err)
		}
		// Tampering with the envelope, header or body: authentication.
		for _, c := range []struct {
			env []byte
			at  int
		}{{[]byte{1, 4, 9, 9, 9, 9, 9, 9, 9, 8}, -1}, {env, 0}, {env, 13}, {env, 5}, {env, 22}, {env, len(recs[2]) - 1}} {
			bad := bytes.Clone(recs[2])
			if c.at >= 0 {
				bad[c.at] ^= 0x20
			}
			_, _, err := o.Open(nil, c.env, bad, 1000)
			if err == nil {
				t.Fatalf("tampered at %d accepted", c.at)
			}
		}
		// The genuine record still opens: nothing moved the window.
		if _, _, err := o.Open(nil, env, recs[2], 1000); err != nil {
			t.Fatalf("genuine record after forgeries: %v", err)
		}
		// Stale time.
		r, _, _ := s.Seal(nil, env, FlagEncryptedMessage, []byte("late"), 1000)
		if _, _, err := o.Open(nil, env, r, 1061); !errors.Is(err, ErrTime) {
			t.Fatalf("stale: %v", err)
		}
		if _, _, err := o.Open(nil, env, r[:30], 1000); !errors.Is(err, ErrShortPacket) {
			t.Fatalf("truncated: %v", err)
		}
		if _, _, err := s.Seal(nil, nil, FlagEncryptedMessage, make([]byte, DatagramMaxPlaintext+1), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("oversized: %v", err)
		}
		d := drops.Snapshot()
		if d.Duplicate != 1 || d.Time != 1 || d.Auth < 5 {
			t.Fatalf("drop counts %+v", d)
		}
	}
}

func TestDatagramWrongKeys(t *testing.T) {
	s, _, _ := datagramPair(t, false, ClientToServer, 0)
	_, wrongDir, _ := datagramPair(t, false, ServerToClient, 0)
	_, wrongEpoch, _ := datagramPair(t, false, ClientToServer, 1)
	r, _, _ := s.Seal(nil, nil, FlagEncryptedMessage, []byte("hello"), 1000)
	for _, o := range []*Opener{wrongDir, wrongEpoch} {
		if _, _, err := o.Open(nil, nil, r, 1000); !errors.Is(err, ErrAuth) {
			t.Fatalf("opened under the wrong keys: %v", err)
		}
	}
	if _, _, err := DatagramKeys(false, make([]byte, 10), ClientToServer, 0); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, _, err := DatagramKeys(false, make([]byte, 64), 3, 0); err == nil {
		t.Fatal("bad direction accepted")
	}
}

type datagramVector struct {
	Name      string `json:"name"`
	Wide      bool   `json:"rcs512"`
	Secret    string `json:"datagram_secret"`
	Direction uint8  `json:"direction"`
	Epoch     uint64 `json:"epoch"`
	Key       string `json:"key"`
	BaseNonce string `json:"base_nonce"`
	Sequence  uint64 `json:"sequence"`
	Envelope  string `json:"envelope"`
	UTCTime   uint64 `json:"utctime"`
	Plaintext string `json:"plaintext"`
	Record    string `json:"record"`
}

// computeDatagramVectors derives keys and records from fixed inputs.
func computeDatagramVectors(t *testing.T) []datagramVector {
	var out []datagramVector
	for _, wide := range []bool{false, true} {
		var secret []byte
		if wide {
			secret = DeriveQSMD(pattern(32, 0), pattern(32, 0x40), pattern(64, 0x80)).DatagramSecret
		} else {
			secret = DeriveQSMS(pattern(32, 0), pattern(32, 0x20)).DatagramSecret
		}
		for _, dir := range []Direction{ClientToServer, ServerToClient} {
			for _, epoch := range []uint64{0, 1} {
				for _, seq := range []uint64{1, 2, 1 << 32} {
					for _, env := range [][]byte{nil, {1, 4, 1, 2, 3, 4, 5, 6, 7, 8}} {
						key, base, err := DatagramKeys(wide, secret, dir, epoch)
						if err != nil {
							t.Fatal(err)
						}
						var counter atomic.Uint64
						counter.Store(seq - 1)
						pt := pattern(33, byte(seq))
						rec, _, err := NewSealer(key, base, &counter).Seal(nil, env, FlagEncryptedMessage, pt, 1767225600)
						if err != nil {
							t.Fatal(err)
						}
						keyLen := 32
						if wide {
							keyLen = 64
						}
						raw := datagramKeyBytes(wide, secret, dir, epoch)
						out = append(out, datagramVector{
							Name: "qsms", Wide: wide, Secret: hex.EncodeToString(secret), Direction: uint8(dir), Epoch: epoch,
							Key: hex.EncodeToString(raw[:keyLen]), BaseNonce: hex.EncodeToString(base[:]),
							Sequence: seq, Envelope: hex.EncodeToString(env), UTCTime: 1767225600,
							Plaintext: hex.EncodeToString(pt), Record: hex.EncodeToString(rec),
						})
						if wide {
							out[len(out)-1].Name = "qsmd"
						}
					}
				}
			}
		}
	}
	return out
}

// TestDatagramVectors checks record/testdata/datagram_vectors.json, our own
// known answers for the datagram profile (docs/DATAGRAM.md section 4).
func TestDatagramVectors(t *testing.T) {
	path := filepath.Join("testdata", "datagram_vectors.json")
	got := computeDatagramVectors(t)
	if *update {
		b, _ := json.MarshalIndent(map[string]any{
			"about":   "qsmp-go datagram-profile known answers (docs/DATAGRAM.md); secrets from DeriveQSMS(ss=00..1f, sch3=20..3f) and DeriveQSMD(seca=00..1f, secb=40..5f, sch4=80..bf)",
			"vectors": got,
		}, "", " ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var f struct {
		Vectors []datagramVector `json:"vectors"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != len(got) {
		t.Fatalf("%d vectors in the file, %d computed", len(f.Vectors), len(got))
	}
	for i := range got {
		if got[i] != f.Vectors[i] {
			t.Errorf("vector %d differs:\n got %+v\nwant %+v", i, got[i], f.Vectors[i])
		}
		// And every record opens.
		v := f.Vectors[i]
		secret, _ := hex.DecodeString(v.Secret)
		key, base, _ := DatagramKeys(v.Wide, secret, Direction(v.Direction), v.Epoch)
		win, _ := window.NewSync(64)
		rec, _ := hex.DecodeString(v.Record)
		env, _ := hex.DecodeString(v.Envelope)
		if _, pt, err := NewOpener(key, base, win, nil, 60).Open(nil, env, rec, v.UTCTime); err != nil || hex.EncodeToString(pt) != v.Plaintext {
			t.Errorf("vector %d does not open: %v", i, err)
		}
	}
	t.Logf("datagram vectors: %d cases", len(got))
}

// datagramKeyBytes recomputes the raw key ‖ base output for the vector file.
func datagramKeyBytes(wide bool, secret []byte, dir Direction, epoch uint64) []byte {
	keyLen := 32
	if wide {
		keyLen = 64
	}
	k := make([]byte, keyLen+32)
	sp := datagramSponge(wide, secret, dir, epoch)
	sp.Read(k)
	return k
}

// TestRecordNonceBig: RecordNonce is base + seq·2^11 modulo 2^256, against
// math/big for random bases and sequence numbers, carries included.
func TestRecordNonceBig(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	le := func(b []byte) *big.Int {
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	for i := range 5000 {
		var base [32]byte
		for j := range base {
			base[j] = byte(rng.Uint32())
		}
		if i%3 == 0 { // long carries
			for j := 1; j < 32; j++ {
				base[j] = 0xFF
			}
		}
		seq := rng.Uint64() >> (i % 64)
		n := RecordNonce(&base, seq)
		want := new(big.Int).Add(le(base[:]), new(big.Int).Lsh(new(big.Int).SetUint64(seq), 11))
		want.Mod(want, mod)
		if le(n[:]).Cmp(want) != 0 {
			t.Fatalf("base %x seq %d: nonce %x", base, seq, n)
		}
	}
}

// TestReopen: Reopen opens a copy of an accepted record, refuses a tampered
// or stale copy, and neither consults nor moves the window nor counts
// anything.
func TestReopen(t *testing.T) {
	for _, wide := range []bool{false, true} {
		s, o, drops := datagramPair(t, wide, ClientToServer, 0)
		env := []byte{1, 4, 9, 9, 9, 9, 9, 9, 9, 9}
		r1, _, _ := s.Seal(nil, env, FlagEncryptedMessage, []byte("first"), 1000)
		r2, _, _ := s.Seal(nil, env, FlagEncryptedMessage, []byte("second"), 1000)
		if _, _, err := o.Open(nil, env, r1, 1000); err != nil {
			t.Fatal(err)
		}
		// A copy of the accepted record: authentic.
		h, pt, err := o.Reopen(nil, env, r1, 1000)
		if err != nil || h.Sequence != 1 || string(pt) != "first" {
			t.Fatalf("reopen: %q, %+v, %v", pt, h, err)
		}
		// It does not consult the window either: a record never opened
		// reopens, and still opens afterwards (the window did not move).
		if _, pt, err := o.Reopen([]byte("x"), env, r2, 1000); err != nil || string(pt) != "xsecond" {
			t.Fatalf("reopen of a fresh record: %q, %v", pt, err)
		}
		if _, _, err := o.Open(nil, env, r2, 1000); err != nil {
			t.Fatalf("open after reopen: %v", err)
		}
		for _, at := range []int{0, 13, 22, len(r1) - 1} {
			bad := bytes.Clone(r1)
			bad[at] ^= 1
			if _, _, err := o.Reopen(nil, env, bad, 1000); err == nil {
				t.Fatalf("copy tampered at %d reopened", at)
			}
		}
		if _, _, err := o.Reopen(nil, env[:9], r1, 1000); !errors.Is(err, ErrAuth) {
			t.Fatalf("other prefix: %v", err)
		}
		if _, _, err := o.Reopen(nil, env, r1, 1061); !errors.Is(err, ErrTime) {
			t.Fatalf("stale: %v", err)
		}
		if _, _, err := o.Reopen(nil, env, r1[:30], 1000); !errors.Is(err, ErrShortPacket) {
			t.Fatalf("truncated: %v", err)
		}
		if d := drops.Snapshot(); d.Total() != 0 {
			t.Fatalf("Reopen counted drops: %+v", d)
		}
		if _, _, err := o.Open(nil, env, r1, 1000); !errors.Is(err, window.ErrDuplicate) {
			t.Fatalf("the window forgot the first record: %v", err)
		}
	}
}
