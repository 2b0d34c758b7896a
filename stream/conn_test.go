package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

const testSuite = "dilithium-s1_kyber-s1_sha3_rcs256"

// session connects a client and a server over loopback TCP; the listener
// and both ends are closed when the test ends.
func session(t *testing.T, duplex bool) (client, server *Conn) {
	t.Helper()
	sk, ck := keys(t, testSuite)
	srv, cli := pair(sk, ck, duplex)
	c, sc, l := connect(t, srv, cli)
	t.Cleanup(func() {
		c.Close()
		sc.Close()
		l.Close()
	})
	return c, sc
}

// sendAs seals plaintext under flag with from's own record state, exactly
// as from's peer expects records from it, and writes it to the wire.
func sendAs(t *testing.T, from *Conn, flag record.Flag, plaintext []byte, utc uint64) {
	t.Helper()
	err := from.sealAndSend(func() ([]byte, error) { return from.sess.Stream.SealFlag(flag, plaintext, utc) }, false)
	if err != nil {
		t.Fatal(err)
	}
}

// readWithin reads one record from c, failing the test rather than hanging
// if nothing comes.
func readWithin(t *testing.T, c *Conn, b []byte) (int, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	n, err := c.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("Read waited for a record that should have arrived")
	}
	return n, err
}

// ended checks that c's connection is over: Write refuses with
// net.ErrClosed, and the peer's Read ends rather than blocking.
func ended(t *testing.T, c, peer *Conn) {
	t.Helper()
	if _, err := c.Write([]byte("after the end")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on an ended connection: %v, want net.ErrClosed", err)
	}
	if _, err := readWithin(t, peer, make([]byte, 100)); err == nil {
		t.Fatal("the peer read a record from an ended connection")
	}
}

// TestShortBufferKeepsRecord: a Read whose buffer is too small returns
// *ShortBufferError naming the record's size and loses nothing: the record
// waits (even through further short Reads) for a Read with room, arrives
// intact and before the records sent after it, and the held plaintext is
// zeroed once delivered.
func TestShortBufferKeepsRecord(t *testing.T) {
	c, sc := session(t, false)
	first := "a record of thirty-one bytes..."
	for _, m := range []string{first, "the next one"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		_, err := readWithin(t, sc, make([]byte, 30))
		var sb *ShortBufferError
		if !errors.As(err, &sb) || sb.Need != len(first) {
			t.Fatalf("short Read: %v, want *ShortBufferError{Need: %d}", err, len(first))
		}
		if !strings.Contains(sb.Error(), "31 bytes") {
			t.Fatalf("the error does not name the size: %q", sb.Error())
		}
	}
	held := sc.held
	if string(held) != first {
		t.Fatalf("held record %q, want %q", held, first)
	}
	buf := make([]byte, 100)
	n, err := readWithin(t, sc, buf)
	if err != nil || string(buf[:n]) != first {
		t.Fatalf("Read after a short Read: %q, %v; want %q", buf[:n], err, first)
	}
	if sc.held != nil {
		t.Fatal("the record is still held after delivery")
	}
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Fatalf("the delivered plaintext was not cleared: %q", held)
	}
	n, err = readWithin(t, sc, buf)
	if err != nil || string(buf[:n]) != "the next one" {
		t.Fatalf("the following record: %q, %v", buf[:n], err)
	}
}

