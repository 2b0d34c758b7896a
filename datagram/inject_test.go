package datagram

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// isolatedPair is an established QSMD pair whose links then drop
// everything, so that a test speaks for each peer by handing records to
// the other as its receive path would after they opened.
func isolatedPair(t *testing.T) (*pair, *netsim.Network) {
	t.Helper()
	server, client := suiteKeys(t, suite.Default)
	n := newNet(t, netsim.Config{Seed: 74, Delay: 10 * time.Millisecond})
	srv, cli := duplexConfigs(server, client)
	p := connectPair(t, n, srv, cli)
	exchange(t, p.client, p.server, "established")
	time.Sleep(100 * time.Millisecond) // the handshake's last datagrams land
	for _, l := range [][2]*Conn{{p.client, p.server}, {p.server, p.client}} {
		from, to := l[0].ep.pc, l[1].ep.pc
		if err := n.SetLink(from, to, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return p, n
}

// inject hands c an authenticated record from its peer's address.
func inject(c *Conn, flag record.Flag, pt []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acceptLocked(authRecord{flag: flag, buf: bufOf(append([]byte(nil), pt...)), from: c.peerAddr(),
		size: 100, epoch: c.rk.latest}, c.ep.now())
}

// injectMessage hands c a whole control message of its peer, with the next
// id, in one fragment, and waits for the work it causes.
func injectMessage(c *Conn, flag record.Flag, body []byte) uint64 {
	c.mu.Lock()
	id := c.ctlIn.id + 1
	c.mu.Unlock()
	inject(c, flag, appendCtlFragment(nil, id, uint32(len(body)), 0, body))
	synctest.Wait()
	return id
}

// injectAck acknowledges c's control message in flight whole with status.
func injectAck(t *testing.T, c *Conn, status ctlStatus) {
	t.Helper()
	c.mu.Lock()
	if c.ctl == nil || c.ctl.sender == nil {
		c.mu.Unlock()
		t.Fatal("no control message in flight")
	}
	id, n := c.ctl.outID, uint32(len(c.ctl.out.body))
	c.mu.Unlock()
	inject(c, flagControlAck, appendCtlAck(nil, ctlAck{id: id, status: status, ranges: []wire.Range{{Start: 0, End: n}}}))
	synctest.Wait()
}

func rkOf(c *Conn) (state rkState, tx, latest uint64, last ctlLast, pend bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rk.state, c.rk.tx, c.rk.latest, c.ctlIn, c.rk.pend != nil
}

// TestInjectedAsymmetricMessages hands a QSMD session ratchet messages its
// peer could send: forged or mismatched ones are declined and leave the
// epochs and secrets as they were; a valid request is answered, and the
// responder rolls back when its response is declined and moves when it
// is accepted.
func TestInjectedAsymmetricMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := isolatedPair(t)
		defer p.close()
		c, s := p.client, p.server
		cfg := s.cfg

		// A request that does not verify.
		junk := make([]byte, cfg.asymReq-8)
		rand.Read(junk)
		id := injectMessage(s, flagAsymRequest, ratchetBody(1, junk))
		if st, tx, latest, last, _ := rkOf(s); st != rkIdle || tx != 0 || latest != 0 || last != (ctlLast{id, uint32(cfg.asymReq), ctlDeclined}) {
			t.Fatalf("forged request: state %d, epochs %d/%d, %+v", st, tx, latest, last)
		}
		// A response nobody asked for.
		resp := make([]byte, cfg.asymResp-8)
		id = injectMessage(s, flagAsymResponse, ratchetBody(1, resp))
		if st, tx, _, last, _ := rkOf(s); st != rkIdle || tx != 0 || last.status != ctlDeclined || last.id != id {
			t.Fatalf("unrequested response: state %d, epoch %d, %+v", st, tx, last)
		}

		// A valid request (made with the client's session) is answered:
		// the listener receives under epoch 1, still sends under 0.
		req, pend, err := c.session.NewAsymmetricRequest(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		defer pend.Clear()
		id = injectMessage(s, flagAsymRequest, ratchetBody(1, req))
		if st, tx, latest, last, _ := rkOf(s); st != rkAsymWait || tx != 0 || latest != 1 || last != (ctlLast{id, uint32(cfg.asymReq), ctlDone}) {
			t.Fatalf("valid request: state %d, epochs %d/%d, %+v", st, tx, latest, last)
		}
		// A request of either kind while it waits is declined.
		id = injectMessage(s, flagRekey, ratchetBody(1, make([]byte, 32)))
		if st, _, latest, last, _ := rkOf(s); st != rkAsymWait || latest != 1 || last.status != ctlDeclined || last.id != id {
			t.Fatalf("rekey while waiting: state %d, latest %d, %+v", st, latest, last)
		}
		// The initiator declines the response: the listener rolls back.
		injectAck(t, s, ctlDeclined)
		s.mu.Lock()
		rolled := s.rk.state == rkIdle && s.rk.latest == 0 && s.rk.base == nil && s.keys.rx[1] == nil
		s.mu.Unlock()
		if !rolled {
			t.Fatal("a declined response was not rolled back")
		}

		// Again, and this time the initiator takes the response: the
		// listener moves its transmit keys on the ack.
		req2, pend2, err := c.session.NewAsymmetricRequest(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		defer pend2.Clear()
		injectMessage(s, flagAsymRequest, ratchetBody(1, req2))
		injectAck(t, s, ctlDone)
		if st, tx, latest, _, _ := rkOf(s); st != rkIdle || tx != 1 || latest != 1 {
			t.Fatalf("accepted response: state %d, epochs %d/%d", st, tx, latest)
		}
		if st := s.Stats(); st.AsymmetricRatchets != 1 || st.Rekeys != 1 || st.ControlDeclined != 1 {
			t.Fatalf("listener stats %+v", st)
		}
	})
}

// TestInjectedAsymmetricResponses: an initiator whose responses do not
// verify declines each, drops the receive keys it never installed, keeps
// no pending key pair, and RatchetAsymmetric fails with
// ErrRatchetDeclined at the third.
func TestInjectedAsymmetricResponses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := isolatedPair(t)
		defer p.close()
		c := p.client
		done := make(chan error, 1)
		go func() { done <- c.RatchetAsymmetric(context.Background()) }()
		for i := range maxDeclines {
			synctest.Wait()
			if st, tx, _, _, pend := rkOf(c); st != rkAsymInit || tx != 0 || !pend {
				t.Fatalf("attempt %d: state %d, epoch %d, pending %v", i, st, tx, pend)
			}
			junk := make([]byte, c.cfg.asymResp-8)
			rand.Read(junk)
			id := injectMessage(c, flagAsymResponse, ratchetBody(1, junk))
			if _, _, latest, last, _ := rkOf(c); latest != 0 || last != (ctlLast{id, uint32(c.cfg.asymResp), ctlDeclined}) {
				t.Fatalf("attempt %d: latest %d, %+v", i, latest, last)
			}
		}
		if err := <-done; !errors.Is(err, ErrRatchetDeclined) {
			t.Fatalf("RatchetAsymmetric: %v", err)
		}
		if st, tx, latest, _, pend := rkOf(c); st != rkIdle || tx != 0 || latest != 0 || pend {
			t.Fatalf("after the declines: state %d, epochs %d/%d, pending %v", st, tx, latest, pend)
		}
		c.mu.Lock()
		noKeys := c.keys.rx[1] == nil
		c.mu.Unlock()
		if !noKeys {
			t.Fatal("receive keys of epoch 1 installed")
		}
		// A context that ends stops the call (its request stays queued).
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := c.RatchetAsymmetric(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RatchetAsymmetric with a context that ends: %v", err)
		}
	})
}

// TestInjectedRekeyAck: the initiator of a symmetric ratchet whose
// request is acknowledged before any record of the new epoch arrives moves
// on the ack; Rekey then returns.
func TestInjectedRekeyAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := isolatedPair(t)
		defer p.close()
		c := p.client
		done := make(chan error, 1)
		go func() { done <- c.Rekey(context.Background()) }()
		synctest.Wait()
		if st, tx, latest, _, _ := rkOf(c); st != rkSymInit || tx != 0 || latest != 1 {
			t.Fatalf("rekey requested: state %d, epochs %d/%d", st, tx, latest)
		}
		injectAck(t, c, ctlDone)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st, tx, latest, _, _ := rkOf(c); st != rkIdle || tx != 1 || latest != 1 {
			t.Fatalf("after the ack: state %d, epochs %d/%d", st, tx, latest)
		}
		// An ack of a message settled already changes nothing.
		inject(c, flagControlAck, appendCtlAck(nil, ctlAck{id: 1, status: ctlDone, ranges: []wire.Range{{Start: 0, End: 40}}}))
		if _, tx, _, _, _ := rkOf(c); tx != 1 {
			t.Fatalf("a stale ack moved the epoch to %d", tx)
		}
	})
}
