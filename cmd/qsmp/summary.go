package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/qsmp-go/qsmp/netsim"
)

// demoSummary is what the demo prints.
type demoSummary struct {
	OK       bool     `json:"ok"`
	Failures []string `json:"failures,omitempty"`

	Config    string        `json:"config"`
	Signature string        `json:"signature"`
	KEM       string        `json:"kem"`
	Mode      string        `json:"mode"`
	Network   string        `json:"network"`
	Faults    *faultSummary `json:"faults,omitempty"`
	Messages  int           `json:"messages"`
	Size      int           `json:"size"`

	KeygenMS    float64 `json:"keygen_ms"`
	HandshakeMS float64 `json:"handshake_ms"`
	DataMS      float64 `json:"data_ms"`
	GoodputMBps float64 `json:"goodput_mb_per_s"`

	ClientToServer directionSummary `json:"client_to_server"`
	ServerToClient directionSummary `json:"server_to_client"`

	// Carrier statistics, when the carrier keeps them.
	Client *carrierStats `json:"client_carrier,omitempty"`
	Server *carrierStats `json:"server_carrier,omitempty"`

	// Simulator statistics of each end's outgoing datagrams.
	Simulator *simSummary `json:"simulator,omitempty"`

	// Note says how the records lost were counted, when not from the
	// datagrams themselves.
	Note string `json:"note,omitempty"`
}

type faultSummary struct {
	Loss      float64 `json:"loss"`
	Reorder   float64 `json:"reorder"`
	Duplicate float64 `json:"duplicate"`
	Seed      int64   `json:"seed"`
}

type simSummary struct {
	ClientToServer simStats `json:"client_to_server"`
	ServerToClient simStats `json:"server_to_client"`
}

// simStats is what the simulator did to one end's outgoing datagrams (all
// kinds: handshake, acknowledgements, records).
type simStats struct {
	Datagrams  uint64 `json:"datagrams"`
	Delivered  uint64 `json:"delivered"`
	Lost       uint64 `json:"lost"`
	Reordered  uint64 `json:"reordered"`
	Duplicated uint64 `json:"duplicated"`
}

func newSimStats(st netsim.Stats) simStats {
	return simStats{Datagrams: st.Sent, Delivered: st.Delivered, Lost: st.Lost, Reordered: st.Reordered, Duplicated: st.Duplicated}
}

// directionSummary counts the messages of one direction. In simplex mode
// the server-to-client direction carries the echoes.
type directionSummary struct {
	Sent            int64 `json:"sent"`
	LostBySimulator int64 `json:"lost_by_simulator"`
	LostByOS        int64 `json:"lost_by_os"`
	receiverCounts
}

// fill takes the counts of the run.
func (s *demoSummary) fill(d *demoRun) {
	c2s, s2c := d.c2sLink.snapshot(), d.s2cLink.snapshot()
	s.ClientToServer = directionSummary{Sent: d.sentC.Load(), LostBySimulator: c2s.SimLost, LostByOS: c2s.OSLost, receiverCounts: d.c2s.counts()}
	s.ServerToClient = directionSummary{Sent: d.sentS.Load(), LostBySimulator: s2c.SimLost, LostByOS: s2c.OSLost, receiverCounts: d.s2c.counts()}
	if d.simC != nil && d.o.faults() {
		s.Simulator = &simSummary{ClientToServer: newSimStats(d.simC.Stats()), ServerToClient: newSimStats(d.simS.Stats())}
	}
	if _, ok := d.car.(opaquePackets); ok {
		// The taps counted packets: the records lost are those that did
		// not arrive (check makes sure no packet was lost elsewhere and the
		// receivers dropped none).
		for _, c := range []*directionSummary{&s.ClientToServer, &s.ServerToClient} {
			c.LostBySimulator = max(0, c.Sent-c.Delivered)
		}
		s.Note = fmt.Sprintf("%s encrypts its packets: the simulator's and the OS's losses are counted per packet, and a record that did not arrive was in a packet the simulator dropped, or held back so long that QUIC discarded it as late (after its sender saw the gap acknowledged: a few loopback round trips)", d.car.Name())
	}
	if s.DataMS > 0 {
		b := s.ClientToServer.Bytes + s.ServerToClient.Bytes
		s.GoodputMBps = float64(b) / 1e6 / (s.DataMS / 1000)
	}
}

