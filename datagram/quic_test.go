package datagram

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestLoopbackQUIC runs QSMS and QSMD over QUIC on real UDP sockets on
// 127.0.0.1 through Dial and Listen, and exchanges records both ways.
func TestLoopbackQUIC(t *testing.T) {
	for _, network := range []string{"quic", "quic4"} {
		for _, duplex := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/duplex=%v", network, duplex), func(t *testing.T) {
				srv, cli := pairConfigs(t, duplex)
				l, err := Listen(network, "127.0.0.1:0", srv)
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
				c, err := Dial(ctx, network, l.Addr().String(), cli)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				r := <-accepted
				if r.err != nil {
					t.Fatal(r.err)
				}
				s := r.c
				buf := make([]byte, 2000)
				for i := range 100 {
					msg := fmt.Sprintf("record %d", i)
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					s.SetReadDeadline(time.Now().Add(5 * time.Second))
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
				if m := c.MaxWrite(); m < 1100 {
					t.Errorf("MaxWrite %d", m)
				}
				if st := c.Stats(); st.RecordsOut != 100 || st.RecordsIn != 100 || st.RTT <= 0 {
					t.Errorf("client stats %+v", st)
				}
			})
		}
	}
}
