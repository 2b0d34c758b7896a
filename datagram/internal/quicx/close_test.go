package quicx

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestConcurrentClose: Close called from several goroutines at once while
// the peer does not answer: the first waits CloseTimeout for the peer, the
// others wait for the first (on a channel, so that a synctest bubble sees
// them durably blocked and its clock runs), and all return.
func TestConcurrentClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		dead := netsim.Config{Loss: 1}
		p.n.SetLink(p.cpc, p.spc, dead)
		p.n.SetLink(p.spc, p.cpc, dead)
		start := time.Now()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { p.srv.Close() })
		}
		wg.Wait()
		if d := time.Since(start); d != DefaultCloseTimeout {
			t.Fatalf("the Closes returned after %v, want %v", d, DefaultCloseTimeout)
		}
		if _, err := p.srv.Write([]byte("x")); err == nil {
			t.Fatal("write after Close")
		}
	})
}
