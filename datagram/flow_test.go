package datagram

import (
	"encoding/binary"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/transfer"
	"github.com/qsmp-go/qsmp/netsim"
)

// credit returns a credit or blocked plaintext.
func credit(lim uint64) []byte { return binary.LittleEndian.AppendUint64(nil, lim) }

// feedLocked hands an authenticated record to c as the receive path does.
func feedLocked(c *Conn, r authRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.from == (authRecord{}).from {
		r.from = fuzzPeer[0]
	}
	c.acceptLocked(r, c.ep.now())
}

// TestFlowWriter: a writer sends initialCredit records freely; at the
// limit it tells the peer (a blocked record) and waits for a credit, which
// releases it at once, or for one retransmission timeout, after which the
// record goes anyway; limits only grow; Close ends a wait.
func TestFlowWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, pc := fuzzSession(t)
		defer c.Close()
		msg := []byte("x")
		write := func() time.Duration {
			t.Helper()
			t0 := time.Now()
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			return time.Since(t0)
		}
		for range initialCredit {
			if d := write(); d != 0 {
				t.Fatalf("a write within the initial window waited %v", d)
			}
		}
		pc.take(fuzzPeer[0])
		c.mu.Lock()
		rto := c.rto()
		c.mu.Unlock()
		if d := write(); d != rto {
			t.Fatalf("a write past the initial window with no credit waited %v, want one RTO (%v)", d, rto)
		}
		// A blocked record, then the data record itself.
		if got := len(pc.take(fuzzPeer[0])); got != 3 {
			t.Fatalf("%d datagrams, want a blocked record, one more after the timeout and the data", got)
		}
		st := c.Stats()
		if st.WritesBlocked != 1 || st.CreditTimeouts != 1 {
			t.Fatalf("%+v", st)
		}
		// A credit for 10 more records.
		lim := c.txSeq.Load() + 10
		feedLocked(c, authRecord{flag: flagCredit, buf: bufOf(credit(lim))})
		for range 10 {
			if d := write(); d != 0 {
				t.Fatalf("a write within the credit waited %v", d)
			}
		}
		// At the limit: a credit arriving during the wait releases it.
		done := make(chan time.Duration, 1)
		go func() { done <- write() }()
		time.Sleep(rto / 4)
		feedLocked(c, authRecord{flag: flagCredit, buf: bufOf(credit(lim - 5))}) // stale: ignored
		synctest.Wait()
		select {
		case d := <-done:
			t.Fatalf("a stale credit released the writer after %v", d)
		default:
		}
		feedLocked(c, authRecord{flag: flagCredit, buf: bufOf(credit(lim + 100))})
		if d := <-done; d != rto/4 {
			t.Fatalf("released after %v, want %v", d, rto/4)
		}
		if got := c.fc.limit.Load(); got != lim+100 {
			t.Fatalf("limit %d, want %d", got, lim+100)
		}
		st = c.Stats()
		if st.CreditsReceived != 3 || st.WritesBlocked != 2 || st.CreditTimeouts != 1 {
			t.Fatalf("%+v", st)
		}
		// Malformed credits change nothing.
		feedLocked(c, authRecord{flag: flagCredit, buf: bufOf([]byte{1, 2, 3})})
		feedLocked(c, authRecord{flag: flagBlocked, buf: bufOf(nil)})
		if st := c.Stats(); st.ControlMalformed != 2 || c.fc.limit.Load() != lim+100 {
			t.Fatalf("malformed credits: %+v", st)
		}
		// Close ends a wait.
		for c.txSeq.Load() < lim+100 {
			write()
		}
		go func() {
			_, err := c.Write(msg)
			done <- 0
			if err == nil {
				t.Error("a write blocked at Close succeeded")
			}
		}()
		synctest.Wait()
		c.Close()
		<-done
	})
}

