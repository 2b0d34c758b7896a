package quicx

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/record"
)

// TestRekeyMidStream rekeys three times while 10,000 records flow (twice
// from the client, once from the server, which starts when the record 5000
// reaches it): every record arrives, none is dropped for its epoch, and both
// sides end at epoch 3.
func TestRekeyMidStream(t *testing.T) {
	const n = 10000
	for _, duplex := range []bool{false, true} {
		t.Run(variant(duplex), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srvCfg, cliCfg := configs(t, duplex)
				p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
				defer p.close()
				ctx := context.Background()
				var srvRekey error
				srvDone := make(chan struct{})
				done := make(chan received, 1)
				go func() {
					var r received
					seen := make([]bool, n)
					buf := make([]byte, 2000)
					for r.delivered < n {
						k, err := p.srv.Read(buf)
						if err != nil {
							r.err = err
							break
						}
						i, err := checkMessage(buf[:k])
						if err != nil || seen[i] {
							r.err = fmt.Errorf("record %d: duplicate or %v", i, err)
							break
						}
						seen[i] = true
						r.delivered++
						if i == 5000 {
							go func() {
								srvRekey = p.srv.Rekey(ctx)
								close(srvDone)
							}()
						}
					}
					done <- r
				}()
				err := sendAll(p.cli, n, func(i int) error {
					if i == 2500 || i == 7500 {
						return p.cli.Rekey(ctx)
					}
					if i == 6000 { // the server's rekey is done before the client's second
						<-srvDone
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				r := <-done
				if r.err != nil || srvRekey != nil {
					t.Fatalf("receiver: %v; server rekey: %v", r.err, srvRekey)
				}
				cs, ss := p.cli.Stats(), p.srv.Stats()
				t.Logf("client %+v\nserver %+v", cs, ss)
				if cs.Epoch != 3 || ss.Epoch != 3 || cs.Rekeys != 3 || ss.Rekeys != 3 {
					t.Errorf("epochs %d/%d, rekeys %d/%d; want 3", cs.Epoch, ss.Epoch, cs.Rekeys, ss.Rekeys)
				}
				if ss.StaleEpoch != 0 || ss.Drops.Total() != 0 || ss.Malformed != 0 {
					t.Errorf("server dropped records: %+v", ss)
				}
				// The server sends under epoch 3 too.
				if _, err := p.srv.Write([]byte("after")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				if k, err := p.cli.Read(buf); err != nil || string(buf[:k]) != "after" {
					t.Fatalf("client read %q, %v", buf[:k], err)
				}
			})
		})
	}
}

// TestSimultaneousRekey starts a rekey on both sides at the same instant:
// the client's wins, both calls return, and both sides are on epoch 1.
func TestSimultaneousRekey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, true)
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		var wg sync.WaitGroup
		var ce, se error
		wg.Go(func() { ce = p.cli.Rekey(context.Background()) })
		wg.Go(func() { se = p.srv.Rekey(context.Background()) })
		wg.Wait()
		if ce != nil || se != nil {
			t.Fatalf("rekeys: client %v, server %v", ce, se)
		}
		cs, ss := p.cli.Stats(), p.srv.Stats()
		if cs.Epoch != 1 || ss.Epoch != 1 || cs.Rekeys != 1 || ss.Rekeys != 1 {
			t.Fatalf("client epoch %d (%d rekeys), server epoch %d (%d rekeys); want 1 and 1", cs.Epoch, cs.Rekeys, ss.Epoch, ss.Rekeys)
		}
		buf := make([]byte, 100)
		for _, dir := range [][2]*Conn{{p.cli, p.srv}, {p.srv, p.cli}} {
			if _, err := dir[0].Write([]byte("epoch one")); err != nil {
				t.Fatal(err)
			}
			if k, err := dir[1].Read(buf); err != nil || string(buf[:k]) != "epoch one" {
				t.Fatalf("read %q, %v", buf[:k], err)
			}
		}
		// A second rekey from the server alone works too.
		if err := p.srv.Rekey(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the switch message reaches the client
		if e := p.cli.Stats().Epoch; e != 2 {
			t.Fatalf("client epoch %d after the server's rekey, want 2", e)
		}
	})
}

// TestRekeyGrace: a record sealed under the previous epoch that arrives
// after a rekey is accepted within the grace period and dropped (counted as
// StaleEpoch) after it.
func TestRekeyGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		srvCfg.RekeyGrace = time.Second
		cliCfg.RekeyGrace = time.Second
		p := newSimPair(t, lossyNet(0), srvCfg, cliCfg)
		defer p.close()
		late1, err := p.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte("late one"))
		if err != nil {
			t.Fatal(err)
		}
		late2, err := p.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte("late two"))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cli.Rekey(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := p.cli.Write([]byte("new epoch")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if k, err := p.srv.Read(buf); err != nil || string(buf[:k]) != "new epoch" {
			t.Fatalf("read %q, %v", buf[:k], err)
		}
		if err := p.cli.qc.SendDatagram(late1); err != nil {
			t.Fatal(err)
		}
		if k, err := p.srv.Read(buf); err != nil || string(buf[:k]) != "late one" {
			t.Fatalf("within the grace period: read %q, %v", buf[:k], err)
		}
		time.Sleep(3 * time.Second)
		if err := p.cli.qc.SendDatagram(late2); err != nil {
			t.Fatal(err)
		}
		p.srv.SetReadDeadline(time.Now().Add(time.Second))
		if k, err := p.srv.Read(buf); err == nil {
			t.Fatalf("after the grace period: read %q", buf[:k])
		}
		if st := p.srv.Stats(); st.StaleEpoch != 1 {
			t.Fatalf("StaleEpoch %d, want 1 (%+v)", st.StaleEpoch, st)
		}
		if !bytes.Equal(late1[:1], []byte{prefixDatagram}) {
			t.Fatalf("epoch-0 prefix 0x%02x", late1[0])
		}
	})
}
