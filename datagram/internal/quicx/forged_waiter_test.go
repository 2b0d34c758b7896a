package quicx

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/qsmp-go/qsmp/record"
)

// TestForgedResponseWaiterSeesProtocolError: a RatchetAsymmetric waiting
// for its response when a forged one ends the session reports ErrProtocol
// and starts no new request.
func TestForgedResponseWaiterSeesProtocolError(t *testing.T) {
	for i := 0; i < 10; i++ {
		synctest.Test(t, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, true)
			p := newSimPair(t, cleanNet, srvCfg, cliCfg)
			defer p.close()
			req, pend, err := p.cli.sess.NewAsymmetricRequest(drbg("request"))
			if err != nil {
				t.Fatal(err)
			}
			p.cli.rkMu.Lock()
			p.cli.rk.state, p.cli.rk.epoch, p.cli.rk.pend, p.cli.rk.asym = rekeyAsymInit, 1, pend, true
			p.cli.rk.gen++
			p.cli.rkMu.Unlock()
			waitErr := make(chan error, 1)
			go func() { waitErr <- p.cli.RatchetAsymmetric(context.Background()) }()
			synctest.Wait()
			resp, secret, err := p.srv.sess.RespondAsymmetric(drbg("response"), req)
			if err != nil {
				t.Fatal(err)
			}
			clear(secret)
			resp[10] ^= 1
			p.srv.swmu.Lock()
			err = p.srv.writeMessageLocked(record.FlagAsymmetricRatchetResponse, ratchetBody(1, resp))
			p.srv.swmu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if err := <-waitErr; !errors.Is(err, ErrProtocol) {
				t.Fatalf("RatchetAsymmetric after a forged response: %v", err)
			}
			p.cli.rkMu.Lock()
			state, pend2 := p.cli.rk.state, p.cli.rk.pend
			p.cli.rkMu.Unlock()
			if pend2 != nil || state == rekeyAsymInit {
				t.Fatalf("a new asymmetric request was started after the session failed (state %v)", state)
			}
		})
	}
}
