package datagram

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/netsim"
)

// tapPC wraps a client's socket: it logs every datagram the client sends,
// and in hold mode keeps them instead of sending them (release sends them).
type tapPC struct {
	net.PacketConn
	mu   sync.Mutex
	hold bool
	log  [][]byte
	held []heldDatagram
}

type heldDatagram struct {
	b  []byte
	to net.Addr
}

func (p *tapPC) WriteTo(b []byte, to net.Addr) (int, error) {
	p.mu.Lock()
	c := append([]byte(nil), b...)
	p.log = append(p.log, c)
	if p.hold {
		p.held = append(p.held, heldDatagram{c, to})
		p.mu.Unlock()
		return len(b), nil
	}
	p.mu.Unlock()
	return p.PacketConn.WriteTo(b, to)
}

// setHold turns hold mode on or off and returns what was held.
func (p *tapPC) setHold(on bool) []heldDatagram {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = on
	h := p.held
	p.held = nil
	return h
}

// records returns the record datagrams logged so far.
func (p *tapPC) records() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]byte
	for _, d := range p.log {
		if k, _, err := wire.Peek(d); err == nil && k == wire.KindRecord {
			out = append(out, d)
		}
	}
	return out
}

// tappedPair is connectPair with the client's socket behind a tapPC.
func tappedPair(t *testing.T, n *netsim.Network, srv, cli *Config) (*pair, *tapPC) {
	t.Helper()
	tap := &tapPC{PacketConn: listenPC(t, n, "127.0.0.1:0")}
	return wrappedPair(t, n, srv, cli, tap), tap
}

// wrappedPair is connectPair with the client on the socket pc.
func wrappedPair(t *testing.T, n *netsim.Network, srv, cli *Config, pc net.PacketConn) *pair {
	t.Helper()
	l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
	if err != nil {
		t.Fatal(err)
	}
	acceptAll := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			acceptAll <- c.(*Conn)
		}
		close(acceptAll)
	}()
	c, err := DialPacketConn(t.Context(), pc, l.Addr(), cli)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	s := <-acceptAll
	if s == nil {
		t.Fatal("no session accepted")
	}
	return &pair{l: l, client: c, server: s}
}

// TestRoaming: the client's NAT rebinds mid-session (netsim Rebind). The
// listener sees authenticated records from the new address, challenges
// it, and moves the session there once the client answers; records then
// flow both ways. The old address gets nothing more.
func TestRoaming(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		t.Run(fmt.Sprintf("duplex=%v", duplex), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 71, Delay: 5 * time.Millisecond})
				srv, cli := pairConfigs(t, duplex)
				p := connectPair(t, n, srv, cli)
				defer p.close()
				c, s := p.client, p.server
				exchange(t, c, s, "before")
				exchange(t, s, c, "before")
				old := s.RemoteAddr().String()
				newAddr, err := n.Rebind(c.ep.pc)
				if err != nil {
					t.Fatal(err)
				}
				exchange(t, c, s, "from the new address")
				time.Sleep(50 * time.Millisecond) // the challenge and its answer
				if got := s.RemoteAddr().String(); got != newAddr.String() {
					t.Fatalf("listener sends to %s, want the new address %s (old %s)", got, newAddr, old)
				}
				exchange(t, s, c, "to the new address")
				exchange(t, c, s, "again")
				ss := s.Stats()
				if ss.Migrations != 1 || ss.PathChallenges == 0 || ss.PathFailures != 0 {
					t.Fatalf("listener stats %+v", ss)
				}
				// A ratchet still works on the new path.
				if err := s.Rekey(t.Context()); err != nil {
					t.Fatal(err)
				}
				exchange(t, s, c, "new epoch")
				if ls := n.Stats(); ls.Unreachable != 0 {
					t.Fatalf("%d datagrams went to the old address", ls.Unreachable)
				}
			})
		})
	}
}

