package cookie

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzCheck checks arbitrary cookies for arbitrary clients: Check never
// panics and accepts exactly the cookie Make gives (a fresh jar has no
// previous secret, so nothing else can pass).
func FuzzCheck(f *testing.F) {
	f.Add(make([]byte, 32), []byte{192, 0, 2, 1}, uint16(443), uint64(7), int64(1_800_000_000))
	f.Add([]byte("short"), []byte{}, uint16(0), uint64(0), int64(-5))
	f.Fuzz(func(t *testing.T, cookie, ip []byte, port uint16, id uint64, unix int64) {
		j, err := NewJar(seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := netip.AddrFromSlice(ip)
		ap := netip.AddrPortFrom(addr, port)
		now := time.Unix(unix, 0)
		good := j.Make(ap, id, now)
		want := addr.IsValid() && string(cookie) == string(good[:])
		if got := j.Check(cookie, ap, id, now); got != want {
			t.Fatalf("Check = %v, want %v", got, want)
		}
		if addr.IsValid() && !j.Check(good[:], ap, id, now) {
			t.Fatal("Make's cookie rejected")
		}
	})
}
