//go:build !race

package stream

import (
	"flag"
	"strings"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

var long = flag.Bool("long", false, "run every McEliece and SPHINCS+ configuration end to end (slow)")

// TestEveryConfigurationOverTCP runs QSMS and QSMD handshakes and data over
// loopback TCP for every configuration of digest table 3.2. The McEliece
// sets other than s1 and the SPHINCS+ sets (about a second of CPU per
// signature) run with -long:
//
//	go test -run EveryConfiguration -long ./stream
func TestEveryConfigurationOverTCP(t *testing.T) {
	if !*long {
		t.Log("the McEliece and SPHINCS+ sets beyond dilithium-s1_mceliece-s1 run with -long (TestMcElieceOverTCP covers s1)")
	}
	ran := 0
	for _, s := range suite.All() {
		heavy := strings.Contains(s.Name, "mceliece") && s.Name != "dilithium-s1_mceliece-s1_sha3_rcs"
		if heavy && !*long {
			continue
		}
		if !s.Implemented() {
			t.Errorf("%s is not implemented", s.Name)
			continue
		}
		server, client := keys(t, s.Name)
		for _, duplex := range []bool{false, true} {
			srv, cli := pair(server, client, duplex)
			c, sc, l := connect(t, srv, cli)
			exchange(t, c, sc, "hello "+s.Name)
			exchange(t, sc, c, "ECHO: hello "+s.Name)
			c.Close()
			sc.Close()
			l.Close()
			ran++
		}
	}
	t.Logf("%d handshakes over TCP", ran)
}
