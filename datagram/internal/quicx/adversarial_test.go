package quicx

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// TestReplayRejected sends a sealed datagram three times and an old one
// after the window has moved past it: the record is delivered once, the
// copies are counted as duplicates and the old one as too old.
func TestReplayRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		srvCfg.WindowSize = 64
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		rec, err := p.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte("once"))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := p.cli.qc.SendDatagram(rec); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 2000)
		if k, err := p.srv.Read(buf); err != nil || string(buf[:k]) != "once" {
			t.Fatalf("read %q, %v", buf[:k], err)
		}
		p.srv.SetReadDeadline(time.Now().Add(time.Second))
		if k, err := p.srv.Read(buf); err == nil {
			t.Fatalf("replay delivered: %q", buf[:k])
		}
		if d := p.srv.Stats().Drops; d.Duplicate != 2 {
			t.Fatalf("drops %+v, want 2 duplicates", d)
		}
		p.srv.SetReadDeadline(time.Time{})
		for i := range uint64(100) {
			if _, err := p.cli.Write(message(i, 100)); err != nil {
				t.Fatal(err)
			}
			if _, err := p.srv.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.cli.qc.SendDatagram(rec); err != nil {
			t.Fatal(err)
		}
		p.srv.SetReadDeadline(time.Now().Add(time.Second))
		if k, err := p.srv.Read(buf); err == nil {
			t.Fatalf("old record delivered: %q", buf[:k])
		}
		if d := p.srv.Stats().Drops; d.TooOld != 1 || d.Auth != 0 {
			t.Fatalf("drops %+v, want 1 too old", d)
		}
	})
}

// TestRecordOnAnotherConnection moves a record sealed for one session to
// another session's QUIC connection: it fails authentication there.
func TestRecordOnAnotherConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p1 := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p1.close()
		p2 := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p2.close()
		rec, err := p1.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte("for p1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := p2.cli.qc.SendDatagram(rec); err != nil {
			t.Fatal(err)
		}
		if err := p1.cli.qc.SendDatagram(rec); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if k, err := p1.srv.Read(buf); err != nil || string(buf[:k]) != "for p1" {
			t.Fatalf("p1 read %q, %v", buf[:k], err)
		}
		p2.srv.SetReadDeadline(time.Now().Add(time.Second))
		if k, err := p2.srv.Read(buf); err == nil {
			t.Fatalf("p2 accepted p1's record: %q", buf[:k])
		}
		if d := p2.srv.Stats().Drops; d.Auth != 1 {
			t.Fatalf("p2 drops %+v, want 1 authentication failure", d)
		}
	})
}

// TestExporterBinding: the same QSMP datagram secret on two QUIC
// connections (two exporter values) gives unrelated keys, so a record
// sealed on one cannot be opened on the other even if the QSMP session is
// the same (a handshake relayed by a TLS-terminating man in the middle).
func TestExporterBinding(t *testing.T) {
	for _, wide := range []bool{false, true} {
		ds := bytes.Repeat([]byte{0x5a}, record.DatagramSecretSize)
		e1, e2 := bytes.Repeat([]byte{1}, ExporterSize), bytes.Repeat([]byte{2}, ExporterSize)
		mk := func(exp []byte, server bool) *Conn {
			tag := 32
			if wide {
				tag = 64
			}
			c, err := offlineConn(wide, server, ds, exp, tag)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		cli1, srv1, srv2 := mk(e1, false), mk(e1, true), mk(e2, true)
		rec, err := cli1.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte("bound"))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if n, ok, _ := srv1.openBatch(buf, srv1.stamped(rec)); !ok || string(buf[:n]) != "bound" {
			t.Fatalf("same connection: %q, %v", buf[:n], ok)
		}
		if _, ok, _ := srv2.openBatch(buf, srv2.stamped(rec)); ok {
			t.Fatalf("record opened under another connection's exporter")
		}
		if srv2.drops.Snapshot().Auth != 1 {
			t.Fatalf("drop not counted as authentication: %+v", srv2.drops.Snapshot())
		}
	}
}

// TestRelayedHandshakeFails puts a TLS-terminating relay between client and
// listener: it holds two QUIC connections and copies the stream and the
// datagrams between them. The QSMP handshake itself completes end to end,
// but each side's keys are bound to its own QUIC connection, so the ready
// check fails on both sides with ErrBinding and no session is established.
func TestRelayedHandshakeFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		n, err := netsim.NewNetwork(lossyNet(0))
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		spc, _ := n.Listen("127.0.0.1:4433")
		cpc, _ := n.Listen("127.0.0.1:0")
		rin, _ := n.Listen("127.0.0.1:5555")
		rout, _ := n.Listen("127.0.0.1:0")
		l, err := ListenPacketConn(spc, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ephemeralCertificate()
		if err != nil {
			t.Fatal(err)
		}
		qconf := &quic.Config{EnableDatagrams: true}
		trIn, trOut := &quic.Transport{Conn: rin}, &quic.Transport{Conn: rout}
		rl, err := trIn.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{ALPN}}, qconf)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var relayed [2]int
		wg.Go(func() {
			a, err := rl.Accept(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer a.CloseWithError(0, "")
			b, err := trOut.Dial(ctx, spc.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPN}}, qconf)
			if err != nil {
				t.Error(err)
				return
			}
			defer b.CloseWithError(0, "")
			sa, err := a.AcceptStream(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			sb, err := b.OpenStreamSync(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			var cw sync.WaitGroup
			cw.Go(func() { n, _ := io.Copy(sb, sa); relayed[0] = int(n) })
			cw.Go(func() { n, _ := io.Copy(sa, sb); relayed[1] = int(n) })
			for _, d := range [][2]*quic.Conn{{a, b}, {b, a}} {
				cw.Go(func() {
					for {
						m, err := d[0].ReceiveDatagram(ctx)
						if err != nil {
							return
						}
						d[1].SendDatagram(m)
					}
				})
			}
			select {
			case <-a.Context().Done():
			case <-b.Context().Done():
			}
			a.CloseWithError(0, "")
			b.CloseWithError(0, "")
			cw.Wait()
		})
		_, err = DialPacketConn(ctx, cpc, rin.LocalAddr(), cliCfg)
		if !errors.Is(err, ErrBinding) {
			t.Fatalf("dial through the relay: %v, want ErrBinding", err)
		}
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		if s, err := l.AcceptContext(actx); err == nil {
			s.Close()
			t.Fatalf("the listener accepted a relayed session")
		}
		acancel()
		wg.Wait()
		t.Logf("relay copied %d bytes to the listener and %d back; dial error: %v", relayed[0], relayed[1], err)
		if relayed[0] < 1000 || relayed[1] < 1000 {
			t.Fatalf("the handshake did not go through the relay: %v", relayed)
		}
		l.Close()
		rl.Close()
		trIn.Close()
		trOut.Close()
		for _, pc := range []interface{ Close() error }{spc, cpc, rin, rout} {
			pc.Close()
		}
	})
}
