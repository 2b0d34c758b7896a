package quicx

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// Rekey moves the session to fresh keys with QSMP's symmetric ratchet
// (digest 8.2) and returns once this side sends under keys newer than those
// in use when it was called. The exchange runs on the reliable stream:
//
//	initiator                                responder
//	REQUEST(e+1, token)  ------------------> ratchet(token); receive e+1
//	                     <------------------ ACK(e+1)        (sent under e)
//	ratchet(token); receive and send e+1
//	SWITCHED(e+1)        ------------------> send e+1        (sent under e+1)
//
// Both sides call record.Stream.Rekey(token) and bind the resulting
// datagram secret to the QUIC connection (BindSecret), so each epoch has
// its own keys per direction. Every datagram names its epoch's parity; the
// previous epoch's receive keys stay for Config.RekeyGrace after the peer
// is seen on the new epoch. If both sides start a rekey at once, the
// client's wins: the client ignores the server's request and the server
// abandons its own and answers the client's (its Rekey call returns when
// that rekey completes).
func (c *Conn) Rekey(ctx context.Context) error {
	start, err := c.txEpoch()
	if err != nil {
		return err
	}
	for {
		if err := c.writable(); err != nil {
			return err
		}
		c.rkMu.Lock()
		done := c.rkDone
		if c.rkState == rekeyIdle {
			cur, err := c.txEpoch()
			if err != nil {
				c.rkMu.Unlock()
				return err
			}
			if cur > start {
				c.rkMu.Unlock()
				return nil
			}
			if err := c.startRekeyLocked(cur + 1); err != nil {
				c.rkMu.Unlock()
				return err
			}
		}
		c.rkMu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return net.ErrClosed
		case <-c.lost:
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

// startRekeyLocked sends a rekey request for epoch next; rkMu is held, so
// that no request of the peer is processed in between.
func (c *Conn) startRekeyLocked(next uint64) error {
	token := make([]byte, tokenSize)
	if _, err := io.ReadFull(c.cfg.Rand, token); err != nil {
		return fmt.Errorf("quicx: rekey token: %w", err)
	}
	msg := appendRekey(nil, rekeyRequest, next, token)
	defer clear(msg)
	if err := c.writeControl(record.FlagSymmetricRatchetRequest, msg); err != nil {
		clear(token)
		return err
	}
	c.rkState, c.rkEpoch, c.rkToken = rekeyInitiating, next, token
	c.cfg.Logger.Debug("quicx: rekey requested", "epoch", next)
	return nil
}

// handleRekey processes one rekey message of the peer (reader goroutine).
func (c *Conn) handleRekey(ctl control) error {
	c.rkMu.Lock()
	defer c.rkMu.Unlock()
	defer clear(ctl.token)
	switch ctl.kind {
	case rekeyRequest:
		switch {
		case c.rkState == rekeyInitiating && !c.server:
			// Simultaneous requests: the client's wins; the server
			// abandons its own when ours arrives.
			return nil
		case c.rkState == rekeyResponding:
			return fmt.Errorf("%w: rekey request while answering one", ErrProtocol)
		}
		cur, err := c.txEpoch()
		if err != nil {
			return err
		}
		if ctl.epoch != cur+1 {
			return fmt.Errorf("%w: rekey to epoch %d from %d", ErrProtocol, ctl.epoch, cur)
		}
		if c.rkState == rekeyInitiating { // a server abandons its request
			clear(c.rkToken)
			c.rkToken = nil
		}
		tx, rx, err := c.ratchet(ctl.token, ctl.epoch)
		if err != nil {
			return err
		}
		c.keyMu.Lock()
		c.installRxLocked(rx)
		c.keyMu.Unlock()
		c.txMu.Lock()
		c.nextTx = tx
		c.txMu.Unlock()
		c.rkState, c.rkEpoch = rekeyResponding, ctl.epoch
		return c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyAck, ctl.epoch, nil))
	case rekeyAck:
		if c.rkState != rekeyInitiating || ctl.epoch != c.rkEpoch {
			return fmt.Errorf("%w: unexpected rekey ack for epoch %d", ErrProtocol, ctl.epoch)
		}
		tx, rx, err := c.ratchet(c.rkToken, ctl.epoch)
		clear(c.rkToken)
		c.rkToken = nil
		if err != nil {
			return err
		}
		c.keyMu.Lock()
		c.installRxLocked(rx)
		c.keyMu.Unlock()
		c.txMu.Lock()
		c.switchTxLocked(tx)
		c.txMu.Unlock()
		if err := c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeySwitched, ctl.epoch, nil)); err != nil {
			return err
		}
		c.finishRekeyLocked(ctl.epoch)
		return nil
	case rekeySwitched:
		if c.rkState != rekeyResponding || ctl.epoch != c.rkEpoch {
			return fmt.Errorf("%w: unexpected rekey switch to epoch %d", ErrProtocol, ctl.epoch)
		}
		c.txMu.Lock()
		tx := c.nextTx
		c.nextTx = nil
		c.switchTxLocked(tx)
		c.txMu.Unlock()
		c.finishRekeyLocked(ctl.epoch)
		return nil
	}
	return fmt.Errorf("%w: rekey message type 0x%02x", ErrProtocol, ctl.kind)
}

