package window

import "math"

// DefaultTimeThreshold is the reference implementation's packet-time threshold in seconds
// (QSMS_PACKET_TIME_THRESHOLD and QSMD_PACKET_TIME_THRESHOLD).
const DefaultTimeThreshold = 60

// CheckTime is the QSMP packet-time check with a configurable threshold, in seconds. local is
// the receiver's own clock and utctime the packet header's time field. With threshold 0 the
// check is disabled and always passes. Otherwise it passes when all of these hold:
//
//   - local != 0
//   - utctime >= threshold
//   - utctime <= 2^64-1-threshold
//   - utctime-threshold <= local <= utctime+threshold (inclusive at both ends)
//
// and returns [ErrTime] when any fails. The second and third conditions keep the interval
// arithmetic from wrapping.
func CheckTime(local, utctime, threshold uint64) error {
	if threshold == 0 {
		return nil
	}
	if local == 0 || utctime < threshold || utctime > math.MaxUint64-threshold {
		return ErrTime
	}
	if local < utctime-threshold || local > utctime+threshold {
		return ErrTime
	}
	return nil
}
