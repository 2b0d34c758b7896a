package datagram

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/netip"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
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
//
// An attacker who sees the peer's datagrams can race a copy of each from
// its own address ahead of the original: the copy is then the new highest
// and makes the attacker the candidate, and the original, arriving second,
// is a duplicate. So that such a race cannot keep a peer that really moved
// from being found, an authentic copy of an accepted record that comes from
// a third address while a candidate is pending (record.Opener.Reopen
// checks it) earns that address a challenge of its own, within the same
// amplification budget, at most maxAltAddresses addresses per candidate;
// and a copy of a path response is examined as the original would be. The
// answer to such a challenge is a token bound to the address it was sent
// to (an HMAC under a key of the candidate's), so it validates only that
// address, whoever relays it.

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

	// Other addresses that sent authentic copies of accepted records
	// while this candidate was pending, each challenged with a token
	// bound to it (token).
	key  [32]byte
	alts [maxAltAddresses]altAddress
	nalt int
}

// altAddress is an address challenged because a copy of a record came
// from it (see the package comment above).
type altAddress struct {
	ap     netip.AddrPort
	rx, tx int  // authentic bytes received from it, bytes sent to it
	at     mono // when it was last challenged
}

// maxAltAddresses bounds the other addresses a candidate's period
// challenges.
const maxAltAddresses = 4

// token returns the path challenge data for another address ap.
func (p *candidate) token(ap netip.AddrPort) [pathDataSize]byte {
	m := hmac.New(sha256.New, p.key[:])
	b, _ := ap.MarshalBinary()
	m.Write(b)
	var t [pathDataSize]byte
	copy(t[:], m.Sum(nil))
	return t
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
		if p.nextAt == 0 {
			// Waiting for budget (before the first challenge, or since
			// the timer found it spent): it may allow one now.
			c.challengeLocked(now)
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
	if _, err := rand.Read(p.key[:]); err != nil {
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
// it and echoes its challenge, or another address if the response comes
// from it and carries its token.
func (c *Conn) onPathResponseLocked(pt []byte, from netip.AddrPort) {
	if len(pt) != pathDataSize {
		c.st.ctlMalformed.Add(1)
		return
	}
	p := c.cand
	if p == nil || from == c.peerAddr() {
		return
	}
	ua := p.ua
	if p.ap != from || subtle.ConstantTimeCompare(pt, p.data[:]) != 1 {
		t := p.token(from)
		if subtle.ConstantTimeCompare(pt, t[:]) != 1 {
			return
		}
		ua = net.UDPAddrFromAddrPort(from)
	}
	c.path.Store(&peerPath{ap: from, ua: ua})
	c.cand = nil
	c.st.migrations.Add(1)
	c.cfg.Logger.Debug("datagram: peer address changed", "local", c.localID, "addr", from)
}

// onCopyLocked handles a record the window refused as a duplicate, from
// an address other than the peer's, while a candidate is pending: if the
// copy is authentic, a path response is examined, and any other record
// earns its address a challenge (see the package comment above). From the
// candidate's own address only a path response is examined: the original
// answer to its challenge, overtaken by a copy from elsewhere. idx is the
// key slot of the record's epoch bit.
func (c *Conn) onCopyLocked(idx int, rec wire.Record, from netip.AddrPort, size int, now mono) {
	p := c.cand
	if p == nil || from == c.peerAddr() {
		return
	}
	if from == p.ap && (len(rec.Packet) == 0 || record.Flag(rec.Packet[0]) != flagPathResponse) {
		return
	}
	c.keyMu.RLock()
	k := c.keys
	if k == nil || k.rx[idx] == nil {
		c.keyMu.RUnlock()
		return
	}
	bp := c.ep.getBuf()
	h, pt, err := k.rx[idx].opener.Reopen((*bp)[:0], rec.Prefix, rec.Packet, c.ep.unixNow(now))
	c.keyMu.RUnlock()
	defer func() {
		clear(pt)
		c.ep.putBuf(bp)
	}()
	if err != nil {
		return
	}
	if from != p.ap {
		c.st.copies.Add(1)
	}
	if h.Flag == flagPathResponse {
		c.onPathResponseLocked(pt, from)
		return
	}
	var a *altAddress
	for i := range p.nalt {
		if p.alts[i].ap == from {
			a = &p.alts[i]
		}
	}
	if a == nil {
		if p.nalt == maxAltAddresses {
			return
		}
		a = &p.alts[p.nalt]
		p.nalt++
		*a = altAddress{ap: from}
	}
	a.rx += size
	cs := c.challengeSize()
	if a.tx+cs > amplificationFactor*a.rx || (a.at != 0 && now < a.at+mono(c.rto())) {
		return
	}
	t := p.token(from)
	n, err := c.sendRecord(flagPathChallenge, t[:], net.UDPAddrFromAddrPort(from))
	if err != nil {
		return
	}
	a.tx += n
	a.at = now
	c.st.challenges.Add(1)
}
