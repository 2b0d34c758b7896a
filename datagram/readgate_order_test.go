package datagram

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// gatePair is a netsim session pair whose client seals record datagrams
// for the test to hand to the listener's socket readers itself, in the
// interleavings the read gate allows.
type gatePair struct {
	*pair
	peer netip.AddrPort // the client's address
}

func newGatePair(t *testing.T, seed int64) *gatePair {
	t.Helper()
	n := newNet(t, netsim.Config{Seed: seed})
	srv, cli := pairConfigs(t, false)
	p := connectPair(t, n, srv, cli)
	ap, ok := addrPortOf(p.client.LocalAddr())
	if !ok {
		t.Fatal(p.client.LocalAddr())
	}
	synctest.Wait() // the handshake's last datagrams are in
	return &gatePair{pair: p, peer: ap}
}

// seal seals a data record under the client's current transmit keys, as
// one datagram.
func (p *gatePair) seal(t *testing.T, pt string) []byte {
	t.Helper()
	k := p.client.keys
	prefix := wire.RecordPrefix(k.peer, k.tx.epoch&1 == 1)
	b := append([]byte(nil), prefix[:]...)
	b, _, err := k.tx.sealer.Seal(b, prefix[:], flagData, []byte(pt), record.UnixTime(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chunk is datagrams as one read of the listener's socket brings them.
func chunk(from netip.AddrPort, dgs ...[]byte) []batchio.Message {
	msgs := make([]batchio.Message, len(dgs))
	for i, d := range dgs {
		msgs[i] = batchio.Message{Buf: d, N: len(d), Addr: from}
	}
	return msgs
}

// gateRun hands chunks a (the earlier ticket) and b (the later one) to
// two socket readers as the read gate may: each reader opens its chunk
// (take), b's reader first when bFirst, and they accept in ticket order
// (finish), a's first.
func (p *gatePair) gateRun(a, b []batchio.Message, bFirst bool) {
	s := p.server.ep.socks[0]
	var ra, rb reader
	if bFirst {
		rb.take(s, b)
		ra.take(s, a)
	} else {
		ra.take(s, a)
		rb.take(s, b)
	}
	ra.finish()
	rb.finish()
}

// readInOrder reads the listener's session until want records came or a read
// times out.
func readInOrder(t *testing.T, c *Conn, want ...string) {
	t.Helper()
	buf := make([]byte, 2048)
	for i, w := range want {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != w {
			t.Fatalf("read %d: %q, %v; want %q", i, buf[:n], err, w)
		}
	}
}

// TestGateLateRecordNotNewHighest: a record that arrives after a higher
// one (a late record, re-sent from another address by someone who held
// it back) is not the new highest sequence number when it is accepted,
// and so must not make its address a candidate for the peer's (roaming,
// docs/DATAGRAM.md 7.5), whichever of the two chunks holding them was
// opened first. It did: the later chunk, opened first, took the window's
// highest from before the earlier chunk's records, and its late record
// counted as a new highest: a path challenge went to the other address.
// A record that is the new highest from another address, in the later
// chunk, still makes it a candidate, whichever chunk was opened first.
func TestGateLateRecordNotNewHighest(t *testing.T) {
	other := netip.MustParseAddrPort("127.0.0.66:6666")
	for _, late := range []bool{true, false} {
		for _, bFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("late=%v/laterChunkOpenedFirst=%v", late, bFirst), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := newGatePair(t, 41)
					defer p.close()
					first, second := p.seal(t, "first"), p.seal(t, "second")
					var a, b []batchio.Message
					var want []string
					if late {
						// The peer's higher record, then the lower from elsewhere.
						a, b = chunk(p.peer, second), chunk(other, first)
						want = []string{"second", "first"}
					} else {
						a, b = chunk(p.peer, first), chunk(other, second)
						want = []string{"first", "second"}
					}
					p.gateRun(a, b, bFirst)
					readInOrder(t, p.server, want...)
					p.server.mu.Lock()
					cand := p.server.cand
					p.server.mu.Unlock()
					st := p.server.Stats()
					if late && (cand != nil || st.PathChallenges != 0) {
						t.Fatalf("a late record from %v made it a candidate (%d challenges)", other, st.PathChallenges)
					}
					if !late && (cand == nil || cand.ap != other || st.PathChallenges == 0) {
						t.Fatalf("the new highest record from %v did not make it a candidate (%d challenges)", other, st.PathChallenges)
					}
				})
			})
		}
	}
}

// deafPC drops every datagram that arrives while deaf is set.
type deafPC struct {
	net.PacketConn
	deaf atomic.Bool
}

func (p *deafPC) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := p.PacketConn.ReadFrom(b)
		if err != nil || !p.deaf.Load() {
			return n, a, err
		}
	}
}

