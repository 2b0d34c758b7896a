package netsim_test

import (
	"fmt"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// Two endpoints on a lossy in-memory network; the outcome is fixed by the seed.
func ExampleNetwork() {
	n, err := netsim.NewNetwork(netsim.Config{Seed: 1, Loss: 0.1, Duplicate: 0.01, RecvQueue: 2000})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	client, _ := n.Listen(":0")
	server, _ := n.Listen("127.0.0.1:4433")
	for range 1000 {
		client.WriteTo([]byte("hello"), server.LocalAddr())
	}
	buf := make([]byte, 64)
	k, from, _ := server.ReadFrom(buf)
	fmt.Printf("%s from %v\n", buf[:k], from)
	st := n.Stats()
	fmt.Printf("sent %d, lost %d, duplicated %d, delivered %d\n", st.Sent, st.Lost, st.Duplicated, st.Delivered)

	// The NAT in front of the client rebinds: the server sees a new address.
	addr, _ := n.Rebind(client)
	fmt.Println("client now appears as", addr)
	// Output:
	// hello from 127.0.0.1:49152
	// sent 1000, lost 101, duplicated 9, delivered 908
	// client now appears as 127.0.0.1:49153
}

// A link with a 1 MB/s bottleneck, a 30 ms delay and a 64 kB queue from the
// client to the server only.
func ExampleNetwork_SetLink() {
	n, _ := netsim.NewNetwork(netsim.Config{})
	defer n.Close()
	client, _ := n.Listen(":0")
	server, _ := n.Listen(":0")
	err := n.SetLink(client, server, netsim.Config{
		Bandwidth: 1_000_000, QueueLimit: 64 << 10, Delay: 30 * time.Millisecond,
	})
	fmt.Println(err)
	// Output: <nil>
}