// TestPeerCloseCodes: the peer's encrypted error-condition record ends the
// connection; code 0 is a normal close (io.EOF), any other code is a
// *PeerError carrying it.
func TestPeerCloseCodes(t *testing.T) {
	for _, code := range []record.Code{record.CodeNone, record.CodeKeyExpired, record.CodeSystemMessage} {
		t.Run(code.String(), func(t *testing.T) {
			c, sc := session(t, true)
			exchange(t, sc, c, "data before the close")
			pkt, err := sc.sess.Stream.SealClose(code, sc.now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sc.conn.Write(pkt); err != nil {
				t.Fatal(err)
			}
			_, err = readWithin(t, c, make([]byte, 100))
			var pe *PeerError
			if code == record.CodeNone {
				if err != io.EOF {
					t.Fatalf("close with code 0: %v, want io.EOF", err)
				}
			} else {
				if !errors.As(err, &pe) || pe.Code != code {
					t.Fatalf("close with code %v: %v, want *PeerError{Code: %v}", code, err, code)
				}
				if !strings.Contains(err.Error(), code.String()) {
					t.Fatalf("%q does not name the code %q", err.Error(), code.String())
				}
			}
			// The connection is over on our side, and the server sees it go.
			ended(t, c, sc)
		})
	}
}

// TestUnsolicitedAsymmetricResponse: a genuine, correctly sealed asymmetric
// ratchet response that this end never asked for is refused with
// handshake.ErrRatchet and ends the connection, without re-keying.
func TestUnsolicitedAsymmetricResponse(t *testing.T) {
	c, sc := session(t, true)
	// A request the client's session could have made, but its Conn did not.
	req, pending, err := c.sess.NewAsymmetricRequest(drbg("unsolicited"))
	if err != nil {
		t.Fatal(err)
	}
	pending.Clear()
	err = sc.sealAndSend(func() ([]byte, error) { return sc.sess.StreamAsymmetricRespond(drbg("respond"), req) }, false)
	if err != nil {
		t.Fatal(err)
	}
	before := c.sess.Stream.RatchetState()
	if _, err := readWithin(t, c, make([]byte, 100)); !errors.Is(err, handshake.ErrRatchet) {
		t.Fatalf("unsolicited response: %v, want handshake.ErrRatchet", err)
	}
	if after := c.sess.Stream.RatchetState(); !bytes.Equal(after.Secret, before.Secret) || !bytes.Equal(after.RTCS, before.RTCS) {
		t.Fatal("an unsolicited response re-keyed the session")
	}
	ended(t, c, sc)
}

// TestSymmetricRatchetTokenLength: a symmetric ratchet request whose token
// is not 32 bytes is refused (record.ErrMessageSize) and ends the
// connection; a 32-byte one re-keys and data flows on.
func TestSymmetricRatchetTokenLength(t *testing.T) {
	for _, size := range []int{1, 31, 33, 64} {
		c, sc := session(t, true)
		sendAs(t, sc, record.FlagSymmetricRatchetRequest, make([]byte, size), 0)
		_, err := readWithin(t, c, make([]byte, 100))
		if !errors.Is(err, record.ErrMessageSize) {
			t.Fatalf("token of %d bytes: %v, want record.ErrMessageSize", size, err)
		}
		ended(t, c, sc)
	}
	// The well-formed request through the same path is followed.
	c, sc := session(t, true)
	token := bytes.Repeat([]byte{7}, 32)
	if err := sc.sealAndSend(func() ([]byte, error) { return sc.sess.Stream.SealRatchetRequest(token, 0) }, false); err != nil {
		t.Fatal(err)
	}
	exchange(t, sc, c, "under the new keys")
	exchange(t, c, sc, "and back")
}

// TestSkippedFlags: records with flags the data loops do not handle,
// including the unauthenticated connection_terminate, are skipped without
// touching the cipher state, and the next data record still arrives.
func TestSkippedFlags(t *testing.T) {
	c, sc := session(t, false)
	exchange(t, sc, c, "first")
	rx := c.sess.Stream.RxSeq()
	for _, f := range []record.Flag{
		record.FlagConnectionTerminate, record.FlagConnectRequest, record.FlagNone,
		record.FlagTransferRequest, record.FlagUnrecognizedProtocol, record.FlagSessionEstablished, 0x7F,
	} {
		h := record.Header{Flag: f, MsgLen: 40, Sequence: rx + 1, UTCTime: c.now()}
		if _, err := sc.conn.Write(append(h.Append(nil), make([]byte, 40)...)); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, sc, c, "second")
	if got := c.sess.Stream.RxSeq(); got != rx+1 {
		t.Fatalf("receive sequence %d after the skipped records and one data record, want %d", got, rx+1)
	}
}

// TestRecordSizeEndsConnection: a record whose msglen is out of range is
// refused with ErrRecordSize and ends the connection, as the package
// documents: its body is still on the wire, so reading on would take it
// for the next header.
func TestRecordSizeEndsConnection(t *testing.T) {
	c, sc := session(t, false)
	h := record.Header{Flag: record.FlagEncryptedMessage, MsgLen: record.MessageMax + 1, Sequence: 1}
	if _, err := sc.conn.Write(append(h.Append(nil), make([]byte, 64)...)); err != nil { // the rest never comes
		t.Fatal(err)
	}
	if _, err := readWithin(t, c, make([]byte, 100)); !errors.Is(err, ErrRecordSize) {
		t.Fatalf("oversized msglen: %v, want ErrRecordSize", err)
	}
	ended(t, c, sc)
}

// TestWriteErrors: an empty Write is refused (the C code refuses empty
// messages); Writes after Close report net.ErrClosed; the largest message
// goes through.
func TestWriteErrors(t *testing.T) {
	c, sc := session(t, false)
	if n, err := c.Write(nil); n != 0 || !errors.Is(err, record.ErrEmpty) {
		t.Fatalf("empty Write: %d, %v; want record.ErrEmpty", n, err)
	}
	if _, err := c.Write(make([]byte, c.MaxMessage()+1)); err == nil {
		t.Fatal("oversized Write accepted")
	} else if msg := err.Error(); !strings.Contains(msg, "65505") || !strings.Contains(msg, "65504") {
		t.Fatalf("the error does not name the size and the limit: %q", msg)
	}
	exchange(t, c, sc, "still usable after refused writes")
	c.Close()
	if n, err := c.Write([]byte("x")); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %d, %v; want net.ErrClosed", n, err)
	}
	if err := c.Ratchet(); err == nil {
		t.Fatal("Ratchet after Close succeeded")
	}
	if _, err := readWithin(t, sc, make([]byte, 10)); err != io.EOF {
		t.Fatalf("the peer's Read after Close: %v, want io.EOF", err)
	}
}

