package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qsmp-go/qsmp/netsim"
)

// The relay carries datagrams both ways between a client and a server that
// only know each other through it.
func TestRelay(t *testing.T) {
	front, back, err := simPair(1)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	defer back.Close()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srv, cli := listen(), listen()
	defer srv.Close()
	defer cli.Close()
	rl := startRelay(front, back, srv.LocalAddr())
	const n = 50
	deadline := time.Now().Add(5 * time.Second)
	srv.SetReadDeadline(deadline)
	cli.SetReadDeadline(deadline)
	buf := make([]byte, 2048)
	for i := range n {
		msg := fmt.Sprintf("request %d", i)
		if _, err := cli.WriteTo([]byte(msg), front.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		k, from, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatalf("server read %d: %v", i, err)
		}
		if string(buf[:k]) != msg || from.String() != back.LocalAddr().String() {
			t.Fatalf("server got %q from %v", buf[:k], from)
		}
		reply := fmt.Sprintf("reply %d", i)
		if _, err := srv.WriteTo([]byte(reply), from); err != nil {
			t.Fatal(err)
		}
		k, from, err = cli.ReadFrom(buf)
		if err != nil {
			t.Fatalf("client read %d: %v", i, err)
		}
		if string(buf[:k]) != reply || from.String() != front.LocalAddr().String() {
			t.Fatalf("client got %q from %v", buf[:k], from)
		}
	}
	done := make(chan struct{})
	go func() { rl.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not stop")
	}
	rl.stop() // idempotent
}

// A QUIC connection runs through the relay as QSMPQUIC's does: quic-go
// listening and dialing on sockets of its own, datagrams flowing both ways
// under loss.
func TestRelayQUIC(t *testing.T) {
	front, back, err := simPair(2)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	defer back.Close()
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	qcfg := &quic.Config{EnableDatagrams: true}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}}, qcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rl := startRelay(front, back, ln.Addr())
	defer rl.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := quic.DialAddr(ctx, front.LocalAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}, qcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.CloseWithError(0, "")
	sc, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.CloseWithError(0, "")
	// Loss on both relay sockets: the client's datagrams leave through one,
	// the server's few acks through the other.
	for _, w := range []*netsim.Conn{front, back} {
		if err := w.SetConfig(netsim.Config{Loss: 0.2}); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for i := 0; i < 200 && got < 20; i++ {
		if err := cc.SendDatagram([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if d, err := sc.ReceiveDatagram(rctx); err == nil && string(d) == "ping" {
			got++
		}
		rcancel()
	}
	if got < 20 {
		t.Errorf("%d datagrams through the relay", got)
	}
	if front.Stats().Lost+back.Stats().Lost == 0 {
		t.Errorf("no loss applied on the relay: %+v, %+v", front.Stats(), back.Stats())
	}
}
