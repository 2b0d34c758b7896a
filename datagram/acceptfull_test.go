package datagram

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestAcceptQueueFull: a session established while Accept's queue is full
// is closed at once and counted; it never reaches Accept. Its close
// records leave right behind the final flight and reach the client before
// it has processed that: the client keeps them and opens them once its
// handshake is done (TestEarlyRecordsKept), so it sees the end at once. With the listener's CPU measured
// (benchmarks), the handshake work is counted on both clocks.
func TestAcceptQueueFull(t *testing.T) {
	for _, thread := range []bool{true, false} {
		name := "wall"
		if thread {
			name = "thread"
		}
		t.Run(name, func(t *testing.T) {
			saved := cpuClock
			if !thread {
				cpuClock = nil
			}
			defer func() { cpuClock = saved }()
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 76, Delay: 5 * time.Millisecond})
				srv, cli := pairConfigs(t, false)
				l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				l.ep.acceptQ = make(chan *Conn) // no room: Accept never runs
				l.ep.st.measure.Store(true)
				c, err := DialPacketConn(t.Context(), listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				time.Sleep(100 * time.Millisecond)
				if st := l.Stats(); st.AcceptFull != 1 || st.Established != 1 || st.Sessions != 0 {
					t.Fatalf("listener stats %+v", st)
				}
				if _, err := c.Write([]byte("anyone?")); !errors.Is(err, ErrPeerClosed) {
					t.Fatalf("write after the listener's close: %v", err)
				}
				if st := c.Stats(); st.EarlyRecords != 0 {
					t.Fatalf("client stats %+v", st)
				}
				if thread && l.ep.st.work.Load() <= 0 {
					t.Fatal("no listener CPU measured")
				}
			})
		})
	}
}
