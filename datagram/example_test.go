package datagram_test

import (
	"context"
	"fmt"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/datagram"
	"github.com/qsmp-go/qsmp/keyfile"
)

// A QSMS listener and a client over loopback UDP exchange one record each
// way.
func Example() {
	s, _ := suite.Lookup(suite.Default)
	serverKey, err := keyfile.Generate(s, keyfile.QSMS, nil, time.Now())
	if err != nil {
		panic(err)
	}
	l, err := datagram.Listen("udp", "127.0.0.1:0", &datagram.Config{Identity: serverKey})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 1500)
		n, _ := c.Read(buf)
		c.Write([]byte("got " + string(buf[:n])))
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := datagram.Dial(ctx, "udp", l.Addr().String(), &datagram.Config{PeerKey: &serverKey.PublicKey})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, c.MaxWrite())
	n, err := c.Read(buf)
	fmt.Println(string(buf[:n]), err, c.MaxWrite())
	// Output: got hello <nil> 1137
}
