package datagram

import (
	"math/rand/v2"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/transfer"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/record"
)

// The control channel (docs/DATAGRAM.md 7.2) carries reliable messages
// (the ratchets) as records: each fragment is a record whose plaintext is
// the message id, the message length, the fragment offset and the bytes.
// A side sends one message at a time, in id order, with a transfer.Sender
// (window, selective acks, RTT-derived retransmission); the receiver
// reassembles the message id it expects next, acts on it once complete, and
// only then acknowledges it whole with a status. A message whose id was
// processed already is acknowledged again, never processed twice.

// control is the control channel of a session while it has work: messages
// to send, a message being received or processed. It is dropped when idle.
type control struct {
	// Sending: out is the message in flight (its body nil when none),
	// queue the messages after it.
	queue  []outMsg
	out    outMsg
	outID  uint64
	sender *transfer.Sender
	rtt    transfer.RTT
	jitter *rand.Rand

	// Receiving: the message being reassembled, or being processed (busy).
	inID   uint64
	inFlag record.Flag
	re     *transfer.Reassembler
	busy   bool
	ranges []wire.Range
}

// outMsg is a reliable control message.
type outMsg struct {
	flag record.Flag
	body []byte
}

// ctlLast is the peer's last control message this side processed: its id,
// length and the status it was acknowledged with (acked again when a copy
// arrives).
type ctlLast struct {
	id     uint64
	length uint32
	status ctlStatus
}

// clock converts an endpoint time to a time.Time for package transfer.
func (ep *endpoint) clock(m mono) time.Time { return ep.base.Add(time.Duration(m)) }

// ctlLocked returns the control channel, making it if needed.
func (c *Conn) ctlLocked() *control {
	if c.ctl == nil {
		ctl := &control{jitter: rand.New(rand.NewPCG(c.localID, c.ctlTxID^0x9e3779b97f4a7c15))}
		if srtt := time.Duration(c.st.rtt.Load()); srtt > 0 {
			ctl.rtt.Update(srtt)
		}
		c.ctl = ctl
	}
	return c.ctl
}

// idleControlLocked drops the control channel when it has nothing to do;
// the RTT estimate survives in the statistics.
func (c *Conn) idleControlLocked() {
	ctl := c.ctl
	if ctl == nil || ctl.sender != nil || len(ctl.queue) > 0 || ctl.re != nil || ctl.busy {
		return
	}
	c.ctl = nil
}

// releaseControlLocked drops the control channel and everything it holds.
func (c *Conn) releaseControlLocked() {
	ctl := c.ctl
	if ctl == nil {
		return
	}
	clear(ctl.out.body)
	for _, m := range ctl.queue {
		clear(m.body)
	}
	if ctl.re != nil {
		ctl.re.Release()
	}
	c.ctl = nil
}

// rto returns the session's retransmission timeout.
func (c *Conn) rto() time.Duration {
	if c.ctl != nil {
		return c.ctl.rtt.RTO()
	}
	if srtt := time.Duration(c.st.rtt.Load()); srtt > 0 {
		return max(3*srtt, transfer.MinRTO)
	}
	return transfer.InitialRTO
}

// sendControlLocked queues a reliable control message.
func (c *Conn) sendControlLocked(flag record.Flag, body []byte, now mono) {
	ctl := c.ctlLocked()
	ctl.queue = append(ctl.queue, outMsg{flag: flag, body: body})
	if ctl.sender == nil {
		c.nextControlLocked(now)
	}
	c.scheduleLocked()
}

// nextControlLocked starts sending the next queued message.
func (c *Conn) nextControlLocked(now mono) {
	ctl := c.ctl
	if len(ctl.queue) == 0 {
		ctl.queue = nil
		c.idleControlLocked()
		return
	}
	ctl.out = ctl.queue[0]
	ctl.queue[0] = outMsg{}
	ctl.queue = ctl.queue[1:]
	c.ctlTxID++
	ctl.outID = c.ctlTxID
	ctl.sender = transfer.NewSender(ctl.out.body, c.limit-ctlHeaderSize, &ctl.rtt, ctl.jitter)
	c.noteSendLocked(true) // a message expects an answer, as data does (dead-peer detection)
	c.pumpControlLocked(now)
}

// pumpControlLocked sends what the control sender allows now.
func (c *Conn) pumpControlLocked(now mono) {
	ctl := c.ctl
	if ctl == nil || ctl.sender == nil {
		return
	}
	s := ctl.sender
	before := s.Stats().Retransmitted
	bp := bufPool.Get().(*[]byte)
	length := uint32(len(ctl.out.body))
	for _, f := range s.Poll(c.ep.clock(now)) {
		pt := appendCtlFragment((*bp)[:0], ctl.outID, length, f.Offset, f.Data)
		c.sendRecord(ctl.out.flag, pt, nil)
		clear(pt)
		*bp = pt
	}
	bufPool.Put(bp)
	c.st.ctlRetx.Add(uint64(s.Stats().Retransmitted - before))
	c.live.lastSend = now
}

// controlDeadline returns when the control sender must run next (0: no
// need).
func (c *Conn) controlDeadline() mono {
	if c.ctl == nil || c.ctl.sender == nil {
		return 0
	}
	d := c.ctl.sender.NextDeadline()
	if d.IsZero() {
		return 0
	}
	return max(mono(d.Sub(c.ep.base)), 1)
}

