package quicx

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// Ratchet states.
const (
	rekeyIdle       = iota
	rekeySymInit    // our symmetric request is out, waiting for the ack
	rekeyAsymPrep   // our asymmetric request is being generated (no lock held)
	rekeyAsymInit   // our asymmetric request is out, waiting for the response
	rekeyResponding // we answered the peer's request, waiting for its switch
)

// ratchet is a session's epoch state, guarded by Conn.rkMu.
type ratchet struct {
	state int
	gen   uint64 // changes with every state change: stale work sees it
	epoch uint64 // the next epoch of the ratchet in progress
	asym  bool   // the ratchet in progress is asymmetric
	token []byte // our symmetric request's token
	pend  *handshake.AsymmetricRatchet
	// rs is the ratchet state (seed and datagram secret) of the newest
	// epoch derived: the transmit epoch, or the next one while responding.
	rs record.RatchetState
	// want is set when an automatic rekey is due but could not start yet.
	want     bool
	changed  chan struct{} // closed at the next notify
	asymDone uint64        // completed asymmetric ratchets
}

// clear zeroes the ratchet secrets.
func (r *ratchet) clear() {
	r.rs.Clear()
	clear(r.token)
	r.token = nil
	r.pend.Clear()
	r.pend = nil
	r.state = rekeyIdle
	r.gen++
}

// notifyLocked wakes whoever waits for a change of the ratchet.
func (c *Conn) notifyLocked() {
	if c.rk.changed != nil {
		close(c.rk.changed)
		c.rk.changed = nil
	}
}

// changedLocked returns a channel closed at the next notifyLocked.
func (c *Conn) changedLocked() <-chan struct{} {
	if c.rk.changed == nil {
		c.rk.changed = make(chan struct{})
	}
	return c.rk.changed
}

// waitChange waits for ch, the end of ctx, Close or the loss of the
// connection (after which the caller's writable check reports why).
func (c *Conn) waitChange(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return net.ErrClosed
	case <-c.lost:
		return nil
	}
}

// Rekey moves the session to fresh keys with QSMP's symmetric ratchet
// (digest 8.2) and returns once this side sends under an epoch newer than
// the one in use when it was called (which may also come from a ratchet the
// peer started). The exchange runs on the reliable stream:
//
//	initiator (tx e)                          responder (tx e)
//	REQUEST(e+1, token)  ------------------> derive e+1; receive e+1
//	                     <------------------ ACK(e+1)        (sealed under e)
//	derive e+1; receive and send e+1
//	SWITCHED(e+1)        ------------------> send e+1        (sealed under e+1)
//	                     <------------------ SWITCHED(e+1)   (sealed under e+1)
//
// Both sides derive the next epoch with record.RatchetState.Next(token)
// and bind its datagram secret to the QUIC connection (BindSecret), so each
// epoch has its own keys per direction. Every datagram names its epoch's
// parity; the previous epoch's receive keys stay for Config.RekeyGrace
// after the peer is seen on the new epoch (the responder's SWITCHED shows
// the initiator at once). A side starts a ratchet only once those keys are
// retired, so Rekey may wait that long first. If both sides send a request
// at once, the client's wins: the client ignores the server's request and
// the server abandons its own and answers the client's.
func (c *Conn) Rekey(ctx context.Context) error {
	start, err := c.txEpoch()
	if err != nil {
		return err
	}
	for {
		if err := c.writable(); err != nil {
			return err
		}
		if err := c.rkMu.LockContext(ctx); err != nil {
			return err
		}
		cur, err := c.txEpoch()
		if err != nil {
			c.rkMu.Unlock()
			return err
		}
		if cur > start {
			c.rkMu.Unlock()
			return nil
		}
		if _, err := c.startSymLocked(); err != nil {
			c.rkMu.Unlock()
			return err
		}
		ch := c.changedLocked()
		c.rkMu.Unlock()
		if err := c.waitChange(ctx, ch); err != nil {
			return err
		}
	}
}

