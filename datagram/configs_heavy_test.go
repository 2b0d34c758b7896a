//go:build !race

package datagram

import "testing"

// TestSPHINCSOverUDP runs sphincs+-s1s_mceliece-s1 over UDP at 5 % loss in
// both modes. SLH-DSA signing takes about a second of CPU (minutes under the
// race detector), so this runs in the pass without -race.
func TestSPHINCSOverUDP(t *testing.T) {
	runConfigOverUDP(t, "sphincs+-s1s_mceliece-s1_sha3_rcs")
}
