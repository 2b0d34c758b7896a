package datagram

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
)

// suiteKeys returns a listener and an initiator key of a configuration
// (deterministic, valid in synctest bubbles and in real time).
func suiteKeys(t testing.TB, name string) (server, client *keyfile.PrivateKey) {
	t.Helper()
	s, err := suite.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	drbg := mrand.NewChaCha8([32]byte{'a', 's', 'y', 'm'})
	born := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	gen := func() *keyfile.PrivateKey {
		k, err := keyfile.GenerateWithLifetime(s, keyfile.QSMD, drbg, born, 60*365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return gen(), gen()
}

// duplexConfigs returns QSMD listener and initiator configs for keys.
func duplexConfigs(server, client *keyfile.PrivateKey) (srv, cli *Config) {
	srv = &Config{Identity: server, Duplex: true, PeerKey: &client.PublicKey}
	cli = &Config{Identity: client, Duplex: true, PeerKey: &server.PublicKey}
	return srv, cli
}

// TestAsymmetricRatchet runs QSMD's asymmetric ratchet mid-stream at 5 %
// loss with reordering and duplication, started by each side in turn:
// with the default configuration, and with Classic McEliece, whose
// 263 KB request (above the C code's 64 KiB limit) crosses the control
// channel in about 240 fragments. Records flow both ways throughout, and
// none that arrived is dropped on our side across the epoch changes.
func TestAsymmetricRatchet(t *testing.T) {
	for _, name := range []string{suite.Default, "dilithium-s1_mceliece-s1_sha3_rcs"} {
		t.Run(name, func(t *testing.T) {
			server, client := suiteKeys(t, name)
			synctest.Test(t, func(t *testing.T) {
				ncfg := lossyNet(51, 0.05)
				ncfg.RecvQueue = 1 << 16
				n := newNet(t, ncfg)
				srv, cli := duplexConfigs(server, client)
				srv.ReceiveQueue, cli.ReceiveQueue = 10000, 10000
				p := connectPair(t, n, srv, cli)
				defer p.close()
				c, s := p.client, p.server
				const records = 2000
				var wg sync.WaitGroup
				var gotS, gotC map[uint32]bool
				var errs [5]error
				start := time.Now()
				wg.Go(func() { errs[0] = pacedWrite(c, records, 4) })
				wg.Go(func() { errs[1] = pacedWrite(s, records, 4) })
				wg.Go(func() { gotS, errs[2] = collect(s, records) })
				wg.Go(func() { gotC, errs[3] = collect(c, records) })
				wg.Go(func() {
					for _, who := range []*Conn{c, s} {
						time.Sleep(500 * time.Millisecond)
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						errs[4] = who.RatchetAsymmetric(ctx)
						cancel()
						if errs[4] != nil {
							return
						}
					}
				})
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				cs, ss := c.Stats(), s.Stats()
				t.Logf("%v of virtual time; epochs %d/%d; asymmetric ratchets %d/%d; control fragments retransmitted %d/%d; delivered c->s %d, s->c %d of %d; network %+v",
					time.Since(start), cs.Epoch, ss.Epoch, cs.AsymmetricRatchets, ss.AsymmetricRatchets,
					cs.ControlRetransmissions, ss.ControlRetransmissions, len(gotS), len(gotC), records, n.Stats())
				if cs.AsymmetricRatchets != 2 || ss.AsymmetricRatchets != 2 || cs.Epoch != 2 || ss.Epoch != 2 {
					t.Fatalf("asymmetric ratchets %d/%d, epochs %d/%d", cs.AsymmetricRatchets, ss.AsymmetricRatchets, cs.Epoch, ss.Epoch)
				}
				if l := lostOnOurSide(cs) + lostOnOurSide(ss); l != 0 {
					t.Fatalf("%d records that arrived were dropped: %+v %+v", l, cs, ss)
				}
				if float64(len(gotS)) < 0.9*records || float64(len(gotC)) < 0.9*records {
					t.Fatalf("delivered %d and %d of %d", len(gotS), len(gotC), records)
				}
				exchange(t, c, s, "after")
				exchange(t, s, c, "after")
			})
		})
	}
}

// TestAsymmetricRatchetQSMS: a QSMS session has no asymmetric ratchet.
func TestAsymmetricRatchetQSMS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 52})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		if err := p.client.RatchetAsymmetric(context.Background()); !errors.Is(err, ErrNoAsymmetricRatchet) {
			t.Fatalf("QSMS asymmetric ratchet: %v", err)
		}
		exchange(t, p.client, p.server, "still fine")
	})
}
