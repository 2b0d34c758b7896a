package quicx

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// cleanNet is a link that loses, duplicates and reorders nothing.
var cleanNet = netsim.Config{Seed: 7, Delay: 10 * time.Millisecond, Bandwidth: 20 << 20, QueueLimit: 8 << 20}

// cutPath drops everything between the two ends of p.
func (p *simPair) cutPath() {
	dead := netsim.Config{Loss: 1}
	p.n.SetLink(p.cpc, p.spc, dead)
	p.n.SetLink(p.spc, p.cpc, dead)
}

// fillSendQueue writes on c (over a dead path) until a Write blocks: it
// returns once the Conn's own send queue is full and a Write would wait.
func fillSendQueue(t *testing.T, c *Conn) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	defer c.SetWriteDeadline(time.Time{})
	for i := 0; i < 100000; i++ {
		if _, err := c.Write(make([]byte, 1000)); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("filling the send queue: %v", err)
			}
			return
		}
	}
	t.Fatal("the send queue never filled")
}

// TestCloseBoundedWithQueuedSends: Close over a dead path with records
// still queued returns within Config.CloseTimeout in all (the doc's bound),
// not once per stage (queued records, close record, the peer's answer).
func TestCloseBoundedWithQueuedSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		p.cutPath()
		fillSendQueue(t, p.cli)
		start := time.Now()
		p.cli.Close()
		if d := time.Since(start); d > DefaultCloseTimeout {
			t.Fatalf("Close took %v, want at most CloseTimeout %v", d, DefaultCloseTimeout)
		}
	})
}

// TestCloseDuringOpenZeroesPlaintexts: a Read that took datagrams from the
// queue and is opening them when Close runs (Close zeroes the queue and the
// held plaintexts) must not leave the plaintexts it opened in c.held, where
// nothing would ever zero them; the Read then reports net.ErrClosed.
func TestCloseDuringOpenZeroesPlaintexts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		msgs := [][]byte{message(1, 200), message(2, 300), message(3, 400)}
		for _, m := range msgs {
			if _, err := p.cli.Write(m); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		s := p.srv
		// What Read does first: take the queued datagrams under mu.
		s.mu.Lock()
		var ents []queued
		for {
			e, ok := s.queue.pop()
			if !ok {
				break
			}
			ents = append(ents, e)
		}
		s.mu.Unlock()
		if len(ents) != len(msgs) {
			t.Fatalf("%d datagrams queued, want %d", len(ents), len(msgs))
		}
		pkts := make([][]byte, len(ents))
		for i := range ents {
			pkts[i] = ents[i].pkt
		}
		s.Close() // meanwhile
		// Then it opens them, into a buffer too short for the first.
		n, ok, short := s.openBatch(make([]byte, 10), ents)
		s.mu.Lock()
		held := len(s.held)
		s.mu.Unlock()
		if held != 0 {
			t.Fatalf("%d plaintexts held after Close", held)
		}
		if ok || n != 0 || short != 0 {
			t.Fatalf("openBatch after Close: n %d, ok %v, short %d; want nothing", n, ok, short)
		}
		for i, pkt := range pkts {
			body := pkt[1+record.HeaderSize : 1+record.HeaderSize+len(msgs[i])]
			if !allZero(body) {
				t.Fatalf("record %d: plaintext left in memory after Close", i)
			}
		}
		if _, err := s.Read(make([]byte, 1000)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	})
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// TestCloseRacingPeerRekey: the peer's rekey request is being handled when
// Close has already written the close record and finished the stream. The
// answer cannot be written any more; that is the end of a session we are
// closing, not a protocol violation: the QUIC connection must end with
// CodeClosed (not CodeProtocol), and the peer reads io.EOF.
func TestCloseRacingPeerRekey(t *testing.T) {
	// Real time: the reader is held on a mutex, which a synctest bubble
	// does not count as durably blocked.
	{
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		p.srv.rkMu.Lock() // the server's reader stops at the request
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rekeyErr := make(chan error, 1)
		go func() { rekeyErr <- p.cli.Rekey(ctx) }()
		time.Sleep(100 * time.Millisecond)
		closed := make(chan struct{})
		go func() { p.srv.Close(); close(closed) }()
		time.Sleep(100 * time.Millisecond) // the close record reaches the client
		start := time.Now()
		p.srv.rkMu.Unlock()
		<-closed
		if d := time.Since(start); d > DefaultCloseTimeout/2 {
			t.Fatalf("Close returned %v after the reader went on, want at once (the peer's FIN)", d)
		}
		<-p.cli.qc.Context().Done()
		var ae *quic.ApplicationError
		if err := context.Cause(p.cli.qc.Context()); !errors.As(err, &ae) || ae.ErrorCode != CodeClosed {
			t.Fatalf("QUIC connection ended with %v, want application error %d", err, CodeClosed)
		}
		if _, err := p.cli.Read(make([]byte, 10)); err != io.EOF {
			t.Fatalf("client read: %v, want io.EOF", err)
		}
		if err := <-rekeyErr; !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("client rekey: %v, want ErrPeerClosed", err)
		}
	}
}

