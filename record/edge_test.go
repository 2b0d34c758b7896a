package record

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/window"
)

// forge seals a datagram-profile record exactly as Seal does but without
// its checks: any plaintext size, any sequence number. It stands for a peer
// that holds the keys and does not follow the profile's rules.
func forge(s *Sealer, prefix []byte, flag Flag, pt []byte, seq, now uint64) []byte {
	h := Header{Flag: flag, MsgLen: uint32(len(pt) + s.key.TagSize()), Sequence: seq, UTCTime: now}
	rec := h.Append(nil)
	nonce := RecordNonce(&s.base, seq)
	ad := append(append([]byte(nil), prefix...), rec...)
	return s.key.SealOnce(rec, &nonce, ad, pt)
}

// openAll opens pkt on three fresh openers over the same keys, with Open,
// with OpenBatch (one item) and with Reopen, and checks that the three agree
// on the result and that the window and drop counts of the failures are
// untouched. It returns Open's error.
func openAll(t *testing.T, s *Sealer, prefix, pkt []byte, now uint64) ([]byte, error) {
	t.Helper()
	mk := func() (*Opener, *window.Sync, *window.Drops) {
		win, _ := window.NewSync(window.DefaultSize)
		d := new(window.Drops)
		return NewOpener(s.key, s.base, win, d, DefaultTimeThreshold), win, d
	}
	o1, w1, d1 := mk()
	o2, w2, d2 := mk()
	o3, w3, d3 := mk()
	_, pt1, err1 := o1.Open([]byte("x"), prefix, pkt, now)
	items := []OpenItem{{Dst: []byte("x"), Prefix: prefix, Pkt: pkt}}
	o2.OpenBatch(items, now)
	_, pt3, err3 := o3.Reopen([]byte("x"), prefix, pkt, now)
	for i, e := range []error{items[0].Err, err3} {
		if (e == nil) != (err1 == nil) {
			t.Fatalf("Open: %v; %s: %v", err1, [2]string{"OpenBatch", "Reopen"}[i], e)
		}
		for _, class := range []error{ErrAuth, ErrTime, ErrShortPacket, ErrLongPacket, ErrMessageSize, ErrClosed} {
			if errors.Is(err1, class) != errors.Is(e, class) {
				t.Fatalf("Open: %v; %s: %v", err1, [2]string{"OpenBatch", "Reopen"}[i], e)
			}
		}
	}
	if !bytes.Equal(pt1, items[0].Out) || !bytes.Equal(pt1, pt3) {
		t.Fatalf("plaintexts differ: %q, %q, %q", pt1, items[0].Out, pt3)
	}
	if a, b := d1.Snapshot(), d2.Snapshot(); a != b || a.Total() > 1 {
		t.Fatalf("drops: Open %+v, OpenBatch %+v (one record counts at most once)", a, b)
	}
	if d := d3.Snapshot(); d.Total() != 0 {
		t.Fatalf("Reopen counted %+v", d)
	}
	if err1 != nil {
		if !w1.Empty() || !w2.Empty() {
			t.Fatalf("a rejected record moved the window (%v)", err1)
		}
		if string(pt1) != "x" {
			t.Fatalf("a rejected record returned %q", pt1)
		}
	} else if w1.Highest() != w2.Highest() || w1.Empty() || !w3.Empty() {
		t.Fatal("windows disagree after an accepted record")
	}
	return pt1, err1
}

