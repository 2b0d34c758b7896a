package window_test

import (
	"errors"
	"fmt"

	"github.com/qsmp-go/qsmp/window"
)

// The receive order of a datagram record: read-only pre-check, authentication, then
// check-and-set, counting every drop by reason.
func Example() {
	w, err := window.NewSync(window.DefaultSize)
	if err != nil {
		panic(err)
	}
	var drops window.Drops
	const now = 1_700_000_000
	forged := uint64(10005)
	verify := func(seq uint64) bool { return seq != forged } // stands in for the tag check

	receive := func(seq, utctime uint64) {
		if err := w.Check(seq); err != nil { // before any cryptography
			drops.AddErr(err)
			fmt.Println(seq, "dropped:", err)
			return
		}
		if err := window.CheckTime(now, utctime, window.DefaultTimeThreshold); err != nil {
			drops.AddErr(err)
			fmt.Println(seq, "dropped:", err)
			return
		}
		if !verify(seq) {
			drops.Add(window.ReasonAuth)
			fmt.Println(seq, "dropped: bad tag")
			return
		}
		if err := w.CheckAndSet(seq); err != nil { // a concurrent receiver may have won
			drops.AddErr(err)
			fmt.Println(seq, "dropped:", err)
			return
		}
		fmt.Println(seq, "accepted")
	}

	receive(10000, now)
	receive(9990, now-5)   // reordered: accepted
	receive(10000, now)    // replay
	receive(1000, now)     // far below the window
	receive(10001, now-90) // too old in time
	receive(forged, now)   // fails authentication: the window does not move
	receive(10002, now+60)

	c := drops.Snapshot()
	fmt.Printf("highest %d; dropped %d (too old %d, duplicate %d, time %d, auth %d)\n",
		w.Highest(), c.Total(), c.TooOld, c.Duplicate, c.Time, c.Auth)
	_, isDrop := window.ReasonOf(errors.New("other"))
	fmt.Println("other errors have a reason:", isDrop)
	// Output:
	// 10000 accepted
	// 9990 accepted
	// 10000 dropped: window: duplicate sequence number
	// 1000 dropped: window: sequence number too old
	// 10001 dropped: window: packet time outside the accepted window
	// 10005 dropped: bad tag
	// 10002 accepted
	// highest 10002; dropped 4 (too old 1, duplicate 1, time 1, auth 1)
	// other errors have a reason: false
}
