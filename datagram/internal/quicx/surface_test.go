package quicx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestOwnQUICSetup runs the session over QUIC connections and transports
// the caller made: Client over a connection dialled by hand to a
// ListenTransport listener, and Server over a connection accepted by hand
// from DialTransport; both share the client's transport. The session's
// accessors report what was set up.
func TestOwnQUICSetup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		n, err := netsim.NewNetwork(cleanNet)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		spc1, _ := n.Listen("127.0.0.1:4433")
		spc2, _ := n.Listen("127.0.0.1:4434")
		cpc, _ := n.Listen("127.0.0.1:0")
		str1, str2, ctr := &quic.Transport{Conn: spc1}, &quic.Transport{Conn: spc2}, &quic.Transport{Conn: cpc}
		defer func() {
			for _, tr := range []*quic.Transport{ctr, str1, str2} {
				tr.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		// Client over a hand-made connection.
		l, err := ListenTransport(str1, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cn, err := cliCfg.normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		qc, err := ctr.Dial(ctx, spc1.LocalAddr(), cn.clientTLS(), cn.quicConfig(false))
		if err != nil {
			t.Fatal(err)
		}
		c1, err := Client(ctx, qc, cliCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		s1, err := l.AcceptContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s1.Close()
		if c1.QUIC() != qc {
			t.Fatal("QUIC() is not the connection given to Client")
		}
		for _, c := range []*Conn{c1, s1} {
			sess := c.Session()
			if sess == nil || sess.Duplex || sess.Suite == nil || sess.Stream != nil || sess.DatagramSecret != nil || sess.Server != (c == s1) {
				t.Fatalf("Session() %+v", sess)
			}
		}
		if st := l.Stats(); st.Established != 1 || st.Failed != 0 || st.Handshakes != 0 {
			t.Fatalf("listener stats %+v", st)
		}
		exchangeMsg(t, c1, s1, "client")

		// Server over a hand-accepted connection.
		sn, err := srvCfg.normalize(true)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := sn.serverTLS()
		if err != nil {
			t.Fatal(err)
		}
		ql, err := str2.Listen(tc, sn.quicConfig(true))
		if err != nil {
			t.Fatal(err)
		}
		defer ql.Close()
		srvc := make(chan *Conn, 1)
		go func() {
			qc, err := ql.Accept(ctx)
			if err != nil {
				t.Error(err)
				srvc <- nil
				return
			}
			s, err := Server(ctx, qc, srvCfg)
			if err != nil {
				t.Error(err)
			}
			srvc <- s
		}()
		c2, err := DialTransport(ctx, ctr, spc2.LocalAddr(), cliCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		s2 := <-srvc
		if s2 == nil {
			t.FailNow()
		}
		defer s2.Close()
		exchangeMsg(t, s2, c2, "server")
		exchangeMsg(t, c1, s1, "still")

		// A configuration Client or Server cannot use ends the connection.
		qc3, err := ctr.Dial(ctx, spc1.LocalAddr(), cn.clientTLS(), cn.quicConfig(false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Client(ctx, qc3, &Config{}); !errors.Is(err, ErrConfig) {
			t.Fatalf("Client without keys: %v", err)
		}
		var ae *quic.ApplicationError
		if err := context.Cause(qc3.Context()); !errors.As(err, &ae) || ae.ErrorCode != CodeHandshake {
			t.Fatalf("connection after a bad Client config: %v", err)
		}
		if _, err := Server(ctx, qc3, &Config{}); !errors.Is(err, ErrConfig) {
			t.Fatalf("Server without keys: %v", err)
		}
	})
}

// TestErrorTexts: the errors name their numbers.
func TestErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{&MessageTooLargeError{Size: 1300, Limit: 1200}, []string{"1300", "1200"}},
		{&ShortBufferError{Size: 500, Have: 10}, []string{"500", "10"}},
		{&PeerError{Code: 7}, []string{"code 7"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.err.Error(), w) {
				t.Errorf("%q does not name %s", tc.err, w)
			}
		}
	}
	for _, nw := range []string{"quic", "quic4", "quic6", "udp", "udp4", "udp6"} {
		u, err := udpNetwork(nw)
		if err != nil || !strings.HasPrefix(u, "udp") || u[3:] != strings.TrimPrefix(strings.TrimPrefix(nw, "quic"), "udp") {
			t.Errorf("udpNetwork(%q) = %q, %v", nw, u, err)
		}
	}
	if _, err := udpNetwork("ip"); !errors.Is(err, ErrNetwork) {
		t.Errorf("udpNetwork(ip): %v", err)
	}
}