// TestRoamingAttacks: an attacker copies the client's records (an on-path
// tap) and races a fresh copy from its own address, or from a victim's
// address, ahead of the original. The copy is authentic and a new highest,
// so its source becomes a candidate: it gets path challenges worth at most
// three times what was sent from it, cannot answer, and the session stays
// where it was. Copies sent after the original arrived, from anywhere, are
// replays: dropped, and nothing at all goes to their source. Positive
// control: the client's own move is validated (TestRoaming).
func TestRoamingAttacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 72, Delay: 20 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		p, tap := tappedPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		clientAddr := s.RemoteAddr().String()
		attacker := listenPC(t, n, "127.0.0.66:6666")
		victim := listenPC(t, n, "127.0.0.77:7777")
		for _, src := range []net.PacketConn{attacker, victim} {
			// Race: the attacker's copy goes out first.
			tap.setHold(true)
			if _, err := c.Write([]byte("raced")); err != nil {
				t.Fatal(err)
			}
			held := tap.setHold(false)
			if len(held) != 1 {
				t.Fatalf("%d datagrams held", len(held))
			}
			if _, err := src.WriteTo(held[0].b, s.ep.pc.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			if _, err := tap.PacketConn.WriteTo(held[0].b, held[0].to); err != nil {
				t.Fatal(err)
			}
			deadlineRead(t, s, "raced") // the copy, authentic
			time.Sleep(5 * time.Second) // challenges, then the candidate expires
			k, bytes := drainPC(src)
			if k == 0 || bytes > amplificationFactor*len(held[0].b) {
				t.Fatalf("%v got %d datagrams, %d bytes, for %d bytes sent", src.LocalAddr(), k, bytes, len(held[0].b))
			}
			if got := s.RemoteAddr().String(); got != clientAddr {
				t.Fatalf("the session moved to %s", got)
			}
			exchange(t, s, c, "still to the client")
			// Replays after the original: nothing goes back.
			dups := s.Stats().Drops.Duplicate
			for _, d := range tap.records() {
				src.WriteTo(d, s.ep.pc.LocalAddr())
			}
			time.Sleep(time.Second)
			if k, _ := drainPC(src); k != 0 {
				t.Fatalf("replays from %v answered with %d datagrams", src.LocalAddr(), k)
			}
			if s.Stats().Drops.Duplicate == dups {
				t.Fatal("replays not dropped by the window")
			}
		}
		ss := s.Stats()
		t.Logf("listener: %d challenges, %d failed candidates, %d migrations", ss.PathChallenges, ss.PathFailures, ss.Migrations)
		if ss.Migrations != 0 || ss.PathFailures != 2 || ss.RecordsIn != 2 {
			t.Fatalf("listener stats %+v", ss)
		}
	})
}

// rejected sums what a listener and its session dropped: every way a
// datagram can fail to be accepted.
func rejected(l *Listener, s *Conn) uint64 {
	ls, ss := l.Stats(), s.Stats()
	return ls.Malformed + ls.UnknownSession + ls.WrongAddress + ss.Drops.Total() + ss.EpochDrops
}

// accepted sums what a session took from the peer.
func accepted(s *Conn) uint64 {
	st := s.Stats()
	return st.RecordsIn + st.ControlReceived + st.KeepAlivesReceived + st.Migrations
}

