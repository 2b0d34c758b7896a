package datagram

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// rkState is where a session stands in a ratchet (docs/DATAGRAM.md 7.3).
type rkState uint8

const (
	// rkIdle: no ratchet in progress; tx == latest.
	rkIdle rkState = iota
	// rkSymInit: our symmetric request is out; the receive keys of latest
	// are installed, the transmit keys are still those of latest-1.
	rkSymInit
	// rkAsymPrep: our asymmetric request is being generated (off the lock).
	rkAsymPrep
	// rkAsymInit: our asymmetric request is out, the response awaited.
	rkAsymInit
	// rkAsymFin: the response is being verified and decapsulated.
	rkAsymFin
	// rkAsymResp: the peer's asymmetric request is being answered.
	rkAsymResp
	// rkAsymWait: our response is out; the receive keys of latest are
	// installed, the transmit keys are still those of latest-1.
	rkAsymWait
)

// maxDeclines is how many declines one call of Rekey or RatchetAsymmetric
// takes before giving up with ErrRatchetDeclined.
const maxDeclines = 3

// ratchet is a session's epoch state, guarded by Conn.mu.
type ratchet struct {
	state  rkState
	gen    uint64 // changes with every state change: stale async work sees it
	tx     uint64 // the transmit epoch
	latest uint64 // the newest epoch derived (tx or tx+1)
	rs     record.RatchetState
	// base is the state of latest-1 while a ratchet we may have to roll
	// back is in progress (rkSymInit, rkAsymWait).
	base *record.RatchetState
	pend *handshake.AsymmetricRatchet
	// want is set when an automatic rekey is due but could not start yet.
	want bool
	// graceAt is when the receive keys of graceEpoch are retired (0: no
	// retirement pending).
	graceAt    mono
	graceEpoch uint64
	// probeAt rate-limits the probes sent while a ratchet waits for the
	// peer's first record of the current epoch.
	probeAt  mono
	asymDone uint64 // completed asymmetric ratchets
	declines uint64 // ratchets of ours the peer declined
}

// clear zeroes the ratchet secrets.
func (r *ratchet) clear() {
	r.rs.Clear()
	if r.base != nil {
		r.base.Clear()
		r.base = nil
	}
	r.pend.Clear()
	r.pend = nil
	r.state = rkIdle
	r.gen++
}

// txDir and rxDir are this side's directions in the key derivation.
func (c *Conn) txDir() record.Direction {
	if c.server {
		return record.ServerToClient
	}
	return record.ClientToServer
}

func (c *Conn) rxDir() record.Direction {
	if c.server {
		return record.ClientToServer
	}
	return record.ServerToClient
}

// newTx derives the transmit keys of epoch from its ratchet state.
func (c *Conn) newTx(rs *record.RatchetState, epoch uint64, now mono) (*txKeys, error) {
	key, base, err := record.DatagramKeys(rs.Wide, rs.Secret, c.txDir(), epoch)
	if err != nil {
		return nil, err
	}
	return &txKeys{epoch: epoch, key: key, sealer: record.NewSealer(key, base, &c.txSeq), start: now}, nil
}

// newRx derives the receive keys of epoch from its ratchet state.
func (c *Conn) newRx(rs *record.RatchetState, epoch uint64) (*rxKeys, error) {
	key, base, err := record.DatagramKeys(rs.Wide, rs.Secret, c.rxDir(), epoch)
	if err != nil {
		return nil, err
	}
	return &rxKeys{epoch: epoch, key: key, opener: record.NewOpener(key, base, c.rxWin, &c.drops, c.cfg.threshold())}, nil
}

// installRxLocked puts rx in the slot of its epoch's parity, zeroing the
// keys it replaces (those of epoch-2).
func (c *Conn) installRxLocked(rx *rxKeys) {
	slot := rx.epoch & 1
	c.keyMu.Lock()
	if old := c.keys.rx[slot]; old != nil {
		old.key.Clear()
	}
	c.keys.rx[slot] = rx
	c.keyMu.Unlock()
	if c.rk.graceAt != 0 && c.rk.graceEpoch&1 == slot {
		c.rk.graceAt = 0
	}
}

// dropRxLocked zeroes and removes the receive keys of epoch, if held.
func (c *Conn) dropRxLocked(epoch uint64) {
	c.keyMu.Lock()
	if r := c.keys.rx[epoch&1]; r != nil && r.epoch == epoch {
		r.key.Clear()
		c.keys.rx[epoch&1] = nil
	}
	c.keyMu.Unlock()
}

