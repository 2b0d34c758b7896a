// Package keylimits applies the defaults of the rekey and reject limits that
// both datagram carriers (UDP and QUIC) take in their Config, and checks
// them: a limit of 0 takes its default, a negative one is disabled
// (NoLimit), and each hard (reject) limit must exceed its rekey limit.
package keylimits

import (
	"errors"
	"fmt"
	"time"
)

// NoLimit is the value of a disabled limit.
const NoLimit = 1<<63 - 1

// Defaults of the rekey limits; a reject limit defaults to twice its rekey
// limit for records and bytes, and to none for time.
const (
	DefaultRekeyAfterRecords = 1 << 32
	DefaultRekeyAfterBytes   = 1 << 40
	DefaultRekeyAfterTime    = 2 * time.Minute
)

// ErrOrder reports a reject limit not above its rekey limit.
var ErrOrder = errors.New("reject limit not above its rekey limit")

// Normalize applies the defaults to the six limits in place and checks
// their order; the error (wrapping ErrOrder) names the Config fields.
func Normalize(rekeyRecords, rekeyBytes *int64, rekeyTime *time.Duration, rejectRecords, rejectBytes *int64, rejectTime *time.Duration) error {
	*rekeyRecords = limit(*rekeyRecords, DefaultRekeyAfterRecords)
	*rekeyBytes = limit(*rekeyBytes, DefaultRekeyAfterBytes)
	*rekeyTime = time.Duration(limit(int64(*rekeyTime), int64(DefaultRekeyAfterTime)))
	*rejectRecords = limit(*rejectRecords, twice(*rekeyRecords))
	*rejectBytes = limit(*rejectBytes, twice(*rekeyBytes))
	*rejectTime = time.Duration(limit(int64(*rejectTime), NoLimit))
	switch {
	case *rejectRecords <= *rekeyRecords && *rejectRecords != NoLimit:
		return fmt.Errorf("%w: RejectAfterRecords %d not above RekeyAfterRecords %d", ErrOrder, *rejectRecords, *rekeyRecords)
	case *rejectBytes <= *rekeyBytes && *rejectBytes != NoLimit:
		return fmt.Errorf("%w: RejectAfterBytes %d not above RekeyAfterBytes %d", ErrOrder, *rejectBytes, *rekeyBytes)
	case *rejectTime <= *rekeyTime && *rejectTime != NoLimit:
		return fmt.Errorf("%w: RejectAfterTime %v not above RekeyAfterTime %v", ErrOrder, *rejectTime, *rekeyTime)
	}
	return nil
}

// limit returns v, its default if 0, or NoLimit if negative.
func limit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return NoLimit
	}
	return v
}

// twice doubles a limit without overflow.
func twice(v int64) int64 {
	if v >= NoLimit/2 {
		return NoLimit
	}
	return 2 * v
}