// TestCloseReleasesWaitingWriter: a Write waiting for an asymmetric ratchet
// that is never answered returns net.ErrClosed when the connection closes.
func TestCloseReleasesWaitingWriter(t *testing.T) {
	c, _ := session(t, true)
	if err := c.AsymmetricRatchet(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("waits for the ratchet"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Write did not wait for the pending ratchet: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waiting Write after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the waiting Write")
	}
}

// TestDeadlines: deadlines behave as in package net: an expired one fails
// I/O with os.ErrDeadlineExceeded (a net.Error whose Timeout is true), and
// a read deadline that expires with no record in flight leaves the
// connection usable once it is extended.
func TestDeadlines(t *testing.T) {
	c, sc := session(t, false)
	past := time.Now().Add(-time.Second)

	if err := sc.SetDeadline(past); err != nil {
		t.Fatal(err)
	}
	_, err := sc.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past SetDeadline: %v", err)
	}
	if err := sc.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	exchange(t, c, sc, "after the read deadline")
	exchange(t, sc, c, "both ways")

	if err := c.SetWriteDeadline(past); err != nil {
		t.Fatal(err)
	}
	n, err := c.Write([]byte("too late"))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Write past SetWriteDeadline: %d, %v", n, err)
	}
}

// TestPartialRecordReadTimeout: a read deadline that expires in the middle
// of a record loses nothing: once the deadline is extended, the next Read
// returns the whole record.
func TestPartialRecordReadTimeout(t *testing.T) {
	c, sc := session(t, false)
	for _, cut := range []int{5, record.HeaderSize + 3} {
		msg := "split by a read timeout"
		var pkt []byte
		err := sc.sealAndSend(func() ([]byte, error) {
			p, err := sc.sess.Stream.Seal([]byte(msg), sc.now())
			pkt = p
			return p[:cut], err
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read of a partial record: %v, want a timeout", err)
		}
		if _, err := sc.conn.Write(pkt[cut:]); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := readWithin(t, c, buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("cut at %d: Read after the timeout: %q, %v; want %q", cut, buf[:n], err, msg)
		}
	}
	exchange(t, sc, c, "and the stream goes on")
}

// TestWriteTimeoutEndsConnection: a Write that fails on the wire has used a
// sequence number and advanced the cipher, so it cannot be retried; it
// ends the connection (as the package documents for any failure) instead
// of letting the next Write send a record the peer must refuse.
func TestWriteTimeoutEndsConnection(t *testing.T) {
	c, sc := session(t, false)
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("too late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %v", err)
	}
	c.SetWriteDeadline(time.Time{})
	ended(t, c, sc)
}

// TestAddrsAndSession: the addresses are those of the TCP connection and
// Session reports the handshake's result on both ends.
func TestAddrsAndSession(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		c, sc := session(t, duplex)
		if c.LocalAddr().String() != sc.RemoteAddr().String() || c.RemoteAddr().String() != sc.LocalAddr().String() {
			t.Fatalf("addresses: client %v -> %v, server %v -> %v", c.LocalAddr(), c.RemoteAddr(), sc.LocalAddr(), sc.RemoteAddr())
		}
		if ip := c.RemoteAddr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Fatalf("remote address %v", ip)
		}
		cs, ss := c.Session(), sc.Session()
		if cs == nil || ss == nil || cs.Server || !ss.Server || cs.Duplex != duplex || ss.Duplex != duplex {
			t.Fatalf("duplex %v: client session %+v, server session %+v", duplex, cs, ss)
		}
		if cs.Suite.Name != testSuite || len(cs.Transcript) == 0 || !bytes.Equal(cs.Transcript, ss.Transcript) {
			t.Fatalf("the sessions disagree: %s %x / %x", cs.Suite.Name, cs.Transcript, ss.Transcript)
		}
	}
}

