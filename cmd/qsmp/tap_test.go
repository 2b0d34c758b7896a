package main

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
)

// TestTapCountsSimulatorLoss runs datagrams through the demo's stack
// (tap above, netsim, tap below, UDP socket) and checks that the taps count
// exactly the datagrams of their class that netsim lost, once each despite
// duplication.
func TestTapCountsSimulatorLoss(t *testing.T) {
	rawA, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rawB, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		rawA.Close()
		t.Fatal(err)
	}
	defer rawB.Close()
	// The class: datagrams whose first byte is 'D'; others are "control".
	isData := func(p []byte) bool { return len(p) > 0 && p[0] == 'D' }
	ab, ba := newLinkCount(isData), newLinkCount(isData)
	sim, err := netsim.Wrap(&tap{PacketConn: rawA, out: ab, in: ba}, netsim.Config{Seed: 7, Loss: 0.2, Duplicate: 0.1, Reorder: 0.1, ReorderDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sender := &tap{PacketConn: sim, above: true, out: ab}
	receiver := &tap{PacketConn: rawB, out: ba, in: ab}

	const n = 400
	got := map[uint32]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 100)
		for {
			receiver.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			m, _, err := receiver.ReadFrom(buf)
			if err != nil {
				return
			}
			if isData(buf[:m]) {
				got[binary.BigEndian.Uint32(buf[1:])]++
			}
		}
	}()
	msg := make([]byte, 20)
	for i := range uint32(n) {
		msg[0] = 'D'
		if i%4 == 0 {
			msg[0] = 'c' // not counted
		}
		binary.BigEndian.PutUint32(msg[1:], i)
		if _, err := sender.WriteTo(msg, rawB.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // do not overflow the socket
		}
	}
	<-done
	st := sim.Stats()
	snap := ab.snapshot()
	if snap.Written != n*3/4 {
		t.Errorf("written %d, want %d data datagrams", snap.Written, n*3/4)
	}
	if st.InFlight != 0 || st.Lost == 0 || st.Duplicated == 0 {
		t.Fatalf("netsim stats %+v: the test needs losses and duplicates", st)
	}
	if snap.OSLost != 0 {
		t.Errorf("%d datagrams lost by the OS", snap.OSLost)
	}
	if snap.Received != int64(len(got)) {
		t.Errorf("received %d, but %d distinct data datagrams arrived", snap.Received, len(got))
	}
	if snap.Received+snap.SimLost != snap.Written {
		t.Errorf("received %d + lost %d != written %d", snap.Received, snap.SimLost, snap.Written)
	}
	// The losses counted are a subset of all netsim losses (which include
	// the control datagrams).
	if snap.SimLost == 0 || uint64(snap.SimLost) > st.Lost {
		t.Errorf("data lost %d, netsim lost %d in all", snap.SimLost, st.Lost)
	}
}
