package record

import (
	"fmt"
	"sync"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/window"
)

// OpenItem is one record of an OpenBatch: the arguments of Open and its
// results.
type OpenItem struct {
	// Dst, Prefix and Pkt are Open's dst, prefix and pkt. The AD of a
	// batched record (prefix ‖ header) must fit MaxBatchAD bytes; a longer
	// one is opened alone.
	Dst, Prefix, Pkt []byte
	// Header, Out and Err are what Open returns.
	Header Header
	Out    []byte
	Err    error
}

// MaxBatchAD bounds the associated data (carrier prefix and header) of a
// record that OpenBatch verifies together with others.
const MaxBatchAD = 64

// batchScratch is OpenBatch's working space, pooled: the cipher's batch
// keeps pointers to the AD buffers, which would move them to the heap on
// every call.
type batchScratch struct {
	ops   [batchWidth]rcs.OnceOp
	which [batchWidth]int // ops[j] opens items[which[j]]
	ads   [batchWidth][MaxBatchAD]byte
}

var batchScratchPool = sync.Pool{New: func() any { return new(batchScratch) }}

// batchWidth is how many records OpenBatch verifies at once (the eight
// Keccak lanes stay busy across them).
const batchWidth = 16

// OpenBatch opens each item as Open(it.Dst, it.Prefix, it.Pkt, now) would,
// in order, and stores the results in the item: the same checks in the same
// order for every record (parse, window pre-check, time, tag, window
// check-and-set, the last in order), so exactly the records that Open would
// accept one by one are accepted, each once, with the same plaintexts. One
// difference: the pre-checks of a group see the window as it was before the
// group, so a copy of an earlier record of the same group that also fails
// its time or tag check is counted (Drops, Err) under that failure rather
// than as a duplicate. The tags of up to sixteen records are verified together, eight at
// a time. A record whose AD is longer than MaxBatchAD is opened alone by Open, in its
// place: the records before it are done first, those after it see what it did.
func (o *Opener) OpenBatch(items []OpenItem, now uint64) {
	if !o.usable() {
		for i := range items {
			it := &items[i]
			it.Header, it.Out, it.Err = Header{}, it.Dst, errNoKeys
		}
		return
	}
	for len(items) > 0 {
		if !batchable(&items[0]) {
			it := &items[0]
			it.Header, it.Out, it.Err = o.Open(it.Dst, it.Prefix, it.Pkt, now)
			items = items[1:]
			continue
		}
		n := 1
		for n < min(len(items), batchWidth) && batchable(&items[n]) {
			n++
		}
		o.openGroup(items[:n], now)
		items = items[n:]
	}
}

// batchable reports whether it's AD fits MaxBatchAD.
func batchable(it *OpenItem) bool { return len(it.Prefix)+HeaderSize <= MaxBatchAD }

// openGroup is OpenBatch for at most batchWidth batchable items.
func (o *Opener) openGroup(items []OpenItem, now uint64) {
	sc := batchScratchPool.Get().(*batchScratch)
	defer batchScratchPool.Put(sc)
	ops, which, ads := &sc.ops, &sc.which, &sc.ads
	var msgs [batchWidth][]byte // the parsed records' messages
	var parsed [batchWidth]bool // passed the parse and size checks
	n := 0
	for i := range items {
		it := &items[i]
		it.Out, it.Err = it.Dst, nil
		p, err := ParsePacket(it.Pkt)
		if err != nil {
			it.Header, it.Err = Header{}, err
			continue
		}
		h := p.Header
		it.Header = h
		if err := o.checkSize(h.MsgLen); err != nil {
			it.Err = err
			continue
		}
		msgs[i], parsed[i] = p.Message, true
		n++
	}
	if n == 0 {
		return
	}
	// The window pre-checks of the group, under one lock.
	o.win.Do(func(w *window.Window) {
		for i := range items {
			if !parsed[i] {
				continue
			}
			if err := w.Check(items[i].Header.Sequence); err != nil {
				if r, ok := window.ReasonOf(err); ok {
					o.drop(r)
				}
				items[i].Err, parsed[i] = err, false
			}
		}
	})
	k := 0
	for i := range items {
		if !parsed[i] {
			continue
		}
		it := &items[i]
		h := it.Header
		if err := CheckTime(now, h.UTCTime, o.threshold); err != nil {
			o.drop(window.ReasonTime)
			it.Err = err
			continue
		}
		op := &ops[k]
		op.Dst, op.In = it.Dst, msgs[i]
		op.Nonce = RecordNonce(&o.base, h.Sequence)
		op.AD = append(append(ads[k][:0], it.Prefix...), it.Pkt[:HeaderSize]...)
		which[k] = i
		k++
	}
	o.key.OpenOnceBatch(ops[:k])
	// The window check-and-sets, in order, under one lock.
	o.win.Do(func(w *window.Window) {
		for j := range k {
			op := &ops[j]
			it := &items[which[j]]
			if op.Err != nil {
				o.drop(window.ReasonAuth)
				it.Err = fmt.Errorf("%w: sequence %d", ErrAuth, it.Header.Sequence)
				continue
			}
			if err := w.CheckAndSet(it.Header.Sequence); err != nil {
				// A concurrent receiver, or an earlier copy in this
				// batch, accepted the same record first.
				if r, ok := window.ReasonOf(err); ok {
					o.drop(r)
				}
				clear(op.Out[len(it.Dst):])
				it.Err = err
				continue
			}
			it.Out = op.Out
		}
	})
	clear(ops[:k])
}