// RatchetAsymmetric runs QSMD's asymmetric ratchet (digest 8.3) on the
// stream and returns once one has completed since the call (this one, or
// one the peer started):
//
//	initiator (tx e)                          responder (tx e)
//	fresh KEM key pair
//	0x10 (e+1, sig ‖ H(ek) ‖ ek)  ---------> verify, encapsulate, sign;
//	                                          derive e+1; receive e+1
//	                     <------------------ 0x11 (e+1, sig ‖ H(ct) ‖ ct) (under e)
//	verify, decapsulate; derive e+1; receive and send e+1
//	SWITCHED(e+1)        ------------------> send e+1
//	                     <------------------ SWITCHED(e+1)
//
// The payloads are those of handshake.Session.NewAsymmetricRequest,
// RespondAsymmetric and AsymmetricRatchet.Finish; the next epoch is
// record.RatchetState.Next(KEM secret), bound as for Rekey. Messages larger
// than one control record (a Classic McEliece key is 261 KB to 1.36 MB) are
// cut into fragments. Key generation runs on the calling goroutine. A
// request or response that fails verification ends the session (the stream
// is reliable and authenticated: only a broken or hostile peer sends one).
// Crossing requests resolve as for Rekey; a request still being generated
// gives way to any request of the peer. It fails with
// ErrNoAsymmetricRatchet on a QSMS session.
func (c *Conn) RatchetAsymmetric(ctx context.Context) error {
	if c.cfg.asymReq == 0 || c.sess == nil || !c.sess.Duplex {
		return ErrNoAsymmetricRatchet
	}
	if err := c.rkMu.LockContext(ctx); err != nil {
		return err
	}
	done := c.rk.asymDone
	c.rkMu.Unlock()
	for {
		if err := c.writable(); err != nil {
			return err
		}
		if err := c.rkMu.LockContext(ctx); err != nil {
			return err
		}
		if c.rk.asymDone > done {
			c.rkMu.Unlock()
			return nil
		}
		if c.rk.state == rekeyIdle && c.slotFree() {
			err := c.startAsymLocked() // releases rkMu
			if err != nil {
				return err
			}
			continue
		}
		ch := c.changedLocked()
		c.rkMu.Unlock()
		if err := c.waitChange(ctx, ch); err != nil {
			return err
		}
	}
}

// txEpoch returns the current transmit epoch.
func (c *Conn) txEpoch() (uint64, error) {
	c.txMu.RLock()
	defer c.txMu.RUnlock()
	if c.tx == nil {
		return 0, net.ErrClosed
	}
	return c.tx.epoch, nil
}

// slotFree reports whether a ratchet may start: the receive slot of the
// next epoch holds no keys (those of the previous epoch are retired).
func (c *Conn) slotFree() bool {
	c.keyMu.RLock()
	defer c.keyMu.RUnlock()
	if c.keysGone {
		return false
	}
	c.txMu.RLock()
	next := c.tx.epoch + 1
	c.txMu.RUnlock()
	return c.rx[next&1] == nil
}

// startSymLocked sends a symmetric rekey request for the next epoch if no
// ratchet is in progress and the receive slot is free; it reports whether
// it did.
func (c *Conn) startSymLocked() (bool, error) {
	if c.rk.state != rekeyIdle || !c.slotFree() {
		return false, nil
	}
	cur, err := c.txEpoch()
	if err != nil {
		return false, err
	}
	next := cur + 1
	token := make([]byte, tokenSize)
	if _, err := io.ReadFull(c.cfg.Rand, token); err != nil {
		clear(token) // what the source gave before it failed
		return false, fmt.Errorf("quicx: rekey token: %w", err)
	}
	msg := appendRekey(nil, rekeyRequest, next, token)
	defer clear(msg)
	if err := c.writeControl(record.FlagSymmetricRatchetRequest, msg); err != nil {
		clear(token)
		return false, err
	}
	c.st.ctlSent.Add(1)
	c.rk.state, c.rk.epoch, c.rk.token, c.rk.asym = rekeySymInit, next, token, false
	c.rk.gen++
	c.rk.want = false
	c.cfg.Logger.Debug("quicx: rekey requested", "epoch", next)
	return true, nil
}