// failingRand reads from r until fail is set; then it fills half of each
// buffer and fails, remembering the buffers it was given.
type failingRand struct {
	mu   sync.Mutex
	r    io.Reader
	fail bool
	seen [][]byte
}

var errRand = errors.New("test: random source failed")

func (f *failingRand) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fail {
		return f.r.Read(p)
	}
	f.seen = append(f.seen, p)
	n, _ := f.r.Read(p[:len(p)/2])
	return n, errRand
}

func (f *failingRand) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

// TestRatchetRandomFailure: a random source that fails while a ratchet
// starts makes Rekey and RatchetAsymmetric return its error, leaves
// nothing of the partial randomness behind, and leaves the session as it
// was: the next ratchets succeed and records flow.
func TestRatchetRandomFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		fr := &failingRand{r: drbg("failing rand")}
		cliCfg.Rand = fr
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		fr.setFail(true)
		if err := p.cli.Rekey(ctx); !errors.Is(err, errRand) {
			t.Fatalf("rekey with a failing random source: %v", err)
		}
		for i, b := range fr.seen {
			if !allZero(b) {
				t.Fatalf("rekey token %d (%d bytes) not zeroed after the failure", i, len(b))
			}
		}
		if err := p.cli.RatchetAsymmetric(ctx); !errors.Is(err, errRand) {
			t.Fatalf("asymmetric ratchet with a failing random source: %v", err)
		}
		for i, b := range fr.seen {
			if !allZero(b) {
				t.Fatalf("random buffer %d (%d bytes) of the asymmetric ratchet not zeroed after the failure", i, len(b))
			}
		}
		p.cli.rkMu.Lock()
		state, pend := p.cli.rk.state, p.cli.rk.pend
		p.cli.rkMu.Unlock()
		if state != rekeyIdle || pend != nil {
			t.Fatalf("ratchet state %d, pending %v after the failures", state, pend != nil)
		}
		if st := p.cli.Stats(); st.Epoch != 0 || st.ControlSent != 0 {
			t.Fatalf("client moved: %+v", st)
		}

		fr.setFail(false)
		if err := p.cli.Rekey(ctx); err != nil {
			t.Fatalf("rekey after the failure: %v", err)
		}
		time.Sleep(3 * DefaultRekeyGrace) // the previous epoch's keys retire
		if err := p.cli.RatchetAsymmetric(ctx); err != nil {
			t.Fatalf("asymmetric ratchet after the failure: %v", err)
		}
		exchangeMsg(t, p.cli, p.srv, "after")
		exchangeMsg(t, p.srv, p.cli, "after")
		if st := p.cli.Stats(); st.Epoch != 2 || st.AsymmetricRatchets != 1 {
			t.Fatalf("client stats %+v, want epoch 2 after one asymmetric ratchet", st)
		}
	})
}

