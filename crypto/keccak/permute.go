package keccak

// permute applies Keccak-f[1600] to a.
func permute(a *[25]uint64) { permuteGeneric(a) }

// F1600 applies the Keccak-f[1600] permutation (24 rounds) to a state of 25
// little-endian lanes, lane x+5y holding column x of row y.
func F1600(a *[25]uint64) { permute(a) }
