package datagram

import (
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks measure the listener's CPU with the thread CPU clock.
func init() {
	cpuClock = func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}
}