// TestForgedAsymmetricResponse: a response whose signature does not verify
// ends the session, moves no epoch, and zeroes the pending decapsulation
// key at once (not only at Close).
func TestForgedAsymmetricResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		// The client's request, as startAsymLocked leaves it, but kept
		// from the server, which answers with a forged response.
		req, pend, err := p.cli.sess.NewAsymmetricRequest(drbg("request"))
		if err != nil {
			t.Fatal(err)
		}
		p.cli.rkMu.Lock()
		p.cli.rk.state, p.cli.rk.epoch, p.cli.rk.pend, p.cli.rk.asym = rekeyAsymInit, 1, pend, true
		p.cli.rk.gen++
		p.cli.rkMu.Unlock()
		resp, secret, err := p.srv.sess.RespondAsymmetric(drbg("response"), req)
		if err != nil {
			t.Fatal(err)
		}
		clear(secret)
		resp[10] ^= 1 // inside the signature
		p.srv.swmu.Lock()
		err = p.srv.writeMessageLocked(record.FlagAsymmetricRatchetResponse, ratchetBody(1, resp))
		p.srv.swmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.cli.Read(make([]byte, 100)); !errors.Is(err, ErrProtocol) {
			t.Fatalf("client read after a forged response: %v", err)
		}
		if dk := reflect.ValueOf(pend).Elem().FieldByName("dk"); dk.Len() != 0 {
			t.Fatalf("pending decapsulation key of %d bytes kept after the failure", dk.Len())
		}
		p.cli.rkMu.Lock()
		state, kept := p.cli.rk.state, p.cli.rk.pend
		p.cli.rkMu.Unlock()
		if state != rekeyIdle || kept != nil {
			t.Fatalf("ratchet state %d, pending kept %v", state, kept != nil)
		}
		if st := p.cli.Stats(); st.Epoch != 0 || st.RxEpoch != 0 || st.AsymmetricRatchets != 0 {
			t.Fatalf("client moved: %+v", st)
		}
	})
}

// TestDeadlineChangesWakeBlockedCalls: SetDeadline moved into the past
// wakes a Read and a Write blocked without deadlines at once, with
// os.ErrDeadlineExceeded; cleared, they work again; Close wakes blocked
// calls with net.ErrClosed.
func TestDeadlineChangesWakeBlockedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		readErr := make(chan error, 1)
		go func() { _, err := p.cli.Read(make([]byte, 100)); readErr <- err }()
		p.cutPath()
		fillSendQueue(t, p.cli)
		writeErr := make(chan error, 1)
		go func() { _, err := p.cli.Write([]byte("blocked")); writeErr <- err }()
		synctest.Wait()
		start := time.Now()
		p.cli.SetDeadline(start.Add(-time.Second))
		for name, ch := range map[string]chan error{"read": readErr, "write": writeErr} {
			var ne net.Error
			if err := <-ch; !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("blocked %s after SetDeadline in the past: %v", name, err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("woken after %v, want at once", d)
		}
		// Moved forward while blocked: the call waits for the new time.
		p.cli.SetReadDeadline(time.Now().Add(time.Second))
		go func() { _, err := p.cli.Read(make([]byte, 100)); readErr <- err }()
		synctest.Wait()
		start = time.Now()
		p.cli.SetReadDeadline(start.Add(3 * time.Second))
		if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Fatalf("read after the deadline moved: %v after %v", err, time.Since(start))
		}

		p.cli.SetDeadline(time.Time{})
		// Seconds went by: the send queue may have room again.
		fillSendQueue(t, p.cli)
		go func() { _, err := p.cli.Read(make([]byte, 100)); readErr <- err }()
		go func() { _, err := p.cli.Write([]byte("blocked")); writeErr <- err }()
		synctest.Wait()
		go p.cli.Close()
		for name, ch := range map[string]chan error{"read": readErr, "write": writeErr} {
			if err := <-ch; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked %s at Close: %v, want net.ErrClosed", name, err)
			}
		}
	})
}