// startAsymLocked generates an asymmetric request with rkMu released (key
// generation is slow) and sends it, unless a request of the peer came
// first. It returns with rkMu released.
func (c *Conn) startAsymLocked() error {
	c.rk.state = rekeyAsymPrep
	c.rk.gen++
	gen := c.rk.gen
	c.rkMu.Unlock()
	payload, pend, err := c.sess.NewAsymmetricRequest(c.cfg.Rand)
	c.rkMu.Lock()
	if c.rk.gen != gen || c.rk.state != rekeyAsymPrep {
		c.rkMu.Unlock()
		pend.Clear() // the peer's request came first, or the session ended
		return nil
	}
	cur, cerr := c.txEpoch()
	if err == nil {
		err = cerr
	}
	if err != nil {
		c.rk.state = rekeyIdle
		c.rk.gen++
		c.notifyLocked()
		c.rkMu.Unlock()
		pend.Clear()
		return err
	}
	next := cur + 1
	c.rk.state, c.rk.epoch, c.rk.pend, c.rk.asym = rekeyAsymInit, next, pend, true
	c.rk.gen++
	gen = c.rk.gen
	// The message is written without rkMu, so that the reader can act on
	// the peer's messages meanwhile; swmu keeps its fragments together.
	c.swmu.Lock()
	c.rkMu.Unlock()
	msg := ratchetBody(next, payload)
	err = c.writeMessageLocked(record.FlagAsymmetricRatchetRequest, msg)
	c.swmu.Unlock()
	clear(msg)
	if err != nil {
		c.rkMu.Lock()
		if c.rk.gen == gen {
			c.rk.pend.Clear()
			c.rk.pend = nil
			c.rk.state = rekeyIdle
			c.rk.gen++
			c.notifyLocked()
		}
		c.rkMu.Unlock()
		return err
	}
	c.st.ctlSent.Add(1)
	c.cfg.Logger.Debug("quicx: asymmetric ratchet requested", "epoch", next, "bytes", len(payload))
	return nil
}

// writeMessageLocked writes a ratchet message of any size as control
// records of at most fragmentSize bytes each; swmu is held.
func (c *Conn) writeMessageLocked(flag record.Flag, msg []byte) error {
	buf := make([]byte, 0, 4+min(len(msg), fragmentSize))
	defer clear(buf[:cap(buf)])
	for off := 0; off < len(msg); off += fragmentSize {
		end := min(off+fragmentSize, len(msg))
		buf = appendFragment(buf[:0], off, msg[off:end])
		if err := c.writeControlLocked(flag, buf); err != nil {
			return err
		}
	}
	return nil
}

// wantRekeyAsync runs wantRekey on a goroutine of its own: Write must not
// wait for the ratchet, which the reader may hold while its answer to the
// peer waits on the stream (a dead path), past Write's deadline. It runs
// at most once or twice per epoch (the soft, then the hard limit).
func (c *Conn) wantRekeyAsync() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1) // before Close sets closed: teardown waits for it
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.wantRekey()
	}()
}

// wantRekey records that a limit of the transmit keys was reached and
// starts a rekey as soon as it can.
func (c *Conn) wantRekey() {
	if c.writable() != nil {
		return
	}
	c.rkMu.Lock()
	defer c.rkMu.Unlock()
	c.rk.want = true
	c.maybeRekeyLocked()
}

// maybeRekeyLocked starts an automatic rekey that is due, if it can.
func (c *Conn) maybeRekeyLocked() {
	if !c.rk.want || c.writable() != nil {
		return
	}
	if ok, err := c.startSymLocked(); err != nil {
		c.cfg.Logger.Debug("quicx: automatic rekey failed", "err", err)
	} else if ok {
		c.cfg.Logger.Debug("quicx: automatic rekey started")
	}
}

// peerRequestLocked resolves a request of the peer against our own ratchet:
// ignore reports the client ignoring the server's crossing request.
func (c *Conn) peerRequestLocked(epoch uint64) (ignore bool, err error) {
	switch c.rk.state {
	case rekeySymInit, rekeyAsymInit:
		if !c.server {
			return true, nil // the client's request wins
		}
		c.abandonLocked()
	case rekeyAsymPrep:
		c.abandonLocked() // not sent: the peer's request goes first
	case rekeyResponding:
		return false, fmt.Errorf("%w: ratchet request while answering one", ErrProtocol)
	}
	cur, err := c.txEpoch()
	if err != nil {
		return false, err
	}
	if epoch != cur+1 {
		return false, fmt.Errorf("%w: ratchet to epoch %d from %d", ErrProtocol, epoch, cur)
	}
	return false, nil
}

// abandonLocked gives up our own ratchet for the peer's request.
func (c *Conn) abandonLocked() {
	clear(c.rk.token)
	c.rk.token = nil
	c.rk.pend.Clear()
	c.rk.pend = nil
	c.rk.state = rekeyIdle
	c.rk.gen++
	c.notifyLocked()
	c.cfg.Logger.Debug("quicx: ratchet abandoned for the peer's")
}

