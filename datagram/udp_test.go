package datagram

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestLoopbackUDP runs QSMS and QSMD over real UDP sockets on 127.0.0.1 and
// ::1 and exchanges records both ways.
func TestLoopbackUDP(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}, {"udp", "127.0.0.1:0"}} {
		for _, duplex := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/duplex=%v", tc.network, duplex), func(t *testing.T) {
				if tc.network == "udp6" {
					if pc, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
						t.Skipf("no IPv6 loopback on this host: %v", err)
					} else {
						pc.Close()
					}
				}
				srv, cli := pairConfigs(t, duplex)
				l, err := Listen(tc.network, tc.addr, srv)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				type result struct {
					c   net.Conn
					err error
				}
				accepted := make(chan result, 1)
				go func() {
					c, err := l.Accept()
					accepted <- result{c, err}
				}()
				c, err := Dial(ctx, tc.network, l.Addr().String(), cli)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				r := <-accepted
				if r.err != nil {
					t.Fatal(r.err)
				}
				s := r.c
				defer s.Close()
				for i := range 100 {
					msg := fmt.Sprintf("record %d", i)
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					s.SetReadDeadline(time.Now().Add(5 * time.Second))
					buf := make([]byte, 100)
					k, err := s.Read(buf)
					if err != nil || string(buf[:k]) != msg {
						t.Fatalf("read %q, %v; want %q", buf[:k], err, msg)
					}
					if _, err := s.Write(buf[:k]); err != nil {
						t.Fatal(err)
					}
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					k, err = c.Read(buf)
					if err != nil || string(buf[:k]) != msg {
						t.Fatalf("echo %q, %v; want %q", buf[:k], err, msg)
					}
				}
				if got := c.RemoteAddr().String(); got != l.Addr().String() {
					t.Errorf("RemoteAddr %s, listener at %s", got, l.Addr())
				}
			})
		}
	}
}

// TestDialErrors: bad networks and configurations fail before any I/O.
func TestDialErrors(t *testing.T) {
	srv, cli := pairConfigs(t, false)
	ctx := context.Background()
	if _, err := Dial(ctx, "tcp", "127.0.0.1:1", cli); err == nil {
		t.Error("Dial accepted network tcp")
	}
	if _, err := Listen("ip", "127.0.0.1:0", srv); err == nil {
		t.Error("Listen accepted network ip")
	}
	if _, err := Dial(ctx, "udp", "127.0.0.1:1", &Config{}); err == nil {
		t.Error("Dial without PeerKey")
	}
	if _, err := Listen("udp", "127.0.0.1:0", &Config{}); err == nil {
		t.Error("Listen without Identity")
	}
	bad := *cli
	bad.MaxPayload = 100
	if _, err := Dial(ctx, "udp", "127.0.0.1:1", &bad); err == nil {
		t.Error("Dial with MaxPayload 100")
	}
	qsmd := *srv
	qsmd.Duplex = true
	if _, err := Listen("udp", "127.0.0.1:0", &qsmd); err == nil {
		t.Error("QSMD Listen without PeerKeys")
	}
	// A QSMD listener bound to one initiator by PeerKey.
	_, client, other := testKeys(t)
	one := &Config{Identity: srv.Identity, Duplex: true, PeerKey: &client.PublicKey}
	l, err := Listen("udp4", "127.0.0.1:0", one)
	if err != nil {
		t.Fatalf("QSMD Listen with PeerKey: %v", err)
	}
	defer l.Close()
	go func() {
		if s, err := l.Accept(); err == nil {
			s.Close()
		}
	}()
	qcli := &Config{PeerKey: cli.PeerKey, Identity: client, Duplex: true}
	c, err := Dial(ctx, "udp4", l.Addr().String(), qcli)
	if err != nil {
		t.Fatalf("QSMD dial to a listener bound by PeerKey: %v", err)
	}
	c.Close()
	stranger := &Config{PeerKey: cli.PeerKey, Identity: other, Duplex: true, HandshakeTimeout: 300 * time.Millisecond}
	if _, err := Dial(ctx, "udp4", l.Addr().String(), stranger); !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("QSMD dial with another key: %v", err)
	}
	if st := l.Stats(); st.UnknownKey == 0 {
		t.Fatalf("the stranger was not refused by key: %+v", st)
	}

	// A handshake with nobody listening times out.
	short := *cli
	short.HandshakeTimeout = 300 * time.Millisecond
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr()
	defer pc.Close()
	start := time.Now()
	if _, err := Dial(ctx, "udp4", dead.String(), &short); !errors.Is(err, ErrHandshakeTimeout) {
		t.Errorf("dial to a silent address: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
}
