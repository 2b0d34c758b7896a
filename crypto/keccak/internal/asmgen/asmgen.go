// Package asmgen holds what the assembly generators of crypto/keccak share:
// the Keccak-f[1600] step tables of FIPS 202 (ρ offsets, π lane order, ι
// round constants), a Writer for the Go assembler's syntax (file header,
// TEXT and DATA directives, instructions, labels) and Main, which runs a
// generator and writes its file.
//
// Lanes are numbered i = x+5y for lane (x, y) of the FIPS 202 state
// throughout.
package asmgen

// Rounds is the number of rounds of Keccak-f[1600] (FIPS 202 section 3.4).
const Rounds = 24

// rho holds the ρ rotation offsets of FIPS 202 section 3.2.2 (Table 2),
// indexed x+5y.
var rho = [25]int{
	0, 1, 62, 28, 27,
	36, 44, 6, 55, 20,
	3, 10, 43, 25, 39,
	41, 45, 15, 21, 8,
	18, 2, 61, 56, 14,
}

// piSource holds, for each lane x+5y, the lane that π moves into it:
// (x+3y mod 5, x) by FIPS 202 section 3.2.3.
var piSource = [25]int{
	0, 6, 12, 18, 24,
	3, 9, 10, 16, 22,
	1, 7, 13, 19, 20,
	4, 5, 11, 17, 23,
	2, 8, 14, 15, 21,
}

// roundConstants holds the ι constants RC[ir] of FIPS 202 section 3.2.5.
var roundConstants = [Rounds]uint64{
	0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000,
	0x000000000000808b, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
	0x000000000000008a, 0x0000000000000088, 0x0000000080008009, 0x000000008000000a,
	0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
	0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
	0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
}

// Rho returns the ρ rotation offset (0..63, to the left) of lane i = x+5y,
// 0 <= i < 25.
func Rho(i int) int { return rho[i] }

// PiSource returns the lane that π moves into lane i = x+5y, 0 <= i < 25:
// after π, lane (x, y) holds what lane (x+3y mod 5, x) held.
func PiSource(i int) int { return piSource[i] }

// Pi returns the lane that π moves lane i = x+5y to, 0 <= i < 25: lane
// (x, y) goes to (y, 2x+3y mod 5). It is the inverse of PiSource.
func Pi(i int) int {
	x, y := i%5, i/5
	return y + 5*((2*x+3*y)%5)
}

// RoundConstant returns the ι constant RC[ir] of round ir, 0 <= ir < Rounds.
func RoundConstant(ir int) uint64 { return roundConstants[ir] }
