package datagram

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// configPairs are the configurations, beyond the default one, whose end-to-end
// runs over UDP the Kyber K=5 and McEliece issues ask for. SPHINCS+ sets
// (about a second of CPU per signature, minutes under -race) are in
// configs_heavy_test.go.
var configPairs = []string{
	"dilithium-s5_kyber-s6_sha3_rcs256",
	"dilithium-s1_mceliece-s1_sha3_rcs",
}

// runConfigOverUDP runs a QSMS and a QSMD session of one configuration, over
// UDP and over QUIC, on a netsim network at 5 % loss with reordering and
// duplication: the
// handshake (for McEliece a 263 KB public key in fragments with selective
// acks), then numbered records both ways, every one delivered at most once
// and intact.
func runConfigOverUDP(t *testing.T, name string) {
	s, err := suite.Lookup(name)
	if err != nil || !s.Implemented() {
		t.Fatalf("%s: %v (implemented %v)", name, err, s != nil && s.Implemented())
	}
	server, client := suiteKeys(t, name)
	for _, network := range []string{"udp", "quic"} {
		for _, duplex := range []bool{false, true} {
			synctest.Test(t, func(t *testing.T) {
				ncfg := lossyNet(77, 0.05)
				if network == "quic" {
					ncfg = quicNet(77, 0.05) // QUIC needs 1280-byte packets
				}
				n := newNet(t, ncfg)
				srv, cli := duplexConfigs(server, client)
				if !duplex {
					srv = &Config{Identity: server}
					cli = &Config{PeerKey: &server.PublicKey}
				}
				if network == "quic" {
					srv.Network, cli.Network = network, network
				}
				p := connectPair(t, n, srv, cli)
				defer p.close()
				const records = 300
				sendRecords(t, p.client, records)
				sendRecords(t, p.server, records)
				time.Sleep(time.Second) // virtual: what is in flight arrives
				up, down := readAll(t, p.server, records), readAll(t, p.client, records)
				if len(up) < records*8/10 || len(down) < records*8/10 {
					t.Fatalf("%s %s duplex=%v: %d and %d of %d records delivered", name, network, duplex, len(up), len(down), records)
				}
				if got := p.client.Session().Suite.Name; got != name {
					t.Fatalf("session configuration %s", got)
				}
			})
		}
	}
}

func TestConfigurationsOverUDP(t *testing.T) {
	for _, name := range configPairs {
		t.Run(name, func(t *testing.T) { runConfigOverUDP(t, name) })
	}
}
