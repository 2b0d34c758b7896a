package datagram

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/record"
)

// FuzzControlPlaintext parses control plaintexts: no panic, and whatever
// parses has exactly one encoding (appending the parsed value gives the
// input back).
func FuzzControlPlaintext(f *testing.F) {
	for _, s := range controlSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if fr, err := parseCtlFragment(b); err == nil {
			if got := appendCtlFragment(nil, fr.id, fr.length, fr.offset, fr.data); !bytes.Equal(got, b) {
				t.Fatalf("fragment %x re-encodes as %x", b, got)
			}
			if fr.id == 0 || len(fr.data) == 0 || uint64(fr.offset)+uint64(len(fr.data)) > uint64(fr.length) || fr.length > maxControlMessage {
				t.Fatalf("fragment %+v accepted", fr)
			}
		}
		var buf [wire.MaxAckRanges]wire.Range
		if a, err := parseCtlAck(b, buf[:0]); err == nil {
			if got := appendCtlAck(nil, a); !bytes.Equal(got, b) {
				t.Fatalf("ack %x re-encodes as %x", b, got)
			}
		}
		if e, p, err := parseRatchetBody(b); err == nil && !bytes.Equal(ratchetBody(e, p), b) {
			t.Fatalf("ratchet body %x", b)
		}
	})
}

// controlSeeds are plaintexts of each control kind.
func controlSeeds() [][]byte {
	token := bytes.Repeat([]byte{7}, 32)
	body := ratchetBody(1, token)
	return [][]byte{
		appendCtlFragment(nil, 1, uint32(len(body)), 0, body),
		appendCtlFragment(nil, 2, 1000, 600, make([]byte, 400)),
		appendCtlAck(nil, ctlAck{id: 1, status: ctlDone, ranges: []wire.Range{{Start: 0, End: 40}}}),
		appendCtlAck(nil, ctlAck{id: 3, status: ctlReceiving, ranges: []wire.Range{{Start: 0, End: 10}, {Start: 20, End: 30}}}),
		{keepAliveProbe},
		bytes.Repeat([]byte{9}, pathDataSize),
	}
}

// fuzzAddr are the sources of fuzzed records: the peer, then two others.
var fuzzPeer = [3]netip.AddrPort{
	netip.MustParseAddrPort("127.0.0.1:4433"),
	netip.MustParseAddrPort("127.0.0.9:1000"),
	netip.MustParseAddrPort("[::1]:2000"),
}

// fuzzFlags are the flags a fuzzed record may carry.
var fuzzFlags = [...]record.Flag{flagData, flagAsymRequest, flagAsymResponse, flagRekey, flagClose,
	flagControlAck, flagKeepAlive, flagPathChallenge, flagPathResponse, record.FlagTransferRequest, 0}

// fuzzSession returns an established client session (a fake handshake's
// keys, QSMS sizes) over a capturePC whose peer is fuzzPeer[0].
func fuzzSession(t testing.TB) (*Conn, *capturePC) {
	cfg := &Config{newMachine: fakeFactory(10, 10), TimeThreshold: -1}
	n, err := cfg.normalize(false)
	if err != nil {
		t.Fatal(err)
	}
	pc := newCapturePC("127.0.0.1:6000")
	ep := newEndpoint(pc, n, false)
	c := newConn(ep, false, 1, fuzzPeer[0])
	c.owner = true
	c.peerID = 2
	m, _ := n.clientMachine()
	m.(*fakeMachine).done = true
	c.hs = newHS(m, time.Now().Add(time.Minute), 1, nil)
	ep.sessions[1] = c
	c.mu.Lock()
	err = c.establishLocked()
	c.hs.release()
	c.hs = nil
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	go ep.readLoop()
	return c, pc
}

