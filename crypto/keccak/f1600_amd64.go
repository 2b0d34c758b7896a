//go:build amd64 && !purego

package keccak

import "golang.org/x/sys/cpu"

//go:generate go run gen/main.go -out f1600_amd64.s

// permuteAsm is Keccak-f[1600] in amd64 assembly using only base x86-64
// instructions.
//
//go:noescape
func permuteAsm(a *[25]uint64)

// permuteAsmBMI is permuteAsm with BMI1 ANDN and BMI2 RORX; it must only be
// called when useBMI is true.
//
//go:noescape
func permuteAsmBMI(a *[25]uint64)

// useBMI reports whether the CPU has the BMI1 and BMI2 extensions.
var useBMI = cpu.X86.HasBMI1 && cpu.X86.HasBMI2

// permute applies Keccak-f[1600] to a.
func permute(a *[25]uint64) {
	if useBMI {
		permuteAsmBMI(a)
	} else {
		permuteAsm(a)
	}
}
