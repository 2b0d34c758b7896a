//go:build !linux

package handshake

import "time"

// threadCPU falls back to the wall clock where no thread CPU clock exists.
var startWall = time.Now()

func threadCPU() time.Duration { return time.Since(startWall) }
