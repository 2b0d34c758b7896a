//go:build amd64 && !purego

#include "textflag.h"

// Rijndael-256 of independent counter blocks with VAES on AVX-512, for the
// packed keystream of the batch functions (batch_stream.go). The rounds are
// those of ctrXORVAES512 (block_amd64.s, which explains the VPERMB
// rearrangement): one ZMM register holds two blocks, eight registers make
// a group of sixteen blocks, so that eight independent VPERMB/VAESENC
// chains hide their latencies. Unlike ctrXORVAES512 the blocks are read
// from memory rather than counted up in registers: each may belong to
// another message, at another counter.

// VPERMB index (as permIdx in block_amd64.s): new byte i of a 32-byte
// block comes from old byte idx[i]; repeated for the second block (+32).
DATA batchPermIdx<>+0(SB)/8, $0x1b1a050417161100
DATA batchPermIdx<>+8(SB)/8, $0x13120d0c1f0e0908
DATA batchPermIdx<>+16(SB)/8, $0x0b0a151407060110
DATA batchPermIdx<>+24(SB)/8, $0x03021d1c0f1e1918
DATA batchPermIdx<>+32(SB)/8, $0x3b3a252437363120
DATA batchPermIdx<>+40(SB)/8, $0x33322d2c3f2e2928
DATA batchPermIdx<>+48(SB)/8, $0x2b2a353427262130
DATA batchPermIdx<>+56(SB)/8, $0x23223d3c2f3e3938
GLOBL batchPermIdx<>(SB), RODATA|NOPTR, $64

// func encryptBlocksVAES512(rk *byte, rounds int, blocks *byte, groups int)
//
// Encrypts groups groups of sixteen 32-byte blocks at blocks in place.
TEXT ·encryptBlocksVAES512(SB), NOSPLIT, $0-32
	MOVQ            rk+0(FP), AX
	MOVQ            rounds+8(FP), CX
	MOVQ            blocks+16(FP), DI
	MOVQ            groups+24(FP), DX
	VMOVDQU64       batchPermIdx<>(SB), Z8
	VBROADCASTI64X4 (AX), Z13

bgroup:
	TESTQ DX, DX
	JLE   bdone

	VPXORQ 0(DI), Z13, Z0
	VPXORQ 64(DI), Z13, Z1
	VPXORQ 128(DI), Z13, Z2
	VPXORQ 192(DI), Z13, Z3
	VPXORQ 256(DI), Z13, Z4
	VPXORQ 320(DI), Z13, Z5
	VPXORQ 384(DI), Z13, Z6
	VPXORQ 448(DI), Z13, Z7
	LEAQ   32(AX), R9
	LEAQ   -1(CX), BX

bround:
	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VPERMB          Z1, Z8, Z1
	VPERMB          Z2, Z8, Z2
	VPERMB          Z3, Z8, Z3
	VPERMB          Z4, Z8, Z4
	VPERMB          Z5, Z8, Z5
	VPERMB          Z6, Z8, Z6
	VPERMB          Z7, Z8, Z7
	VAESENC         Z11, Z0, Z0
	VAESENC         Z11, Z1, Z1
	VAESENC         Z11, Z2, Z2
	VAESENC         Z11, Z3, Z3
	VAESENC         Z11, Z4, Z4
	VAESENC         Z11, Z5, Z5
	VAESENC         Z11, Z6, Z6
	VAESENC         Z11, Z7, Z7
	ADDQ            $32, R9
	DECQ            BX
	JNZ             bround

	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VPERMB          Z1, Z8, Z1
	VPERMB          Z2, Z8, Z2
	VPERMB          Z3, Z8, Z3
	VPERMB          Z4, Z8, Z4
	VPERMB          Z5, Z8, Z5
	VPERMB          Z6, Z8, Z6
	VPERMB          Z7, Z8, Z7
	VAESENCLAST     Z11, Z0, Z0
	VAESENCLAST     Z11, Z1, Z1
	VAESENCLAST     Z11, Z2, Z2
	VAESENCLAST     Z11, Z3, Z3
	VAESENCLAST     Z11, Z4, Z4
	VAESENCLAST     Z11, Z5, Z5
	VAESENCLAST     Z11, Z6, Z6
	VAESENCLAST     Z11, Z7, Z7

	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VMOVDQU64 Z5, 320(DI)
	VMOVDQU64 Z6, 384(DI)
	VMOVDQU64 Z7, 448(DI)
	ADDQ      $512, DI
	DECQ      DX
	JMP       bgroup

bdone:
	VPXORQ    Z0, Z0, Z0
	VMOVDQA64 Z0, Z1
	VMOVDQA64 Z0, Z2
	VMOVDQA64 Z0, Z3
	VMOVDQA64 Z0, Z4
	VMOVDQA64 Z0, Z5
	VMOVDQA64 Z0, Z6
	VMOVDQA64 Z0, Z7
	VMOVDQA64 Z0, Z11
	VMOVDQA64 Z0, Z13
	VZEROUPPER
	RET
