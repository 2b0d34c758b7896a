package datagram

import (
	"crypto/rand"
	"crypto/subtle"
	"net"
	"net/netip"
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// Roaming (docs/DATAGRAM.md 7.5). An authenticated record that carries a
// new highest sequence number from an address other than the peer's makes
// that address a candidate: it gets an encrypted path challenge, and never
// more than amplificationFactor times the bytes it sent, until the peer
// answers from it. Then it becomes the peer's address; records keep going
// to the old one until then. A replayed record never reaches this point
// (the window drops it), and a genuine record re-sent from elsewhere after
// the original arrived is not a new highest.

// amplificationFactor bounds what a candidate address receives: at most
// this many times the authenticated bytes that came from it.
const amplificationFactor = 3

// candidateLifetime bounds how long a candidate may take to answer.
const candidateLifetime = 3 * time.Second

// candidate is an address the peer may have moved to.
type candidate struct {
	ap     netip.AddrPort
	ua     *net.UDPAddr
	data   [pathDataSize]byte
	rx, tx int // authenticated bytes received from it, bytes sent to it
	sent   int // challenges sent
	nextAt mono
	expiry mono
}

// challengeSize is the datagram size of a path challenge.
func (c *Conn) challengeSize() int {
	return envelopeSize + record.HeaderSize + pathDataSize + c.cfg.tagSize
}

// onOtherAddressLocked handles an authenticated record from an address
// that is not the peer's.
func (c *Conn) onOtherAddressLocked(from netip.AddrPort, size int, newHighest bool, now mono) {
	if p := c.cand; p != nil && p.ap == from {
		p.rx += size
		if p.nextAt == 0 && p.sent == 0 {
			c.challengeLocked(now) // the budget may allow it now
		}
		return
	}
	if !newHighest {
		return // late or re-sent: no reason to think the peer moved
	}
	if c.cand != nil {
		c.st.pathFailed.Add(1)
	}
	p := &candidate{ap: from, ua: net.UDPAddrFromAddrPort(from), rx: size, expiry: now + mono(max(candidateLifetime, 3*c.rto()))}
	if _, err := rand.Read(p.data[:]); err != nil {
		return
	}
	c.cand = p
	c.cfg.Logger.Debug("datagram: peer seen at a new address", "local", c.localID, "addr", from)
	c.challengeLocked(now)
}

// challengeLocked sends a path challenge to the candidate if its budget
// allows, and schedules the next one.
func (c *Conn) challengeLocked(now mono) {
	p := c.cand
	size := c.challengeSize()
	if p.tx+size > amplificationFactor*p.rx {
		p.nextAt = 0 // wait for more bytes from it
		return
	}
	n, err := c.sendRecord(flagPathChallenge, p.data[:], p.ua)
	if err != nil {
		return
	}
	p.tx += n
	p.sent++
	c.st.challenges.Add(1)
	p.nextAt = now + mono(c.rto()<<min(p.sent-1, 4))
}

// pathTimerLocked resends a challenge or gives the candidate up.
func (c *Conn) pathTimerLocked(now mono) {
	p := c.cand
	if p == nil {
		return
	}
	if now >= p.expiry {
		c.cand = nil
		c.st.pathFailed.Add(1)
		c.cfg.Logger.Debug("datagram: new address did not answer", "local", c.localID, "addr", p.ap)
		return
	}
	if p.nextAt != 0 && now >= p.nextAt {
		c.challengeLocked(now)
	}
}

// onPathChallengeLocked answers a challenge where it came from (it is
// authenticated, and the answer is no larger).
func (c *Conn) onPathChallengeLocked(pt []byte, from netip.AddrPort) {
	if len(pt) != pathDataSize {
		c.st.ctlMalformed.Add(1)
		return
	}
	c.sendRecord(flagPathResponse, pt, net.UDPAddrFromAddrPort(from))
}

// onPathResponseLocked validates the candidate if the response comes from
// it and echoes its challenge.
func (c *Conn) onPathResponseLocked(pt []byte, from netip.AddrPort) {
	if len(pt) != pathDataSize {
		c.st.ctlMalformed.Add(1)
		return
	}
	p := c.cand
	if p == nil || p.ap != from || subtle.ConstantTimeCompare(pt, p.data[:]) != 1 {
		return
	}
	c.path.Store(&peerPath{ap: p.ap, ua: p.ua})
	c.cand = nil
	c.st.migrations.Add(1)
	c.cfg.Logger.Debug("datagram: peer address changed", "local", c.localID, "addr", p.ap)
}