// TestForgedRecords replays every record a client sent over a session
// with symmetric and asymmetric ratchets (every epoch), flips every bit of
// fresh records before their originals arrive, and sends them under
// forged session ids (random, and another live session's) and with the
// other epoch bit: nothing is accepted, each forgery is counted once, and
// the originals sent after their forgeries are accepted.
func TestForgedRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ncfg := netsim.Config{Seed: 73, Delay: 2 * time.Millisecond, RecvQueue: 1 << 16}
		n := newNet(t, ncfg)
		srv, cli := pairConfigs(t, true)
		p, tap := tappedPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		to := s.ep.pc.LocalAddr()
		for i := range 4 {
			exchange(t, c, s, fmt.Sprintf("epoch %d", i))
			exchange(t, s, c, fmt.Sprintf("epoch %d", i))
			var err error
			if i == 2 {
				err = c.RatchetAsymmetric(t.Context())
			} else {
				err = []*Conn{c, s}[i%2].Rekey(t.Context())
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		exchange(t, c, s, "last")
		time.Sleep(time.Second)
		send := func(ds [][]byte) {
			for i, d := range ds {
				if _, err := tap.PacketConn.WriteTo(d, to); err != nil {
					t.Fatal(err)
				}
				if i%500 == 499 {
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}

		// 1. Replays of every record, every epoch.
		recs := tap.records()
		acc, rej := accepted(s), rejected(p.l, s)
		send(recs)
		if accepted(s) != acc || rejected(p.l, s)-rej != uint64(len(recs)) {
			t.Fatalf("replay of %d records: accepted %d more, rejected %d", len(recs), accepted(s)-acc, rejected(p.l, s)-rej)
		}
		t.Logf("%d records replayed (epochs 0 to %d): none accepted", len(recs), s.Stats().Epoch)

		// 2. Every bit of fresh records flipped, then the originals.
		tap.setHold(true)
		for _, m := range []string{"a", "bb", "ccc"} {
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		c.sendKeepAliveLocked(keepAlivePlain, c.ep.now())
		c.mu.Unlock()
		held := tap.setHold(false)
		var flips [][]byte
		for _, h := range held {
			for bit := range 8 * len(h.b) {
				f := append([]byte(nil), h.b...)
				f[bit/8] ^= 1 << (bit % 8)
				flips = append(flips, f)
			}
		}
		acc, rej = accepted(s), rejected(p.l, s)
		send(flips)
		if accepted(s) != acc || rejected(p.l, s)-rej != uint64(len(flips)) {
			t.Fatalf("%d bit flips: accepted %d, rejected %d", len(flips), accepted(s)-acc, rejected(p.l, s)-rej)
		}
		// 3. Forged ids: random, another live session's; the other epoch bit.
		other := connectPairAt(t, n, "127.0.0.2:4433", srv, cli) // a second listener and session
		defer other.close()
		var forged [][]byte
		for i, h := range held {
			for k := range 50 {
				f := append([]byte(nil), h.b...)
				f[2+k%8] ^= byte(i*50 + k + 1)
				forged = append(forged, f)
			}
			f := append([]byte(nil), h.b...)
			f[1] ^= byte(wire.EpochBit)
			forged = append(forged, f)
		}
		acc, rej = accepted(s), rejected(p.l, s)
		send(forged)
		if accepted(s) != acc || rejected(p.l, s)-rej != uint64(len(forged)) {
			t.Fatalf("%d forged ids and epochs: accepted %d, rejected %d", len(forged), accepted(s)-acc, rejected(p.l, s)-rej)
		}
		oacc, orej := accepted(other.server), rejected(other.l, other.server)
		ol := other.l.ep.pc.LocalAddr()
		for _, h := range held {
			f := append([]byte(nil), h.b...)
			binary.LittleEndian.PutUint64(f[2:10], other.server.localID)
			if _, err := tap.PacketConn.WriteTo(f, ol); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if accepted(other.server) != oacc || other.server.Stats().Drops.Auth == 0 {
			t.Fatalf("records moved to another session: accepted %d, rejected %d", accepted(other.server)-oacc, rejected(other.l, other.server)-orej)
		}
		// Positive control: the originals.
		for _, h := range held {
			tap.PacketConn.WriteTo(h.b, h.to)
		}
		for _, m := range []string{"a", "bb", "ccc"} {
			deadlineRead(t, s, m)
		}
		synctest.Wait() // the keep-alive after "ccc" is processed too
		if got := accepted(s) - acc; got != uint64(len(held)) {
			t.Fatalf("originals: %d accepted, want %d", got, len(held))
		}
		t.Logf("%d bit flips and %d forged ids or epochs: none accepted; the %d originals were", len(flips), len(forged), len(held))
	})
}

// racePC sends, while on, a copy of every datagram from the attacker's
// socket first: an attacker who sees the client's traffic and wins every
// race to the listener.
type racePC struct {
	net.PacketConn
	attacker net.PacketConn
	on       atomic.Bool
	sent     atomic.Int64 // bytes the attacker sent
}

func (p *racePC) WriteTo(b []byte, to net.Addr) (int, error) {
	if p.on.Load() {
		if n, err := p.attacker.WriteTo(b, to); err == nil {
			p.sent.Add(int64(n))
		}
	}
	return p.PacketConn.WriteTo(b, to)
}

// racedPair is connectPair with the client's socket behind a tapPC behind
// a racePC.
func racedPair(t *testing.T, n *netsim.Network, attacker net.PacketConn) (*pair, *racePC, *tapPC) {
	t.Helper()
	srv, cli := pairConfigs(t, false)
	tap := &tapPC{PacketConn: listenPC(t, n, "127.0.0.1:0")}
	rp := &racePC{PacketConn: tap, attacker: attacker}
	return wrappedPair(t, n, srv, cli, rp), rp, tap
}

// drainPC counts the datagrams and bytes waiting on pc.
func drainPC(pc net.PacketConn) (k, bytes int) {
	buf := make([]byte, 70000)
	for {
		pc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		m, _, err := pc.ReadFrom(buf)
		if err != nil {
			return k, bytes
		}
		k++
		bytes += m
	}
}

// TestRoamingRacedCopies: the client's NAT rebinds while an attacker races
// a copy of every datagram the client sends (its path responses too) from
// its own address. Every original then arrives second, as a duplicate, and
// the attacker is the candidate; the listener still finds the client: the
// authentic copies from the client's new address earn it a challenge bound
// to that address, and the client's answer, raced as well, validates it.
// The attacker gets no more than three times what it sent and never the
// session. Positive control: TestRoaming (the same move, no attacker);
// without the copies' challenges the listener keeps sending to the old
// address for as long as the race goes on.
func TestRoamingRacedCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 73, Delay: 20 * time.Millisecond})
		attacker := listenPC(t, n, "127.0.0.66:6666")
		p, rp, tap := racedPair(t, n, attacker)
		defer p.close()
		c, s := p.client, p.server
		exchange(t, c, s, "before")
		newAddr, err := n.Rebind(tap.PacketConn)
		if err != nil {
			t.Fatal(err)
		}
		rp.on.Store(true)
		exchange(t, c, s, "after the move") // the attacker's copy, authentic
		time.Sleep(time.Second)
		if got := s.RemoteAddr().String(); got != newAddr.String() {
			t.Fatalf("listener sends to %s, want the client's new address %s", got, newAddr)
		}
		exchange(t, s, c, "found") // while the race goes on
		exchange(t, c, s, "and back")
		time.Sleep(5 * time.Second) // the attacker's candidacy expires
		if k, bytes := drainPC(attacker); k == 0 || bytes > amplificationFactor*int(rp.sent.Load()) {
			t.Fatalf("attacker got %d datagrams, %d bytes, for %d bytes sent", k, bytes, rp.sent.Load())
		}
		ss := s.Stats()
		t.Logf("listener: %d challenges, %d copies, %d failed candidates, %d migrations", ss.PathChallenges, ss.PathCopies, ss.PathFailures, ss.Migrations)
		if ss.Migrations != 1 || ss.PathCopies == 0 || s.RemoteAddr().String() != newAddr.String() {
			t.Fatalf("listener stats %+v", ss)
		}
	})
}

