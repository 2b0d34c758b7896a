package datagram

import (
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks measure the listener's CPU with the thread CPU clock, and
// the goodput benchmark the process's.
func init() {
	processCPU = func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}
	cpuClock = func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}
}
