//go:build !race

package suite

// raceDetector is true when the tests run under the race detector, which
// makes the hash-heavy schemes tens of times slower.
const raceDetector = false