// ratchet advances the session's ratchet with token and derives the keys of
// epoch.
func (c *Conn) ratchet(token []byte, epoch uint64) (*txEpoch, *rxEpoch, error) {
	if err := c.sess.Stream.Rekey(token); err != nil {
		return nil, nil, err
	}
	ds := c.sess.Stream.DatagramSecret()
	defer clear(ds)
	c.keyMu.RLock()
	gone := c.keysGone
	c.keyMu.RUnlock()
	if gone {
		return nil, nil, net.ErrClosed
	}
	return c.deriveEpoch(ds, epoch)
}

// installRxLocked makes rx the receive keys of its parity, replacing (and
// zeroing) whatever epoch held that slot.
func (c *Conn) installRxLocked(rx *rxEpoch) {
	slot := rx.epoch & 1
	if old := c.rx[slot]; old != nil {
		old.key.Clear()
	}
	c.rx[slot] = rx
}

// switchTxLocked makes tx the transmit keys and zeroes the previous ones.
// txMu is held for writing, so no seal is using them.
func (c *Conn) switchTxLocked(tx *txEpoch) {
	if c.tx != nil {
		c.tx.key.Clear()
	}
	c.tx = tx
}

// finishRekeyLocked ends a rekey at epoch: wakes Rekey callers and schedules
// the previous epoch's receive keys for retirement.
func (c *Conn) finishRekeyLocked(epoch uint64) {
	c.rkState = rekeyIdle
	close(c.rkDone)
	c.rkDone = make(chan struct{})
	c.st.rekeys.Add(1)
	c.cfg.Logger.Debug("quicx: rekeyed", "epoch", epoch)
	c.scheduleRetire(epoch - 1)
}

// scheduleRetire zeroes the receive keys of epoch old once the grace period
// has passed since the peer was seen on the next epoch: a timer fires after
// RekeyGrace, and is re-armed as long as no record of the next epoch has
// opened.
func (c *Conn) scheduleRetire(old uint64) {
	grace := c.cfg.RekeyGrace
	var retire func()
	retire = func() {
		c.keyMu.Lock()
		defer c.keyMu.Unlock()
		if c.keysGone {
			return
		}
		r := c.rx[old&1]
		if r == nil || r.epoch != old {
			return // already replaced
		}
		if n := c.rx[(old+1)&1]; n != nil && n.epoch == old+1 && !n.seen.Load() {
			c.retireTimer = time.AfterFunc(grace, retire)
			return
		}
		r.key.Clear()
		c.rx[old&1] = nil
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
