package record

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/window"
)

// batchPair returns a sealer and two openers (each with its own window and
// drop counts) over the same keys, for comparing OpenBatch with Open.
func batchPair(t testing.TB, wide bool) (*Sealer, [2]*Opener, [2]*window.Drops) {
	t.Helper()
	secret := make([]byte, DatagramSecretSize)
	rand.Read(secret)
	key, base, err := DatagramKeys(wide, secret, ClientToServer, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ctr atomic.Uint64
	var ops [2]*Opener
	var drops [2]*window.Drops
	for i := range ops {
		win, _ := window.NewSync(window.DefaultSize)
		drops[i] = new(window.Drops)
		ops[i] = NewOpener(key, base, win, drops[i], DefaultTimeThreshold)
	}
	return NewSealer(key, base, &ctr), ops, drops
}

func randN(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// TestOpenBatchEqualsOpen feeds the same stream of records (valid ones of
// random sizes, replays inside and across batches, tampered tags and
// headers, truncated packets, stale times, a prefix too long to batch) to
// Open one by one and to OpenBatch in batches of random sizes: every
// result, plaintext, error class and drop count must agree.
func TestOpenBatchEqualsOpen(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(fmt.Sprintf("wide=%v", wide), func(t *testing.T) {
			s, op, drops := batchPair(t, wide)
			now := UnixTime(time.Now())
			prefix := []byte("envelope")
			var pkts [][]byte
			var prefixes [][]byte
			for i := range 400 {
				pt := make([]byte, randN(1500))
				rand.Read(pt)
				when := now
				if i%37 == 5 {
					when = now - 3600 // stale
				}
				pre := prefix
				if i%53 == 7 {
					pre = bytes.Repeat([]byte{9}, MaxBatchAD) // opened alone
				}
				pkt, _, err := s.Seal(nil, pre, FlagEncryptedMessage, pt, when)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case i%11 == 3:
					pkt[len(pkt)-1] ^= 1 // tag
				case i%13 == 4:
					pkt[HeaderSize+randN(len(pkt)-HeaderSize)] ^= 0x40 // body or tag
				case i%17 == 6:
					pkt = pkt[:randN(len(pkt))] // truncated
				}
				pkts, prefixes = append(pkts, pkt), append(prefixes, pre)
				if i%7 == 2 { // a duplicate right after
					pkts, prefixes = append(pkts, pkt), append(prefixes, pre)
				}
				if i%29 == 9 && i > 20 { // a replay of an older one
					j := randN(len(pkts) - 1)
					pkts, prefixes = append(pkts, pkts[j]), append(prefixes, prefixes[j])
				}
			}
			accepted := 0
			for i := 0; i < len(pkts); {
				n := min(1+randN(20), len(pkts)-i)
				items := make([]OpenItem, n)
				for j := range items {
					items[j] = OpenItem{Dst: []byte("x"), Prefix: prefixes[i+j], Pkt: pkts[i+j]}
				}
				op[1].OpenBatch(items, now)
				for j, it := range items {
					h, out, err := op[0].Open([]byte("x"), prefixes[i+j], pkts[i+j], now)
					if (err == nil) != (it.Err == nil) || h != it.Header || !bytes.Equal(out, it.Out) {
						t.Fatalf("record %d: Open %v %v (%d bytes), OpenBatch %v %v (%d bytes)", i+j, h, err, len(out), it.Header, it.Err, len(it.Out))
					}
					for _, class := range []error{ErrAuth, ErrTime, ErrShortPacket, ErrLongPacket, ErrMessageSize, window.ErrDuplicate, window.ErrTooOld} {
						if errors.Is(err, class) != errors.Is(it.Err, class) {
							t.Fatalf("record %d: Open %v, OpenBatch %v", i+j, err, it.Err)
						}
					}
					if err == nil {
						accepted++
					}
				}
				i += n
			}
			if a, b := drops[0].Snapshot(), drops[1].Snapshot(); a != b {
				t.Fatalf("drops: Open %+v, OpenBatch %+v", a, b)
			}
			d := drops[0].Snapshot()
			t.Logf("%d packets: %d accepted, drops %+v", len(pkts), accepted, d)
			if accepted == 0 || d.Auth == 0 || d.Duplicate == 0 || d.Time == 0 {
				t.Fatalf("the stream did not exercise every path: %d accepted, %+v", accepted, d)
			}
		})
	}
}

func TestOpenBatchAllocs(t *testing.T) {
	s, op, _ := batchPair(t, false)
	now := UnixTime(time.Now())
	items := make([]OpenItem, 16)
	pkts := make([][]byte, len(items))
	bufs := make([][]byte, len(items))
	for i := range bufs {
		bufs[i] = make([]byte, 0, 1500)
	}
	allocs := testing.AllocsPerRun(20, func() {
		for i := range items {
			pkts[i], _, _ = s.Seal(pkts[i][:0], nil, FlagEncryptedMessage, make([]byte, 1200), now)
			items[i] = OpenItem{Dst: bufs[i][:0], Pkt: pkts[i]}
		}
		op[0].OpenBatch(items, now)
		for i := range items {
			if items[i].Err != nil {
				t.Fatal(items[i].Err)
			}
		}
	})
	if allocs > 16 { // the 16 plaintexts of make([]byte, 1200) in the loop above
		t.Fatalf("%.0f allocations per batch", allocs)
	}
}
