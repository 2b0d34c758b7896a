//go:build !amd64 || purego

package rcs

// packedStream is false: without VAES, every message's keystream is
// computed on its own (see streamPack).
func packedStream() bool { return false }

// encryptGroups encrypts, in place, the first groups groups of
// packGroup blocks of b.
func encryptGroups(k *Key, b []byte, groups int) {
	encryptGroupsGeneric(k, b, groups)
}
