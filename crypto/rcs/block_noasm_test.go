//go:build !amd64 || purego

package rcs

import "testing"

// eachImpl runs f once: this build has only the portable block function.
func eachImpl(t *testing.T, f func(name string)) { f("portable") }
