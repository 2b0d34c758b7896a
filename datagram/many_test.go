package datagram

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestManySessions runs 32 QSMD sessions at once on one listener socket at
// 10 % loss; each client sends numbered records that name it, the listener
// echoes them, and every record must come back to the client that sent it.
func TestManySessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, lossyNet(21, 0.10))
		srv, cli := pairConfigs(t, true)
		srv.PrefixBurst = 64
		l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// The listener echoes every record on its session.
		var echoes sync.WaitGroup
		go func() {
			for {
				s, err := l.Accept()
				if err != nil {
					return
				}
				echoes.Go(func() {
					buf := make([]byte, 2000)
					for {
						k, err := s.Read(buf)
						if err != nil {
							s.Close()
							return
						}
						s.Write(buf[:k])
					}
				})
			}
		}()
		const clients, records = 32, 100
		var wg sync.WaitGroup
		got := make([]int, clients)
		for i := range clients {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				c, err := DialPacketConn(ctx, listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				defer c.Close()
				for j := range records {
					c.Write([]byte(fmt.Sprintf("client %d record %d", i, j)))
					time.Sleep(time.Millisecond)
				}
				buf := make([]byte, 2000)
				prefix := []byte(fmt.Sprintf("client %d record ", i))
				for {
					c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
					k, err := c.Read(buf)
					if err != nil {
						break
					}
					if !bytes.HasPrefix(buf[:k], prefix) {
						t.Errorf("client %d got %q", i, buf[:k])
					}
					got[i]++
				}
			})
		}
		wg.Wait()
		st := l.Stats()
		for i, k := range got {
			// Two crossings at 10 % loss: about 81 of 100 come back.
			if k < records/2 || k > records {
				t.Errorf("client %d: %d echoes of %d records", i, k, records)
			}
		}
		if st.Established != clients || st.HalfOpen != 0 {
			t.Fatalf("%d sessions established, want %d: %+v", st.Established, clients, st)
		}
		t.Logf("listener: %+v", st)
		l.Close()
		echoes.Wait()
	})
}
