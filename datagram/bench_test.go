package datagram

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// BenchmarkHandshakeLoopback measures whole handshakes over loopback UDP
// (Dial until established, then Close) with the demo configuration, and
// reports the listener's own time per handshake (server-ns/op: receive
// path, cookie, reassembly, machine steps, timers) next to the sum of the
// primitives the listener must run (primitives-ns/op: QSMS key generation,
// signature and decapsulation; QSMD adds a signature, two verifications and
// an encapsulation), and their ratio.
func BenchmarkHandshakeLoopback(b *testing.B) {
	for _, duplex := range []bool{false, true} {
		name := "QSMS"
		if duplex {
			name = "QSMD"
		}
		b.Run(name+"/"+testSuite, func(b *testing.B) {
			srv, cli := pairConfigs(b, duplex)
			srv.PrefixRate = -1 // one address dials b.N times
			l, err := Listen("udp4", "127.0.0.1:0", srv)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			addr := l.Addr().String()
			ctx := context.Background()
			l.ep.st.measure.Store(true)
			b.ReportAllocs()
			for b.Loop() {
				c, err := Dial(ctx, "udp4", addr, cli)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			l.ep.st.measure.Store(false)
			server := time.Duration(l.ep.st.work.Load())
			prims := primitivesTime(b, duplex, b.N)
			n := float64(b.N)
			b.ReportMetric(float64(server.Nanoseconds())/n, "server-ns/op")
			b.ReportMetric(float64(prims.Nanoseconds())/n, "primitives-ns/op")
			b.ReportMetric(float64(server)/float64(prims), "server/primitives")
		})
	}
}

// primitivesTime runs the listener's primitives n times.
func primitivesTime(b *testing.B, duplex bool, n int) time.Duration {
	s, _ := suite.Lookup(testSuite)
	kem, _ := s.KEM()
	sig, _ := s.Signer()
	server, client, _ := testKeys(b)
	signed, _ := sig.Sign(rand.Reader, client.SigningKey, make([]byte, 64))
	var total time.Duration
	for range n {
		t0 := time.Now()
		ek, dk, _ := kem.GenerateKey(rand.Reader)
		sig.Sign(rand.Reader, server.SigningKey, make([]byte, 64))
		t1 := time.Now()
		ct, _, _ := kem.Encapsulate(rand.Reader, ek)
		t2 := time.Now()
		if _, err := kem.Decapsulate(dk, ct); err != nil {
			panic(fmt.Sprint(err))
		}
		d := time.Since(t0)
		if duplex {
			t3 := time.Now()
			sig.Sign(rand.Reader, server.SigningKey, make([]byte, 64))
			sig.Open(client.VerifyKey, signed)
			sig.Open(client.VerifyKey, signed)
			d += time.Since(t3)
		} else {
			d -= t2.Sub(t1) // the encapsulation is the client's
		}
		total += d
	}
	return total
}

// BenchmarkRecords measures one 1,024-byte record from Write to Read over
// loopback UDP (seal, send, receive, demultiplex, window, open, queue).
func BenchmarkRecords(b *testing.B) {
	for _, duplex := range []bool{false, true} {
		name := "QSMS"
		if duplex {
			name = "QSMD"
		}
		b.Run(name, func(b *testing.B) {
			srv, cli := pairConfigs(b, duplex)
			srv.ReceiveQueue = 1 << 16
			l, err := Listen("udp4", "127.0.0.1:0", srv)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			accepted := make(chan *Conn, 1)
			go func() {
				s, err := l.AcceptContext(ctx)
				if err == nil {
					accepted <- s
				}
			}()
			c, err := Dial(ctx, "udp4", l.Addr().String(), cli)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			s := <-accepted
			msg := make([]byte, 1024)
			buf := make([]byte, 2048)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			lost := 0
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				s.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := s.Read(buf); err != nil {
					lost++ // a loopback drop: count it, go on
				}
			}
			b.ReportMetric(float64(lost), "lost")
		})
	}
}