// swapTxLocked makes tx the transmit keys, zeroing the previous ones.
func (c *Conn) swapTxLocked(tx *txKeys) {
	c.keyMu.Lock()
	old := c.keys.tx
	c.keys.tx = tx
	old.retire()
	c.keyMu.Unlock()
	c.rk.tx = tx.epoch
	c.rk.want = false // the new keys start their own count
	c.st.rekeys.Add(1)
	c.cfg.Logger.Debug("datagram: transmit epoch", "local", c.localID, "epoch", tx.epoch)
}

// moveTxLocked moves the transmit keys to epoch latest, whose receive keys
// are installed and whose peer has them too.
func (c *Conn) moveTxLocked(now mono) error {
	tx, err := c.newTx(&c.rk.rs, c.rk.latest, now)
	if err != nil {
		return err
	}
	c.swapTxLocked(tx)
	return nil
}

// settleLocked ends a ratchet in progress that we completed.
func (c *Conn) settleLocked() {
	if c.rk.base != nil {
		c.rk.base.Clear()
		c.rk.base = nil
	}
	c.rk.state = rkIdle
	c.rk.gen++
	c.notifyLocked()
}

// rollbackLocked undoes a ratchet of ours that the peer will not follow
// (rkSymInit, rkAsymWait): the receive keys of latest go, and the state
// of the current transmit epoch comes back.
func (c *Conn) rollbackLocked() {
	if c.rk.latest > c.rk.tx && c.rk.base != nil {
		c.dropRxLocked(c.rk.latest)
		c.rk.rs.Clear()
		c.rk.rs = *c.rk.base
		c.rk.base = nil
		c.rk.latest = c.rk.tx
	}
	c.rk.state = rkIdle
	c.rk.gen++
	c.notifyLocked()
}

// abandonLocked gives up a ratchet this listener started, because the
// client's request crossed it (the client's wins).
func (c *Conn) abandonLocked() {
	switch c.rk.state {
	case rkSymInit:
		c.rollbackLocked()
	case rkAsymInit:
		c.rk.pend.Clear()
		c.rk.pend = nil
	}
	c.rk.state = rkIdle
	c.rk.gen++
	c.notifyLocked()
	c.cfg.Logger.Debug("datagram: ratchet abandoned for the client's", "local", c.localID, "epoch", c.rk.tx+1)
}

// onEpochSeenLocked runs at the first record of epoch that opens. A record
// of the epoch this side prepared proves the peer sends under it (and so
// holds its keys): move to it if not done yet, and confirm with a
// keep-alive under it. Either way, the receive keys of the epoch before
// now have RekeyGrace to live.
func (c *Conn) onEpochSeenLocked(epoch uint64, now mono) {
	if epoch > c.rk.tx && epoch == c.rk.latest && (c.rk.state == rkSymInit || c.rk.state == rkAsymWait) {
		if err := c.moveTxLocked(now); err != nil {
			return
		}
		if c.rk.state == rkAsymWait {
			c.rk.asymDone++
			c.st.asym.Add(1)
		}
		c.settleLocked()
		c.sendKeepAliveLocked(keepAlivePlain, now)
	}
	if epoch == 0 {
		return
	}
	if r := c.keys.rx[(epoch-1)&1]; r != nil && r.epoch == epoch-1 {
		c.rk.graceAt = now + mono(c.cfg.RekeyGrace)
		c.rk.graceEpoch = epoch - 1
	}
}

// rekeyTimerLocked retires the previous epoch's receive keys once their
// grace period is over, and starts an automatic rekey that waited for it.
func (c *Conn) rekeyTimerLocked(now mono) {
	if c.rk.graceAt != 0 && now >= c.rk.graceAt {
		c.rk.graceAt = 0
		c.dropRxLocked(c.rk.graceEpoch)
		c.notifyLocked()
	}
	if c.rk.probeAt != 0 && now >= c.rk.probeAt {
		// A ratchet waits for the peer's record: let it probe again.
		c.rk.probeAt = 0
		c.notifyLocked()
	}
	c.maybeRekeyLocked(now)
}

// slotFreeLocked reports whether a ratchet may start: the receive slot of
// the next epoch must be free, that is the previous epoch's keys retired.
// While the peer has not yet shown that it sends under the current epoch
// (so the grace period has not started), it probes the peer for a record.
func (c *Conn) slotFreeLocked(now mono) bool {
	old := c.keys.rx[(c.rk.tx+1)&1]
	if old == nil {
		return true
	}
	if c.rk.graceAt == 0 && now >= c.rk.probeAt {
		c.sendKeepAliveLocked(keepAliveProbe, now)
		c.rk.probeAt = now + mono(c.rto())
	}
	return false
}