// TestFlowReceiver: the receiver sends its first credit a quarter into the
// writer's initial window, then one whenever its limit (the highest data
// record processed plus its window) has moved a quarter window; a blocked
// writer holding an older limit gets the credit again; a full receive
// queue shrinks the window to minShare, and queue drops count as
// processed.
func TestFlowReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := fuzzSession(t)
		defer c.Close()
		w := c.socketWindow() // one session on the socket: the whole window
		buf := make([]byte, 100)
		data := func(seq uint64, read bool) {
			feedLocked(c, authRecord{flag: flagData, buf: bufOf([]byte("d")), seq: seq})
			if read {
				if _, err := c.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
		}
		const first = 1000
		for seq := uint64(first); seq < first+initialCredit/4; seq++ {
			data(seq, true)
		}
		if n := c.Stats().CreditsSent; n != 0 {
			t.Fatalf("%d credits before a quarter of the initial window", n)
		}
		data(first+initialCredit/4, true)
		if n, adv := c.Stats().CreditsSent, c.fc.adv; n != 1 || adv != first+initialCredit/4+w {
			t.Fatalf("first credit: %d sent, limit %d, want %d", n, adv, first+initialCredit/4+w)
		}
		// Out of order.
		adv := c.fc.adv
		for seq := adv - w + w/4 - 1; seq > adv-w; seq-- {
			data(seq, true)
		}
		if n := c.Stats().CreditsSent; n != 1 {
			t.Fatalf("%d credits before the limit moved a quarter window", n)
		}
		data(adv-w+w/4, true)
		if n := c.Stats().CreditsSent; n != 2 || c.fc.adv != adv+w/4 {
			t.Fatalf("%d credits, limit %d, want %d", n, c.fc.adv, adv+w/4)
		}
		// A writer at the current limit waits for progress: nothing sent;
		// one at an older limit lost a credit: it goes again.
		feedLocked(c, authRecord{flag: flagBlocked, buf: bufOf(credit(c.fc.adv))})
		if n := c.Stats().CreditsSent; n != 2 {
			t.Fatalf("blocked at the current limit: %d credits", n)
		}
		feedLocked(c, authRecord{flag: flagBlocked, buf: bufOf(credit(adv))})
		if n := c.Stats().CreditsSent; n != 3 || c.fc.adv != adv+w/4 {
			t.Fatalf("blocked at a lost limit: %d credits, limit %d", n, c.fc.adv)
		}
		// Nobody reads: the queue fills, the window shrinks to minShare,
		// and credit still follows the records processed (dropped ones
		// too).
		seq := c.fc.rxHigh
		rq := c.cfg.ReceiveQueue
		for range rq {
			seq++
			data(seq, false)
		}
		sent := c.Stats().CreditsSent
		adv = c.fc.adv
		for c.Stats().CreditsSent == sent {
			seq++
			data(seq, false)
		}
		if c.fc.adv != seq+minShare || c.Stats().QueueDrops == 0 {
			t.Fatalf("full queue: limit %d, want %d (+%d); %+v", c.fc.adv, seq+minShare, minShare, c.Stats())
		}
		if seq < adv-minShare+minShare/4 || seq > adv {
			t.Fatalf("credit at %d, last limit %d", seq, adv)
		}
	})
}

// TestFlowSpans: a socket's window is shared by the sessions that sent it
// data in the current or the previous span.
func TestFlowSpans(t *testing.T) {
	var a flowSpans
	if n := a.share(10, false); n != 1 {
		t.Fatalf("one session: %d", n)
	}
	if n := a.share(10, true); n != 1 {
		t.Fatalf("the same session again: %d", n)
	}
	if n := a.share(10, false); n != 2 {
		t.Fatalf("two sessions: %d", n)
	}
	if n := a.share(11, false); n != 2 {
		t.Fatalf("next span, one session so far: %d (the previous span counts)", n)
	}
	if n := a.share(13, false); n != 1 {
		t.Fatalf("after a quiet span: %d", n)
	}
	if n := a.share(12, true); n != 1 {
		t.Fatalf("a late caller of an older span: %d", n)
	}
}

