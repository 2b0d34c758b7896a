package quicx

import (
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// cutPath drops everything between the two ends of p.
func (p *simPair) cutPath() {
	dead := netsim.Config{Loss: 1}
	p.n.SetLink(p.cpc, p.spc, dead)
	p.n.SetLink(p.spc, p.cpc, dead)
}

// fillSendQueue writes on c (over a dead path) until a Write blocks: it
// returns once the Conn's own send queue is full and a Write would wait.
func fillSendQueue(t *testing.T, c *Conn) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	defer c.SetWriteDeadline(time.Time{})
	for i := 0; i < 100000; i++ {
		if _, err := c.Write(make([]byte, 1000)); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("filling the send queue: %v", err)
			}
			return
		}
	}
	t.Fatal("the send queue never filled")
}

// TestCloseBoundedWithQueuedSends: Close over a dead path with records
// still queued returns within Config.CloseTimeout in all (the doc's bound),
// not once per stage (queued records, close record, the peer's answer).
func TestCloseBoundedWithQueuedSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		p.cutPath()
		fillSendQueue(t, p.cli)
		start := time.Now()
		p.cli.Close()
		if d := time.Since(start); d > DefaultCloseTimeout {
			t.Fatalf("Close took %v, want at most CloseTimeout %v", d, DefaultCloseTimeout)
		}
	})
}
