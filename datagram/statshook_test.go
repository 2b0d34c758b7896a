package datagram

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestStatsHook: Config.StatsHook receives each established session's
// final statistics exactly once, when its Conn is closed (a second Close
// does not call it again), on both sides, over UDP and over QUIC; the
// counters are those the session ended with.
func TestStatsHook(t *testing.T) {
	for _, network := range []string{"udp", "quic"} {
		t.Run(network, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				got := map[string][]Stats{}
				hook := func(side string) func(*Conn, Stats) {
					return func(c *Conn, s Stats) {
						if c == nil {
							t.Error("hook without its Conn")
						}
						mu.Lock()
						got[side] = append(got[side], s)
						mu.Unlock()
					}
				}
				var n *netsim.Network
				var srv, cli *Config
				if network == "quic" {
					n = newNet(t, quicNet(7, 0))
					srv, cli = quicConfigs(t, false)
				} else {
					n = newNet(t, netsim.Config{Seed: 7})
					srv, cli = pairConfigs(t, false)
				}
				srv.StatsHook, cli.StatsHook = hook("server"), hook("client")
				p := connectPair(t, n, srv, cli)
				const records = 5
				sendRecords(t, p.client, records)
				time.Sleep(time.Second) // virtual: the records arrive
				if r := readAll(t, p.server, records); len(r) != records {
					t.Fatalf("%d of %d records read", len(r), records)
				}
				mu.Lock()
				if len(got) != 0 {
					t.Errorf("hook called before Close: %v", got)
				}
				mu.Unlock()
				p.close()
				p.client.Close()
				p.server.Close()
				mu.Lock()
				defer mu.Unlock()
				if len(got["client"]) != 1 || len(got["server"]) != 1 {
					t.Fatalf("hook calls: client %d, server %d, want 1 each", len(got["client"]), len(got["server"]))
				}
				if c, s := got["client"][0], got["server"][0]; c.RecordsOut != records || s.RecordsIn != records {
					t.Fatalf("final stats: client sent %d, server received %d, want %d", c.RecordsOut, s.RecordsIn, records)
				}
			})
		})
	}
}