// FuzzSessionRecords hands sequences of authenticated records (any flag,
// any plaintext, from the peer's address or others) to an established
// session, as the receive path does after a record opens. Invariants: no
// panic; the epochs stay consistent (the transmit epoch is the newest or
// one behind it, and the keys match them); an address other than the
// peer's never receives more than four times what came from it (three for
// path challenges, one for answers to its own challenges).
func FuzzSessionRecords(f *testing.F) {
	// Input: records of flag selector (1: flag index, high bit: first
	// record of the newest epoch), source (1: index, high bit: a new
	// highest sequence number), length (2, little-endian), plaintext.
	join := func(recs ...[]byte) []byte {
		var b []byte
		for _, r := range recs {
			b = append(b, r[0], r[1])
			b = binary.LittleEndian.AppendUint16(b, uint16(len(r)-2))
			b = append(b, r[2:]...)
		}
		return b
	}
	seeds := controlSeeds()
	f.Add(join(append([]byte{3, 0}, seeds[0]...)))
	f.Add(join(append([]byte{0, 0x81}, "data"...), append([]byte{7, 1}, seeds[5]...), append([]byte{8, 1}, seeds[5]...)))
	f.Add(join(append([]byte{6, 0}, seeds[4]...), append([]byte{5, 0}, seeds[2]...), append([]byte{4, 0}, 0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, pc := fuzzSession(t)
		defer c.Close()
		in := make(map[netip.AddrPort]int)
		for len(b) >= 4 {
			sel, src := b[0], b[1]
			n := min(int(binary.LittleEndian.Uint16(b[2:4])), len(b)-4)
			pt := append([]byte(nil), b[4:4+n]...)
			b = b[4+n:]
			from := fuzzPeer[int(src&0x7f)%len(fuzzPeer)]
			size := envelopeSize + record.HeaderSize + len(pt) + c.cfg.tagSize
			in[from] += size
			c.mu.Lock()
			c.acceptLocked(authRecord{
				flag: fuzzFlags[int(sel&0x7f)%len(fuzzFlags)], buf: bufOf(pt), from: from, size: size,
				newHighest: src&0x80 != 0, epoch: c.rk.latest, first: sel&0x80 != 0,
			}, c.ep.now())
			if k := c.keys; k != nil {
				rk := &c.rk
				if rk.latest < rk.tx || rk.latest > rk.tx+1 || k.tx.epoch != rk.tx ||
					k.rx[rk.latest&1] == nil || k.rx[rk.latest&1].epoch != rk.latest {
					t.Fatalf("epochs: tx %d latest %d, keys tx %d", rk.tx, rk.latest, k.tx.epoch)
				}
			}
			c.mu.Unlock()
		}
		for _, a := range fuzzPeer[1:] {
			if out := pc.sentTo(a); out > 4*in[a] {
				t.Fatalf("%v sent %d bytes and received %d", a, in[a], out)
			}
		}
	})
}

// TestControlReceiverRules hands control fragments to an established
// session as the receive path does: a request for a wrong epoch is
// declined; a copy of a processed message is acknowledged again and not
// processed twice; the next message is processed; an id out of order, a
// flag the session does not take (0x10 on QSMS) and a fragment outside
// its message are not acted upon.
func TestControlReceiverRules(t *testing.T) {
	c, pc := fuzzSession(t)
	defer c.Close()
	peer := fuzzPeer[0]
	feed := func(flag record.Flag, pt []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.acceptLocked(authRecord{flag: flag, buf: bufOf(pt), from: peer, size: 100, epoch: c.rk.latest}, c.ep.now())
	}
	state := func() (last ctlLast, tx uint64, recv uint64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.ctlIn, c.rk.tx, c.st.ctlRecv.Load()
	}
	token := bytes.Repeat([]byte{1}, 32)
	wrong := ratchetBody(5, token)
	feed(flagRekey, appendCtlFragment(nil, 1, uint32(len(wrong)), 0, wrong))
	if last, tx, recv := state(); last != (ctlLast{1, 40, ctlDeclined}) || tx != 0 || recv != 1 {
		t.Fatalf("wrong epoch: %+v, epoch %d, %d processed", last, tx, recv)
	}
	sent := len(pc.take(peer))
	feed(flagRekey, appendCtlFragment(nil, 1, uint32(len(wrong)), 0, wrong))
	if last, _, recv := state(); last.id != 1 || recv != 1 || len(pc.take(peer)) != 1 || sent != 1 {
		t.Fatalf("copy of message 1: %+v, %d processed", last, recv)
	}
	right := ratchetBody(1, token)
	feed(flagRekey, appendCtlFragment(nil, 3, uint32(len(right)), 0, right)) // id out of order
	if last, tx, _ := state(); last.id != 1 || tx != 0 {
		t.Fatalf("id 3 acted upon: %+v, epoch %d", last, tx)
	}
	feed(flagRekey, appendCtlFragment(nil, 2, uint32(len(right)), 8, right[8:])) // half of it
	if last, tx, _ := state(); last.id != 1 || tx != 0 {
		t.Fatalf("half a message acted upon: %+v, epoch %d", last, tx)
	}
	feed(flagRekey, appendCtlFragment(nil, 2, uint32(len(right)), 0, right[:8]))
	if last, tx, recv := state(); last != (ctlLast{2, 40, ctlDone}) || tx != 1 || recv != 2 {
		t.Fatalf("rekey to epoch 1: %+v, epoch %d, %d processed", last, tx, recv)
	}
	feed(flagRekey, appendCtlFragment(nil, 2, uint32(len(right)), 0, right))
	if _, tx, recv := state(); tx != 1 || recv != 2 {
		t.Fatalf("a copy processed again: epoch %d, %d processed", tx, recv)
	}
	big := make([]byte, 5000)
	feed(flagAsymRequest, appendCtlFragment(nil, 3, uint32(len(big)), 0, big[:1000]))
	if last, _, _ := state(); last != (ctlLast{3, 5000, ctlDeclined}) {
		t.Fatalf("asymmetric request on QSMS: %+v", last)
	}
	feed(flagRekey, []byte{1, 2, 3})
	if st := c.Stats(); st.ControlMalformed != 1 {
		t.Fatalf("malformed fragment: %+v", st)
	}
}

// TestRekeyDeclined: a peer that declines every request makes Rekey roll
// each one back (the receive keys it prepared go) and fail with
// ErrRatchetDeclined at the third.
func TestRekeyDeclined(t *testing.T) {
	c, _ := fuzzSession(t)
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- c.Rekey(t.Context()) }()
	for id := uint64(1); id <= maxDeclines; id++ {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			out := c.ctl != nil && c.ctl.sender != nil && c.ctl.outID == id
			latest := c.rk.latest
			c.mu.Unlock()
			if out {
				if latest != 1 {
					t.Fatalf("request %d out with the newest epoch %d", id, latest)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %d never sent", id)
			}
			time.Sleep(time.Millisecond)
		}
		ack := appendCtlAck(nil, ctlAck{id: id, status: ctlDeclined, ranges: []wire.Range{{Start: 0, End: 40}}})
		c.mu.Lock()
		c.acceptLocked(authRecord{flag: flagControlAck, buf: bufOf(ack), from: fuzzPeer[0], size: 100}, c.ep.now())
		rolledBack := c.rk.latest == 0 && c.keys.rx[1] == nil
		c.mu.Unlock()
		if !rolledBack {
			t.Fatalf("decline %d not rolled back", id)
		}
	}
	if err := <-done; !errors.Is(err, ErrRatchetDeclined) {
		t.Fatalf("Rekey after %d declines: %v", maxDeclines, err)
	}
	if st := c.Stats(); st.ControlDeclined != maxDeclines || st.Epoch != 0 {
		t.Fatalf("stats %+v", st)
	}
}
