package cookie

import (
	"bytes"
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// seeded is a deterministic random source for tests.
func seeded(seed uint64) io.Reader { return rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}) }

func newJar(t testing.TB, seed uint64) *Jar {
	t.Helper()
	j, err := NewJar(seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var (
	client = netip.MustParseAddrPort("198.51.100.7:40000")
	// slot0 is the start of a slot.
	slot0 = time.Unix(1_800_000_000/30*30, 0)
)

func TestCookieRoundTrip(t *testing.T) {
	j := newJar(t, 1)
	c := j.Make(client, 42, slot0.Add(5*time.Second))
	for _, d := range []time.Duration{5 * time.Second, 29 * time.Second, 30 * time.Second, 59*time.Second + 999*time.Millisecond} {
		if !j.Check(c[:], client, 42, slot0.Add(d)) {
			t.Errorf("cookie rejected %v into its slot", d)
		}
	}
	// Two slots later it has expired, and stays expired.
	for _, d := range []time.Duration{60 * time.Second, 61 * time.Second, 10 * time.Minute} {
		if j.Check(c[:], client, 42, slot0.Add(d)) {
			t.Errorf("cookie accepted %v after its slot began", d)
		}
	}
}

func TestCookieRejectsOtherInputs(t *testing.T) {
	j := newJar(t, 2)
	now := slot0.Add(time.Second)
	c := j.Make(client, 42, now)
	others := []struct {
		name string
		addr netip.AddrPort
		id   uint64
	}{
		{"address", netip.MustParseAddrPort("198.51.100.8:40000"), 42},
		{"port", netip.MustParseAddrPort("198.51.100.7:40001"), 42},
		{"id", client, 43},
		{"IPv6", netip.MustParseAddrPort("[2001:db8::7]:40000"), 42},
		{"invalid", netip.AddrPort{}, 42},
	}
	for _, o := range others {
		if j.Check(c[:], o.addr, o.id, now) {
			t.Errorf("cookie accepted for another %s", o.name)
		}
	}
	for i := range Size * 8 {
		bad := c
		bad[i/8] ^= 1 << (i % 8)
		if j.Check(bad[:], client, 42, now) {
			t.Fatalf("cookie with bit %d flipped accepted", i)
		}
	}
	for _, n := range []int{0, 31, 33} {
		b := append(c[:], 0)[:n]
		if j.Check(b, client, 42, now) {
			t.Errorf("cookie of %d bytes accepted", n)
		}
	}
	// An IPv4-mapped IPv6 address is the same client (dual-stack sockets).
	mapped := netip.AddrPortFrom(netip.AddrFrom16(client.Addr().As16()), client.Port())
	if !j.Check(c[:], mapped, 42, now) {
		t.Error("IPv4-mapped form of the address rejected")
	}
	if !j.Check(c[:], client, 42, now) {
		t.Fatal("the right cookie was rejected after the wrong ones")
	}
}

func TestCookieSecrets(t *testing.T) {
	now := slot0.Add(time.Second)
	a, b, c := newJar(t, 3), newJar(t, 3), newJar(t, 4)
	ca, cb, cc := a.Make(client, 1, now), b.Make(client, 1, now), c.Make(client, 1, now)
	if ca != cb {
		t.Error("same random source, different cookies")
	}
	if ca == cc || c.Check(ca[:], client, 1, now) {
		t.Error("a cookie of another jar is accepted")
	}
	// Each slot has its own secret: the next slot's cookie differs, and so
	// does a jar that skipped a slot.
	next := a.Make(client, 1, now.Add(SlotDuration))
	if next == ca {
		t.Error("same cookie in the next slot")
	}
	if j := newJar(t, 5); j.Make(client, 1, now) != j.Make(client, 1, now.Add(time.Second)) {
		t.Error("cookie changed within a slot")
	}
}

func TestCookieSkippedSlots(t *testing.T) {
	j := newJar(t, 6)
	c := j.Make(client, 9, slot0)
	// The jar next sees a time two slots on: both kept secrets are new, and
	// the cookie of a slot it never saw cannot verify either.
	if j.Check(c[:], client, 9, slot0.Add(2*SlotDuration)) {
		t.Fatal("cookie accepted two slots later")
	}
	c2 := j.Make(client, 9, slot0.Add(2*SlotDuration))
	if !j.Check(c2[:], client, 9, slot0.Add(3*SlotDuration)) {
		t.Fatal("previous slot's cookie rejected")
	}
}

func TestCookieClockBack(t *testing.T) {
	j := newJar(t, 7)
	later := slot0.Add(10 * SlotDuration)
	c := j.Make(client, 1, later)
	// A clock that goes back uses the newest slot seen.
	if d := j.Make(client, 1, slot0); d != c {
		t.Fatal("a time before the newest slot made a cookie of another slot")
	}
	if !j.Check(c[:], client, 1, slot0) {
		t.Fatal("check with a clock gone back")
	}
}

type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("entropy gone")
	}
	f.n--
	return f.r.Read(p)
}

