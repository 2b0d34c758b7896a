package datagram

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// brokenMachine is a fake client machine that misbehaves in one way.
type brokenMachine struct {
	*fakeMachine
	startErr  error
	noExpect  bool // expects nothing after its start
	stall     bool // Handle answers nothing without finishing
	noSession bool // done without a session
	noStream  bool // done with a session without a ratchet state
}

func (m *brokenMachine) Start() ([]byte, error) {
	if m.startErr != nil {
		return nil, m.startErr
	}
	return m.fakeMachine.Start()
}

func (m *brokenMachine) Expect() (f record.Flag, n int, ok bool) {
	if m.noExpect {
		return 0, 0, false
	}
	return m.fakeMachine.Expect()
}

func (m *brokenMachine) Handle(pkt []byte) ([]byte, error) {
	if m.stall {
		return nil, nil
	}
	return m.fakeMachine.Handle(pkt)
}

func (m *brokenMachine) Session() *handshake.Session {
	s := m.fakeMachine.Session()
	switch {
	case s == nil || m.noSession:
		return nil
	case m.noStream:
		clear(s.DatagramSecret)
		s.Stream = nil
	}
	return s
}

// TestBrokenClientMachine: a handshake machine that fails or stalls ends
// the dial with an error naming why, and is aborted before it finished.
func TestBrokenClientMachine(t *testing.T) {
	errStart := errors.New("no randomness")
	cases := []struct {
		name string
		m    brokenMachine
		want string
	}{
		{"start fails", brokenMachine{startErr: errStart}, errStart.Error()},
		{"expects nothing", brokenMachine{noExpect: true}, "expects nothing"},
		{"stalls", brokenMachine{stall: true}, "stalled after message 1"},
		{"no session", brokenMachine{noSession: true}, "without a session"},
		{"no ratchet state", brokenMachine{noStream: true}, "without a ratchet state"},
	}
	sizes := []int{10, 10, 10, 10}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 75, Delay: 5 * time.Millisecond})
				l, err := NewListener(listenPC(t, n, "127.0.0.1:4433"), &Config{newMachine: fakeFactory(sizes...)})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				var made *brokenMachine
				cli := &Config{HandshakeTimeout: 5 * time.Second, newMachine: func(server bool, _ *keyfile.PublicKey) (handshake.Machine, error) {
					fm, _ := fakeFactory(sizes...)(server, nil)
					m := tc.m
					m.fakeMachine = fm.(*fakeMachine)
					made = &m
					return made, nil
				}}
				start := time.Now()
				_, err = DialPacketConn(context.Background(), listenPC(t, n, "127.0.0.1:0"), l.Addr(), cli)
				if err == nil || !strings.Contains(err.Error(), tc.want) || time.Since(start) >= cli.HandshakeTimeout {
					t.Fatalf("dial: %v after %v, want an error naming %q at once", err, time.Since(start), tc.want)
				}
				if tc.m.startErr != nil && !errors.Is(err, errStart) {
					t.Fatalf("dial: %v does not wrap the machine's error", err)
				}
				if !made.done && !made.aborted.Load() {
					t.Fatal("the unfinished machine was not aborted")
				}
			})
		})
	}
}
