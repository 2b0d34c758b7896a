//go:build !race

package stream

import (
	"strings"
	"testing"
)

// TestMcElieceOverTCP runs dilithium-s1_mceliece-s1 end to end over loopback
// TCP: QSMS and QSMD handshakes (a 263 KB connect response), data both ways,
// and for QSMD the asymmetric ratchet whose 263 KB request is above the C
// limit of 64 KiB (docs/COMPATIBILITY.md row 9). McEliece key generation is
// too slow under the race detector; this runs in the pass without it.
func TestMcElieceOverTCP(t *testing.T) {
	const config = "dilithium-s1_mceliece-s1_sha3_rcs"
	server, client := keys(t, config)
	for _, duplex := range []bool{false, true} {
		srv, cli := pair(server, client, duplex)
		c, sc, l := connect(t, srv, cli)
		exchange(t, c, sc, "hello over McEliece")
		exchange(t, sc, c, strings.Repeat("y", 5000))
		if duplex {
			if err := c.AsymmetricRatchet(); err != nil {
				t.Fatal(err)
			}
			serverGot := make(chan string, 1)
			go func() {
				// Answers the 263 KB request, then returns the client's record.
				buf := make([]byte, 100)
				n, err := sc.Read(buf)
				if err != nil {
					t.Error(err)
				}
				serverGot <- string(buf[:n])
			}()
			clientGot := make(chan string, 1)
			go func() {
				// Processes the response, then returns the server's record.
				buf := make([]byte, 100)
				n, err := c.Read(buf)
				if err != nil {
					t.Error(err)
				}
				clientGot <- string(buf[:n])
			}()
			// Waits for the ratchet to complete, then goes out under the new keys.
			if _, err := c.Write([]byte("client after the ratchet")); err != nil {
				t.Fatal(err)
			}
			if got := <-serverGot; got != "client after the ratchet" {
				t.Fatalf("server got %q", got)
			}
			if _, err := sc.Write([]byte("server after the ratchet")); err != nil {
				t.Fatal(err)
			}
			if got := <-clientGot; got != "server after the ratchet" {
				t.Fatalf("client got %q", got)
			}
		}
		c.Close()
		sc.Close()
		l.Close()
	}
}
