//go:build amd64 && !purego

#include "textflag.h"

// Rijndael-256 with AES-NI.
//
// A 32-byte state is held as two XMM halves: A = columns 0..3 (bytes 0..15)
// and B = columns 4..7 (bytes 16..31). AESENC on a half performs the AES
// round ShiftRows(Nb=4), SubBytes, MixColumns, AddRoundKey. Rijndael-256
// needs ShiftRows with offsets (0, 1, 3, 4) across all eight columns, so
// before each AESENC the halves are rearranged so that AES's own ShiftRows
// finishes the job (SubBytes works byte by byte and commutes with any byte
// permutation):
//
//   1. Blend: the bytes each half needs from the other half are swapped in.
//      Row r of the new A must hold old columns C_r..C_r+3: row 1 takes
//      column 4, row 2 columns 4..6, row 3 columns 4..7 from B, each at the
//      same position within its half, and B takes the complementary bytes
//      from A. The bytes swapped are positions 1, 2, 6, 10, 3, 7, 11, 15
//      (position 4h+r is row r of column h of a half).
//   2. Shuffle: within each half (same pattern for both),
//      out[4c+r] = in[4((c - r + C_r) mod 4) + r], which AES's ShiftRows
//      (out[4c+r] = in[4((c + r) mod 4) + r]) then turns into Rijndael-256's.
//
// The round keys are the XOF bytes, XORed byte for byte, so their halves
// load straight into XMM registers.

// PBLENDVB takes its mask from the top bit of each byte of X0.
DATA blendMask<>+0(SB)/8, $0x8080000080808000
DATA blendMask<>+8(SB)/8, $0x8000000080800000
GLOBL blendMask<>(SB), RODATA|NOPTR, $16

// Bytes 00 01 06 07 04 05 0a 0b 08 09 0e 0f 0c 0d 02 03.
DATA shufMask<>+0(SB)/8, $0x0b0a050407060100
DATA shufMask<>+8(SB)/8, $0x03020d0c0f0e0908
GLOBL shufMask<>(SB), RODATA|NOPTR, $16

// PERM rearranges the halves A, B as described above; X0 holds the blend
// mask, X1 the shuffle mask, X10 is scratch.
#define PERM(A, B) \
	MOVOU    A, X10; \
	PBLENDVB X0, B, A; \
	PBLENDVB X0, X10, B; \
	PSHUFB   X1, A; \
	PSHUFB   X1, B

// func encryptBlocksAESNI(rk *byte, rounds int, buf *byte, n int)
TEXT ·encryptBlocksAESNI(SB), NOSPLIT, $0-32
	MOVQ  rk+0(FP), AX
	MOVQ  rounds+8(FP), CX
	MOVQ  buf+16(FP), DI
	MOVQ  n+24(FP), DX
	MOVOU blendMask<>(SB), X0
	MOVOU shufMask<>(SB), X1

loop4:
	CMPQ DX, $4
	JB   tail

	MOVOU 0(DI), X2
	MOVOU 16(DI), X3
	MOVOU 32(DI), X4
	MOVOU 48(DI), X5
	MOVOU 64(DI), X6
	MOVOU 80(DI), X7
	MOVOU 96(DI), X8
	MOVOU 112(DI), X9
	MOVOU 0(AX), X11
	MOVOU 16(AX), X12
	PXOR  X11, X2
	PXOR  X12, X3
	PXOR  X11, X4
	PXOR  X12, X5
	PXOR  X11, X6
	PXOR  X12, X7
	PXOR  X11, X8
	PXOR  X12, X9
	LEAQ  32(AX), SI
	LEAQ  -1(CX), BX

round4:
	PERM(X2, X3)
	PERM(X4, X5)
	PERM(X6, X7)
	PERM(X8, X9)
	MOVOU  0(SI), X11
	MOVOU  16(SI), X12
	AESENC X11, X2
	AESENC X12, X3
	AESENC X11, X4
	AESENC X12, X5
	AESENC X11, X6
	AESENC X12, X7
	AESENC X11, X8
	AESENC X12, X9
	ADDQ   $32, SI
	DECQ   BX
	JNZ    round4

	PERM(X2, X3)
	PERM(X4, X5)
	PERM(X6, X7)
	PERM(X8, X9)
	MOVOU      0(SI), X11
	MOVOU      16(SI), X12
	AESENCLAST X11, X2
	AESENCLAST X12, X3
	AESENCLAST X11, X4
	AESENCLAST X12, X5
	AESENCLAST X11, X6
	AESENCLAST X12, X7
	AESENCLAST X11, X8
	AESENCLAST X12, X9
	MOVOU      X2, 0(DI)
	MOVOU      X3, 16(DI)
	MOVOU      X4, 32(DI)
	MOVOU      X5, 48(DI)
	MOVOU      X6, 64(DI)
	MOVOU      X7, 80(DI)
	MOVOU      X8, 96(DI)
	MOVOU      X9, 112(DI)
	ADDQ       $128, DI
	SUBQ       $4, DX
	JMP        loop4

tail:
	TESTQ DX, DX
	JZ    done
	MOVOU 0(DI), X2
	MOVOU 16(DI), X3
	MOVOU 0(AX), X11
	MOVOU 16(AX), X12
	PXOR  X11, X2
	PXOR  X12, X3
	LEAQ  32(AX), SI
	LEAQ  -1(CX), BX

round1:
	PERM(X2, X3)
	MOVOU  0(SI), X11
	MOVOU  16(SI), X12
	AESENC X11, X2
	AESENC X12, X3
	ADDQ   $32, SI
	DECQ   BX
	JNZ    round1

	PERM(X2, X3)
	MOVOU      0(SI), X11
	MOVOU      16(SI), X12
	AESENCLAST X11, X2
	AESENCLAST X12, X3
	MOVOU      X2, 0(DI)
	MOVOU      X3, 16(DI)
	ADDQ       $32, DI
	DECQ       DX
	JMP        tail

done:
	RET
