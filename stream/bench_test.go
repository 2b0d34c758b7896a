package stream

import (
	"context"
	"testing"
)

// BenchmarkTCPHandshake measures whole QSMS and QSMD handshakes over loopback
// TCP (dial, handshake, accept, close), config dilithium-s3_kyber-s3.
func BenchmarkTCPHandshake(b *testing.B) {
	server, client := keys(b, "dilithium-s3_kyber-s3_sha3_rcs256")
	for _, duplex := range []bool{false, true} {
		name := map[bool]string{false: "QSMS", true: "QSMD"}[duplex]
		b.Run(name, func(b *testing.B) {
			srv, cli := pair(server, client, duplex)
			l, err := Listen("tcp", "127.0.0.1:0", srv)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			for b.Loop() {
				c, err := Dial(ctx, "tcp", l.Addr().String(), cli)
				if err != nil {
					b.Fatal(err)
				}
				sc, err := l.AcceptContext(ctx)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
				sc.Close()
			}
		})
	}
}

// BenchmarkTCPRecord1400 measures one-way 1400-byte records over loopback TCP.
func BenchmarkTCPRecord1400(b *testing.B) {
	server, client := keys(b, "dilithium-s3_kyber-s3_sha3_rcs256")
	srv, cli := pair(server, client, false)
	l, err := Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := Dial(context.Background(), "tcp", l.Addr().String(), cli)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sc, err := l.AcceptContext(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, err := sc.Read(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 1400)
	b.SetBytes(1400)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-done
}