// respondLocked installs the next epoch derived from secret as the
// responder: receive under it now, send under it once the initiator has
// switched.
func (c *Conn) respondLocked(epoch uint64, secret []byte, asym bool) error {
	next := c.rk.rs.Next(secret)
	tx, rx, err := c.deriveEpoch(next.Secret, epoch)
	if err != nil {
		next.Clear()
		return err
	}
	if err := c.installRx(rx); err != nil {
		tx.key.Clear()
		next.Clear()
		return err
	}
	c.txMu.Lock()
	if c.nextTx != nil {
		c.nextTx.key.Clear()
	}
	c.nextTx = tx
	c.txMu.Unlock()
	c.rk.rs.Clear()
	c.rk.rs = next
	c.rk.state, c.rk.epoch, c.rk.asym = rekeyResponding, epoch, asym
	c.rk.gen++
	return nil
}

// completeLocked installs the next epoch derived from secret as the
// initiator (receive and send under it at once), tells the peer and ends
// the ratchet.
func (c *Conn) completeLocked(epoch uint64, secret []byte) error {
	next := c.rk.rs.Next(secret)
	tx, rx, err := c.deriveEpoch(next.Secret, epoch)
	if err != nil {
		next.Clear()
		return err
	}
	if err := c.installRx(rx); err != nil {
		tx.key.Clear()
		next.Clear()
		return err
	}
	c.txMu.Lock()
	c.switchTxLocked(tx)
	c.txMu.Unlock()
	c.rk.rs.Clear()
	c.rk.rs = next
	if err := c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeySwitched, epoch, nil)); err != nil {
		return err
	}
	c.st.ctlSent.Add(1)
	c.finishLocked(epoch, c.rk.asym)
	return nil
}

// handleRekey processes one symmetric rekey message of the peer (reader
// goroutine); SWITCHED also ends asymmetric ratchets.
func (c *Conn) handleRekey(ctl control) error {
	c.rkMu.Lock()
	defer c.rkMu.Unlock()
	defer clear(ctl.token)
	switch ctl.kind {
	case rekeyRequest:
		ignore, err := c.peerRequestLocked(ctl.epoch)
		if ignore || err != nil {
			return err
		}
		if err := c.respondLocked(ctl.epoch, ctl.token, false); err != nil {
			return err
		}
		if err := c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyAck, ctl.epoch, nil)); err != nil {
			return err
		}
		c.st.ctlSent.Add(1)
		return nil
	case rekeyAck:
		if c.rk.state != rekeySymInit || ctl.epoch != c.rk.epoch {
			return fmt.Errorf("%w: unexpected rekey ack for epoch %d", ErrProtocol, ctl.epoch)
		}
		token := c.rk.token
		c.rk.token = nil
		defer clear(token)
		return c.completeLocked(ctl.epoch, token)
	case rekeySwitched:
		if c.rk.state == rekeyResponding && ctl.epoch == c.rk.epoch {
			c.txMu.Lock()
			tx := c.nextTx
			c.nextTx = nil
			c.switchTxLocked(tx)
			c.txMu.Unlock()
			c.finishLocked(ctl.epoch, c.rk.asym)
			// Our SWITCHED, sealed under the new epoch, shows the initiator
			// that we moved: its grace period for the old epoch starts.
			if err := c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeySwitched, ctl.epoch, nil)); err != nil {
				return err
			}
			c.st.ctlSent.Add(1)
			return nil
		}
		if cur, err := c.txEpoch(); err == nil && ctl.epoch == cur {
			return nil // the responder's confirmation of a ratchet we completed
		}
		return fmt.Errorf("%w: unexpected rekey switch to epoch %d", ErrProtocol, ctl.epoch)
	}
	return fmt.Errorf("%w: rekey message type 0x%02x", ErrProtocol, ctl.kind)
}

