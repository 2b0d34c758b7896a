package quicx

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

func TestShortBufferAndTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		msg := message(1, 100)
		if _, err := p.cli.Write(msg); err != nil {
			t.Fatal(err)
		}
		small := make([]byte, 10)
		_, err := p.srv.Read(small)
		var sb *ShortBufferError
		if !errors.As(err, &sb) || sb.Size != 100 || sb.Have != 10 || !errors.Is(err, io.ErrShortBuffer) || !errors.Is(err, ErrShortBuffer) {
			t.Fatalf("short read: %v", err)
		}
		buf := make([]byte, 100)
		if n, err := p.srv.Read(buf); err != nil || n != 100 || string(buf) != string(msg) {
			t.Fatalf("read after the short buffer: %d, %v", n, err)
		}

		limit := p.cli.MaxWrite()
		if limit < 1100 || limit > record.DatagramMaxPlaintext {
			t.Fatalf("MaxWrite %d", limit)
		}
		_, err = p.cli.Write(make([]byte, limit+1))
		var tl *MessageTooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit || tl.Size != limit+1 || !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("too large: %v (limit %d)", err, limit)
		}
		big := message(2, limit)
		if _, err := p.cli.Write(big); err != nil {
			t.Fatalf("write of MaxWrite bytes: %v", err)
		}
		buf = make([]byte, 70000)
		if n, err := p.srv.Read(buf); err != nil || string(buf[:n]) != string(big) {
			t.Fatalf("read of MaxWrite bytes: %d, %v", n, err)
		}
		if _, err := p.cli.Write(nil); err != nil {
			t.Fatal(err)
		}
		if n, err := p.srv.Read(buf); err != nil || n != 0 {
			t.Fatalf("empty record: %d, %v", n, err)
		}
		if st := p.cli.Stats(); st.TooLarge != 1 || st.RecordsOut != 3 {
			t.Fatalf("client stats %+v", st)
		}
	})
}

func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		buf := make([]byte, 100)
		start := time.Now()
		p.srv.SetReadDeadline(start.Add(300 * time.Millisecond))
		_, err := p.srv.Read(buf)
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read: %v", err)
		}
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Fatalf("read timed out after %v", d)
		}
		// A deadline moved into the future lets Read succeed.
		p.srv.SetReadDeadline(time.Now().Add(time.Second))
		p.cli.Write([]byte("x"))
		if n, err := p.srv.Read(buf); err != nil || n != 1 {
			t.Fatalf("read after moving the deadline: %v", err)
		}
		p.cli.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := p.cli.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write past the deadline: %v", err)
		}
		// Cut the path: QUIC's congestion window fills, then quic-go's
		// datagram send queue, and Write blocks until its deadline.
		dead := netsim.Config{Loss: 1}
		p.n.SetLink(p.cpc, p.spc, dead)
		p.n.SetLink(p.spc, p.cpc, dead)
		p.cli.SetWriteDeadline(time.Now().Add(2 * time.Second))
		start = time.Now()
		var werr error
		for i := 0; i < 100000 && werr == nil; i++ {
			_, werr = p.cli.Write(make([]byte, 1000))
		}
		if !errors.Is(werr, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked write: %v", werr)
		}
		if d := time.Since(start); d < 2*time.Second-time.Millisecond || d > 3*time.Second {
			t.Fatalf("write timed out after %v", d)
		}
		p.cli.SetWriteDeadline(time.Time{})
	})
}

func TestCloseSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		for i := range uint64(5) {
			if _, err := p.cli.Write(message(i, 500)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		p.cli.Close()
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Close took %v of virtual time", d)
		}
		buf := make([]byte, 1000)
		seen := map[uint64]bool{}
		for i := range 5 {
			n, err := p.srv.Read(buf)
			if err != nil {
				t.Fatalf("record %d after the peer's close: %v", i, err)
			}
			j, err := checkMessage(buf[:n])
			if err != nil || j >= 5 || seen[j] {
				t.Fatalf("record %d: got %d, %v", i, j, err)
			}
			seen[j] = true
		}
		if _, err := p.srv.Read(buf); err != io.EOF {
			t.Fatalf("read after the records: %v, want io.EOF", err)
		}
		if _, err := p.srv.Write([]byte("x")); !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("write after the peer's close: %v", err)
		}
		if err := p.srv.Rekey(context.Background()); !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("rekey after the peer's close: %v", err)
		}
		if _, err := p.cli.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after close: %v", err)
		}
		if err := p.cli.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		var ae *quic.ApplicationError
		<-p.srv.qc.Context().Done()
		if err := context.Cause(p.srv.qc.Context()); !errors.As(err, &ae) || ae.ErrorCode != CodeClosed {
			t.Fatalf("QUIC connection ended with %v", err)
		}
	})
}

func TestPeerErrorAndConnectionLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		// A close record with a non-zero QSMP code.
		if err := p.cli.writeControl(record.FlagErrorCondition, []byte{byte(record.CodeChannelDown)}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		var pe *PeerError
		if _, err := p.srv.Read(buf); !errors.As(err, &pe) || pe.Code != uint8(record.CodeChannelDown) {
			t.Fatalf("read: %v, want PeerError", err)
		}

		// A QUIC connection that ends without the close record is lost, not
		// closed: nothing proves the peer ended it.
		q := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer q.close()
		q.cli.qc.CloseWithError(CodeClosed, "")
		if _, err := q.srv.Read(buf); !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("read after the QUIC close: %v, want ErrConnectionLost", err)
		}
		if _, err := q.srv.Write([]byte("x")); !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("write after the QUIC close: %v", err)
		}
	})
}

func TestProtocolViolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		// A control record the server cannot open ends the session.
		p.cli.swmu.Lock()
		p.cli.stream.Write(append([]byte{prefixStream}, make([]byte, record.HeaderSize+40)...))
		p.cli.swmu.Unlock()
		buf := make([]byte, 100)
		if _, err := p.srv.Read(buf); !errors.Is(err, ErrProtocol) {
			t.Fatalf("server read: %v, want ErrProtocol", err)
		}
		var ae *quic.ApplicationError
		if _, err := p.cli.Read(buf); !errors.As(err, &ae) || ae.ErrorCode != CodeProtocol {
			t.Fatalf("client read: %v, want application error %d", err, CodeProtocol)
		}
	})
}

func TestHandshakeFailures(t *testing.T) {
	_, client, other := testKeys(t)
	cases := []struct {
		name   string
		adjust func(srv, cli *Config)
		duplex bool
	}{
		{"wrong listener key", func(srv, cli *Config) { cli.PeerKey = &other.PublicKey }, false},
		{"unknown initiator", func(srv, cli *Config) { cli.Identity = other }, true},
		{"variant mismatch", func(srv, cli *Config) { cli.Duplex, cli.Identity = true, client }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srvCfg, cliCfg := configs(t, tc.duplex)
				tc.adjust(srvCfg, cliCfg)
				n, _ := netsim.NewNetwork(lossyNet(0))
				defer n.Close()
				spc, _ := n.Listen("127.0.0.1:4433")
				cpc, _ := n.Listen("127.0.0.1:0")
				defer spc.Close()
				defer cpc.Close()
				l, err := ListenPacketConn(spc, srvCfg)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				start := time.Now()
				c, err := DialPacketConn(ctx, cpc, spc.LocalAddr(), cliCfg)
				if err == nil {
					c.Close()
					t.Fatal("dial succeeded")
				}
				if !errors.Is(err, ErrHandshake) {
					t.Errorf("dial: %v, want ErrHandshake", err)
				}
				if tc.name == "variant mismatch" && !strings.Contains(err.Error(), "the listener runs QSMS") {
					t.Errorf("dial: %v does not name the listener's variant", err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("failure took %v", d)
				}
				t.Logf("dial: %v", err)
				actx, acancel := context.WithTimeout(ctx, time.Second)
				defer acancel()
				if s, err := l.AcceptContext(actx); err == nil {
					s.Close()
					t.Fatal("listener accepted a session")
				}
			})
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		cliCfg.HandshakeTimeout = 3 * time.Second
		n, _ := netsim.NewNetwork(netsim.Config{Loss: 1})
		defer n.Close()
		cpc, _ := n.Listen("127.0.0.1:0")
		defer cpc.Close()
		spc, _ := n.Listen("127.0.0.1:4433")
		defer spc.Close()
		_ = srvCfg
		start := time.Now()
		_, err := DialPacketConn(context.Background(), cpc, spc.LocalAddr(), cliCfg)
		if err == nil || time.Since(start) != 3*time.Second {
			t.Fatalf("dial into the void: %v after %v", err, time.Since(start))
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		if _, err := DialPacketConn(ctx, cpc, spc.LocalAddr(), cliCfg); !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Fatalf("cancelled dial: %v after %v", err, time.Since(start))
		}
	})
}

func TestConfigErrors(t *testing.T) {
	server, client, _ := testKeys(t)
	ctx := context.Background()
	if _, err := Dial(ctx, "quic", "127.0.0.1:1", nil); !errors.Is(err, ErrConfig) {
		t.Errorf("dial without keys: %v", err)
	}
	if _, err := Dial(ctx, "tcp", "127.0.0.1:1", &Config{PeerKey: &server.PublicKey}); !errors.Is(err, ErrNetwork) {
		t.Errorf("dial tcp: %v", err)
	}
	if _, err := Listen("quic", "127.0.0.1:0", &Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("listen without identity: %v", err)
	}
	if _, err := Listen("quic", "127.0.0.1:0", &Config{Identity: server, Duplex: true}); !errors.Is(err, ErrConfig) {
		t.Errorf("QSMD listen without PeerKeys: %v", err)
	}
	if _, err := Dial(ctx, "quic", "127.0.0.1:1", &Config{PeerKey: &server.PublicKey, Duplex: true}); !errors.Is(err, ErrConfig) {
		t.Errorf("QSMD dial without identity: %v", err)
	}
	if _, err := Dial(ctx, "quic", "127.0.0.1:1", &Config{PeerKey: &server.PublicKey, HandshakeTimeout: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("negative timeout: %v", err)
	}
	if _, err := Dial(ctx, "quic", "127.0.0.1:1", &Config{PeerKey: &server.PublicKey, WindowSize: -5}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad window: %v", err)
	}
	mismatch := *client
	mismatch.Suite = nil
	if _, err := Dial(ctx, "quic", "127.0.0.1:1", &Config{PeerKey: &mismatch.PublicKey}); !errors.Is(err, ErrConfig) {
		t.Errorf("key without suite: %v", err)
	}
	_ = keyfile.QSMS
}

func TestListenerClose(t *testing.T) {
	srvCfg, _ := configs(t, false)
	l, err := Listen("quic", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	if err := <-errc; !errors.Is(err, ErrListenerClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
