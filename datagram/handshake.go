package datagram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/transfer"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// Handshake messages are numbered as the handshake's packets: the client
// sends the even ones (0 connect request, 2 exchange request, 4 establish
// request), the listener the odd ones.

// minTimer is the shortest timer the handshake arms, so that a deadline
// that is already due never makes it spin.
const minTimer = time.Millisecond

// maxCookieRTO caps the backoff of the cookie request: it is one small
// datagram, answered (if at all) with a smaller one, so retrying it every
// second costs little, while a longer backoff would let a lossy path
// spend the whole handshake deadline waiting.
const maxCookieRTO = time.Second

// minPoke is the shortest wait before a client pokes a listener that acked
// its whole message without answering yet.
const minPoke = time.Second

// maxHandshakeRTO caps the backed-off retransmission timeout of handshake
// messages, so that a few timeouts at heavy loss cannot outlast the
// handshake deadline.
const maxHandshakeRTO = 2 * time.Second

// maxFinalResend bounds how many fragments of the final flight are resent at
// once when the peer's previous flight arrives again.
const maxFinalResend = 4

// hsState is a session's handshake in progress. It exists from the first
// datagram to the end of the handshake (client) or to the first
// authenticated record or the final flight's ack (listener), and is then
// released, so that an established session holds no handshake memory.
type hsState struct {
	m        handshake.Machine
	rtt      transfer.RTT
	jitter   *rand.Rand
	timer    *time.Timer
	deadline time.Time
	budget   *transfer.Budget

	// The message being sent: its index, bytes and sender.
	outIdx int
	out    []byte
	sender *transfer.Sender
	// final is set on the listener once the machine is done: out is the
	// final flight, cached until acked or until the first record.
	final      bool
	lastResend time.Time
	// Client: when to poke a listener that acked our whole message but
	// has not answered (see pokeLocked).
	pokeAt    time.Time
	pokeDelay time.Duration

	// Client, message 0: the cookie (nil until the reply), the QSMD
	// initiator's key id, and the cookie request's retry timer.
	cookie      []byte
	keyID       *[wire.KeyIDSize]byte
	cookieAt    time.Time // next cookie request
	cookieRTO   time.Duration
	cookieSent  time.Time // first cookie request, for an RTT sample
	cookieTries int

	// The message expected next: index (-1 none), exact length, and its
	// reassembly; busy while the machine works on a completed message.
	inIdx int
	inLen uint32
	re    *transfer.Reassembler
	busy  bool

	// Client: completed messages go to the dialing goroutine, which gets
	// the outcome on result.
	inbox  chan []byte
	result chan error

	ackBuf []wire.Range
}

func newHS(m handshake.Machine, deadline time.Time, seed uint64, budget *transfer.Budget) *hsState {
	hs := &hsState{
		m: m, deadline: deadline, budget: budget,
		jitter: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		outIdx: -1, inIdx: -1,
	}
	// At heavy loss no RTT sample survives Karn's rule and the backed-off
	// timeout would outgrow the handshake deadline: cap the backoff.
	hs.rtt.SetMaxRTO(maxHandshakeRTO)
	return hs
}

// release stops the timer and frees the reassembly buffer.
func (hs *hsState) release() {
	if hs.timer != nil {
		hs.timer.Stop()
	}
	if hs.re != nil {
		hs.re.Release()
		hs.re = nil
	}
	hs.sender, hs.out = nil, nil
}

// abandonLocked aborts the machine of a handshake given up (its secrets
// zeroed) unless a goroutine is working on it: that one aborts it when it
// finds the handshake gone. The Conn's lock is held.
func (hs *hsState) abandonLocked() {
	if !hs.busy {
		hs.discard()
	}
}

// discard zeroes what the machine of a handshake given up holds: Abort
// for one that has not completed, and the session of one that completed
// while a goroutine ran its last step (Abort does nothing after Done, and
// establishLocked, which zeroes the session's stream state and datagram
// secret otherwise, never runs for it). For a session established
// normally the second part finds nothing left to zero.
func (hs *hsState) discard() {
	hs.m.Abort()
	hs.m.Session().Clear()
}

// expectLen returns the packet length the machine expects next.
func expectLen(m handshake.Machine) (uint32, bool) {
	_, size, ok := m.Expect()
	if !ok || size < 0 || int64(size)+record.HeaderSize > int64(^uint32(0)) {
		return 0, false
	}
	return uint32(size + record.HeaderSize), true
}

