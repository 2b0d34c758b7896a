package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// availableNetworks lists the --network values this build can run.
func availableNetworks() []string {
	var names []string
	for _, n := range []string{"tcp", "udp", "quic"} {
		if networks[n] != nil {
			names = append(names, n)
		}
	}
	return names
}

func TestDemoDefault(t *testing.T) {
	r := runCmd(t, "", "demo", "--messages", "200")
	if r.code != 0 {
		t.Fatalf("demo: status %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"qsmp demo: OK", "dilithium-s3_kyber-s3_sha3_rcs256", "simplex", defaultNetwork, "handshake", "200 sent, 200 delivered", "0 duplicates, 0 corrupted", "goodput"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestDemoJSON(t *testing.T) {
	for _, network := range availableNetworks() {
		for _, mode := range []string{"simplex", "duplex"} {
			t.Run(network+"/"+mode, func(t *testing.T) {
				r := runCmd(t, "", "demo", "--json", "--network", network, "--mode", mode, "--messages", "150", "--size", "100", "--config", "dilithium-s1_kyber-s1_sha3_rcs256")
				if r.code != 0 {
					t.Fatalf("status %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
				}
				var s demoSummary
				if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
					t.Fatalf("summary is not JSON: %v\n%s", err, r.stdout)
				}
				if !s.OK || s.Mode != mode || s.Network != network || s.Config != "dilithium-s1_kyber-s1_sha3_rcs256" {
					t.Errorf("summary %+v", s)
				}
				for _, d := range []directionSummary{s.ClientToServer, s.ServerToClient} {
					if d.Sent != 150 || d.Delivered != 150 || d.Bytes != 150*100 || d.Duplicates+d.Corrupted+d.OutOfRange != 0 {
						t.Errorf("direction %+v", d)
					}
				}
				if s.HandshakeMS <= 0 || s.GoodputMBps <= 0 {
					t.Errorf("handshake %v ms, goodput %v", s.HandshakeMS, s.GoodputMBps)
				}
			})
		}
	}
}

func TestDemoFaults(t *testing.T) {
	for _, network := range availableNetworks() {
		if _, ok := networks[network]().(packetCarrier); !ok {
			continue
		}
		for _, mode := range []string{"simplex", "duplex"} {
			t.Run(network+"/"+mode, func(t *testing.T) {
				r := runCmd(t, "", "demo", "--json", "--network", network, "--mode", mode, "--messages", "400", "--size", "64",
					"--loss", "0.1", "--reorder", "0.1", "--duplicate", "0.1", "--seed", "5", "--config", "dilithium-s1_kyber-s1_sha3_rcs256")
				if r.code != 0 {
					t.Fatalf("status %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
				}
				var s demoSummary
				if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
					t.Fatalf("summary is not JSON: %v\n%s", err, r.stdout)
				}
				if !s.OK || s.Faults == nil || s.Faults.Seed != 5 || s.Simulator == nil {
					t.Fatalf("summary %s", r.stdout)
				}
				for _, d := range []directionSummary{s.ClientToServer, s.ServerToClient} {
					if d.LostBySimulator == 0 || d.Delivered+d.LostBySimulator != d.Sent || d.LostByOS != 0 || d.Duplicates+d.Corrupted+d.OutOfRange != 0 {
						t.Errorf("direction %+v", d)
					}
				}
				if s.ClientToServer.Sent != 400 {
					t.Errorf("the client sent %d", s.ClientToServer.Sent)
				}
				sim := s.Simulator
				if sim.ClientToServer.Lost == 0 || sim.ClientToServer.Duplicated == 0 || sim.ClientToServer.Reordered == 0 {
					t.Errorf("simulator stats %+v", sim.ClientToServer)
				}
				// The simulator's duplicates reached the carrier, which dropped
				// them before the application (QUIC drops them per packet).
				if _, opaque := networks[network]().(opaquePackets); !opaque && (s.Server == nil || s.Server.Drops["duplicate"] == 0) {
					t.Errorf("server carrier stats %+v", s.Server)
				}
			})
		}
	}
}

func TestDemoSizeTooLarge(t *testing.T) {
	// 65536 bytes and the echo prefix do not fit a TCP record (64 KiB less
	// the tag): the demo says so after the handshake.
	r := runCmd(t, "", "demo", "--network", "tcp", "--size", "65536", "--messages", "1")
	oneLineError(t, r, exitFailure, "larger than one record can carry")
}

func TestDemoTimeout(t *testing.T) {
	for _, network := range availableNetworks() {
		// The handshake may or may not finish within 1 ms: either the demo
		// cannot start (one line on stderr) or its summary fails.
		r := runCmd(t, "", "demo", "--network", network, "--timeout", "1ms")
		if r.stdout == "" {
			oneLineError(t, r, exitFailure, "timed out")
		} else if r.code != exitFailure || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "timed out after 1ms (--timeout)") {
			t.Errorf("status %d, stdout %s", r.code, r.stdout)
		}
	}
}