// TestDatagramSizeBoundaries: a record of DatagramMaxPlaintext bytes seals
// and opens the same way through Open, OpenBatch and Reopen; one byte more
// is refused by Seal and Defer, and a record of that size sealed by a peer
// holding the keys is refused by all three openers before any
// cryptography: its counter blocks would run into the next record's.
func TestDatagramSizeBoundaries(t *testing.T) {
	for _, wide := range []bool{false, true} {
		s, _, _ := datagramPair(t, wide, ClientToServer, 0)
		pt := pattern(DatagramMaxPlaintext, 3)
		rec, seq, err := s.Seal(nil, nil, FlagEncryptedMessage, pt, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := openAll(t, s, nil, rec, 1000); err != nil || !bytes.Equal(got[1:], pt) {
			t.Fatalf("largest record: %v", err)
		}
		if _, _, err := s.Seal(nil, nil, FlagEncryptedMessage, make([]byte, DatagramMaxPlaintext+1), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Seal of one byte more: %v", err)
		}
		if _, _, err := s.Defer(new(Deferred), nil, nil, FlagEncryptedMessage, make([]byte, DatagramMaxPlaintext+1), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Defer of one byte more: %v", err)
		}
		if s.counter.Load() != seq {
			t.Fatal("a refused seal took a sequence number")
		}
		big := forge(s, nil, FlagEncryptedMessage, pattern(DatagramMaxPlaintext+1, 5), seq+1, 1000)
		if _, err := openAll(t, s, nil, big, 1000); !errors.Is(err, ErrMessageSize) {
			t.Fatalf("record above the limit: %v", err)
		}
		// The smallest record: an empty plaintext, msglen = tag.
		empty, _, err := s.Seal(nil, nil, FlagEncryptedMessage, nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := openAll(t, s, nil, empty, 1000); err != nil || string(got) != "x" {
			t.Fatalf("empty record: %q, %v", got, err)
		}
		// msglen one below the tag.
		short := bytes.Clone(empty[:len(empty)-1])
		short[1]--
		if _, err := openAll(t, s, nil, short, 1000); !errors.Is(err, ErrMessageSize) {
			t.Fatalf("msglen below the tag: %v", err)
		}
		if s.Overhead() != HeaderSize+s.key.TagSize() || len(empty) != s.Overhead() {
			t.Fatalf("Overhead %d, empty record %d bytes", s.Overhead(), len(empty))
		}
	}
}

// TestMaxBatchADBoundary: a prefix whose AD is exactly MaxBatchAD bytes is
// batched and one byte more is opened alone; both give Open's results.
// Defer takes the first and refuses the second without taking a number.
func TestMaxBatchADBoundary(t *testing.T) {
	s, op, drops := batchPair(t, true)
	fits := bytes.Repeat([]byte{7}, MaxBatchAD-HeaderSize)
	over := bytes.Repeat([]byte{7}, MaxBatchAD-HeaderSize+1)
	var d Deferred
	buf, _, err := s.Defer(&d, nil, fits, FlagEncryptedMessage, []byte("fits"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	s.SealDeferred([][]byte{buf}, []*Deferred{&d})
	before := s.counter.Load()
	if _, _, err := s.Defer(&d, nil, over, FlagEncryptedMessage, []byte("over"), 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Defer with an AD above MaxBatchAD: %v", err)
	}
	if s.counter.Load() != before {
		t.Fatal("a refused Defer took a sequence number")
	}
	rec2, _, _ := s.Seal(nil, over, FlagEncryptedMessage, []byte("over"), 1000)
	items := []OpenItem{
		{Prefix: over, Pkt: buf}, {Prefix: fits, Pkt: rec2}, // wrong prefixes
		{Prefix: fits, Pkt: buf}, {Prefix: over, Pkt: rec2},
		{Prefix: fits, Pkt: buf}, {Prefix: over, Pkt: rec2}, // replays
	}
	op[1].OpenBatch(items, 1000)
	for i, it := range items {
		h, out, err := op[0].Open(nil, it.Prefix, it.Pkt, 1000)
		if (err == nil) != (it.Err == nil) || h != it.Header || !bytes.Equal(out, it.Out) {
			t.Fatalf("item %d: Open %v, OpenBatch %v", i, err, it.Err)
		}
		if want := i == 2 || i == 3; (err == nil) != want {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	if a, b := drops[0].Snapshot(), drops[1].Snapshot(); a != b || a.Auth != 2 || a.Duplicate != 2 || a.Total() != 4 {
		t.Fatalf("drops: Open %+v, OpenBatch %+v", a, b)
	}
}

// TestOpenersAgreeOnBadInput: Open, OpenBatch and Reopen agree on every
// kind of malformed, truncated, oversized, tampered and stale input, count
// each failure at most once, and never move the window for it.
func TestOpenersAgreeOnBadInput(t *testing.T) {
	s, _, _ := datagramPair(t, false, ServerToClient, 3)
	env := []byte{1, 4, 0, 0, 0, 0, 0, 0, 0, 7}
	rec, _, _ := s.Seal(nil, env, FlagEncryptedMessage, []byte("payload"), 1000)
	cases := map[string]struct {
		pkt  []byte
		now  uint64
		want error
	}{
		"empty":        {nil, 1000, ErrShortPacket},
		"header only":  {rec[:HeaderSize], 1000, ErrShortPacket},
		"short header": {rec[:HeaderSize-1], 1000, ErrShortPacket},
		"truncated":    {rec[:len(rec)-1], 1000, ErrShortPacket},
		"extended":     {append(bytes.Clone(rec), 0), 1000, ErrLongPacket},
		"huge msglen":  {Header{MsgLen: math.MaxUint32}.Append(nil), 1000, ErrShortPacket},
		"stale":        {rec, 1061, ErrTime},
		"early":        {rec, 939, ErrTime},
		"clock zero":   {rec, 0, ErrTime},
		"last second":  {rec, 1060, nil},
		"first second": {rec, 940, nil},
	}
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x80
		var want error = ErrAuth // flag, sequence, body, tag
		switch {
		case i >= 1 && i < 5:
			want = ErrShortPacket // msglen grows past the bytes that follow
		case i >= 13 && i < HeaderSize:
			want = ErrTime
		}
		cases[fmt.Sprintf("flip byte %d", i)] = struct {
			pkt  []byte
			now  uint64
			want error
		}{bad, 1000, want}
	}
	for name, c := range cases {
		_, err := openAll(t, s, env, c.pkt, c.now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestOpenReplayAndStaleCountOnce: a replay, a too-old record and a
// stale-and-replayed record are each counted once, under the reason of the
// first check that fails (window before time), by Open and OpenBatch alike.
func TestOpenReplayAndStaleCountOnce(t *testing.T) {
	s, op, drops := batchPair(t, false)
	var recs [][]byte
	for range 3 {
		r, _, _ := s.Seal(nil, nil, FlagEncryptedMessage, []byte("r"), 1000)
		recs = append(recs, r)
	}
	s.counter.Store(window.DefaultSize) // far is 8193: 1 is too old, 2 and 3 are inside
	far, _, _ := s.Seal(nil, nil, FlagEncryptedMessage, []byte("far"), 1000)
	for i, o := range op {
		for _, r := range [][]byte{recs[0], recs[1], far} {
			if _, _, err := o.Open(nil, nil, r, 1000); err != nil {
				t.Fatal(err)
			}
		}
		// recs[1] replayed at a stale time: a duplicate (window first),
		// recs[0] is now too old, recs[2] is fresh but stale.
		items := []OpenItem{{Pkt: recs[1]}, {Pkt: recs[0]}, {Pkt: recs[2]}}
		if i == 0 {
			for j := range items {
				items[j].Header, items[j].Out, items[j].Err = o.Open(nil, nil, items[j].Pkt, 2000)
			}
		} else {
			o.OpenBatch(items, 2000)
		}
		for j, want := range []error{window.ErrDuplicate, window.ErrTooOld, ErrTime} {
			if !errors.Is(items[j].Err, want) {
				t.Fatalf("opener %d item %d: %v, want %v", i, j, items[j].Err, want)
			}
		}
		want := window.DropCounts{TooOld: 1, Duplicate: 1, Time: 1}
		if d := drops[i].Snapshot(); d != want {
			t.Fatalf("opener %d: drops %+v, want %+v", i, d, want)
		}
		// The stale record was never set: it opens at the right time.
		if _, _, err := o.Open(nil, nil, recs[2], 1000); err != nil {
			t.Fatalf("opener %d: stale record later: %v", i, err)
		}
	}
}

// TestSealerExhaustion: the last sequence number, 2^64-1, is used once;
// after it Seal and Defer fail with ErrTooLarge and keep failing, even when
// many goroutines race past the end: no number is ever handed out twice
// (the counter must not be seen wrapped to 0 by anyone).
func TestSealerExhaustion(t *testing.T) {
	s, o, _ := datagramPair(t, false, ClientToServer, 0)
	s.counter.Store(math.MaxUint64 - 1)
	rec, seq, err := s.Seal(nil, nil, FlagEncryptedMessage, []byte("last"), 1000)
	if err != nil || seq != math.MaxUint64 {
		t.Fatalf("last number: %d, %v", seq, err)
	}
	if _, pt, err := o.Open(nil, nil, rec, 1000); err != nil || string(pt) != "last" {
		t.Fatalf("last record: %v", err)
	}
	for range 3 {
		if _, _, err := s.Seal(nil, nil, FlagEncryptedMessage, []byte("more"), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("seal after the last number: %v", err)
		}
		if _, _, err := s.Defer(new(Deferred), nil, nil, FlagEncryptedMessage, []byte("more"), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("defer after the last number: %v", err)
		}
	}
	const rounds, goroutines, each = 40, 4, 40
	for range rounds {
		s.counter.Store(math.MaxUint64 - 1)
		var got sync.Map
		var ok atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					var seq uint64
					var err error
					if (g+i)%2 == 0 {
						_, seq, err = s.Seal(nil, nil, FlagEncryptedMessage, nil, 1000)
					} else {
						_, seq, err = s.Defer(new(Deferred), nil, nil, FlagEncryptedMessage, nil, 1000)
					}
					if err == nil {
						ok.Add(1)
						if _, dup := got.LoadOrStore(seq, true); dup {
							t.Errorf("sequence number %d handed out twice", seq)
						}
					} else if !errors.Is(err, ErrTooLarge) {
						t.Errorf("unexpected error %v", err)
					}
				}
			})
		}
		wg.Wait()
		if n := ok.Load(); n != 1 {
			t.Fatalf("%d seals succeeded from 2^64-2, want 1 (2^64-1)", n)
		}
		if _, found := got.Load(uint64(math.MaxUint64)); !found {
			t.Fatal("2^64-1 was not used")
		}
	}
}

// TestNilAndZeroValues: nil and zero-value Sealers, Openers and Streams, and
// ones whose keys were cleared, return ErrClosed instead of panicking, and a
// refused seal takes no sequence number.
func TestNilAndZeroValues(t *testing.T) {
	var nilS *Sealer
	s, _, drops := datagramPair(t, false, ClientToServer, 0)
	rec, _, _ := s.Seal(nil, nil, FlagEncryptedMessage, []byte("x"), 1000)
	var ctr atomic.Uint64
	noCounter := NewSealer(s.key, s.base, nil)
	for i, sl := range []*Sealer{nilS, {}, NewSealer(nil, s.base, &ctr), noCounter} {
		if _, _, err := sl.Seal(nil, nil, FlagEncryptedMessage, []byte("x"), 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("sealer %d: Seal: %v", i, err)
		}
		if _, _, err := sl.Defer(new(Deferred), nil, nil, FlagEncryptedMessage, []byte("x"), 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("sealer %d: Defer: %v", i, err)
		}
	}
	if ctr.Load() != 0 {
		t.Fatal("a sealer without a key took a sequence number")
	}
	win, _ := window.NewSync(64)
	var nilO *Opener
	for i, op := range []*Opener{nilO, {}, NewOpener(nil, s.base, win, nil, 60), NewOpener(s.key, s.base, nil, nil, 60)} {
		if _, _, err := op.Open(nil, nil, rec, 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("opener %d: Open: %v", i, err)
		}
		if _, _, err := op.Reopen(nil, nil, rec, 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("opener %d: Reopen: %v", i, err)
		}
		items := []OpenItem{{Dst: []byte("d"), Pkt: rec}, {Pkt: rec[:3]}}
		op.OpenBatch(items, 1000)
		for j, it := range items {
			if !errors.Is(it.Err, ErrClosed) || !bytes.Equal(it.Out, it.Dst) {
				t.Fatalf("opener %d item %d: %v, %q", i, j, it.Err, it.Out)
			}
		}
	}
	if !win.Empty() {
		t.Fatal("an opener without a key moved the window")
	}
	// Cleared keys: an error, and the sealer's number is not taken.
	key, base, _ := DatagramKeys(false, pattern(DatagramSecretSize, 1), ClientToServer, 0)
	cs := NewSealer(key, base, &ctr)
	co := NewOpener(key, base, win, drops, 60)
	crec, _, _ := cs.Seal(nil, nil, FlagEncryptedMessage, []byte("x"), 1000)
	key.Clear()
	if _, _, err := cs.Seal(nil, nil, FlagEncryptedMessage, []byte("x"), 1000); !errors.Is(err, ErrClosed) || ctr.Load() != 1 {
		t.Fatalf("Seal with a cleared key: %v, counter %d", err, ctr.Load())
	}
	if _, _, err := co.Open(nil, nil, crec, 1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open with a cleared key: %v", err)
	}
	if d := drops.Snapshot(); d.Total() != 0 {
		t.Fatalf("drops counted for a closed opener: %+v", d)
	}

	// Streams: nil, zero and cleared.
	var nilStream *Stream
	c, _ := streamPair(t, false)
	c.Clear()
	c.Clear() // twice is fine
	for i, st := range []*Stream{nilStream, {}, c} {
		if _, err := st.Seal([]byte("x"), 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream %d: Seal: %v", i, err)
		}
		if _, err := st.SealClose(CodeNone, 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream %d: SealClose: %v", i, err)
		}
		if _, err := st.SealRatchetRequest(make([]byte, 32), 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream %d: SealRatchetRequest: %v", i, err)
		}
		if _, _, err := st.Open(rec, 1000); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream %d: Open: %v", i, err)
		}
		if err := st.Rekey(make([]byte, 32)); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream %d: Rekey: %v", i, err)
		}
		st.Clear()
		if st.TagSize() != 0 && i < 2 || len(st.DatagramSecret()) != 0 && i < 2 {
			t.Fatalf("stream %d: accessors", i)
		}
		_ = st.TxSeq() + st.RxSeq()
		_ = st.RatchetState()
	}
	if nilStream.TxSeq() != 0 || nilStream.RxSeq() != 0 || nilStream.RatchetState().RTCS != nil {
		t.Fatal("nil stream accessors")
	}
}

// TestStreamSendOnlyRatchet: SealRatchetRequest on a stream that cannot
// re-key (it has no receive cipher) fails before it seals anything: the
// sequence number and the cipher state are untouched, so the next record
// still opens at the peer.
func TestStreamSendOnlyRatchet(t *testing.T) {
	c, s := streamPair(t, false)
	sendOnly := NewStream(c.tx, nil, StreamConfig{TxSeq: c.TxSeq(), Config: c.cfg, RTCS: c.rtcs, Threshold: 60})
	if _, err := sendOnly.SealRatchetRequest(make([]byte, 32), 1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("ratchet on a send-only stream: %v", err)
	}
	if sendOnly.TxSeq() != 2 {
		t.Fatalf("TxSeq %d after a refused ratchet, want 2", sendOnly.TxSeq())
	}
	p, err := sendOnly.Seal([]byte("after"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, pt, err := s.Open(p, 1000); err != nil || string(pt) != "after" {
		t.Fatalf("record after the refused ratchet: %v", err)
	}
	if _, err := c.SealRatchetRequest(make([]byte, 31), 1000); !errors.Is(err, ErrMessageSize) {
		t.Fatalf("short token: %v", err)
	}
}

// TestStreamSequenceExhaustion: the stream profile uses sequence 2^64-1
// once and then refuses to seal, rather than wrapping to 0; the receiver
// refuses a record after 2^64-1 too.
func TestStreamSequenceExhaustion(t *testing.T) {
	c, s := streamPair(t, true)
	c.txSeq, s.rxSeq = math.MaxUint64-1, math.MaxUint64-1
	p, err := c.Seal([]byte("last"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if h, _, err := s.Open(p, 1000); err != nil || h.Sequence != math.MaxUint64 {
		t.Fatalf("last record: %+v %v", h, err)
	}
	if _, err := c.Seal([]byte("wrapped"), 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("seal after 2^64-1: %v", err)
	}
	if c.TxSeq() != math.MaxUint64 {
		t.Fatalf("TxSeq %d", c.TxSeq())
	}
	// A peer that wraps (the C code would) sends sequence 0.
	c.txSeq = math.MaxUint64
	h := Header{Flag: FlagEncryptedMessage, MsgLen: uint32(5 + c.tagSize), Sequence: 0, UTCTime: 1000}
	out := h.Append(nil)
	out = c.tx.Seal(out, out[:HeaderSize], []byte("wrap!"))
	if _, _, err := s.Open(out, 1000); !errors.Is(err, ErrSequence) || !errors.Is(err, CodePacketUnsequenced) {
		t.Fatalf("wrapped record: %v", err)
	}
}

// TestStreamOpenSizeLimits: Open refuses a record above the limit its
// sender enforces (MessageMax, or AsymmetricRatchetMax plus the tag for
// asymmetric-ratchet records) before the cryptography, even when it is
// authentic, and leaves the state as it was; records at the limit open.
func TestStreamOpenSizeLimits(t *testing.T) {
	for _, wide := range []bool{false, true} {
		c, s := streamPair(t, wide)
		max := StreamMaxPlaintext(c.TagSize())
		p, err := c.Seal(pattern(max, 1), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, pt, err := s.Open(p, 1000); err != nil || len(pt) != max {
			t.Fatalf("largest record: %v", err)
		}
		// An authentic data record one byte above the limit, made by a
		// peer that does not check it.
		h := Header{Flag: FlagEncryptedMessage, MsgLen: uint32(max + 1 + c.tagSize), Sequence: c.txSeq + 1, UTCTime: 1000}
		big := h.Append(nil)
		tx := c.tx.Clone()
		big = tx.Seal(big, big[:HeaderSize], pattern(max+1, 2))
		if _, _, err := s.Open(big, 1000); !errors.Is(err, ErrMessageSize) || !errors.Is(err, CodeReceiveFailure) {
			t.Fatalf("record above MessageMax: %v", err)
		}
		// Asymmetric-ratchet records may be larger, up to their own limit.
		ar, err := c.SealFlag(FlagAsymmetricRatchetRequest, pattern(max+1, 3), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, pt, err := s.Open(ar, 1000); err != nil || len(pt) != max+1 {
			t.Fatalf("large ratchet record: %v", err)
		}
		if _, err := c.SealFlag(FlagAsymmetricRatchetResponse, make([]byte, AsymmetricRatchetMax+1), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ratchet record above its limit: %v", err)
		}
		h = Header{Flag: FlagAsymmetricRatchetResponse, MsgLen: uint32(AsymmetricRatchetMax + 1 + c.tagSize), Sequence: c.txSeq + 1}
		huge := h.Append(nil)
		tx = c.tx.Clone()
		huge = tx.Seal(huge, huge[:HeaderSize], make([]byte, AsymmetricRatchetMax+1))
		if _, _, err := s.Open(huge, 1000); !errors.Is(err, ErrMessageSize) {
			t.Fatalf("ratchet record above its limit: %v", err)
		}
		// The state did not move: the next genuine record opens.
		p, _ = c.Seal([]byte("next"), 1000)
		if _, pt, err := s.Open(p, 1000); err != nil || string(pt) != "next" {
			t.Fatalf("after the refused records: %v", err)
		}
		// Error packets must carry exactly one byte.
		e, _ := c.SealFlag(FlagErrorCondition, []byte{1, 2}, 1000)
		if _, _, err := s.Open(e, 1000); !errors.Is(err, ErrMessageSize) {
			t.Fatalf("two-byte error packet: %v", err)
		}
	}
}

// TestHeaderTimeBoundaries: record.TimeValid and window.CheckTime agree at
// every boundary (threshold, local 0, future and past times, the top of the
// uint64 range) and the outcome is what digest 1.4 says.
func TestHeaderTimeBoundaries(t *testing.T) {
	const m = math.MaxUint64
	cases := []struct {
		local, utc, th uint64
		ok             bool
	}{
		{60, 60, 60, true}, {1, 60, 60, true}, {120, 60, 60, true}, {121, 60, 60, false},
		{59, 59, 60, false}, {1, 59, 60, false},
		{m, m - 60, 60, true}, {m - 120, m - 60, 60, true}, {m - 121, m - 60, 60, false},
		{m, m - 59, 60, false}, {m, m, 60, false},
		{1, 1, 1, true}, {2, 1, 1, true}, {3, 1, 1, false}, {m, m - 1, 1, true}, {m, m, 1, false},
		{0, 0, 0, true}, {0, m, 0, true}, {m, 0, 0, true},
		{m, m, m, false}, {1, m, m, false}, {m / 2, m / 2, m / 2, true}, {m, m / 2, m / 2, false},
		{1000, 1000 + 60, 60, true}, {1000, 1000 + 61, 60, false}, // a future time
		{0, 1000, 60, false},
	}
	for _, c := range cases {
		got := TimeValid(c.local, c.utc, c.th)
		if got != c.ok {
			t.Errorf("TimeValid(%d, %d, %d) = %v, want %v", c.local, c.utc, c.th, got, c.ok)
		}
		if werr := window.CheckTime(c.local, c.utc, c.th); (werr == nil) != got {
			t.Errorf("window.CheckTime(%d, %d, %d) = %v, record says %v", c.local, c.utc, c.th, werr, got)
		}
		e := Expect{Now: c.local, Threshold: c.th}
		if err := e.Validate(Header{UTCTime: c.utc}); errors.Is(err, ErrTime) == got {
			t.Errorf("Validate at (%d, %d, %d): %v", c.local, c.utc, c.th, err)
		}
	}
	if UnixTime(time.Unix(-1, 0)) != 0 || UnixTime(time.Unix(0, 0)) != 0 || UnixTime(time.Unix(1, 999)) != 1 {
		t.Error("UnixTime before or at the epoch")
	}
}

// TestNamesAndAccessors covers the small helpers whose results callers log
// or branch on.
func TestNamesAndAccessors(t *testing.T) {
	if CodeSystemMessage.String() != "system_message" || Code(0x1B).String() != "code(0x1b)" {
		t.Error("code names")
	}
	var err error = CodeKeyExpired
	var code Code
	if !errors.As(err, &code) || code != CodeKeyExpired || err.Error() != "qsmp: key_expired" {
		t.Errorf("Code as error: %v", err)
	}
	if k := DeriveQSMS(pattern(32, 0), pattern(32, 1)); k.Wide() || len(k.DatagramSecret) != DatagramSecretSize {
		t.Error("QSMS keys")
	}
	if k := DeriveQSMD(pattern(32, 0), pattern(32, 1), pattern(64, 2)); !k.Wide() {
		t.Error("QSMD keys")
	}
	c, s := streamPair(t, false)
	p, _ := c.Seal([]byte("a"), 1000)
	if _, _, err := s.Open(p, 1000); err != nil || c.TxSeq() != 3 || s.RxSeq() != 3 {
		t.Fatalf("counters %d %d, %v", c.TxSeq(), s.RxSeq(), err)
	}
	if _, err := ParsePlainError(PlainError(CodeNone, 1)[:21]); !errors.Is(err, ErrShortPacket) {
		t.Errorf("short plain error: %v", err)
	}
	rs := s.RatchetState()
	s.Clear()
	if len(s.rtcs) != 32 || !bytes.Equal(s.rtcs, make([]byte, 32)) || len(rs.RTCS) != 32 || bytes.Equal(rs.RTCS, make([]byte, 32)) {
		t.Error("Clear must zero the stream's seed and leave copies alone")
	}
}

// TestConcurrentOpenersAcceptOnce: goroutines released together to open
// the same record, with Open and OpenBatch over one window, accept it
// exactly once; every other copy is counted once as a duplicate (by the
// pre-check, or by the final check-and-set when it lost the race after
// decrypting), and a rejected copy leaves no plaintext in its buffer.
func TestConcurrentOpenersAcceptOnce(t *testing.T) {
	s, _, _ := datagramPair(t, false, ClientToServer, 0)
	win, _ := window.NewSync(window.DefaultSize)
	drops := new(window.Drops)
	o := NewOpener(s.key, s.base, win, drops, DefaultTimeThreshold)
	const records, goroutines, size = 16, 4, 16000
	pt := pattern(size, 9)
	for i := range records {
		rec, _, _ := s.Seal(nil, nil, FlagEncryptedMessage, pt, 1000)
		start := make(chan struct{})
		var bufs [goroutines][]byte
		var ok [goroutines]bool
		var wg sync.WaitGroup
		for g := range goroutines {
			bufs[g] = make([]byte, 0, size+64)
			wg.Go(func() {
				<-start
				if g%2 == 0 {
					_, _, err := o.Open(bufs[g], nil, rec, 1000)
					ok[g] = err == nil
				} else {
					items := []OpenItem{{Dst: bufs[g], Pkt: rec}}
					o.OpenBatch(items, 1000)
					ok[g] = items[0].Err == nil
				}
			})
		}
		close(start)
		wg.Wait()
		n := 0
		for g := range goroutines {
			full := bufs[g][:cap(bufs[g])]
			if ok[g] {
				n++
				if !bytes.Equal(full[:size], pt) {
					t.Fatalf("record %d: the winner's buffer lacks the plaintext", i)
				}
			} else if bytes.Count(full, []byte{0}) != len(full) {
				t.Fatalf("record %d: goroutine %d's rejected copy left plaintext behind", i, g)
			}
		}
		if n != 1 {
			t.Fatalf("record %d accepted %d times", i, n)
		}
	}
	want := window.DropCounts{Duplicate: records * (goroutines - 1)}
	if d := drops.Snapshot(); d != want {
		t.Fatalf("drops %+v, want %+v", d, want)
	}
}

// TestClearAfterRekey: Clear also drops the receive cipher kept from before
// a re-key, and the state refuses everything afterwards.
func TestClearAfterRekey(t *testing.T) {
	c, s := streamPair(t, true)
	req, err := c.SealRatchetRequest(pattern(32, 1), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rekey(pattern(32, 1)); err != nil { // before the request arrives
		t.Fatal(err)
	}
	if s.prevRx == nil {
		t.Fatal("no previous receive cipher kept")
	}
	s.Clear()
	if s.prevRx != nil || s.tx != nil || s.rx != nil {
		t.Fatal("Clear left a cipher")
	}
	if _, _, err := s.Open(req, 1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after Clear: %v", err)
	}
}