// startRekeyLocked starts a symmetric ratchet if none is in progress and
// the receive slot is free; it reports whether it did.
func (c *Conn) startRekeyLocked(now mono) (bool, error) {
	if c.rk.state != rkIdle || c.rk.latest != c.rk.tx || !c.slotFreeLocked(now) {
		return false, nil
	}
	token := make([]byte, 32)
	defer clear(token)
	if _, err := io.ReadFull(c.cfg.Rand, token); err != nil {
		return false, fmt.Errorf("datagram: rekey token: %w", err)
	}
	next := c.rk.rs.Next(token)
	epoch := c.rk.tx + 1
	rx, err := c.newRx(&next, epoch)
	if err != nil {
		next.Clear()
		return false, err
	}
	c.installRxLocked(rx)
	base := c.rk.rs
	c.rk.base, c.rk.rs, c.rk.latest = &base, next, epoch
	c.rk.state = rkSymInit
	c.rk.gen++
	c.sendControlLocked(flagRekey, ratchetBody(epoch, token), now)
	c.cfg.Logger.Debug("datagram: rekey requested", "local", c.localID, "epoch", epoch)
	return true, nil
}

// maybeRekeyLocked starts an automatic rekey that is due, if it can.
func (c *Conn) maybeRekeyLocked(now mono) {
	if !c.rk.want {
		return
	}
	if ok, err := c.startRekeyLocked(now); ok || err != nil {
		c.rk.want = false
	}
}

// wantRekey records that a soft limit of the transmit keys was reached and
// starts a rekey as soon as it can.
func (c *Conn) wantRekey() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writableLocked() != nil {
		return
	}
	c.rk.want = true
	c.maybeRekeyLocked(c.ep.now())
	c.scheduleLocked()
}

