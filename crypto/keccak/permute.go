package keccak

// permute (the Keccak-f[1600] the sponge calls) is defined per platform:
// f1600_amd64.go selects the assembly in f1600_amd64.s, and
// permute_generic.go falls back to permuteGeneric elsewhere and with the
// purego build tag.

// F1600 applies the Keccak-f[1600] permutation (24 rounds) to a state of 25
// little-endian lanes, lane x+5y holding column x of row y.
func F1600(a *[25]uint64) { permute(a) }