// TestStreamViolations: control records that are authentic but break the
// carrier's rules each end the session with ErrProtocol on the receiver's
// Read and CodeProtocol on the QUIC connection; no epoch moves.
func TestStreamViolations(t *testing.T) {
	token := make([]byte, tokenSize)
	cases := []struct {
		name, want string // want: in the server's error
		send       func(c *Conn) error
	}{
		{"ready after the handshake", "unexpected", func(c *Conn) error {
			return c.writeControl(record.FlagSessionEstablishVerify, []byte{readyByte})
		}},
		{"rekey to a later epoch", "ratchet to epoch 2 from 0", func(c *Conn) error {
			return c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyRequest, 2, token))
		}},
		{"second request while answering", "while answering one", func(c *Conn) error {
			if err := c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyRequest, 1, token)); err != nil {
				return err
			}
			return c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyRequest, 1, token))
		}},
		{"ack without a request", "unexpected rekey ack", func(c *Conn) error {
			return c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyAck, 1, nil))
		}},
		{"switch without a ratchet", "unexpected rekey switch", func(c *Conn) error {
			return c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeySwitched, 5, nil))
		}},
		{"response without a request", "unexpected asymmetric ratchet response", func(c *Conn) error {
			c.swmu.Lock()
			defer c.swmu.Unlock()
			return c.writeMessageLocked(record.FlagAsymmetricRatchetResponse, ratchetBody(1, make([]byte, c.cfg.asymResp-8)))
		}},
		{"rekey inside a ratchet message", "inside a ratchet message", func(c *Conn) error {
			if err := c.writeControl(record.FlagAsymmetricRatchetRequest, appendFragment(nil, 0, make([]byte, 100))); err != nil {
				return err
			}
			return c.writeControl(record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyAck, 1, nil))
		}},
		{"empty rekey message", "rekey message of 1 bytes", func(c *Conn) error {
			return c.writeControl(record.FlagSymmetricRatchetRequest, []byte{rekeyAck})
		}},
		{"replayed control record", "after", func(c *Conn) error {
			// The first fragment of a ratchet message: accepted, and not
			// answered before the message is complete.
			frame, err := c.seal(nil, prefixStream, record.FlagAsymmetricRatchetRequest, appendFragment(nil, 0, make([]byte, 100)))
			if err != nil {
				return err
			}
			c.swmu.Lock()
			defer c.swmu.Unlock()
			_, err = c.stream.Write(append(frame, frame...))
			return err
		}},
		{"record of an epoch without keys", "epoch without keys", func(c *Conn) error {
			frame, err := c.seal(nil, prefixStream, record.FlagSymmetricRatchetRequest, appendRekey(nil, rekeyAck, 1, nil))
			if err != nil {
				return err
			}
			frame[0] |= epochBit
			c.swmu.Lock()
			defer c.swmu.Unlock()
			_, err = c.stream.Write(frame)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srvCfg, cliCfg := configs(t, true)
				p := newSimPair(t, cleanNet, srvCfg, cliCfg)
				defer p.close()
				if err := tc.send(p.cli); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				if _, err := p.srv.Read(buf); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("server read: %v, want ErrProtocol (%s)", err, tc.want)
				}
				if _, err := p.srv.Write([]byte("x")); !errors.Is(err, ErrProtocol) {
					t.Fatalf("server write after the violation: %v", err)
				}
				if st := p.srv.Stats(); st.Epoch != 0 || st.Rekeys != 0 {
					t.Fatalf("server moved: %+v", st)
				}
				var ae *quic.ApplicationError
				_, err := p.cli.Read(buf)
				if tc.name == "second request while answering" && errors.Is(err, ErrProtocol) {
					// The server's answer to the first request may reach
					// the client, which sent none, before the QUIC close.
					return
				}
				if !errors.As(err, &ae) || ae.ErrorCode != CodeProtocol || !errors.Is(err, ErrConnectionLost) {
					t.Fatalf("client read: %v, want a lost connection with code %d", err, CodeProtocol)
				}
			})
		})
	}
}

// TestMalformedDatagrams: datagrams with a wrong prefix, of an epoch
// without keys, or whose header lies about their length are dropped and
// counted, never delivered; records around them are.
func TestMalformedDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, cleanNet, srvCfg, cliCfg)
		defer p.close()
		seal := func(s string) []byte {
			rec, err := p.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return rec
		}
		wrongPrefix := seal("wrong prefix")
		wrongPrefix[0] = prefixStream
		oddEpoch := seal("odd epoch")
		oddEpoch[0] |= epochBit
		truncated := seal("a record cut short")
		truncated = truncated[:len(truncated)-20]
		for _, d := range [][]byte{seal("first"), wrongPrefix, oddEpoch, truncated, {0x04}, seal("last")} {
			if err := p.cli.qc.SendDatagram(d); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 100)
		for _, want := range []string{"first", "last"} {
			p.srv.SetReadDeadline(time.Now().Add(time.Second))
			if k, err := p.srv.Read(buf); err != nil || string(buf[:k]) != want {
				t.Fatalf("read %q, %v; want %q", buf[:k], err, want)
			}
		}
		p.srv.SetReadDeadline(time.Now().Add(time.Second))
		if k, err := p.srv.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %q, %v; want nothing more", buf[:k], err)
		}
		st := p.srv.Stats()
		if st.Malformed != 3 || st.StaleEpoch != 1 || st.RecordsIn != 2 || st.Drops.Total() != 0 {
			t.Fatalf("stats %+v: want 3 malformed, 1 stale epoch, 2 records", st)
		}
	})
}