// onControlAckLocked takes the peer's ack of our message in flight.
func (c *Conn) onControlAckLocked(pt []byte, now mono) {
	ctl := c.ctl
	var buf [wire.MaxAckRanges]wire.Range
	a, err := parseCtlAck(pt, buf[:0])
	if err != nil {
		c.st.ctlMalformed.Add(1)
		return
	}
	if ctl == nil || ctl.sender == nil || a.id != ctl.outID {
		return // an ack of a message settled already
	}
	length := uint32(len(ctl.out.body))
	if a.status == ctlReceiving {
		ctl.sender.OnAck(a.ranges, c.ep.clock(now))
		c.st.rtt.Store(int64(ctl.rtt.Smoothed()))
		c.pumpControlLocked(now)
		return
	}
	if a.ranges[0].End != length {
		c.st.ctlMalformed.Add(1)
		return
	}
	ctl.sender.OnAck(a.ranges, c.ep.clock(now))
	c.st.rtt.Store(int64(ctl.rtt.Smoothed()))
	out := ctl.out
	ctl.out, ctl.sender = outMsg{}, nil
	c.st.ctlSent.Add(1)
	c.onDeliveredLocked(out.flag, out.body, a.status, now)
	clear(out.body)
	if c.ctl != nil {
		c.nextControlLocked(now)
	}
}

// expectedLength returns the exact length of a control message with the
// given flag on this session (0: the session does not take it).
func (c *Conn) expectedLength(flag record.Flag) uint32 {
	switch flag {
	case flagRekey:
		return 8 + 32
	case flagAsymRequest:
		return uint32(c.cfg.asymReq)
	case flagAsymResponse:
		return uint32(c.cfg.asymResp)
	}
	return 0
}

// onControlFragmentLocked takes a fragment of the peer's control message.
func (c *Conn) onControlFragmentLocked(flag record.Flag, pt []byte, now mono) {
	f, err := parseCtlFragment(pt)
	if err != nil {
		c.st.ctlMalformed.Add(1)
		return
	}
	last := c.ctlIn
	switch {
	case f.id == last.id:
		// Processed already: acknowledge it again, nothing more.
		c.sendControlAckLocked(ctlAck{id: f.id, status: last.status, ranges: []wire.Range{{Start: 0, End: last.length}}})
		return
	case f.id != last.id+1:
		return // stale, or ahead of what the peer may send
	}
	ctl := c.ctlLocked()
	if ctl.busy {
		return // the complete message is being processed
	}
	if ctl.re == nil {
		if want := c.expectedLength(flag); want == 0 || f.length != want {
			// Something this session cannot take: decline it whole,
			// so that the peer stops sending it.
			c.ctlIn = ctlLast{id: f.id, length: f.length, status: ctlDeclined}
			c.st.ctlRecv.Add(1)
			c.sendControlAckLocked(ctlAck{id: f.id, status: ctlDeclined, ranges: []wire.Range{{Start: 0, End: f.length}}})
			c.idleControlLocked()
			return
		}
		re, err := transfer.NewReassembler(int(f.length), c.ep.budget)
		if err != nil {
			c.idleControlLocked()
			return // the reassembly budget is full: the peer retransmits
		}
		ctl.re, ctl.inID, ctl.inFlag = re, f.id, flag
	}
	if flag != ctl.inFlag || f.length != uint32(ctl.re.Size()) {
		c.st.ctlMalformed.Add(1)
		return
	}
	if _, err := ctl.re.Add(f.offset, f.data); err != nil {
		c.st.ctlMalformed.Add(1)
		return
	}
	if !ctl.re.Complete() {
		ctl.ranges = ctl.re.AppendRanges(ctl.ranges[:0], wire.MaxAckRanges)
		c.sendControlAckLocked(ctlAck{id: f.id, status: ctlReceiving, ranges: ctl.ranges})
		return
	}
	msg := append([]byte(nil), ctl.re.Bytes()...)
	ctl.re.Release()
	ctl.re, ctl.ranges = nil, nil
	ctl.busy = true
	c.st.ctlRecv.Add(1)
	status, async := c.onRatchetLocked(flag, f.id, msg, now)
	if !async {
		clear(msg)
		c.finishInLocked(f.id, status, now)
	}
}

// finishInLocked records the peer's message id as processed with status
// and acknowledges it whole.
func (c *Conn) finishInLocked(id uint64, status ctlStatus, now mono) {
	length := c.expectedLength(c.ctlInFlag())
	if c.ctl != nil {
		c.ctl.busy = false
	}
	c.ctlIn = ctlLast{id: id, length: length, status: status}
	c.sendControlAckLocked(ctlAck{id: id, status: status, ranges: []wire.Range{{Start: 0, End: length}}})
	c.idleControlLocked()
}

// ctlInFlag returns the flag of the message being processed.
func (c *Conn) ctlInFlag() record.Flag {
	if c.ctl == nil {
		return 0
	}
	return c.ctl.inFlag
}

// sendAckLocked sends an ack record.
func (c *Conn) sendControlAckLocked(a ctlAck) {
	var buf [ctlAckFixed + 8*wire.MaxAckRanges]byte
	c.sendRecord(flagControlAck, appendCtlAck(buf[:0], a), nil)
}