// TestAcceptContext: AcceptContext returns ctx's error promptly when the
// context ends, leaves no goroutine behind, and a session that completes
// later is still delivered to the next Accept. After Close it reports
// net.ErrClosed.
func TestAcceptContext(t *testing.T) {
	sk, ck := keys(t, testSuite)
	srv, cli := pair(sk, ck, false)
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.AcceptContext(ctx)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("cancelled AcceptContext: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AcceptContext did not return on cancellation")
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer tcancel()
	if _, err := l.AcceptContext(tctx); err != context.DeadlineExceeded {
		t.Fatalf("AcceptContext past its deadline: %v", err)
	}

	c, err := Dial(context.Background(), "tcp", l.Addr().String(), cli)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc := nc.(*Conn)
	exchange(t, c, sc, "delivered after a cancelled Accept")
	c.Close()
	sc.Close()

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AcceptContext(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("AcceptContext after Close: %v, want net.ErrClosed", err)
	}
	goleak.VerifyNone(t)
}

// TestListenErrors: Listen reports configuration errors before it binds,
// and the network's errors.
func TestListenErrors(t *testing.T) {
	sk, ck := keys(t, testSuite)
	other, _ := keys(t, "dilithium-s3_kyber-s3_sha3_rcs256")
	for name, cfg := range map[string]*Config{
		"no identity":       {},
		"mismatched suites": {Identity: sk, PeerKey: &other.PublicKey, Duplex: true},
	} {
		if _, err := Listen("tcp", "127.0.0.1:0", cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	srv, _ := pair(sk, ck, false)
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := Listen("tcp", l.Addr().String(), srv); !errors.Is(err, syscall.EADDRINUSE) {
		if err == nil {
			l2.Close()
		}
		t.Fatalf("Listen on an address in use: %v, want EADDRINUSE", err)
	}
	if _, err := Listen("udp", "127.0.0.1:0", srv); err == nil {
		t.Fatal("Listen on udp succeeded")
	}
}

// TestTruncatedRecord: a peer that goes away in the middle of a record is
// not a clean end of the session: Read reports io.ErrUnexpectedEOF, not
// io.EOF.
func TestTruncatedRecord(t *testing.T) {
	for _, cut := range []int{3, record.HeaderSize, record.HeaderSize + 5} {
		c, sc := session(t, false)
		pkt, err := sc.sess.Stream.Seal([]byte("cut short"), sc.now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.conn.Write(pkt[:cut]); err != nil {
			t.Fatal(err)
		}
		sc.conn.Close()
		if _, err := readWithin(t, c, make([]byte, 100)); err != io.ErrUnexpectedEOF {
			t.Fatalf("record cut at %d bytes: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

// TestForgedAsymmetricResponse: a response to our pending asymmetric
// ratchet that does not verify is refused with handshake.ErrRatchet, ends
// the connection, releases a Write waiting for the ratchet, and erases the
// pending decapsulation key.
func TestForgedAsymmetricResponse(t *testing.T) {
	c, sc := session(t, true)
	if err := c.AsymmetricRatchet(); err != nil {
		t.Fatal(err)
	}
	pending := c.pending
	size := handshake.AsymmetricResponseSize(mustKEM(t, c), mustSigner(t, c))
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("waits for the ratchet"))
		done <- err
	}()
	// The server answers with a response of the right size that it did not sign.
	sendAs(t, sc, record.FlagAsymmetricRatchetResponse, bytes.Repeat([]byte{0x5A}, size), 0)
	if _, err := readWithin(t, c, make([]byte, 100)); !errors.Is(err, handshake.ErrRatchet) {
		t.Fatalf("forged response: %v, want handshake.ErrRatchet", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waiting Write: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the failed ratchet did not release the waiting Write")
	}
	if _, err := pending.Finish(c.sess, make([]byte, size)); err == nil || !strings.Contains(err.Error(), "no request pending") {
		t.Fatalf("the pending ratchet was not erased: Finish says %v", err)
	}
	ended(t, c, sc)
}

// TestQSMSAsymmetricRequestRefused: QSMS has no asymmetric ratchet; a
// request from the peer is refused with handshake.ErrRatchet and ends the
// connection.
func TestQSMSAsymmetricRequestRefused(t *testing.T) {
	c, sc := session(t, false)
	sendAs(t, c, record.FlagAsymmetricRatchetRequest, make([]byte, 64), 0)
	if _, err := readWithin(t, sc, make([]byte, 100)); !errors.Is(err, handshake.ErrRatchet) {
		t.Fatalf("asymmetric request on QSMS: %v, want handshake.ErrRatchet", err)
	}
	ended(t, sc, c)
}

func mustKEM(t *testing.T, c *Conn) suite.KEM {
	t.Helper()
	k, err := c.sess.Suite.KEM()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSigner(t *testing.T, c *Conn) suite.Signer {
	t.Helper()
	v, err := c.sess.Suite.Signer()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
