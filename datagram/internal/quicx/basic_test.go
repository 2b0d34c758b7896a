package quicx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

func TestLoopbackUDP(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		t.Run(variant(duplex), func(t *testing.T) {
			srvCfg, cliCfg := configs(t, duplex)
			l, err := Listen("quic", "127.0.0.1:0", srvCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := Dial(ctx, "quic", l.Addr().String(), cliCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := l.AcceptContext(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			buf := make([]byte, 2000)
			for i := range uint64(50) {
				msg := message(i, sizeOf(i))
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				s.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := s.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:n], msg) {
					t.Fatalf("record %d differs", i)
				}
				if _, err := s.Write(msg[:n/2]); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err = c.Read(buf); err != nil || !bytes.Equal(buf[:n], msg[:len(msg)/2]) {
					t.Fatalf("reply %d: %v", i, err)
				}
			}
			c.Close()
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := s.Read(buf); !errors.Is(err, io.EOF) {
				t.Fatalf("read after peer close: %v, want io.EOF", err)
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, ErrPeerClosed) {
				t.Fatalf("write after peer close: %v", err)
			}
			if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read after close: %v", err)
			}
			st := s.Stats()
			t.Logf("server stats %+v, MaxWrite %d", st, c.MaxWrite())
			if st.RecordsIn != 50 || st.RecordsOut != 50 || st.Drops.Total() != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestNetsimBasic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, netsim.Config{Seed: 1, Delay: 10 * time.Millisecond}, srvCfg, cliCfg)
		defer p.close()
		buf := make([]byte, 2000)
		for i := range uint64(10) {
			msg := message(i, sizeOf(i))
			if _, err := p.cli.Write(msg); err != nil {
				t.Fatal(err)
			}
			n, err := p.srv.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	})
}