// check decides whether the run passed, and says why not.
func (s *demoSummary) check(d *demoRun) {
	d.mu.Lock()
	for _, err := range d.errs {
		s.Failures = append(s.Failures, describe(err))
	}
	d.mu.Unlock()
	if errors.Is(d.ctx.Err(), context.Canceled) {
		// Stopped (SIGINT, SIGTERM): what is still in flight is not lost.
		s.Failures = append(s.Failures, fmt.Sprintf("interrupted with %d of %d messages sent", s.ClientToServer.Sent, d.o.messages))
		s.OK = false
		return
	}
	if errors.Is(d.ctx.Err(), context.DeadlineExceeded) {
		// The run is incomplete: what is still in flight is not lost.
		s.Failures = append(s.Failures, fmt.Sprintf("timed out after %v (--timeout) with %d of %d messages sent", d.o.timeout, s.ClientToServer.Sent, d.o.messages))
		s.OK = false
		return
	}
	if n := int64(d.o.messages); s.ClientToServer.Sent != n {
		s.Failures = append(s.Failures, fmt.Sprintf("the client sent %d of %d messages", s.ClientToServer.Sent, n))
	}
	if d.o.duplex && s.ServerToClient.Sent != int64(d.o.messages) {
		s.Failures = append(s.Failures, fmt.Sprintf("the server sent %d of %d messages", s.ServerToClient.Sent, d.o.messages))
	}
	if !d.o.duplex && s.ServerToClient.Sent != d.serverRead.Load() {
		s.Failures = append(s.Failures, fmt.Sprintf("the server echoed %d of the %d messages it received", s.ServerToClient.Sent, d.serverRead.Load()))
	}
	for _, dir := range []struct {
		name string
		c    directionSummary
	}{{"client to server", s.ClientToServer}, {"server to client", s.ServerToClient}} {
		c := dir.c
		if c.Delivered+c.LostBySimulator != c.Sent {
			s.Failures = append(s.Failures, fmt.Sprintf("%s: %d sent but %d delivered and %d lost by the simulator", dir.name, c.Sent, c.Delivered, c.LostBySimulator))
		}
		if c.LostByOS > 0 {
			s.Failures = append(s.Failures, fmt.Sprintf("%s: %d records lost by the operating system (socket buffers), not by the simulator", dir.name, c.LostByOS))
		}
		if c.Duplicates > 0 || c.Corrupted > 0 || c.OutOfRange > 0 {
			s.Failures = append(s.Failures, fmt.Sprintf("%s: the application saw %d duplicate, %d corrupted and %d unknown messages", dir.name, c.Duplicates, c.Corrupted, c.OutOfRange))
		}
	}
	if _, ok := d.car.(opaquePackets); ok {
		for _, side := range []struct {
			name string
			st   *carrierStats
			lost int64 // records missing on the way to this side
			sim  *netsim.Conn
		}{{"server", s.Server, s.ClientToServer.LostBySimulator, d.simC}, {"client", s.Client, s.ServerToClient.LostBySimulator, d.simS}} {
			if side.st != nil && side.st.dropped() > 0 {
				s.Failures = append(s.Failures, fmt.Sprintf("the %s's carrier dropped %d records it received", side.name, side.st.dropped()))
			}
			if side.lost > 0 && (side.sim == nil || side.sim.Stats().Lost+side.sim.Stats().Reordered == 0) {
				s.Failures = append(s.Failures, fmt.Sprintf("%d records did not reach the %s, but the simulator lost and reordered no packet", side.lost, side.name))
			}
		}
	}
	s.OK = len(s.Failures) == 0
}

func (s *demoSummary) writeJSON(w io.Writer) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s)
}