// clientHandshake drives the initiator: it runs the machine on the calling
// goroutine (its signing and key generation never run on the receive path)
// while the receive goroutine and the timer move fragments.
func (c *Conn) clientHandshake(ctx context.Context) error {
	c.mu.Lock()
	hs := c.hs
	c.mu.Unlock()
	pkt, err := hs.m.Start()
	if err != nil {
		return err
	}
	inLen, ok := expectLen(hs.m)
	if !ok {
		return fmt.Errorf("datagram: handshake machine expects nothing after its start")
	}
	c.mu.Lock()
	if c.hs != hs {
		c.mu.Unlock()
		return net.ErrClosed
	}
	now := time.Now()
	hs.out, hs.outIdx = pkt, 0
	hs.inIdx, hs.inLen = 1, inLen
	hs.cookieRTO = transfer.InitialRTO
	hs.cookieSent = now
	c.sendCookieRequestLocked(now)
	c.armLocked(now)
	c.mu.Unlock()
	defer c.dropUnhandled(hs)
	for {
		select {
		case msg := <-hs.inbox:
			out, err := hs.m.Handle(msg)
			clear(msg)
			c.mu.Lock()
			if c.hs == hs {
				c.afterHandleLocked(hs, out, err)
			} else {
				hs.discard() // given up while this goroutine held it
			}
			c.mu.Unlock()
		case err := <-hs.result:
			if err == nil {
				c.replayEarly()
			}
			return err
		case <-ctx.Done():
			c.mu.Lock()
			if c.hs == hs {
				c.cfg.Logger.Debug("datagram: handshake failed", c.hsAttrsLocked(ctx.Err())...)
			}
			c.mu.Unlock()
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
			}
			return err
		}
	}
}

// dropUnhandled clears a completed message the dialing goroutine leaves
// unhandled in the inbox when it returns (its context ended, or the
// handshake failed, while the message waited). The message made the
// handshake busy, so whoever gave the handshake up left its machine to this
// goroutine: it aborts the machine if the handshake is gone already, and
// otherwise leaves that to Close, which now finds it idle.
func (c *Conn) dropUnhandled(hs *hsState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case msg := <-hs.inbox:
		clear(msg)
		hs.busy = false
		if c.hs != hs {
			hs.m.Abort()
		}
	default:
	}
}

// sendCookieRequestLocked sends the first fragment of message 0 without a
// cookie and schedules the next try (initial RTO, doubling).
func (c *Conn) sendCookieRequestLocked(now time.Time) {
	hs := c.hs
	n := min(len(hs.out), c.cfg.MaxPayload-wire.FragmentOverhead(false, hs.keyID != nil))
	c.sendFragmentLocked(0, uint32(len(hs.out)), 0, hs.out[:n], nil, hs.keyID)
	hs.cookieTries++
	if hs.cookieTries > 1 {
		c.st.retransmits.Add(1)
	}
	hs.cookieAt = now.Add(hs.cookieRTO + time.Duration(hs.jitter.Int64N(int64(hs.cookieRTO/10)+1)))
	hs.cookieRTO = min(2*hs.cookieRTO, maxCookieRTO)
}

// onCookieLocked takes the listener's cookie reply and starts message 0.
func (c *Conn) onCookieLocked(cr wire.CookieReply, now time.Time) {
	hs := c.hs
	if hs == nil || c.server || hs.outIdx != 0 {
		c.ep.st.stale.Add(1)
		return
	}
	if hs.cookie != nil {
		// A second reply with a different cookie while nothing of the
		// connect request has been acked: the listener no longer takes
		// ours (it restarted, or its secret rotated twice). Start over
		// with the new one.
		if c.peerID != 0 || bytes.Equal(hs.cookie, cr.Cookie[:]) {
			c.ep.st.stale.Add(1)
			return
		}
	}
	hs.cookie = append([]byte(nil), cr.Cookie[:]...)
	if hs.cookieTries == 1 {
		hs.rtt.Update(now.Sub(hs.cookieSent))
	}
	c.startSendLocked(0, hs.out, now)
}

// sendFragmentLocked sends one fragment of message idx.
func (c *Conn) sendFragmentLocked(idx int, length, offset uint32, data, cookie []byte, keyID *[wire.KeyIDSize]byte) {
	recv := c.peerID
	if idx == 0 {
		// The connect request always goes to id 0: the listener finds
		// its session by address and client id, or makes a new one if
		// it dropped the old (see pokeLocked).
		recv = 0
	}
	f := wire.Fragment{
		Receiver: recv, Sender: c.localID, Message: uint8(idx),
		Length: length, Offset: offset, Cookie: cookie, InitiatorKeyID: keyID, Data: data,
	}
	bp := bufPool.Get().(*[]byte)
	b := f.Append((*bp)[:0])
	c.ep.write(b, c.remote())
	*bp = b
	bufPool.Put(bp)
}

