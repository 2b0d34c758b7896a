package datagram

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// countingPC counts the reads of a packet connection.
type countingPC struct {
	net.PacketConn
	reads atomic.Int64
}

func (p *countingPC) ReadFrom(b []byte) (int, net.Addr, error) {
	p.reads.Add(1)
	return p.PacketConn.ReadFrom(b)
}

// TestSocketDeadlineDoesNotSpin: a listener over the caller's socket, on
// which the caller sets a read deadline in the past, does not spin on the
// timeouts (it read it about a million times a second), and reads again
// once the deadline is cleared: a session is then dialed and carries a
// record.
func TestSocketDeadlineDoesNotSpin(t *testing.T) {
	srv, cli := pairConfigs(t, false)
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	pc := &countingPC{PacketConn: uc} // not a *net.UDPConn: one datagram per read
	l, err := NewListener(pc, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	uc.SetReadDeadline(time.Now().Add(-time.Second))
	time.Sleep(10 * time.Millisecond) // the reader finds the deadline
	before := pc.reads.Load()
	time.Sleep(100 * time.Millisecond)
	if n := pc.reads.Load() - before; n > 1000 {
		t.Fatalf("%d reads in 100 ms past the deadline: the reader spins", n)
	}
	uc.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, "udp4", uc.LocalAddr().String(), cli)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write([]byte("after the deadline")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "after the deadline" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
