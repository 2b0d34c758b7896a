package datagram

import (
	"bytes"
	"testing"
	"testing/synctest"

	"github.com/qsmp-go/qsmp/netsim"
)

func TestHandshakeAndRecords(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		name := "QSMS"
		if duplex {
			name = "QSMD"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 1})
				srv, cli := pairConfigs(t, duplex)
				p := connectPair(t, n, srv, cli)
				defer p.close()
				msg := []byte("hello over udp")
				if _, err := p.client.Write(msg); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 2000)
				k, err := p.server.Read(buf)
				if err != nil || !bytes.Equal(buf[:k], msg) {
					t.Fatalf("server read %q, %v", buf[:k], err)
				}
				if _, err := p.server.Write([]byte("back")); err != nil {
					t.Fatal(err)
				}
				k, err = p.client.Read(buf)
				if err != nil || string(buf[:k]) != "back" {
					t.Fatalf("client read %q, %v", buf[:k], err)
				}
			})
		})
	}
}