// startSendLocked starts sending message idx.
func (c *Conn) startSendLocked(idx int, msg []byte, now time.Time) {
	hs := c.hs
	c.dropSenderLocked()
	var cookie bool
	var keyID bool
	if idx == 0 && !c.server {
		cookie, keyID = hs.cookie != nil, hs.keyID != nil
	}
	payload := c.cfg.MaxPayload - wire.FragmentOverhead(cookie, keyID)
	hs.out, hs.outIdx = msg, idx
	hs.sender = transfer.NewSender(msg, payload, &hs.rtt, hs.jitter)
	hs.pokeAt = time.Time{}
	c.pumpLocked(now)
}

// dropSenderLocked forgets the current sender (pumpLocked has counted its
// retransmissions).
func (c *Conn) dropSenderLocked() {
	hs := c.hs
	hs.sender = nil
}

// pumpLocked sends what the sender allows now and rearms the timer.
func (c *Conn) pumpLocked(now time.Time) {
	hs := c.hs
	if s := hs.sender; s != nil && !s.Done() {
		before := s.Stats().Retransmitted
		var cookie []byte
		var keyID *[wire.KeyIDSize]byte
		if hs.outIdx == 0 && !c.server {
			cookie, keyID = hs.cookie, hs.keyID
		}
		for _, f := range s.Poll(now) {
			c.sendFragmentLocked(hs.outIdx, uint32(len(hs.out)), f.Offset, f.Data, cookie, keyID)
		}
		c.st.retransmits.Add(uint64(s.Stats().Retransmitted - before))
	}
	c.armLocked(now)
}

// armLocked sets the handshake timer to the earliest of the deadline, the
// sender's next deadline and the next cookie request.
func (c *Conn) armLocked(now time.Time) {
	hs := c.hs
	next := hs.deadline
	if s := hs.sender; s != nil && !s.Done() {
		if d := s.NextDeadline(); !d.IsZero() && d.Before(next) {
			next = d
		}
	}
	if !c.server && hs.outIdx == 0 && hs.cookie == nil && hs.cookieAt.Before(next) {
		next = hs.cookieAt
	}
	if c.waitingLocked() && hs.pokeAt.Before(next) {
		next = hs.pokeAt
	}
	wait := max(next.Sub(now), minTimer)
	if hs.timer == nil {
		hs.timer = time.AfterFunc(wait, c.onTimer)
	} else {
		hs.timer.Reset(wait)
	}
}

// onTimer runs the handshake's timers: deadline, cookie retries and
// retransmissions.
func (c *Conn) onTimer() {
	c.ep.st.timed(c.runTimer)
}

func (c *Conn) runTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := c.hs
	if hs == nil {
		return
	}
	now := time.Now()
	if !now.Before(hs.deadline) {
		c.failHandshakeLocked(ErrHandshakeTimeout)
		return
	}
	if !c.server && hs.outIdx == 0 && hs.cookie == nil && !now.Before(hs.cookieAt) {
		c.sendCookieRequestLocked(now)
	}
	if c.waitingLocked() && !now.Before(hs.pokeAt) {
		c.pokeLocked(now)
	}
	c.pumpLocked(now)
}

// waitingLocked reports whether the client's message has been acked whole
// and the listener's answer is awaited (pokes apply).
func (c *Conn) waitingLocked() bool {
	hs := c.hs
	return !c.server && hs.sender != nil && hs.sender.Done() && !hs.pokeAt.IsZero() && len(hs.out) > 0
}

// failHandshakeLocked ends a handshake that cannot complete. A listener's
// session that was never established is removed; an established one only
// stops resending its final flight.
func (c *Conn) failHandshakeLocked(err error) {
	hs := c.hs
	if hs == nil {
		return
	}
	if c.est || hs.final {
		c.finishHandshakeLocked()
		return
	}
	c.cfg.Logger.Debug("datagram: handshake failed", c.hsAttrsLocked(err)...)
	c.hs = nil
	hs.release()
	hs.abandonLocked()
	if c.server {
		c.closed = true
		close(c.done)
		c.ep.st.failed.Add(1)
		c.ep.remove(c)
		return
	}
	select {
	case hs.result <- err:
	default:
	}
}