// handleAsymmetric processes a complete asymmetric ratchet message of the
// peer (reader goroutine).
func (c *Conn) handleAsymmetric(flag record.Flag, msg []byte) error {
	epoch, payload, err := parseRatchetBody(msg)
	if err != nil {
		return err
	}
	c.rkMu.Lock()
	defer c.rkMu.Unlock()
	if flag == record.FlagAsymmetricRatchetResponse {
		if c.rk.state != rekeyAsymInit || epoch != c.rk.epoch {
			return fmt.Errorf("%w: unexpected asymmetric ratchet response for epoch %d", ErrProtocol, epoch)
		}
		secret, err := c.rk.pend.Finish(c.sess, payload)
		if err != nil {
			// The session ends: the decapsulation key goes now, not at
			// Close. The failure is recorded before the waiters wake, so
			// that a RatchetAsymmetric woken here reports it instead of
			// starting a new request on the dying session.
			perr := fmt.Errorf("%w: %w", ErrProtocol, err)
			c.mu.Lock()
			if c.lostErr == nil {
				c.lostErr = perr
			}
			c.stopped.Store(true)
			c.mu.Unlock()
			c.rk.pend.Clear()
			c.rk.pend = nil
			c.rk.state = rekeyIdle
			c.rk.gen++
			c.notifyLocked()
			return perr
		}
		defer clear(secret)
		c.rk.pend.Clear()
		c.rk.pend = nil
		return c.completeLocked(epoch, secret)
	}
	ignore, err := c.peerRequestLocked(epoch)
	if ignore || err != nil {
		return err
	}
	resp, secret, err := c.sess.RespondAsymmetric(c.cfg.Rand, payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	defer clear(secret)
	if err := c.respondLocked(epoch, secret, true); err != nil {
		return err
	}
	body := ratchetBody(epoch, resp)
	defer clear(body)
	c.swmu.Lock()
	err = c.writeMessageLocked(record.FlagAsymmetricRatchetResponse, body)
	c.swmu.Unlock()
	if err == nil {
		c.st.ctlSent.Add(1)
	}
	return err
}

// installRx makes rx the receive keys of its parity, replacing (and
// zeroing) whatever epoch held that slot.
func (c *Conn) installRx(rx *rxEpoch) error {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.keysGone {
		rx.key.Clear()
		return net.ErrClosed
	}
	slot := rx.epoch & 1
	if old := c.rx[slot]; old != nil {
		old.retire()
	}
	c.rx[slot] = rx
	return nil
}

// switchTxLocked makes tx the transmit keys and zeroes the previous ones.
// txMu is held for writing, so no seal is using them.
func (c *Conn) switchTxLocked(tx *txEpoch) {
	if c.tx != nil {
		c.tx.retire()
	}
	tx.start = time.Now()
	c.tx = tx
}

// finishLocked ends a ratchet at epoch: counts it, wakes Rekey and
// RatchetAsymmetric callers and schedules the previous epoch's receive keys
// for retirement.
func (c *Conn) finishLocked(epoch uint64, asym bool) {
	c.rk.state = rekeyIdle
	c.rk.gen++
	c.rk.want = false // the new keys start their own count
	c.st.rekeys.Add(1)
	if asym {
		c.rk.asymDone++
		c.st.asym.Add(1)
	}
	c.notifyLocked()
	c.cfg.Logger.Debug("quicx: rekeyed", "epoch", epoch, "asymmetric", asym)
	c.scheduleRetire(epoch - 1)
}

// scheduleRetire zeroes the receive keys of epoch old once the grace period
// has passed since the peer was seen on the next epoch: a timer fires after
// RekeyGrace, and is re-armed as long as no record of the next epoch has
// opened. Retiring wakes ratchets waiting for the slot, and starts an
// automatic rekey that waited for it.
func (c *Conn) scheduleRetire(old uint64) {
	grace := c.cfg.RekeyGrace
	var retire func()
	retire = func() {
		c.rkMu.Lock()
		defer c.rkMu.Unlock()
		c.keyMu.Lock()
		if c.keysGone {
			c.keyMu.Unlock()
			return
		}
		r := c.rx[old&1]
		if r == nil || r.epoch != old {
			c.keyMu.Unlock()
			return // already replaced
		}
		if n := c.rx[(old+1)&1]; n != nil && n.epoch == old+1 && !n.seen.Load() {
			c.retireTimer = time.AfterFunc(grace, retire)
			c.keyMu.Unlock()
			return
		}
		r.retire()
		c.rx[old&1] = nil
		c.keyMu.Unlock()
		c.notifyLocked()
		c.maybeRekeyLocked()
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.keysGone {
		return
	}
	if c.retireTimer != nil {
		c.retireTimer.Stop()
	}
	c.retireTimer = time.AfterFunc(grace, retire)
}
