//go:build race

package window

// raceEnabled is true when the tests run under the race detector, which makes them several
// times slower; the randomised tests then do fewer operations.
const raceEnabled = true