// hsAttrsLocked describes the handshake's state for a log line.
func (c *Conn) hsAttrsLocked(err error) []any {
	hs := c.hs
	a := []any{"local", c.localID, "peer", c.peerID, "server", c.server, "err", err,
		"sending", hs.outIdx, "expecting", hs.inIdx, "busy", hs.busy, "cookie", hs.cookie != nil,
		"rtt", hs.rtt.Smoothed(), "rto", hs.rtt.RTO()}
	if hs.sender != nil {
		a = append(a, "sent", hs.sender.Stats(), "acked_all", hs.sender.Done())
	}
	if hs.re != nil {
		a = append(a, "received", hs.re.Held(), "of", hs.re.Size())
	}
	return a
}

// finishHandshakeLocked releases the handshake state of an established
// session.
func (c *Conn) finishHandshakeLocked() {
	hs := c.hs
	if hs == nil {
		return
	}
	c.dropSenderLocked()
	c.st.rtt.Store(int64(hs.rtt.Smoothed()))
	hs.release()
	c.hs = nil
}

// onFragmentLocked takes a handshake fragment from the validated address.
func (c *Conn) onFragmentLocked(f wire.Fragment, now time.Time) {
	if c.closed {
		return
	}
	hs := c.hs
	if int(f.Message) == c.lastIn && f.Length == c.lastInLen && f.Sender == c.peerID {
		// A message completed already: drop it before the machine, ack it
		// whole, and resend the final flight if it is still unacked.
		c.ep.st.duplicates.Add(1)
		c.sendAckLocked(f.Message, []wire.Range{{Start: 0, End: f.Length}})
		if hs != nil && hs.final {
			c.resendFinalLocked(now)
		}
		return
	}
	if hs == nil || hs.busy || int(f.Message) != hs.inIdx {
		c.ep.st.stale.Add(1)
		return
	}
	if f.Length != hs.inLen {
		c.ep.st.malformed.Add(1)
		return
	}
	switch {
	case c.peerID == 0 && f.Sender != 0:
		c.peerID = f.Sender // the client learns the listener's id
	case f.Sender != c.peerID:
		c.ep.st.stale.Add(1)
		return
	}
	if hs.sender != nil && hs.outIdx < int(f.Message) {
		// The peer answers: it holds our whole message (implicit ack).
		c.dropSenderLocked()
		hs.out = nil
	}
	if hs.re == nil {
		re, err := transfer.NewReassembler(int(f.Length), hs.budget)
		if err != nil {
			c.ep.st.budget.Add(1)
			if c.server && hs.inIdx == 0 {
				// Nothing held yet: make no session (the client
				// retransmits).
				c.failHandshakeLocked(err)
			}
			return
		}
		hs.re = re
	}
	res, err := hs.re.Add(f.Offset, f.Data)
	if err != nil {
		c.ep.st.malformed.Add(1)
		return
	}
	if res == transfer.Conflict {
		c.st.conflicts.Add(1)
		c.ep.st.conflicts.Add(1)
	}
	hs.ackBuf = hs.re.AppendRanges(hs.ackBuf[:0], wire.MaxAckRanges)
	c.sendAckLocked(f.Message, hs.ackBuf)
	if !hs.re.Complete() {
		return
	}
	msg := append([]byte(nil), hs.re.Bytes()...)
	hs.re.Release()
	hs.re = nil
	c.prevInLen, c.lastIn, c.lastInLen = c.lastInLen, int(f.Message), f.Length
	c.dispatchLocked(msg, now)
}

// dispatchLocked hands a completed message to the machine: the dialing
// goroutine on a client, the worker pool on a listener.
func (c *Conn) dispatchLocked(msg []byte, now time.Time) {
	hs := c.hs
	if !c.server {
		hs.busy = true
		hs.inbox <- msg // never blocks: one message at a time
		return
	}
	if hs.inIdx == 0 {
		// Cheap checks before any key generation or signing.
		if chk, ok := hs.m.(interface{ CheckConnectRequest([]byte) error }); ok {
			if err := chk.CheckConnectRequest(msg); err != nil {
				c.rejectLocked(err)
				return
			}
		}
	}
	hs.busy = true
	if !c.ep.pool.submit(job{c: c, hs: hs, msg: msg, connect: hs.inIdx == 0}, c.cfg.MaxQueuedKeyGen) {
		c.ep.st.queueFull.Add(1)
		hs.busy = false // no worker has it
		c.failHandshakeLocked(errQueueFull)
	}
}