// TestRoamingCopiesFromVictims: while an attacker's raced copy holds a
// candidacy open, it replays the same authentic record from many victims'
// addresses. At most maxAltAddresses of them get anything, a challenge
// worth at most three times the copy each, and none gets the session.
// Control: the first victims do get their challenge (the copies are
// examined at all).
func TestRoamingCopiesFromVictims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 74, Delay: 20 * time.Millisecond})
		attacker := listenPC(t, n, "127.0.0.66:6666")
		p, _, tap := racedPair(t, n, attacker)
		defer p.close()
		c, s := p.client, p.server
		clientAddr := s.RemoteAddr().String()
		exchange(t, c, s, "before")
		// Hold the next record: the attacker's copy goes first (a
		// candidacy), then the victims', then the original.
		tap.setHold(true)
		if _, err := c.Write([]byte("copied")); err != nil {
			t.Fatal(err)
		}
		held := tap.setHold(false)
		if len(held) != 1 {
			t.Fatalf("%d datagrams held", len(held))
		}
		rec := held[0].b
		attacker.WriteTo(rec, held[0].to)
		time.Sleep(30 * time.Millisecond)
		var victims []net.PacketConn
		for i := range 10 {
			v := listenPC(t, n, fmt.Sprintf("127.0.1.%d:7000", i+1))
			victims = append(victims, v)
			v.WriteTo(rec, held[0].to)
			time.Sleep(time.Millisecond)
		}
		tap.PacketConn.WriteTo(rec, held[0].to)
		deadlineRead(t, s, "copied")
		time.Sleep(5 * time.Second)
		answered := 0
		for _, v := range victims {
			k, bytes := drainPC(v)
			if k > 0 {
				answered++
			}
			if bytes > amplificationFactor*len(rec) {
				t.Fatalf("victim %v got %d bytes for a copy of %d", v.LocalAddr(), bytes, len(rec))
			}
		}
		if answered == 0 || answered > maxAltAddresses {
			t.Fatalf("%d victims challenged, want 1 to %d", answered, maxAltAddresses)
		}
		if got := s.RemoteAddr().String(); got != clientAddr {
			t.Fatalf("the session moved to %s", got)
		}
		exchange(t, s, c, "still to the client")
		if ss := s.Stats(); ss.Migrations != 0 || ss.PathCopies != 10 {
			t.Fatalf("listener stats %+v", ss)
		}
	})
}
