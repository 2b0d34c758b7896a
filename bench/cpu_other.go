//go:build !linux

package bench

import "time"

// threadCPU is not measured outside Linux: it reads zero.
func threadCPU() time.Duration { return 0 }

// processCPU is not measured outside Linux: it reads zero.
func processCPU() time.Duration { return 0 }
