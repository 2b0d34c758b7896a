package quicx

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/record"
)

// sendQueueMax bounds the data records waiting to be sealed and handed to
// quic-go; a Write beyond it waits (for room, its deadline or Close).
const sendQueueMax = 64

// maxSealRun is how many queued records are sealed in one call.
const maxSealRun = 16

// sendQueue holds data records framed by Write (record.Sealer.Defer) but
// not sealed yet. A sender goroutine, started when the first record is
// queued and gone once the queue is empty, seals what it finds together
// (record.Sealer.SealDeferred, their tags computed eight at a time) and
// hands each record to quic-go's SendDatagram, which may block while
// quic-go's own queue is full.
type sendQueue struct {
	mu     sync.Mutex
	items  []sendItem
	spare  []sendItem
	busy   bool          // the sender goroutine runs
	wake   chan struct{} // closed when the queue shrinks or empties; nil if nobody waits
	closed bool
}

// sendItem is one queued data record.
type sendItem struct {
	bp  *[]byte // pooled buffer holding buf
	buf []byte  // prefix ‖ header ‖ plaintext ‖ room for the tag
	tx  *txEpoch
	d   record.Deferred
}

func (q *sendQueue) wakeLocked() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

func (q *sendQueue) waitLocked() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// frameData frames b into *it as a data record under the current transmit
// epoch without sealing it, enforcing the hard limits (ErrKeysExhausted) and
// reporting whether a rekey is due (the soft limits). The record counts
// as pending on its keys until sendLoop seals it (or the caller drops it
// with it.tx.sealed).
func (c *Conn) frameData(it *sendItem, dst, b []byte) (due bool, err error) {
	c.txMu.RLock()
	defer c.txMu.RUnlock()
	tx := c.tx
	if tx == nil {
		return false, net.ErrClosed
	}
	cfg := c.cfg
	var age time.Duration
	if cfg.RekeyAfterTime != noLimit || cfg.RejectAfterTime != noLimit {
		age = time.Since(tx.start)
	}
	if tx.records.Load() >= uint64(cfg.RejectAfterRecords) || tx.bytes.Load() >= uint64(cfg.RejectAfterBytes) || age >= cfg.RejectAfterTime {
		return !tx.asked.Swap(true), ErrKeysExhausted
	}
	dst = append(dst, prefixFor(prefixDatagram, tx.epoch))
	buf, _, err := tx.sealer.Defer(&it.d, dst, dst[:1], record.FlagEncryptedMessage, b, c.now())
	if err != nil {
		return false, err
	}
	tx.pending.Add(1)
	recs, bytes := tx.records.Add(1), tx.bytes.Add(uint64(len(b)))
	if !tx.asked.Load() && (recs >= uint64(cfg.RekeyAfterRecords) || bytes >= uint64(cfg.RekeyAfterBytes) || age >= cfg.RekeyAfterTime) {
		due = !tx.asked.Swap(true)
	}
	it.buf, it.tx = buf, tx
	return due, nil
}

// enqueue queues a framed record for the sender goroutine, waiting while
// the queue is full until there is room, the write deadline passes or the
// session ends.
func (c *Conn) enqueue(it *sendItem) error {
	q := &c.sq
	q.mu.Lock()
	for len(q.items) >= sendQueueMax && !q.closed {
		ch := q.waitLocked()
		q.mu.Unlock()
		select {
		case <-ch:
		case <-c.wdl.Wait():
			return os.ErrDeadlineExceeded
		case <-c.done:
			return net.ErrClosed
		case <-c.lost:
			if err := c.writable(); err != nil {
				return err
			}
			return net.ErrClosed
		}
		q.mu.Lock()
	}
	if q.closed {
		q.mu.Unlock()
		return net.ErrClosed
	}
	q.items = append(q.items, *it)
	if !q.busy {
		// Close sets closed under q.mu before it waits for c.wg.
		q.busy = true
		c.wg.Add(1)
		go c.sendLoop()
	}
	q.mu.Unlock()
	return nil
}

// sendLoop is the sender goroutine: it seals and sends what is queued,
// batch after batch, and exits once the queue is empty.
func (c *Conn) sendLoop() {
	defer c.wg.Done()
	q := &c.sq
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.busy = false
			q.wakeLocked()
			q.mu.Unlock()
			return
		}
		items := q.items
		q.items, q.spare = q.spare[:0], nil
		q.wakeLocked()
		q.mu.Unlock()

		sealItems(items)
		for i := range items {
			c.sendOne(items[i].buf)
			bufPool.Put(items[i].bp)
			items[i] = sendItem{}
		}
		q.mu.Lock()
		q.spare = items[:0]
		q.mu.Unlock()
	}
}

// sealItems seals queued records in place, consecutive ones under the
// same keys together, and releases them from their keys.
func sealItems(items []sendItem) {
	var bufs [maxSealRun][]byte
	var ds [maxSealRun]*record.Deferred
	for i := 0; i < len(items); {
		tx := items[i].tx
		n := 0
		for i+n < len(items) && n < maxSealRun && items[i+n].tx == tx {
			bufs[n], ds[n] = items[i+n].buf, &items[i+n].d
			n++
		}
		tx.sealer.SealDeferred(bufs[:n], ds[:n])
		tx.sealed(n)
		clear(bufs[:n])
		clear(ds[:n])
		i += n
	}
}

// sendOne hands a sealed record to quic-go. A record the path no longer
// takes (it shrank since Write checked) is dropped and the limit lowered,
// so that the next Write fails with the new one; other failures mean the
// connection is ending.
func (c *Conn) sendOne(buf []byte) {
	err := c.qc.SendDatagram(buf)
	if err == nil {
		return
	}
	var tl *quic.DatagramTooLargeError
	if errors.As(err, &tl) {
		c.st.tooLarge.Add(1)
		c.setLimit(tl.MaxDatagramPayloadSize)
		return
	}
	c.st.sendErrors.Add(1)
}

// drainSends waits until the queued records have been handed to quic-go,
// for at most d, then refuses further records.
func (c *Conn) drainSends(d time.Duration) {
	q := &c.sq
	t := time.NewTimer(d)
	defer t.Stop()
	q.mu.Lock()
	for q.busy {
		ch := q.waitLocked()
		q.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			q.mu.Lock()
			q.closed = true
			q.mu.Unlock()
			return
		}
		q.mu.Lock()
	}
	q.closed = true
	q.mu.Unlock()
}
