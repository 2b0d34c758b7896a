//go:build !race

package mceliece

// raceEnabled reports a -race build, in which the slow sets are left out.
const raceEnabled = false
