package handshake

import (
	"runtime"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

const benchConfig = "dilithium-s3_kyber-s3_sha3_rcs256"

// benchHandshake runs whole in-memory handshakes and reports, besides the
// time per handshake, the server's own CPU time per handshake (server-ns/op)
// next to the CPU time of the primitives it must run (primitives-ns/op), and
// their ratio (target <= 1.3). Both are thread CPU time, so other load on
// the machine does not distort them.
func benchHandshake(b *testing.B, duplex bool) {
	f := newFixture(b, benchConfig, duplex)
	s, _ := suite.Lookup(benchConfig)
	kem, _ := s.KEM()
	sig, _ := s.Signer()
	rng := drbg("bench")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var server, prims time.Duration
	signed, _ := sig.Sign(rng, f.client.SigningKey, make([]byte, 64))
	b.ReportAllocs()
	for b.Loop() {
		cfg := Config{Suite: f.suite, Rand: rng, Now: func() time.Time { return f.now }}
		var c, sv Machine
		if duplex {
			c, _ = NewQSMDClient(cfg, f.client, public(f.server))
			vk := f.client.VerifyKey
			sv, _ = NewQSMDServer(cfg, f.server, func([KeyIDSize]byte) ([]byte, error) { return vk, nil })
		} else {
			c, _ = NewQSMSClient(cfg, public(f.server))
			sv, _ = NewQSMSServer(cfg, f.server)
		}
		pkt, err := c.Start()
		for i := 0; pkt != nil && err == nil; i++ {
			if i%2 == 0 {
				t0 := threadCPU()
				pkt, err = sv.Handle(pkt)
				server += threadCPU() - t0
			} else {
				pkt, err = c.Handle(pkt)
			}
		}
		if err != nil || !c.Done() || !sv.Done() {
			b.Fatalf("handshake failed: %v", err)
		}
		// The server's primitives, measured on the same inputs.
		// ML-DSA signing repeats a rejection loop a message-dependent number
		// of times, so each iteration signs a fresh message, as the server
		// signs a fresh transcript hash.
		msg := make([]byte, 32)
		rng.Read(msg)
		t0 := threadCPU()
		ek, dk, _ := kem.GenerateKey(rng)
		sig.Sign(rng, f.server.SigningKey, msg)
		ct, _, _ := kem.Encapsulate(rng, ek)
		kem.Decapsulate(dk, ct)
		if duplex {
			// QSMD adds a second signature and two verifications; its
			// encapsulation is already counted above.
			msg[0]++
			sig.Sign(rng, f.server.SigningKey, msg)
			sig.Open(f.client.VerifyKey, signed)
			sig.Open(f.client.VerifyKey, signed)
		}
		d := threadCPU() - t0
		if !duplex {
			// Encapsulation is the client's: take it back out.
			t1 := threadCPU()
			kem.Encapsulate(rng, ek)
			d -= threadCPU() - t1
		}
		prims += d
	}
	n := float64(b.N)
	b.ReportMetric(float64(server.Nanoseconds())/n, "server-ns/op")
	b.ReportMetric(float64(prims.Nanoseconds())/n, "primitives-ns/op")
	b.ReportMetric(float64(server)/float64(prims), "server/primitives")
}

func BenchmarkQSMSHandshake(b *testing.B) { benchHandshake(b, false) }
func BenchmarkQSMDHandshake(b *testing.B) { benchHandshake(b, true) }