// TestGateFirstRecordOfEpochInArrivalOrder: the listener asked for a
// rekey (its receive keys of the next epoch are installed, it still sends
// under the current one); the client's first records under the new epoch
// arrive in two chunks, the later chunk opened first. The listener must
// move its transmit keys to the new epoch when it accepts the first of
// them in arrival order, that is with the earlier chunk. It did so only
// with the later chunk: "first record of the epoch" was decided when a
// record opened, not when it was accepted, so the earlier chunk's records
// were accepted under an epoch the session had not confirmed yet.
func TestGateFirstRecordOfEpochInArrivalOrder(t *testing.T) {
	for _, bFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("laterChunkOpenedFirst=%v", bFirst), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 43})
				srv, cli := pairConfigs(t, false)
				deaf := &deafPC{PacketConn: listenPC(t, n, "127.0.0.1:0")}
				p := wrappedPair(t, n, srv, cli, deaf)
				defer p.close()
				cl, sv := p.client, p.server
				peer, _ := addrPortOf(cl.LocalAddr())
				synctest.Wait()
				// The client does not hear the request: the test seals
				// its records under the new epoch itself.
				deaf.deaf.Store(true)
				sv.mu.Lock()
				ok, err := sv.startRekeyLocked(sv.ep.now())
				epoch, rs := sv.rk.latest, sv.rk.rs
				key, base, kerr := record.DatagramKeys(rs.Wide, rs.Secret, record.ClientToServer, epoch)
				sv.mu.Unlock()
				if !ok || err != nil || kerr != nil || epoch != 1 {
					t.Fatalf("rekey: started %v, %v, %v; epoch %d", ok, err, kerr, epoch)
				}
				sealer := record.NewSealer(key, base, &cl.txSeq)
				seal := func(pt string) []byte {
					prefix := wire.RecordPrefix(cl.keys.peer, epoch&1 == 1)
					b := append([]byte(nil), prefix[:]...)
					b, _, err := sealer.Seal(b, prefix[:], flagData, []byte(pt), record.UnixTime(time.Now()))
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
				a, b := chunk(peer, seal("new 0"), seal("new 1")), chunk(peer, seal("new 2"))
				s := sv.ep.socks[0]
				var ra, rb reader
				if bFirst {
					rb.take(s, b)
					ra.take(s, a)
				} else {
					ra.take(s, a)
					rb.take(s, b)
				}
				ra.finish()
				sv.mu.Lock()
				tx := sv.rk.tx
				sv.mu.Unlock()
				rb.finish()
				if tx != epoch {
					t.Fatalf("transmit epoch %d once the first records of epoch %d were accepted; want %d", tx, epoch, epoch)
				}
				readInOrder(t, sv, "new 0", "new 1", "new 2")
				if st := sv.Stats(); st.Rekeys != 1 {
					t.Fatalf("%d moves of the transmit keys, want 1", st.Rekeys)
				}
			})
		})
	}
}

// TestGateSpanWithinWindow: with a replay window of 64 sequence numbers
// (Config.WindowSize) and chunks of 64 datagrams, a reader must not open
// a chunk while the one before it is not done: opened first, the later
// chunk's records push the window past the earlier chunk's, which are then
// dropped as too old although they arrived in order. Here one reader has
// taken the first chunk of a session's in-order records and not opened it
// yet when another looks for work (the gate of a socket of the test's own,
// whose reading is taken). It did open the second chunk, and the 64
// records of the first were dropped (TooOld 64).
func TestGateSpanWithinWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 47})
		srv, cli := pairConfigs(t, false)
		srv.WindowSize, cli.WindowSize = 64, 64
		pp := connectPair(t, n, srv, cli)
		ap, _ := addrPortOf(pp.client.LocalAddr())
		synctest.Wait()
		p := &gatePair{pair: pp, peer: ap}
		defer p.close()
		const batch = 64
		var dgs [][]byte
		var want []string
		for i := range 2 * batch {
			want = append(want, fmt.Sprint("record ", i))
			dgs = append(dgs, p.seal(t, want[i]))
		}
		st := &readState{msgs: chunk(p.peer, dgs...), refs: 2}
		s := &sock{ep: p.server.ep, batch: batch}
		g := &s.gate
		g.reading = true // nobody else reads this socket
		g.chunks = []readChunk{{st: st, lo: 0, hi: batch, t: 0}, {st: st, lo: batch, hi: 2 * batch, t: 1}}
		g.next, g.states = 2, 1
		// One reader has taken the first chunk.
		first := g.chunks[0]
		g.chunks = g.chunks[1:]
		// Another looks for work.
		var rb reader
		took := make(chan bool, 1)
		go func() { took <- s.work(&rb, false) }()
		synctest.Wait()
		g.mu.Lock()
		queued := len(g.chunks)
		g.mu.Unlock()
		if queued == 0 {
			t.Errorf("a reader took the second chunk before the first was opened, with a window of %d", srv.WindowSize)
		}
		var ra reader
		s.serve(&ra, first)
		if !<-took {
			s.work(&ra, false) // the second chunk, now
		}
		readInOrder(t, p.server, want...)
		if d := p.server.Stats().Drops; d.Total() != 0 {
			t.Fatalf("drops %+v", d)
		}
		if g.done != 2 || len(g.free) != 1 || st.refs != 0 {
			t.Fatalf("tickets done %d of 2, %d read states free, %d chunks outstanding", g.done, len(g.free), st.refs)
		}
	})
}