func TestCookieRandomFailure(t *testing.T) {
	if _, err := NewJar(&failAfter{r: seeded(1), n: 0}); !errors.Is(err, ErrRandom) {
		t.Fatalf("NewJar with a failing source: %v", err)
	}
	// A source that fails later: rotation goes on, ratcheted.
	j, err := NewJar(&failAfter{r: seeded(1), n: 1})
	if err != nil {
		t.Fatal(err)
	}
	c0 := j.Make(client, 1, slot0)
	c1 := j.Make(client, 1, slot0.Add(SlotDuration))
	c2 := j.Make(client, 1, slot0.Add(2*SlotDuration))
	if c0 == c1 || c1 == c2 || j.RandomFailures() != 2 {
		t.Fatalf("no rotation without randomness (failures %d)", j.RandomFailures())
	}
	if j.Check(c0[:], client, 1, slot0.Add(2*SlotDuration)) || !j.Check(c1[:], client, 1, slot0.Add(2*SlotDuration)) {
		t.Fatal("expiry with a failing source")
	}
}

// TestCookieIsKMAC256 checks the documented construction against the
// standard library's cSHAKE256: KMAC256(K, X, 256, S) = cSHAKE256(
// bytepad(encode_string(K), 136) ‖ X ‖ right_encode(256), "KMAC", S).
func TestCookieIsKMAC256(t *testing.T) {
	j := newJar(t, 8)
	now := slot0.Add(3 * time.Second)
	got := j.Make(client, 0x0102030405060708, now)

	key := j.cur.key
	var x []byte
	a := client.Addr().As16()
	x = append(x, a[:]...)
	x = binary.LittleEndian.AppendUint16(x, client.Port())
	x = binary.LittleEndian.AppendUint64(x, 0x0102030405060708)
	x = binary.LittleEndian.AppendUint64(x, uint64(SlotOf(now)))

	h := sha3.NewCSHAKE256([]byte("KMAC"), []byte("qsmp-go cookie v1"))
	var pad []byte
	pad = append(pad, 1, 136)    // left_encode(136)
	pad = append(pad, 2, 1, 0)   // left_encode(256): the key length in bits
	pad = append(pad, key[:]...) // the key
	pad = append(pad, make([]byte, 136-len(pad))...)
	h.Write(pad)
	h.Write(x)
	h.Write([]byte{1, 0, 2}) // right_encode(256)
	want := make([]byte, 32)
	h.Read(want)
	if !bytes.Equal(got[:], want) {
		t.Fatalf("cookie %x, KMAC256 %x", got, want)
	}
}

func TestSlotOf(t *testing.T) {
	for _, c := range []struct {
		unix int64
		slot int64
	}{{0, 0}, {29, 0}, {30, 1}, {-1, -1}, {-30, -1}, {-31, -2}, {1_800_000_000, 60_000_000}} {
		if got := SlotOf(time.Unix(c.unix, 0)); got != c.slot {
			t.Errorf("SlotOf(%d) = %d, want %d", c.unix, got, c.slot)
		}
	}
}

func TestCookieConcurrent(t *testing.T) {
	j := newJar(t, 9)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				// Times span two slots, so the jar rotates once while the
				// goroutines race, and a cookie is checked at most one
				// slot after the one it was made in, whatever the order.
				now := slot0.Add(time.Duration(i) * 59 * time.Second / 300)
				id := uint64(g)
				c := j.Make(client, id, now)
				if !j.Check(c[:], client, id, now) {
					t.Errorf("goroutine %d: fresh cookie rejected", g)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkMake(b *testing.B) {
	j := newJar(b, 1)
	for b.Loop() {
		j.Make(client, 1, slot0)
	}
}

func BenchmarkCheck(b *testing.B) {
	j := newJar(b, 1)
	j.Make(client, 1, slot0)
	c := j.Make(client, 1, slot0.Add(SlotDuration)) // two secrets to try
	for b.Loop() {
		if !j.Check(c[:], client, 1, slot0.Add(SlotDuration)) {
			b.Fatal("rejected")
		}
	}
}
