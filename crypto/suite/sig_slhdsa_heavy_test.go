//go:build !race

package suite

// Without the race detector, the SLH-DSA vector test also derives the key
// pairs from their recorded draws and reproduces every signature (seconds
// for the 192s and 256s sets).
func init() { slhdsaHeavy = true }