// Rekey moves the session to fresh keys with QSMP's symmetric ratchet
// (digest 8.2) and returns once this side seals under an epoch newer than
// the one in use when it was called, which may also come from a ratchet
// the peer started. The request (the next epoch and a random token) travels
// on the control channel, acknowledged and retransmitted; both sides derive
// the next epoch's keys from the token. If both sides ask at once, the
// client's request wins. A ratchet starts only once the previous epoch's
// receive keys are retired (Config.RekeyGrace after the peer's first
// record under the current epoch), so Rekey may wait that long first.
func (c *Conn) Rekey(ctx context.Context) error {
	if c.q != nil {
		return c.q.rekey(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	start, declines := c.rk.tx, c.rk.declines
	for {
		if err := c.writableLocked(); err != nil {
			return err
		}
		if c.rk.tx > start {
			return nil
		}
		if c.rk.declines >= declines+maxDeclines {
			return ErrRatchetDeclined
		}
		now := c.ep.now()
		if _, err := c.startRekeyLocked(now); err != nil {
			return err
		}
		c.scheduleLocked()
		if err := c.waitLocked(ctx); err != nil {
			return err
		}
	}
}

// waitLocked waits for the next change of the session, the end of ctx or
// Close; c.mu is released meanwhile.
func (c *Conn) waitLocked(ctx context.Context) error {
	ch := c.changedLocked()
	c.mu.Unlock()
	defer c.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return net.ErrClosed
	}
}

// RatchetAsymmetric runs QSMD's asymmetric ratchet (digest 8.3) over the
// control channel and returns once one has completed since the call (this
// one, or one the peer started): this side generates a fresh KEM key pair
// and sends its signed public key (a Classic McEliece key is 261 KB to
// 1.36 MB: the control channel fragments it), the peer answers with a
// signed encapsulation, and both derive the next epoch's keys from the KEM
// secret. Key generation runs on the calling goroutine. It fails with
// ErrNoAsymmetricRatchet on a QSMS session.
func (c *Conn) RatchetAsymmetric(ctx context.Context) error {
	if c.q != nil {
		return c.q.ratchetAsymmetric(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil || !c.session.Duplex || c.cfg.asymReq == 0 {
		return ErrNoAsymmetricRatchet
	}
	done, declines := c.rk.asymDone, c.rk.declines
	for {
		if err := c.writableLocked(); err != nil {
			return err
		}
		if c.rk.asymDone > done {
			return nil
		}
		if c.rk.declines >= declines+maxDeclines {
			return ErrRatchetDeclined
		}
		now := c.ep.now()
		if c.rk.state == rkIdle && c.rk.latest == c.rk.tx && c.slotFreeLocked(now) {
			if err := c.prepareAsymLocked(); err != nil {
				return err
			}
			continue
		}
		c.scheduleLocked()
		if err := c.waitLocked(ctx); err != nil {
			return err
		}
	}
}

// prepareAsymLocked generates the request with c.mu released (key
// generation is slow) and sends it, unless the session moved meanwhile.
func (c *Conn) prepareAsymLocked() error {
	c.rk.state = rkAsymPrep
	c.rk.gen++
	gen := c.rk.gen
	sess := c.session
	c.mu.Unlock()
	payload, pend, err := sess.NewAsymmetricRequest(c.cfg.Rand)
	c.mu.Lock()
	if c.rk.gen != gen || c.rk.state != rkAsymPrep || c.writableLocked() != nil {
		pend.Clear() // the client's request crossed ours, or the session ended
		return nil
	}
	if err != nil {
		c.rk.state = rkIdle
		c.rk.gen++
		c.notifyLocked()
		return err
	}
	c.rk.pend = pend
	c.rk.state = rkAsymInit
	c.rk.gen++
	epoch := c.rk.tx + 1
	c.sendControlLocked(flagAsymRequest, ratchetBody(epoch, payload), c.ep.now())
	c.cfg.Logger.Debug("datagram: asymmetric ratchet requested", "local", c.localID, "epoch", epoch, "bytes", len(payload))
	return nil
}

// onRatchetLocked acts on a complete ratchet message of the peer. It
// returns the status to acknowledge, or async true when the answer comes
// later from a goroutine (which acknowledges with finishInLocked).
func (c *Conn) onRatchetLocked(flag record.Flag, id uint64, msg []byte, now mono) (status ctlStatus, async bool) {
	epoch, payload, err := parseRatchetBody(msg)
	if err != nil {
		return ctlDeclined, false
	}
	if flag == flagAsymResponse {
		return c.onAsymResponseLocked(id, epoch, payload)
	}
	// A request: who wins a crossing?
	switch c.rk.state {
	case rkSymInit, rkAsymPrep, rkAsymInit:
		if !c.server {
			return ctlDeclined, false // the client's request wins
		}
		c.abandonLocked()
	case rkAsymFin, rkAsymResp, rkAsymWait:
		return ctlDeclined, false
	}
	if epoch != c.rk.tx+1 {
		return ctlDeclined, false
	}
	if flag == flagAsymRequest {
		return c.onAsymRequestLocked(id, epoch, payload)
	}
	// Symmetric: derive the next epoch, receive under it and send under it
	// at once (the initiator installed its receive keys before asking).
	next := c.rk.rs.Next(payload)
	rx, err := c.newRx(&next, epoch)
	if err != nil {
		next.Clear()
		return ctlDeclined, false
	}
	tx, err := c.newTx(&next, epoch, now)
	if err != nil {
		rx.key.Clear()
		next.Clear()
		return ctlDeclined, false
	}
	c.installRxLocked(rx)
	c.rk.rs.Clear()
	c.rk.rs, c.rk.latest = next, epoch
	c.swapTxLocked(tx)
	c.rk.gen++
	c.notifyLocked()
	return ctlDone, false // the ack goes out under the new epoch
}

// onAsymRequestLocked answers the peer's asymmetric request off the
// receive path: verify, encapsulate and sign, then install the receive keys
// of the new epoch and send the response; this side moves its transmit keys
// once the initiator shows it holds them.
func (c *Conn) onAsymRequestLocked(id, epoch uint64, request []byte) (ctlStatus, bool) {
	if c.cfg.asymReq == 0 || c.session == nil || !c.session.Duplex {
		return ctlDeclined, false
	}
	c.rk.state = rkAsymResp
	c.rk.gen++
	gen := c.rk.gen
	sess := c.session
	c.async.Add(1)
	go func() {
		defer c.async.Done()
		resp, secret, err := sess.RespondAsymmetric(c.cfg.Rand, request)
		defer clear(secret)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.writableLocked() != nil {
			return
		}
		now := c.ep.now()
		if c.rk.gen != gen {
			c.finishInLocked(id, ctlDeclined, now)
			return
		}
		var rx *rxKeys
		var next record.RatchetState
		if err == nil {
			next = c.rk.rs.Next(secret)
			rx, err = c.newRx(&next, epoch)
		}
		if err != nil {
			next.Clear()
			c.cfg.Logger.Debug("datagram: asymmetric ratchet request refused", "local", c.localID, "err", err)
			c.rk.state = rkIdle
			c.rk.gen++
			c.notifyLocked()
			c.finishInLocked(id, ctlDeclined, now)
			c.scheduleLocked()
			return
		}
		c.installRxLocked(rx)
		base := c.rk.rs
		c.rk.base, c.rk.rs, c.rk.latest = &base, next, epoch
		c.rk.state = rkAsymWait
		c.rk.gen++
		c.finishInLocked(id, ctlDone, now)
		c.sendControlLocked(flagAsymResponse, ratchetBody(epoch, resp), now)
		c.scheduleLocked()
	}()
	return 0, true
}

// onAsymResponseLocked completes our asymmetric ratchet off the receive
// path: verify and decapsulate, then receive and send under the new epoch
// (the responder holds its keys), and acknowledge under it, which tells
// the responder to move too.
func (c *Conn) onAsymResponseLocked(id, epoch uint64, response []byte) (ctlStatus, bool) {
	if c.rk.state != rkAsymInit || epoch != c.rk.tx+1 {
		return ctlDeclined, false
	}
	pend := c.rk.pend
	c.rk.pend = nil
	c.rk.state = rkAsymFin
	c.rk.gen++
	gen := c.rk.gen
	sess := c.session
	c.async.Add(1)
	go func() {
		defer c.async.Done()
		secret, err := pend.Finish(sess, response)
		pend.Clear()
		defer clear(secret)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.writableLocked() != nil {
			return
		}
		now := c.ep.now()
		if c.rk.gen != gen {
			c.finishInLocked(id, ctlDeclined, now)
			return
		}
		var rx *rxKeys
		var tx *txKeys
		var next record.RatchetState
		if err == nil {
			next = c.rk.rs.Next(secret)
			if rx, err = c.newRx(&next, epoch); err == nil {
				if tx, err = c.newTx(&next, epoch, now); err != nil {
					rx.key.Clear()
				}
			}
		}
		if err != nil {
			next.Clear()
			c.cfg.Logger.Debug("datagram: asymmetric ratchet response refused", "local", c.localID, "err", err)
			c.rk.state = rkIdle
			c.rk.gen++
			c.rk.declines++
			c.notifyLocked()
			c.finishInLocked(id, ctlDeclined, now)
			c.scheduleLocked()
			return
		}
		c.installRxLocked(rx)
		c.rk.rs.Clear()
		c.rk.rs, c.rk.latest = next, epoch
		c.swapTxLocked(tx)
		c.rk.state = rkIdle
		c.rk.gen++
		c.rk.asymDone++
		c.st.asym.Add(1)
		c.notifyLocked()
		c.finishInLocked(id, ctlDone, now) // sealed under the new epoch
		c.scheduleLocked()
	}()
	return 0, true
}

// onDeliveredLocked acts on the peer's final answer to one of our ratchet
// messages.
func (c *Conn) onDeliveredLocked(flag record.Flag, body []byte, status ctlStatus, now mono) {
	epoch, _, err := parseRatchetBody(body)
	if err != nil {
		return
	}
	if status == ctlDeclined {
		c.st.ctlDeclined.Add(1)
	}
	switch flag {
	case flagRekey:
		if c.rk.state != rkSymInit || c.rk.latest != epoch {
			return // settled already (a record of the epoch came first) or abandoned
		}
		if status == ctlDeclined {
			c.rk.declines++
			c.rollbackLocked()
			return
		}
		// The responder receives and sends under the new epoch.
		if c.moveTxLocked(now) == nil {
			c.settleLocked()
			c.sendKeepAliveLocked(keepAlivePlain, now)
		}
	case flagAsymRequest:
		if status == ctlDeclined && c.rk.state == rkAsymInit && epoch == c.rk.tx+1 {
			c.rk.declines++
			c.rk.pend.Clear()
			c.rk.pend = nil
			c.rk.state = rkIdle
			c.rk.gen++
			c.notifyLocked()
		}
	case flagAsymResponse:
		if c.rk.state != rkAsymWait || c.rk.latest != epoch {
			return
		}
		if status == ctlDeclined {
			c.rollbackLocked()
			return
		}
		// The initiator received and moved: follow it.
		if c.moveTxLocked(now) == nil {
			c.rk.asymDone++
			c.st.asym.Add(1)
			c.settleLocked()
			c.sendKeepAliveLocked(keepAlivePlain, now)
		}
	}
}
