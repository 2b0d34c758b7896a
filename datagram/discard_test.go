package datagram

import (
	"net/netip"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/record"
)

// finishingMachine completes its handshake on its first Handle, after
// running onHandle (which gives the handshake up, as a Close or a timeout
// racing the worker would). Like the real machines, Abort does nothing
// once it is done; its session is one object, so a test can inspect it.
type finishingMachine struct {
	sess     *handshake.Session
	onHandle func()
	done     bool
}

func (m *finishingMachine) Start() ([]byte, error) { return nil, nil }

func (m *finishingMachine) Handle([]byte) ([]byte, error) {
	m.onHandle()
	m.done = true
	return nil, nil
}

func (m *finishingMachine) Done() bool { return m.done }

func (m *finishingMachine) Session() *handshake.Session {
	if !m.done {
		return nil
	}
	return m.sess
}

func (m *finishingMachine) Expect() (record.Flag, int, bool) { return 0, 0, false }

func (m *finishingMachine) Abort() {}

// TestCompletedGivenUpHandshakeZeroed: a listener's worker whose step
// completes the handshake after the handshake was given up (the Conn
// closed, or its deadline passed, while the worker computed) zeroes the
// established session it drops: the machine's Abort does nothing after
// Done, and establishLocked, which zeroes it otherwise, never runs.
func TestCompletedGivenUpHandshakeZeroed(t *testing.T) {
	secret := make([]byte, record.DatagramSecretSize)
	rtcs := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	for i := range rtcs {
		rtcs[i] = byte(0x80 + i)
	}
	st := record.NewStream(nil, nil, record.StreamConfig{RTCS: rtcs, DatagramSecret: secret})
	sess := &handshake.Session{DatagramSecret: secret, Server: true, Stream: st}

	c := &Conn{}
	m := &finishingMachine{sess: sess}
	hs := &hsState{m: m, deadline: time.Now().Add(time.Minute)}
	c.hs = hs
	m.onHandle = func() {
		c.mu.Lock()
		c.hs = nil // given up while the worker holds the machine
		c.mu.Unlock()
	}
	c.runJob(job{c: c, hs: hs, msg: []byte{1, 2, 3}})

	if !m.Done() {
		t.Fatal("the machine did not complete")
	}
	for i, b := range secret {
		if b != 0 {
			t.Fatalf("the dropped session's datagram secret survived (byte %d)", i)
		}
	}
	if rs := st.RatchetState(); len(rs.RTCS) == 0 || rs.RTCS[0] != 0 || rs.Secret[0] != 0 {
		t.Fatal("the dropped session's ratchet state survived")
	}
}

// TestListenerCloseClearsCookieSecrets: closing a listener zeroes its
// cookie secrets: no handshake can be answered any more.
func TestListenerCloseClearsCookieSecrets(t *testing.T) {
	srv, _ := pairConfigs(t, false)
	l, err := Listen("udp4", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort("192.0.2.1:4000")
	now := time.Now()
	c := l.ep.jar.Make(addr, 7, now)
	if !l.ep.jar.Check(c[:], addr, 7, now) {
		t.Fatal("the listener's jar refuses its own cookie")
	}
	l.Close()
	if l.ep.jar.Check(c[:], addr, 7, now) {
		t.Fatal("the cookie secrets survived the listener's Close")
	}
}
