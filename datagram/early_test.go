package datagram

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/netsim"
)

// lateFinalPC holds back the first fragment of handshake message msg that
// the socket reads until the next datagram has been read: the listener's
// first record overtakes its final flight, as on a reordering path.
type lateFinalPC struct {
	net.PacketConn
	msg  uint8
	mu   sync.Mutex
	held []byte
	from net.Addr
	done bool
}

func (p *lateFinalPC) ReadFrom(b []byte) (int, net.Addr, error) {
	p.mu.Lock()
	if p.done && p.held != nil {
		n, from := copy(b, p.held), p.from
		p.held = nil
		p.mu.Unlock()
		return n, from, nil
	}
	p.mu.Unlock()
	for {
		n, a, err := p.PacketConn.ReadFrom(b)
		if err != nil {
			return n, a, err
		}
		p.mu.Lock()
		if !p.done && p.held == nil {
			if f, ferr := wire.ParseFragment(b[:n]); ferr == nil && f.Message == p.msg {
				p.held, p.from = append([]byte(nil), b[:n]...), a
				p.mu.Unlock()
				continue // read the next one first
			}
		}
		if p.held != nil {
			p.done = true
		}
		p.mu.Unlock()
		return n, a, err
	}
}

// TestEarlyRecordsKept: the listener writes as soon as Accept returns, and
// its first record reaches the client before the final handshake message.
// The client keeps it and opens it once its handshake is done, so Read
// returns it; the close the listener sends at once when its Accept queue
// is full reaches the client the same way, so the client sees the end at
// once (io.EOF, ErrPeerClosed) rather than by dead-peer detection.
// Control: with records and the final message in order nothing is held.
func TestEarlyRecordsKept(t *testing.T) {
	for _, late := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 83, Delay: 5 * time.Millisecond})
			srv, cli := pairConfigs(t, false)
			l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Go(func() {
				if s, err := l.Accept(); err == nil {
					s.Write([]byte("first"))
					s.Close()
				}
			})
			var pc net.PacketConn = listenPC(t, n, "127.0.0.1:0")
			if late {
				pc = &lateFinalPC{PacketConn: pc, msg: 3}
			}
			c, err := DialPacketConn(t.Context(), pc, l.Addr(), cli)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			deadlineRead(t, c, "first")
			if late && !pc.(*lateFinalPC).done {
				t.Fatal("the final message was not held back")
			}
			if st := c.Stats(); st.EarlyRecords != 0 || st.RecordsIn != 1 {
				t.Fatalf("client stats %+v", st)
			}
		})
	}
	// The listener's close when its Accept queue is full.
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 84, Delay: 5 * time.Millisecond})
		srv, cli := pairConfigs(t, false)
		l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		l.ep.acceptQ = make(chan *Conn) // no room: Accept never runs
		c, err := DialPacketConn(t.Context(), listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 100)); err != io.EOF {
			t.Fatalf("read: %v, want io.EOF from the listener's close", err)
		}
		if _, err := c.Write([]byte("anyone?")); !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("write: %v, want ErrPeerClosed", err)
		}
	})
}
