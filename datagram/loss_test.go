package datagram

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// lossyNet is a network with loss, reordering, duplication and jitter.
func lossyNet(seed int64, loss float64) netsim.Config {
	return netsim.Config{
		Seed: seed, Loss: loss, Reorder: 0.05, Duplicate: 0.02,
		Delay: 10 * time.Millisecond, Jitter: 3 * time.Millisecond,
		MTU: 1200, RecvQueue: 1 << 14,
	}
}

// dialRetry dials until a handshake completes, at most tries times, and
// returns the accepted Conn too.
func dialRetry(t *testing.T, n *netsim.Network, l *Listener, cli *Config, tries int) (c, s *Conn, attempts int, took time.Duration) {
	t.Helper()
	for attempts = 1; attempts <= tries; attempts++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		c, err := DialPacketConn(ctx, listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
		cancel()
		if err != nil {
			if !errors.Is(err, ErrHandshakeTimeout) {
				t.Fatalf("dial: %v", err)
			}
			t.Logf("attempt %d: %v", attempts, err)
			continue
		}
		took = time.Since(start)
		// The listener may still be resending its final flight; the
		// session is accepted as soon as the listener side is done.
		actx, acancel := context.WithTimeout(context.Background(), time.Minute)
		s, err = l.AcceptContext(actx)
		acancel()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		return c, s, attempts, took
	}
	t.Fatalf("no handshake in %d attempts", tries)
	return nil, nil, 0, 0
}

// TestLossyNetwork runs QSMS and QSMD handshakes and 10,000 records each
// way at 0, 5, 20 and 50 % loss with reordering and duplication, MTU 1200.
func TestLossyNetwork(t *testing.T) {
	const records = 10000
	for _, duplex := range []bool{false, true} {
		for i, loss := range []float64{0, 0.05, 0.20, 0.50} {
			name := fmt.Sprintf("QSMS/loss%.0f", loss*100)
			if duplex {
				name = fmt.Sprintf("QSMD/loss%.0f", loss*100)
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					n := newNet(t, lossyNet(int64(100+i), loss))
					srv, cli := pairConfigs(t, duplex)
					srv.ReceiveQueue = 2 * records
					cli.ReceiveQueue = 2 * records
					l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
					tries := 1
					if loss >= 0.5 {
						tries = 5
					}
					c, s, attempts, took := dialRetry(t, n, l, cli, tries)
					defer c.Close()
					if loss <= 0.2 && took >= DefaultHandshakeTimeout {
						t.Fatalf("handshake took %v", took)
					}
					// Records both ways, written in paced bursts.
					sendRecords(t, c, records)
					sendRecords(t, s, records)
					time.Sleep(time.Second) // let everything in flight land
					gotS := readAll(t, s, records)
					gotC := readAll(t, c, records)
					checkDelivery(t, "client->server", gotS, records, loss, s.Stats())
					checkDelivery(t, "server->client", gotC, records, loss, c.Stats())
					if tb := n.Stats().TooBig; tb != 0 {
						t.Errorf("%d datagrams exceeded the 1200-byte MTU", tb)
					}
					cs := c.Stats()
					t.Logf("handshake in %v (%d attempt(s), %d fragment retransmissions, RTT %v); delivered c->s %d, s->c %d of %d; drops at server %+v",
						took, attempts, cs.HandshakeRetransmissions, cs.RTT, len(gotS), len(gotC), records, s.Stats().Drops)
				})
			})
		}
	}
}

// sendRecords writes n numbered records in bursts of 50.
func sendRecords(t *testing.T, c *Conn, n int) {
	t.Helper()
	msg := make([]byte, 200)
	for i := range n {
		binary.LittleEndian.PutUint32(msg, uint32(i))
		for j := 4; j < len(msg); j++ {
			msg[j] = byte(i + j)
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
	}
}

// readAll reads the records queued on c (it stops when none is left).
func readAll(t *testing.T, c *Conn, max int) map[uint32]bool {
	t.Helper()
	got := make(map[uint32]bool)
	buf := make([]byte, 2000)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		k, err := c.Read(buf)
		if err != nil {
			if isTimeout(err) {
				break
			}
			t.Fatalf("read: %v", err)
		}
		if k != 200 {
			t.Fatalf("record of %d bytes", k)
		}
		i := binary.LittleEndian.Uint32(buf)
		for j := 4; j < k; j++ {
			if buf[j] != byte(int(i)+j) {
				t.Fatalf("record %d corrupted", i)
			}
		}
		if got[i] || int(i) >= max {
			t.Fatalf("record %d delivered twice or unknown", i)
		}
		got[i] = true
	}
	c.SetReadDeadline(time.Time{})
	return got
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// checkDelivery checks that about (1-loss) of the records arrived.
func checkDelivery(t *testing.T, dir string, got map[uint32]bool, n int, loss float64, st Stats) {
	t.Helper()
	want := float64(n) * (1 - loss)
	if float64(len(got)) < 0.9*want || len(got) > n {
		t.Errorf("%s: %d of %d records delivered, want about %.0f", dir, len(got), n, want)
	}
	if st.Drops.Auth != 0 {
		t.Errorf("%s: %d authentication failures", dir, st.Drops.Auth)
	}
	if st.Drops.Duplicate == 0 {
		t.Errorf("%s: the network duplicated records but the window dropped none", dir)
	}
	if st.RecordsIn != uint64(len(got)) {
		t.Errorf("%s: stats count %d records in, read %d", dir, st.RecordsIn, len(got))
	}
}

// TestHandshakeLossSeeds runs many handshakes on differently seeded lossy
// networks: at 20 % loss each must finish inside the handshake deadline in
// one attempt; at 50 % each must finish within three attempts.
func TestHandshakeLossSeeds(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		for _, loss := range []float64{0.2, 0.5} {
			tries := 1
			if loss > 0.2 {
				tries = 3
			}
			var worst time.Duration
			retried := 0
			for seed := int64(1000); seed < 1012; seed++ {
				synctest.Test(t, func(t *testing.T) {
					n := newNet(t, lossyNet(seed, loss))
					srv, cli := pairConfigs(t, duplex)
					l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), srv)
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
					c, s, attempts, took := dialRetry(t, n, l, cli, tries)
					c.Close()
					s.Close()
					worst = max(worst, took)
					if attempts > 1 {
						retried++
					}
				})
			}
			t.Logf("duplex=%v loss %.0f%%: 12 handshakes, %d needed a retry, slowest attempt %v", duplex, loss*100, retried, worst)
		}
	}
}