var errQueueFull = errors.New("datagram: key generation queue full")

// rejectLocked counts a message the machine rejected; the machine is
// unchanged. A listener goes on waiting for a genuine copy (a retransmitted
// or poked one can still be reassembled: the client pokes until its message
// is answered), except that a rejected connect request ends the half-open
// session at once: it holds nothing worth keeping. A client gives up at
// once: it acked the listener's message whole when it completed, so the
// listener will not send it again, and waiting would only stall the dial
// until its deadline.
func (c *Conn) rejectLocked(err error) {
	hs := c.hs
	c.st.rejected.Add(1)
	c.ep.st.rejected.Add(1)
	c.cfg.Logger.Debug("datagram: handshake message rejected", "local", c.localID, "message", hs.inIdx, "err", err)
	hs.busy = false
	c.lastIn, c.lastInLen = hs.inIdx-2, c.prevInLen
	if c.lastIn < 0 {
		c.lastIn, c.lastInLen = -1, 0
	}
	if !c.server || hs.inIdx == 0 {
		c.failHandshakeLocked(fmt.Errorf("datagram: handshake message %d rejected: %w", hs.inIdx, err))
	}
}

// runJob computes a listener's handshake step on a worker.
func (c *Conn) runJob(j job) {
	hs := j.hs
	c.mu.Lock()
	gone := c.hs != hs
	c.mu.Unlock()
	if !time.Now().Before(hs.deadline) {
		// Its deadline passed while queued: drop it unprocessed.
		c.ep.st.expired.Add(1)
		c.mu.Lock()
		if c.hs == hs {
			c.failHandshakeLocked(ErrHandshakeTimeout)
		}
		hs.discard() // this worker holds it, and it is given up
		c.mu.Unlock()
		return
	}
	if gone {
		hs.discard() // given up while queued for this worker, which holds it
		return
	}
	if j.connect {
		c.ep.st.connectRequests.Add(1)
	}
	out, err := hs.m.Handle(j.msg)
	clear(j.msg)
	c.mu.Lock()
	accept := false
	if c.hs == hs {
		accept = c.afterHandleLocked(hs, out, err)
	} else {
		hs.discard() // given up while this worker held it
	}
	c.mu.Unlock()
	if accept {
		c.ep.enqueueAccept(c)
	}
}

// afterHandleLocked applies the machine's answer to message hs.inIdx. It
// reports whether a listener's session became established.
func (c *Conn) afterHandleLocked(hs *hsState, out []byte, err error) bool {
	if err != nil {
		c.rejectLocked(err)
		return false
	}
	hs.busy = false
	now := time.Now()
	k := hs.inIdx
	if !hs.m.Done() {
		inLen, ok := expectLen(hs.m)
		if out == nil || !ok {
			c.failHandshakeLocked(fmt.Errorf("datagram: handshake machine stalled after message %d", k))
			return false
		}
		hs.inIdx, hs.inLen = k+2, inLen
		c.startSendLocked(k+1, out, now)
		return false
	}
	if err := c.establishLocked(); err != nil {
		c.failHandshakeLocked(err)
		return false
	}
	hs.inIdx = -1
	if !c.server {
		c.finishHandshakeLocked()
		select {
		case hs.result <- nil:
		default:
		}
		return false
	}
	c.ep.established(c)
	if out != nil {
		hs.final = true
		c.startSendLocked(k+1, out, now)
	} else {
		c.finishHandshakeLocked()
	}
	return true
}

// establishLocked derives the datagram-profile keys of epoch 0 and keeps
// the ratchet state for later epochs.
func (c *Conn) establishLocked() error {
	sess := c.hs.m.Session()
	if sess == nil {
		return fmt.Errorf("datagram: handshake done without a session")
	}
	if sess.Stream == nil {
		return fmt.Errorf("datagram: handshake done without a ratchet state")
	}
	rs := sess.Stream.RatchetState()
	// The stream-profile ciphers and the handshake's copy of the datagram
	// secret are not needed any more: zero them. The ratchet state (seed
	// and datagram secret of the current epoch) is all that later epochs
	// need.
	sess.Stream.Clear()
	clear(sess.DatagramSecret)
	win, err := window.NewSync(c.cfg.WindowSize)
	if err != nil {
		rs.Clear()
		return err
	}
	c.rxWin = win
	now := c.ep.now()
	tx, err := c.newTx(&rs, 0, now)
	if err != nil {
		rs.Clear()
		return err
	}
	rx, err := c.newRx(&rs, 0)
	if err != nil {
		tx.key.Clear()
		rs.Clear()
		return err
	}
	c.rk = ratchet{rs: rs}
	c.live.lastRecv, c.live.lastSend = now, now
	pub := *sess
	pub.Stream, pub.DatagramSecret = nil, nil
	c.session = &pub
	c.est = true
	c.keyMu.Lock()
	c.keys = &keySet{peer: c.peerID, tx: tx, rx: [2]*rxKeys{rx, nil}}
	c.keyMu.Unlock()
	c.scheduleLocked()
	c.cfg.Logger.Debug("datagram: session established", "local", c.localID, "peer", c.peerID, "server", c.server)
	return nil
}

