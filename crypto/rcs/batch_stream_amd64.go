//go:build amd64 && !purego

package rcs

// encryptBlocksVAES512 encrypts groups groups of sixteen 32-byte blocks at
// blocks in place with the round keys rk. It must only be called when the
// CPU has the VAES-512 path (hasVAES512).
//
//go:noescape
func encryptBlocksVAES512(rk *byte, rounds int, blocks *byte, groups int)

// packedStream reports whether the batch functions pack the keystream of
// short messages (see streamPack): only on the VAES-512 path, which costs
// the same for one block as for sixteen. AES-NI works block by block and
// gains nothing from packing.
func packedStream() bool { return impl == implVAES512 }

// encryptGroups encrypts, in place, the first groups groups of
// packGroup blocks of b.
func encryptGroups(k *Key, b []byte, groups int) {
	if impl != implVAES512 {
		encryptGroupsGeneric(k, b, groups)
		return
	}
	_ = b[groups*packGroup*BlockSize-1]
	encryptBlocksVAES512(&k.rk[0], k.rounds, &b[0], groups)
}
