package datagram

import (
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// mono is a point in time on an endpoint's monotonic clock: the time since
// the endpoint's base, which lies an hour before the endpoint was made, so
// that 0 can mean "not set".
type mono time.Duration

// baseOffset places an endpoint's base in the past.
const baseOffset = time.Hour

// now returns the current endpoint time.
func (ep *endpoint) now() mono { return mono(time.Since(ep.base)) }

// wallRefresh is how often the record path reads the system clock: in
// between, the protocol time of records advances with the monotonic clock,
// so a step of the system clock shows in records within this time.
const wallRefresh = 100 * time.Millisecond

// wallSample is a reading of the system clock at an endpoint time.
type wallSample struct {
	at       mono
	unixNano int64
}

// unixNow returns the protocol clock in UTC seconds (the utctime of
// records) at endpoint time now: Config.Now when the application set one;
// otherwise the system clock as read at most wallRefresh ago, advanced by
// the monotonic clock. A record thus costs one clock reading, not three.
func (ep *endpoint) unixNow(now mono) uint64 {
	if !ep.cfg.systemClock {
		return record.UnixTime(ep.cfg.Now())
	}
	s := ep.wall.Load()
	if s == nil || now < s.at || time.Duration(now-s.at) >= wallRefresh {
		t := time.Now()
		s = &wallSample{at: mono(t.Sub(ep.base)), unixNano: t.UnixNano()}
		ep.wall.Store(s)
	}
	if ns := s.unixNano + int64(now-s.at); ns > 0 {
		return uint64(ns / int64(time.Second))
	}
	return 0
}

// liveness is what a session's timers need (guarded by Conn.mu). One timer
// per session serves every deadline (control retransmissions, the rekey
// grace period, path challenges, keep-alives, dead-peer probes, the idle
// timeout); it exists only while one of them is set, so an idle session
// with the default Config holds none.
type liveness struct {
	lastRecv, lastSend mono
	// unanswered is when data was first sent since anything authenticated
	// arrived (0: everything sent was answered); nextProbe is when the next
	// dead-peer probe goes out.
	unanswered, nextProbe mono
	// passiveAt is when to answer received data with a keep-alive if
	// nothing has been sent by then (0: not due).
	passiveAt mono
	timer     *time.Timer
	timerAt   mono
}

// probeDivisor sets the probe interval: DeadPeerTimeout/8 after the first
// probe at DeadPeerTimeout/2.
const probeDivisor = 8

// noteSendLocked records that a record goes out now (and returns now); data starts the
// dead-peer clock if it is not running.
func (c *Conn) noteSendLocked(data bool) mono {
	l := &c.live
	now := c.ep.now()
	l.lastSend = now
	l.passiveAt = 0
	if data && l.unanswered == 0 && c.cfg.DeadPeerTimeout > 0 {
		l.unanswered = now
		l.nextProbe = now + mono(c.cfg.DeadPeerTimeout/2)
		if l.timerAt == 0 || l.nextProbe < l.timerAt {
			c.scheduleLocked()
		}
	}
	return now
}

// noteRecvLocked records an authenticated record received now.
func (c *Conn) noteRecvLocked(now mono, data bool) {
	l := &c.live
	l.lastRecv = now
	l.unanswered = 0
	if data && l.passiveAt == 0 && c.cfg.PassiveKeepAlive > 0 {
		l.passiveAt = now + mono(c.cfg.PassiveKeepAlive)
	}
}

// sendKeepAliveLocked sends a keep-alive (kind keepAlivePlain) or a probe
// that asks the peer for one (keepAliveProbe).
func (c *Conn) sendKeepAliveLocked(kind byte, now mono) {
	if _, err := c.sendRecord(flagKeepAlive, []byte{kind}, nil); err != nil {
		return
	}
	c.st.kaOut.Add(1)
	c.live.lastSend = now
	c.live.passiveAt = 0
}

// onKeepAliveLocked takes the peer's keep-alive; a probe is answered at
// once.
func (c *Conn) onKeepAliveLocked(pt []byte, now mono) {
	if len(pt) != 1 || pt[0] > keepAliveProbe {
		c.st.ctlMalformed.Add(1)
		return
	}
	c.st.kaIn.Add(1)
	if pt[0] == keepAliveProbe {
		c.sendKeepAliveLocked(keepAlivePlain, now)
	}
}

// liveTimerLocked runs the liveness deadlines that are due; it reports
// whether the session ended.
func (c *Conn) liveTimerLocked(now mono) bool {
	l := &c.live
	cfg := c.cfg
	if d := cfg.DeadPeerTimeout; d > 0 && l.unanswered != 0 {
		if now >= l.unanswered+mono(d) {
			c.endLocked(ErrPeerDead, false)
			return true
		}
		if now >= l.nextProbe {
			c.sendKeepAliveLocked(keepAliveProbe, now)
			c.st.probes.Add(1)
			l.nextProbe = now + mono(max(d/probeDivisor, c.rto()))
		}
	}
	if d := cfg.IdleTimeout; d > 0 && now >= l.lastRecv+mono(d) {
		c.endLocked(ErrIdleTimeout, true)
		return true
	}
	if d := cfg.KeepAlive; d > 0 && now >= l.lastSend+mono(d) {
		c.sendKeepAliveLocked(keepAlivePlain, now)
	}
	if l.passiveAt != 0 && now >= l.passiveAt {
		c.sendKeepAliveLocked(keepAlivePlain, now)
	}
	return false
}

// nextDeadlineLocked returns the earliest deadline of the session (0:
// none).
func (c *Conn) nextDeadlineLocked() mono {
	var next mono
	at := func(t mono) {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	l := &c.live
	cfg := c.cfg
	at(c.controlDeadline())
	at(c.rk.graceAt)
	at(c.rk.probeAt)
	if p := c.cand; p != nil {
		at(p.nextAt)
		at(p.expiry)
	}
	if d := cfg.DeadPeerTimeout; d > 0 && l.unanswered != 0 {
		at(min(l.nextProbe, l.unanswered+mono(d)))
	}
	if d := cfg.IdleTimeout; d > 0 {
		at(l.lastRecv + mono(d))
	}
	if d := cfg.KeepAlive; d > 0 {
		at(l.lastSend + mono(d))
	}
	at(l.passiveAt)
	return next
}

// scheduleLocked arms the session timer for the earliest deadline, or
// drops it when there is none.
func (c *Conn) scheduleLocked() {
	l := &c.live
	next := c.nextDeadlineLocked()
	if next == 0 {
		c.stopTimerLocked()
		return
	}
	if l.timer != nil && l.timerAt == next {
		return
	}
	wait := max(time.Duration(next-c.ep.now()), minTimer)
	if l.timer == nil {
		l.timer = time.AfterFunc(wait, c.onSessionTimer)
	} else {
		l.timer.Reset(wait)
	}
	l.timerAt = next
}

// stopTimerLocked drops the session timer.
func (c *Conn) stopTimerLocked() {
	if t := c.live.timer; t != nil {
		t.Stop()
		c.live.timer = nil
	}
	c.live.timerAt = 0
}

// onSessionTimer runs the session's deadlines.
func (c *Conn) onSessionTimer() {
	c.ep.st.timed(c.runSessionTimer)
}

func (c *Conn) runSessionTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.est || c.closed || c.endErr != nil {
		return
	}
	c.live.timerAt = 0
	now := c.ep.now()
	if d := c.controlDeadline(); d != 0 && now >= d {
		c.pumpControlLocked(now)
	}
	c.rekeyTimerLocked(now)
	c.pathTimerLocked(now)
	if c.liveTimerLocked(now) {
		return
	}
	c.scheduleLocked()
}