// resendFinalLocked resends the cached final flight (at most once per
// round trip) when the peer's previous flight arrives again.
func (c *Conn) resendFinalLocked(now time.Time) {
	hs := c.hs
	if hs.sender == nil || hs.sender.Done() || len(hs.out) == 0 {
		return
	}
	gap := max(hs.rtt.Smoothed()/2, 10*time.Millisecond)
	if now.Sub(hs.lastResend) < gap {
		return
	}
	hs.lastResend = now
	before := hs.sender.Stats().Retransmitted
	for _, f := range hs.sender.Probe(now, maxFinalResend) {
		c.sendFragmentLocked(hs.outIdx, uint32(len(hs.out)), f.Offset, f.Data, nil, nil)
	}
	c.st.retransmits.Add(uint64(hs.sender.Stats().Retransmitted - before))
	c.armLocked(now)
}

// onAckLocked takes an ack from the validated address.
func (c *Conn) onAckLocked(a wire.Ack, now time.Time) {
	hs := c.hs
	if hs == nil || hs.sender == nil || int(a.Message) != hs.outIdx {
		c.ep.st.stale.Add(1)
		return
	}
	switch {
	case a.Sender == 0:
		c.ep.st.stale.Add(1)
		return
	case !c.server && hs.outIdx == 0:
		// The client learns the listener's id from the acks of its
		// connect request (a new one if the listener lost its session).
		c.peerID = a.Sender
	case a.Sender != c.peerID:
		c.ep.st.stale.Add(1)
		return
	}
	if hs.sender.Done() && !hs.sender.Covers(a.Ranges) {
		// The whole message was acked before, and now only part of it
		// is: the listener lost the session (its key-generation queue
		// overflowed) and a poke made a new one. Send it again.
		c.cfg.Logger.Debug("datagram: peer lost the handshake, resending", "local", c.localID, "message", hs.outIdx)
		c.startSendLocked(hs.outIdx, hs.out, now)
	}
	wasDone := hs.sender.Done()
	hs.sender.OnAck(a.Ranges, now)
	if hs.final && hs.sender.Done() {
		c.finishHandshakeLocked()
		return
	}
	if !wasDone && hs.sender.Done() {
		hs.pokeDelay = max(2*hs.rtt.RTO(), minPoke)
		hs.pokeAt = now.Add(hs.pokeDelay)
	}
	c.pumpLocked(now)
}

// pokeLocked resends the first fragment of a message the peer has acked
// whole but not answered for a while: the peer acks it again if it is
// still working on it, or, if it lost the session, its partial ack makes
// this side send the message again (see onAckLocked).
func (c *Conn) pokeLocked(now time.Time) {
	hs := c.hs
	var cookie []byte
	var keyID *[wire.KeyIDSize]byte
	if hs.outIdx == 0 && !c.server {
		cookie, keyID = hs.cookie, hs.keyID
	}
	n := min(len(hs.out), c.cfg.MaxPayload-wire.FragmentOverhead(cookie != nil, keyID != nil))
	c.sendFragmentLocked(hs.outIdx, uint32(len(hs.out)), 0, hs.out[:n], cookie, keyID)
	c.st.retransmits.Add(1)
	hs.pokeDelay = min(2*hs.pokeDelay, transfer.MaxRTO)
	hs.pokeAt = now.Add(hs.pokeDelay)
}

// sendAckLocked acks byte ranges of the peer's message idx.
func (c *Conn) sendAckLocked(idx uint8, ranges []wire.Range) {
	if len(ranges) == 0 {
		return
	}
	a := wire.Ack{Receiver: c.peerID, Sender: c.localID, Message: idx, Ranges: ranges}
	var buf [64 + 8*wire.MaxAckRanges]byte
	c.ep.write(a.Append(buf[:0]), c.remote())
}
