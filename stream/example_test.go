package stream_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/stream"
)

// Example runs a QSMS server and client over loopback TCP: the server holds
// its identity key, the client only the server's public key.
func Example() {
	cfg, _ := suite.Lookup("dilithium-s3_kyber-s3_sha3_rcs256")
	serverKey, err := keyfile.Generate(cfg, keyfile.QSMS, nil, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	l, err := stream.Listen("tcp", "127.0.0.1:0", &stream.Config{Identity: serverKey})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1024)
		n, _ := c.Read(buf)
		c.Write(append([]byte("ECHO: "), buf[:n]...))
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := stream.Dial(ctx, "tcp", l.Addr().String(), &stream.Config{PeerKey: &serverKey.PublicKey})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf[:n]))
	// Output: ECHO: hello
}
