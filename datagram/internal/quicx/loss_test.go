package quicx

import (
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// received is what a reader saw of a transfer.
type received struct {
	delivered  int
	inversions int // records that arrived after a higher-numbered one
	err        error
}

// receiveAll reads records built by message until io.EOF, checking that
// none is corrupted or delivered twice.
func receiveAll(c *Conn, n int) received {
	var r received
	seen := make([]bool, n)
	buf := make([]byte, 70000)
	var highest uint64
	for {
		k, err := c.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return r
		}
		i, err := checkMessage(buf[:k])
		if err != nil {
			r.err = fmt.Errorf("record %d: %w", i, err)
			return r
		}
		if i >= uint64(n) || seen[i] {
			r.err = fmt.Errorf("record %d delivered twice or out of range", i)
			return r
		}
		seen[i] = true
		r.delivered++
		if i < highest {
			r.inversions++
		}
		highest = max(highest, i)
	}
}

// sendAll writes records 0..n-1, calling mid (if set) before record i.
func sendAll(c *Conn, n int, mid func(i int) error) error {
	for i := range n {
		if mid != nil {
			if err := mid(i); err != nil {
				return err
			}
		}
		if _, err := c.Write(message(uint64(i), sizeOf(uint64(i)))); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
	}
	return nil
}

// lossyNet is a 20 MB/s link with 10 ms delay, jitter, 5 % reordering, 1 %
// duplication and the given loss in both directions. The bandwidth spreads
// arrivals over virtual time, as a real link does; the queue is large enough
// never to drop.
func lossyNet(loss float64) netsim.Config {
	return netsim.Config{Seed: 7, Loss: loss, Reorder: 0.05, Duplicate: 0.01,
		Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond,
		Bandwidth: 20 << 20, QueueLimit: 8 << 20}
}

// TestLossyTransfer sends 10,000 records over QUIC datagrams through
// netsim with reordering, duplication and 0, 5 or 20 % loss in both
// directions, in QSMS and QSMD: every record the receiver returns is
// intact and returned once; what is missing is accounted for by the
// network's loss (and the receive queue's drops, counted).
func TestLossyTransfer(t *testing.T) {
	const n = 10000
	for _, duplex := range []bool{false, true} {
		for _, loss := range []float64{0, 0.05, 0.20} {
			t.Run(fmt.Sprintf("%s/loss%.0f%%", variant(duplex), loss*100), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srvCfg, cliCfg := configs(t, duplex)
					nc := lossyNet(loss)
					p := newSimPair(t, nc, srvCfg, cliCfg)
					defer p.close()
					start := time.Now()
					done := make(chan received, 1)
					go func() { done <- receiveAll(p.srv, n) }()
					if err := sendAll(p.cli, n, nil); err != nil {
						t.Fatal(err)
					}
					p.cli.Close()
					r := <-done
					if r.err != nil {
						t.Fatal(r.err)
					}
					st := p.srv.Stats()
					net := p.n.Stats()
					lost := n - r.delivered - int(st.QueueDrops)
					t.Logf("delivered %d, queue drops %d, lost in the network %d, out of order %d, %v virtual; receiver %+v; network %+v",
						r.delivered, st.QueueDrops, lost, r.inversions, time.Since(start), st, net)
					if lost < 0 {
						t.Errorf("more records than sent: delivered %d + queue drops %d > %d", r.delivered, st.QueueDrops, n)
					}
					if st.Drops.Auth != 0 || st.Malformed != 0 || st.StaleEpoch != 0 {
						t.Errorf("unexpected drops: %+v", st)
					}
					if r.inversions == 0 {
						t.Errorf("no reordering seen: the test did not exercise it")
					}
					if loss == 0 && lost != 0 {
						t.Errorf("%d records lost without network loss", lost)
					}
					if loss > 0 {
						// Each datagram travels in its own QUIC packet; allow
						// five standard deviations of the binomial.
						min := float64(n)*(1-loss) - 5*math.Sqrt(float64(n)*loss*(1-loss))
						if got := float64(r.delivered + int(st.QueueDrops)); got < min {
							t.Errorf("only %v records arrived, expected at least %.0f at %.0f %% loss", got, min, loss*100)
						}
						if lost == 0 || net.Lost == 0 {
							t.Errorf("no loss happened (lost %d, network %+v)", lost, net)
						}
					}
				})
			})
		}
	}
}