// TestFlowEndToEnd runs the credit loop over netsim: a writer far faster
// than a reader that never reads is not held back (credit follows what the
// receive path processes, the queue drops the rest); a fast writer to a
// reading peer gets every record through a receive queue of the network
// smaller than what it writes; and when the credits are lost, the writer
// goes on one record per timeout until the path heals.
func TestFlowEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A network receive queue larger than the credit window, so that
		// what is lost is lost by design.
		n := newNet(t, netsim.Config{Seed: 5, Delay: time.Millisecond, RecvQueue: 4096})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		c, s := p.client, p.server
		msg := make([]byte, 100)

		// 1. Nobody reads: the queue drops, the writer never waits for
		// a timeout.
		const burst = 3000
		for range burst {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		time.Sleep(100 * time.Millisecond)
		cs, ss := c.Stats(), s.Stats()
		if cs.CreditTimeouts != 0 || cs.CreditsReceived == 0 || ss.CreditsSent != cs.CreditsReceived {
			t.Fatalf("client %+v\nserver %+v", cs, ss)
		}
		if ss.QueueDrops+ss.RecordsIn != burst {
			t.Fatalf("%d queued and %d dropped of %d", ss.RecordsIn, ss.QueueDrops, burst)
		}
		for range ss.RecordsIn {
			s.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := s.Read(make([]byte, 200)); err != nil {
				t.Fatal(err)
			}
		}

		// 2. A reader: everything arrives.
		got := make(chan int)
		s.SetReadDeadline(time.Time{})
		go func() {
			k := 0
			buf := make([]byte, 200)
			for {
				if _, err := s.Read(buf); err != nil {
					break
				}
				k++
			}
			got <- k
		}()
		const many = 5000
		for range many {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		s.SetReadDeadline(time.Now())
		k := <-got
		st := s.Stats()
		if k+int(st.QueueDrops-ss.QueueDrops) != many || n.Stats().RecvDropped != 0 {
			t.Fatalf("%d of %d records read, %d dropped by the queue, %d by the network", k, many, st.QueueDrops-ss.QueueDrops, n.Stats().RecvDropped)
		}
		t.Logf("a reader: %d of %d records read, %d dropped by the receive queue", k, many, st.QueueDrops-ss.QueueDrops)

		// 3. Credits lost: the writer goes on at one record per timeout,
		// then at full speed once they come through again.
		if err := n.SetLink(p.l.ep.pc, c.ep.pc, netsim.Config{Loss: 1}); err != nil {
			t.Fatal(err)
		}
		before := c.Stats()
		t0 := time.Now()
		for range c.fc.limit.Load() - c.txSeq.Load() + 3 {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		mid := c.Stats()
		if mid.CreditTimeouts-before.CreditTimeouts != 3 || time.Since(t0) < 3*transfer.MinRTO {
			t.Fatalf("lost credits: %d timeouts in %v", mid.CreditTimeouts-before.CreditTimeouts, time.Since(t0))
		}
		if err := n.ClearLink(p.l.ep.pc, c.ep.pc); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		for range 2000 {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		after := c.Stats()
		if after.CreditTimeouts-mid.CreditTimeouts > 1 || time.Since(t1) > time.Second {
			t.Fatalf("healed path: %d more timeouts, %v for 2000 records", after.CreditTimeouts-mid.CreditTimeouts, time.Since(t1))
		}
	})
}

// FuzzFlowCredit hands an established session sequences of credits,
// blocked records and data records (any plaintext, any sequence number)
// as the receive path does. Invariants: no panic; the writer's limit never
// goes down; every credit sent answers a record received (no more credits
// than data and blocked records); nothing goes anywhere but to the peer.
func FuzzFlowCredit(f *testing.F) {
	f.Add([]byte{0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 8, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 3, 1, 2, 3, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, pc := fuzzSession(t)
		defer c.Close()
		var fed uint64
		for len(b) >= 2 {
			kind, n := b[0], min(int(b[1]), len(b)-2)
			pt := append([]byte(nil), b[2:2+n]...)
			b = b[2+n:]
			before := c.fc.limit.Load()
			switch kind % 3 {
			case 0:
				feedLocked(c, authRecord{flag: flagCredit, buf: bufOf(pt)})
			case 1:
				feedLocked(c, authRecord{flag: flagBlocked, buf: bufOf(pt)})
				fed++
			case 2:
				var seq uint64
				if len(pt) >= 8 {
					seq = binary.LittleEndian.Uint64(pt)
				}
				feedLocked(c, authRecord{flag: flagData, buf: bufOf(pt), seq: seq})
				fed++
			}
			if after := c.fc.limit.Load(); after < before {
				t.Fatalf("limit went down from %d to %d", before, after)
			}
			if sent := c.Stats().CreditsSent; sent > fed {
				t.Fatalf("%d credits for %d records", sent, fed)
			}
		}
		for _, a := range fuzzPeer[1:] {
			if n := pc.sentTo(a); n != 0 {
				t.Fatalf("%d bytes to %v", n, a)
			}
		}
	})
}

// TestSocketWindow: a UDP socket's credit budget is what its kernel
// receive buffer holds; a socket of unknown buffer (netsim) uses the
// Config's (four receive queues, at least minCreditWindow).
func TestSocketWindow(t *testing.T) {
	if got := bufferWindow(0, 1200); got != 0 {
		t.Fatalf("unknown buffer: %d", got)
	}
	if got := bufferWindow(8<<20, 1500); got != (8<<20)/(1500+skbOverhead) {
		t.Fatalf("8 MiB: %d", got)
	}
	if got := bufferWindow(1000, 1500); got != 4*minShare {
		t.Fatalf("tiny buffer: %d", got)
	}
	srv, _ := pairConfigs(t, false)
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rb := receiveBuffer(l.ep.socks[0].pc)
	if runtime.GOOS == "linux" && rb <= 0 {
		t.Fatal("no receive buffer size on a Linux UDP socket")
	}
	for _, s := range l.ep.socks {
		if s.window != bufferWindow(rb, l.ep.cfg.MaxPayload) {
			t.Fatalf("socket window %d, buffer %d bytes", s.window, rb)
		}
	}
	t.Logf("UDP socket: %d-byte receive buffer, window of %d records", rb, l.ep.socks[0].window)
	n := newNet(t, netsim.Config{})
	l2, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if w := l2.ep.socks[0].window; w != 0 {
		t.Fatalf("netsim socket window %d", w)
	}
}

// bufOf returns a pooled-style buffer holding b, as the receive path hands
// plaintexts to acceptLocked.
func bufOf(b []byte) *[]byte { return &b }
