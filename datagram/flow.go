package datagram

import (
	"encoding/binary"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// Flow credit (docs/DATAGRAM.md section 7.9). A receiver invites the
// peer's records up to a sequence number, a window ahead of the highest
// data record it has processed (opened and queued, or dropped because the
// queue was full); a writer at that limit waits for more. So a writer does
// not outrun the peer's receive path: without it, what the peer's socket
// cannot take is lost after being sealed and sent. It paces the receive
// path, not the reader of the Conn: records the application does not read
// in time are still dropped at the receive queue and counted.
//
// The window is a budget of the socket the session uses (what its kernel
// receive buffer holds, when known), shared by the sessions that sent data
// on it lately: each gets an equal part (at least
// minShare records), so that many writers together do not overrun one
// socket either.
//
// Until its first credit a writer may send initialCredit records from its
// first data record on; the peer sends its first credit once it has
// processed a quarter of those (or when the writer says it waits), so
// sessions that exchange a few records never see one. Credits are thus part of the protocol: a peer that
// never sends any (this carrier before credits) is written to at one
// record per retransmission timeout once the initial window is spent.
const (
	// flagCredit carries LE64 limit: the highest sequence number the
	// sender of the credit invites.
	flagCredit record.Flag = 0x19
	// flagBlocked carries LE64 limit: a writer waiting at the limit of the
	// last credit it holds (so that the peer sends its credit again if
	// that one was lost).
	flagBlocked record.Flag = 0x1A
	// creditSize is the plaintext of both.
	creditSize = 8
	// minCreditWindow is the smallest credit window, in records.
	minCreditWindow = 1024
	// initialCredit is the window of a writer that has no credit yet.
	initialCredit = 256
	// minShare is the smallest part of a socket's window one session gets.
	minShare = 64
	// skbOverhead is what the kernel charges a socket's receive buffer
	// for a datagram beyond its payload (its buffer head and alignment).
	skbOverhead = 768
	// activeSpan is the period over which a socket counts the sessions
	// that sent it data.
	activeSpan = 50 * time.Millisecond
)

// flowCtl is a Conn's flow-credit state, guarded by Conn.mu except limit.
type flowCtl struct {
	limit   atomic.Uint64 // the peer's credit (0: none yet)
	start   atomic.Uint64 // 1 + the sequence number before the first data record (0: none written)
	first   uint64        // the sequence number of the first data record processed
	rxHigh  uint64        // the highest sequence number of a data record processed
	adv     uint64        // the last limit advertised (0: none yet)
	blocked uint64        // the limit at which this side last said it waits
	span    uint64        // the socket's activeSpan in which this session last counted itself
	wake    chan struct{} // closed when a credit arrives; nil if nobody waits
}

// flowSpans counts, per socket, the sessions that sent data in the current
// and the previous activeSpan.
type flowSpans struct {
	cur    atomic.Uint64    // the current span's number
	active [2]atomic.Uint64 // sessions seen, by span parity
}

// share counts a session active in span and returns how many sessions
// share the socket: the larger count of this span and the previous one.
func (a *flowSpans) share(span uint64, counted bool) uint64 {
	for {
		cur := a.cur.Load()
		if span <= cur {
			break
		}
		if a.cur.CompareAndSwap(cur, span) {
			a.active[span&1].Store(0)
			if span > cur+1 {
				a.active[(span-1)&1].Store(0) // a quiet span between
			}
			break
		}
	}
	if !counted {
		a.active[span&1].Add(1)
	}
	return max(a.active[0].Load(), a.active[1].Load(), 1)
}

// socketWindow is a socket's credit budget: what its kernel receive buffer
// holds when known, else four receive queues, at least minCreditWindow
// records.
func (c *Conn) socketWindow() uint64 {
	if w := c.flowSock().window; w != 0 {
		return w
	}
	return uint64(max(4*c.cfg.ReceiveQueue, minCreditWindow))
}

// bufferWindow is the credit budget of a socket whose kernel receive
// buffer is rcvbuf bytes (0: unknown, no budget of its own): the
// datagrams of maxPayload bytes it holds, counting the kernel's overhead
// for each, at least 4 minShare.
func bufferWindow(rcvbuf, maxPayload int) uint64 {
	if rcvbuf <= 0 {
		return 0
	}
	return uint64(max(rcvbuf/(maxPayload+skbOverhead), 4*minShare))
}

// creditWindowLocked is how far ahead of the highest data record processed
// this session invites records: its part of its socket's window, scaled
// down by how full its receive queue is (a reader falling behind slows
// the writer rather than have its records opened and dropped), and at
// least minShare (so that the writer never stops for it).
func (c *Conn) creditWindowLocked(now mono) uint64 {
	f := &c.fc
	span := uint64(time.Duration(now) / activeSpan)
	n := c.flowSock().spans.share(span, f.span == span)
	f.span = span
	rq := uint64(c.cfg.ReceiveQueue)
	room := rq - min(uint64(c.queue.len()), rq)
	return max(c.socketWindow()/n*room/rq, minShare)
}

// flowSock returns the socket whose credit budget the session uses.
func (c *Conn) flowSock() *sock {
	if c.sk != nil {
		return c.sk
	}
	return c.ep.socks[0]
}

// creditLocked notes a data record processed (queued or dropped) and sends
// a credit once the limit it would advertise has moved a quarter window
// beyond the last one.
func (c *Conn) creditLocked(seq uint64, now mono) {
	f := &c.fc
	f.rxHigh = max(f.rxHigh, seq)
	if f.first == 0 {
		f.first = seq
	}
	switch {
	case f.adv == 0:
		// The writer's initial window runs from about the first record:
		// the first credit goes out a quarter of the way into it.
		if f.rxHigh >= addSat(f.first, initialCredit/4) {
			c.sendCreditLocked(addSat(f.rxHigh, c.creditWindowLocked(now)))
			return
		}
	case addSat(f.rxHigh, c.socketWindow()-c.socketWindow()/4) >= f.adv:
		// Due with the largest window: work out the session's own.
		w := c.creditWindowLocked(now)
		if lim := addSat(f.rxHigh, w); lim >= addSat(f.adv, w/4) {
			c.sendCreditLocked(lim)
		}
		return
	}
	// Not due whatever the window (the common case): only count the
	// session among the socket's active ones, once per span.
	if span := uint64(time.Duration(now) / activeSpan); f.span != span {
		c.flowSock().spans.share(span, false)
		f.span = span
	}
}

// sendCreditLocked advertises lim.
func (c *Conn) sendCreditLocked(lim uint64) {
	var b [creditSize]byte
	binary.LittleEndian.PutUint64(b[:], lim)
	if _, err := c.sendRecord(flagCredit, b[:], nil); err != nil {
		return
	}
	c.fc.adv = lim
	c.st.creditsOut.Add(1)
}

// onCreditLocked takes the peer's credit; limits only grow (credits may
// arrive out of order).
func (c *Conn) onCreditLocked(pt []byte) {
	if len(pt) != creditSize {
		c.st.ctlMalformed.Add(1)
		return
	}
	c.st.creditsIn.Add(1)
	if lim := binary.LittleEndian.Uint64(pt); lim > c.fc.limit.Load() {
		c.fc.limit.Store(lim)
		c.wakeWriterLocked()
	}
}

// wakeWriterLocked wakes a Write waiting for credit: a credit arrived, or
// the session ended (the Write then reports why).
func (c *Conn) wakeWriterLocked() {
	if f := &c.fc; f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

// onBlockedLocked takes a writer's word that it waits at limit: if this
// side advertised more since, that credit was lost, and goes again; if it
// advertised nothing yet, its first credit goes now.
func (c *Conn) onBlockedLocked(pt []byte) {
	if len(pt) != creditSize {
		c.st.ctlMalformed.Add(1)
		return
	}
	f := &c.fc
	held := binary.LittleEndian.Uint64(pt)
	if held < f.adv || (f.adv == 0 && f.rxHigh != 0) {
		c.sendCreditLocked(max(f.adv, addSat(f.rxHigh, c.creditWindowLocked(c.ep.now()))))
	}
}

// awaitCredit returns once the next record is within the peer's credit:
// at once while there is no limit or room under it. At the limit it tells
// the peer (once per limit), then waits for a credit, Close, the write
// deadline, or one retransmission timeout, after which the record goes
// anyway (a lost credit costs a delay, never a stall) and the peer is told
// again.
func (c *Conn) awaitCredit() error {
	f := &c.fc
	if c.txSeq.Load() < f.current(c.txSeq.Load()) {
		return nil
	}
	c.st.writesBlocked.Add(1)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if err := c.writableLocked(); err != nil {
			c.mu.Unlock()
			return err
		}
		lim := f.current(c.txSeq.Load())
		if c.txSeq.Load() < lim {
			c.mu.Unlock()
			return nil
		}
		if f.blocked != lim {
			c.sendBlockedLocked(lim)
		}
		if f.wake == nil {
			f.wake = make(chan struct{})
		}
		wake := f.wake
		if timer == nil {
			timer = time.NewTimer(c.rto())
		}
		c.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			c.st.creditTimeouts.Add(1)
			c.mu.Lock()
			c.sendBlockedLocked(f.current(c.txSeq.Load()))
			c.mu.Unlock()
			return nil
		case <-c.done:
			return net.ErrClosed
		case <-c.wdl.Wait():
			return os.ErrDeadlineExceeded
		}
	}
}

// current returns the writer's limit: the peer's credit, or the initial
// window from the first data record (seq is the last sequence number used).
func (f *flowCtl) current(seq uint64) uint64 {
	if lim := f.limit.Load(); lim != 0 {
		return lim
	}
	f.start.CompareAndSwap(0, seq+1)
	return addSat(f.start.Load()-1, initialCredit)
}

// sendBlockedLocked tells the peer this side waits at limit lim.
func (c *Conn) sendBlockedLocked(lim uint64) {
	var b [creditSize]byte
	binary.LittleEndian.PutUint64(b[:], lim)
	if _, err := c.sendRecord(flagBlocked, b[:], nil); err == nil {
		c.fc.blocked = lim
	}
}

// addSat adds without wrapping.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}
