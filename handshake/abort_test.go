package handshake

import (
	"errors"
	"testing"
)

// TestAbort: a handshake given up part-way zeroes the secrets its machines
// hold (the listener's decapsulation key, the initiator's first secret and
// decapsulation key, key material derived before the confirmation), and
// every later call fails with ErrState; Abort after Done leaves the session
// working.
func TestAbort(t *testing.T) {
	const config = "dilithium-s1_kyber-s1_sha3_rcs256"
	refused := func(t *testing.T, m Machine, pkt []byte, who string) {
		t.Helper()
		if _, err := m.Handle(pkt); !errors.Is(err, ErrState) {
			t.Errorf("%s: Handle after Abort: %v, want ErrState", who, err)
		}
		if _, err := m.Start(); err != nil && !errors.Is(err, ErrState) {
			t.Errorf("%s: Start after Abort: %v", who, err)
		}
	}
	t.Run("QSMS", func(t *testing.T) {
		f, pkts := shared(t, config, false)
		// The server answered the connect request: it holds dk.
		client, server := f.advance(pkts, 2)
		s := server.(*QSMSServer)
		dk := s.dk
		if len(dk) == 0 || allZero(dk) {
			t.Fatal("no pending decapsulation key")
		}
		server.Abort()
		if s.dk != nil || !allZero(dk) {
			t.Error("Abort left the server's decapsulation key")
		}
		refused(t, server, pkts[2], "server")
		client.Abort()
		refused(t, client, pkts[3], "client")
	})
	t.Run("QSMS client keys", func(t *testing.T) {
		f, pkts := shared(t, config, false)
		// The client sent its exchange request: it holds the session keys
		// until the server confirms.
		client, _ := f.advance(pkts, 3)
		c := client.(*QSMSClient)
		keys := c.keys
		if allZero(keys.C2SKey, keys.S2CKey, keys.DatagramSecret) {
			t.Fatal("no pending key material")
		}
		client.Abort()
		if !allZero(keys.C2SKey, keys.C2SNonce, keys.S2CKey, keys.S2CNonce, keys.RTCS, keys.DatagramSecret) || c.tx != nil || c.rx != nil {
			t.Error("Abort left the client's key material")
		}
		refused(t, client, pkts[3], "client")
	})
	t.Run("QSMD", func(t *testing.T) {
		f, pkts := shared(t, config, true)
		// The initiator sent its exchange request (it holds its first
		// secret and decapsulation key); the listener answered it (it
		// holds the session key material).
		client, server := f.advance(pkts, 3)
		c, s := client.(*QSMDClient), server.(*QSMDServer)
		seca, cdk := c.seca, c.dk
		skeys := s.keys
		if len(seca) == 0 || len(cdk) == 0 || allZero(skeys.C2SKey, skeys.S2CKey) {
			t.Fatal("no pending secrets")
		}
		client.Abort()
		server.Abort()
		if c.seca != nil || c.dk != nil || !allZero(seca, cdk) {
			t.Error("Abort left the initiator's secrets")
		}
		if !allZero(skeys.C2SKey, skeys.C2SNonce, skeys.S2CKey, skeys.S2CNonce, skeys.RTCS, skeys.DatagramSecret) || s.tx != nil || s.rx != nil {
			t.Error("Abort left the listener's key material")
		}
		refused(t, client, pkts[3], "client")
		refused(t, server, pkts[4], "server")
	})
	for _, duplex := range []bool{false, true} {
		f, pkts := shared(t, config, duplex)
		client, server := f.advance(pkts, len(pkts))
		if !client.Done() || !server.Done() {
			t.Fatalf("duplex %v: the handshake did not complete", duplex)
		}
		client.Abort()
		server.Abort()
		roundTrip(t, client.Session(), server.Session())
	}
}