func (s *demoSummary) writeText(w io.Writer) {
	verdict := "OK"
	if !s.OK {
		verdict = "FAILED"
	}
	variant := "QSMS, the server echoes each message"
	if s.Mode == "duplex" {
		variant = "QSMD, both sides send"
	}
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-17s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "qsmp demo: %s\n", verdict)
	p("configuration", "%s (%s, %s)", s.Config, s.Signature, s.KEM)
	p("mode", "%s (%s)", s.Mode, variant)
	p("network", "%s over loopback", s.Network)
	if s.Faults != nil {
		p("faults", "loss %s, reorder %s, duplicate %s on every datagram (seed %d)", pct(s.Faults.Loss), pct(s.Faults.Reorder), pct(s.Faults.Duplicate), s.Faults.Seed)
	} else {
		p("faults", "none")
	}
	p("key generation", "%.1f ms", s.KeygenMS)
	p("handshake", "%.1f ms", s.HandshakeMS)
	p("messages", "%d each way, %d bytes each", s.Messages, s.Size)
	dir := func(label string, c directionSummary) {
		line := fmt.Sprintf("%d sent, %d delivered", c.Sent, c.Delivered)
		if s.Faults != nil || c.LostBySimulator > 0 {
			line += fmt.Sprintf(", %d lost by the simulator", c.LostBySimulator)
			if c.Sent > 0 {
				line += fmt.Sprintf(" (%.1f%%)", 100*float64(c.LostBySimulator)/float64(c.Sent))
			}
		}
		if c.LostByOS > 0 {
			line += fmt.Sprintf(", %d lost by the OS", c.LostByOS)
		}
		p(label, "%s", line)
	}
	second := "server → client"
	if s.Mode == "simplex" {
		second = "echoes back"
	}
	dir("client → server", s.ClientToServer)
	dir(second, s.ServerToClient)
	bad := s.ClientToServer.Duplicates + s.ServerToClient.Duplicates
	corrupt := s.ClientToServer.Corrupted + s.ServerToClient.Corrupted + s.ClientToServer.OutOfRange + s.ServerToClient.OutOfRange
	p("application check", "%d duplicates, %d corrupted or unknown messages", bad, corrupt)
	if s.Client != nil {
		p("client records", "%s", s.Client.text())
	} else {
		p("records", "%d sent, %d received by the client (%s carries each record once, in order)", s.ClientToServer.Sent, s.ServerToClient.Delivered, s.Network)
	}
	if s.Server != nil {
		p("server records", "%s", s.Server.text())
	}
	if s.Simulator != nil {
		p("simulator", "client: %s", simText(s.Simulator.ClientToServer))
		p("", "server: %s", simText(s.Simulator.ServerToClient))
	}
	p("data", "%s in %.1f ms, goodput %.1f MB/s", bytesText(s.ClientToServer.Bytes+s.ServerToClient.Bytes), s.DataMS, s.GoodputMBps)
	if s.Note != "" {
		p("note", "%s", s.Note)
	}
	for _, f := range s.Failures {
		p("failure", "%s", f)
	}
}

func (c *carrierStats) text() string {
	parts := []string{fmt.Sprintf("%d sent, %d received", c.RecordsSent, c.RecordsReceived)}
	if c.BytesSent >= 0 {
		parts = append(parts, fmt.Sprintf("%s out, %s in", bytesText(c.BytesSent), bytesText(c.BytesReceived)))
	}
	if c.Retransmissions >= 0 {
		parts = append(parts, fmt.Sprintf("%d handshake retransmissions", c.Retransmissions))
	}
	var drops []string
	keys := make([]string, 0, len(c.Drops))
	for k := range c.Drops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if c.Drops[k] > 0 {
			drops = append(drops, fmt.Sprintf("%s %d", k, c.Drops[k]))
		}
	}
	if len(drops) == 0 {
		parts = append(parts, "no drops")
	} else {
		parts = append(parts, "dropped: "+strings.Join(drops, ", "))
	}
	return strings.Join(parts, "; ")
}

func simText(st simStats) string {
	return fmt.Sprintf("%d datagrams, %d lost, %d reordered, %d duplicated", st.Datagrams, st.Lost, st.Reordered, st.Duplicated)
}

func pct(p float64) string { return fmt.Sprintf("%g%%", p*100) }

func bytesText(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
