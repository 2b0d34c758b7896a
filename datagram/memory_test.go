package datagram

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/handshake"
)

// driveQSMS completes a QSMS handshake with the listener on pc by hand,
// from address a with client id cid, acking the final flight so that the
// listener releases its handshake state.
func driveQSMS(t testing.TB, l *Listener, pc *capturePC, cli *Config, a netip.AddrPort, cid uint64) {
	t.Helper()
	h := driveToFinal(t, l, pc, cli, a, cid)
	if _, err := h.m.Handle(h.msg3); err != nil || !h.m.Done() {
		t.Fatalf("client: %v", err)
	}
	ack := wire.Ack{Receiver: h.sid, Sender: cid, Message: 3, Ranges: []wire.Range{{Start: 0, End: uint32(len(h.msg3))}}}
	l.ep.handle(ack.Append(nil), udp(a))
	pc.take(a)
}

// drivenQSMS is a QSMS handshake driven by hand up to the listener's final
// flight (driveToFinal).
type drivenQSMS struct {
	m      handshake.Machine
	sid    uint64   // the listener's session id
	frags2 [][]byte // the fragments of the client's exchange request
	msg3   []byte   // the listener's exchange response, not acked yet
}

// driveToFinal drives a QSMS handshake from address a with client id cid
// until the listener has sent its exchange response (taken from pc).
func driveToFinal(t testing.TB, l *Listener, pc *capturePC, cli *Config, a netip.AddrPort, cid uint64) drivenQSMS {
	t.Helper()
	n, err := cli.normalize(false)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := n.clientMachine()
	msg0, _ := m.Start()
	ep := l.ep
	mp := DefaultMaxPayload
	plain := mp - wire.FragmentOverhead(false, false)
	ep.handle(fragments(msg0, 0, 0, cid, nil, nil, plain)[0], udp(a))
	cr, err := wire.ParseCookieReply(pc.take(a)[0])
	if err != nil {
		t.Fatal(err)
	}
	ep.handle(fragments(msg0, 0, 0, cid, cr.Cookie[:], nil, mp-wire.FragmentOverhead(true, false))[0], udp(a))
	synctest.Wait()
	msg1, sid, ok := reassemble(t, pc.take(a), 1)
	if !ok {
		t.Fatal("no connect response")
	}
	msg2, err := m.Handle(msg1)
	if err != nil {
		t.Fatal(err)
	}
	frags2 := fragments(msg2, 2, sid, cid, nil, nil, plain)
	for _, d := range frags2 {
		ep.handle(d, udp(a))
	}
	synctest.Wait()
	msg3, _, ok := reassemble(t, pc.take(a), 3)
	if !ok {
		t.Fatal("no exchange response")
	}
	return drivenQSMS{m: m, sid: sid, frags2: frags2, msg3: msg3}
}

// idleSessions establishes warm+n QSMS sessions on a listener driven by
// hand and measures what the n last cost once idle: heap bytes each, the
// goroutines added (the handshake workers have exited), and how many of
// them hold a timer (session, handshake or deadline).
func idleSessions(t *testing.T, n int) (perSession int64, goroutines, timers int) {
	srv, cli := pairConfigs(t, false)
	srv.PrefixRate = -1
	srv.MaxHalfOpen = n + 100
	pc := newCapturePC("127.0.0.1:4433")
	l, err := NewListener(pc, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const warm = 10
	conns := make([]*Conn, 0, warm+n)
	open := func(i int) {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2 + byte(i>>16), byte(i >> 8), byte(i)}), 1000)
		driveQSMS(t, l, pc, cli, a, uint64(i+1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := l.AcceptContext(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Warm up maps and pools with a few sessions first.
	for i := range warm {
		open(i)
	}
	time.Sleep(2 * workerLinger) // the handshake workers exit
	g0 := bubbleGoroutines(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := warm; i < warm+n; i++ {
		open(i)
	}
	time.Sleep(2 * workerLinger)
	runtime.GC()
	runtime.ReadMemStats(&after)
	goroutines = bubbleGoroutines(t) - g0
	if f := os.Getenv("DATAGRAM_HEAP_PROFILE"); f != "" {
		// go test -memprofilerate 1 with this set writes a heap
		// profile of the live sessions.
		if w, err := os.Create(f); err == nil {
			pprof.Lookup("heap").WriteTo(w, 0)
			w.Close()
		}
	}
	perSession = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
	st := l.Stats()
	if st.HalfOpen != 0 || st.Sessions != warm+n {
		t.Fatalf("%+v", st)
	}
	for _, c := range conns {
		c.mu.Lock()
		if c.hs != nil || c.live.timer != nil || c.ctl != nil || c.rdl.HasTimer() || c.wdl.HasTimer() {
			timers++
		}
		c.mu.Unlock()
	}
	runtime.KeepAlive(conns)
	return perSession, goroutines, timers
}

// bubbleGoroutines counts the goroutines of the calling goroutine's
// synctest bubble: runtime.NumGoroutine counts the whole process, where
// goroutines of earlier tests may still be ending.
func bubbleGoroutines(t *testing.T) int {
	t.Helper()
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	// The first header is the caller's: "goroutine N [running, synctest bubble B]:".
	first, _, _ := strings.Cut(string(buf), "\n")
	i := strings.Index(first, "synctest bubble ")
	if i < 0 {
		t.Fatalf("not in a synctest bubble: %q", first)
	}
	bubble := strings.TrimSuffix(first[i:], "]:")
	count := 0
	for _, line := range strings.Split(string(buf), "\n") {
		if strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, bubble+"]:") {
			count++
		}
	}
	return count
}

// TestIdleSessionMemory measures the heap an idle established QSMS session
// costs a listener (the handshake state released, nothing queued, the
// default Config: no keep-alive, no idle timeout), with no goroutine and
// no timer per session. 100 sessions here (under the race detector too);
// TestIdleSessionMemory10k (without it) checks the 8 KiB bound on 10,000.
func TestIdleSessionMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		per, g, timers := idleSessions(t, 100)
		t.Logf("idle established QSMS session: %d bytes of heap each (100 sessions); %d goroutines and %d timers added", per, g, timers)
		if g != 0 || timers != 0 {
			t.Fatalf("%d goroutines and %d sessions with a timer", g, timers)
		}
		if per > 16<<10 {
			t.Fatalf("%d bytes per idle session", per)
		}
	})
}
