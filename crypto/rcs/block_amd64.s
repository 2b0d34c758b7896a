//go:build amd64 && !purego

#include "textflag.h"

// Rijndael-256 in CTR mode with AES-NI (SSE) and with VAES on AVX-512.
//
// AES-NI path. A 32-byte state is held as two XMM halves: A = columns 0..3
// (bytes 0..15) and B = columns 4..7 (bytes 16..31). AESENC on a half
// performs the AES round ShiftRows(Nb=4), SubBytes, MixColumns, AddRoundKey.
// Rijndael-256 needs ShiftRows with offsets (0, 1, 3, 4) across all eight
// columns, so before each AESENC the halves are rearranged so that AES's own
// ShiftRows finishes the job (SubBytes works byte by byte and commutes with
// any byte permutation):
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
// VAES path. One ZMM register holds two whole blocks; VPERMB performs the
// same rearrangement (blend and shuffle) in one instruction per register, and
// VAESENC runs the AES round on all four 128-bit lanes.
//
// The round keys are the XOF bytes, XORed byte for byte, so their halves
// load straight into the registers. Counter blocks are formed in registers:
// the caller guarantees that the low 64-bit word of the counter does not
// wrap within one call, so adding to that word alone is the 256-bit
// increment.

// PBLENDVB takes its mask from the top bit of each byte of X0.
DATA blendMask<>+0(SB)/8, $0x8080000080808000
DATA blendMask<>+8(SB)/8, $0x8000000080800000
GLOBL blendMask<>(SB), RODATA|NOPTR, $16

// Bytes 00 01 06 07 04 05 0a 0b 08 09 0e 0f 0c 0d 02 03.
DATA shufMask<>+0(SB)/8, $0x0b0a050407060100
DATA shufMask<>+8(SB)/8, $0x03020d0c0f0e0908
GLOBL shufMask<>(SB), RODATA|NOPTR, $16

// One, added to the low 64-bit word of a counter half.
DATA one128<>+0(SB)/8, $1
DATA one128<>+8(SB)/8, $0
GLOBL one128<>(SB), RODATA|NOPTR, $16

// VPERMB index: new byte i of a 32-byte block (blended and shuffled as
// above, A' then B') comes from old byte idx[i]; repeated for the second
// block of the register (+32).
DATA permIdx<>+0(SB)/8, $0x1b1a050417161100
DATA permIdx<>+8(SB)/8, $0x13120d0c1f0e0908
DATA permIdx<>+16(SB)/8, $0x0b0a151407060110
DATA permIdx<>+24(SB)/8, $0x03021d1c0f1e1918
DATA permIdx<>+32(SB)/8, $0x3b3a252437363120
DATA permIdx<>+40(SB)/8, $0x33322d2c3f2e2928
DATA permIdx<>+48(SB)/8, $0x2b2a353427262130
DATA permIdx<>+56(SB)/8, $0x23223d3c2f3e3938
GLOBL permIdx<>(SB), RODATA|NOPTR, $64

// Counter offsets of the two blocks of a register (+0, +1), and the step
// between registers (+2), on the low word of each block.
DATA ctrInit<>+0(SB)/8, $0
DATA ctrInit<>+8(SB)/8, $0
DATA ctrInit<>+16(SB)/8, $0
DATA ctrInit<>+24(SB)/8, $0
DATA ctrInit<>+32(SB)/8, $1
DATA ctrInit<>+40(SB)/8, $0
DATA ctrInit<>+48(SB)/8, $0
DATA ctrInit<>+56(SB)/8, $0
GLOBL ctrInit<>(SB), RODATA|NOPTR, $64

DATA ctrStep<>+0(SB)/8, $2
DATA ctrStep<>+8(SB)/8, $0
DATA ctrStep<>+16(SB)/8, $0
DATA ctrStep<>+24(SB)/8, $0
DATA ctrStep<>+32(SB)/8, $2
DATA ctrStep<>+40(SB)/8, $0
DATA ctrStep<>+48(SB)/8, $0
DATA ctrStep<>+56(SB)/8, $0
GLOBL ctrStep<>(SB), RODATA|NOPTR, $64

// PERM rearranges the halves A, B as described above; X0 holds the blend
// mask, X1 the shuffle mask, X10 is scratch.
#define PERM(A, B) \
	MOVOU    A, X10; \
	PBLENDVB X0, B, A; \
	PBLENDVB X0, X10, B; \
	PSHUFB   X1, A; \
	PSHUFB   X1, B

// XORSTORE XORs the 16 bytes at off(SI) into R and stores R at off(DI).
#define XORSTORE(R, off) \
	MOVOU off(SI), X10; \
	PXOR  X10, R; \
	MOVOU R, off(DI)

// func ctrXORAESNI(rk *byte, rounds int, ctr *[32]byte, dst, src *byte, n int)
TEXT ·ctrXORAESNI(SB), NOSPLIT, $0-48
	MOVQ  rk+0(FP), AX
	MOVQ  rounds+8(FP), CX
	MOVQ  ctr+16(FP), R8
	MOVQ  dst+24(FP), DI
	MOVQ  src+32(FP), SI
	MOVQ  n+40(FP), DX
	MOVOU blendMask<>(SB), X0
	MOVOU shufMask<>(SB), X1
	MOVOU 0(R8), X13
	MOVOU 16(R8), X14
	MOVOU one128<>(SB), X15

loop4:
	CMPQ DX, $4
	JB   tail

	// Four counter blocks: A halves count, B halves are shared.
	MOVOU X13, X2
	PADDQ X15, X13
	MOVOU X13, X4
	PADDQ X15, X13
	MOVOU X13, X6
	PADDQ X15, X13
	MOVOU X13, X8
	PADDQ X15, X13
	MOVOU X14, X3
	MOVOU X14, X5
	MOVOU X14, X7
	MOVOU X14, X9

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
	LEAQ  32(AX), R9
	LEAQ  -1(CX), BX

round4:
	PERM(X2, X3)
	PERM(X4, X5)
	PERM(X6, X7)
	PERM(X8, X9)
	MOVOU  0(R9), X11
	MOVOU  16(R9), X12
	AESENC X11, X2
	AESENC X12, X3
	AESENC X11, X4
	AESENC X12, X5
	AESENC X11, X6
	AESENC X12, X7
	AESENC X11, X8
	AESENC X12, X9
	ADDQ   $32, R9
	DECQ   BX
	JNZ    round4

	PERM(X2, X3)
	PERM(X4, X5)
	PERM(X6, X7)
	PERM(X8, X9)
	MOVOU      0(R9), X11
	MOVOU      16(R9), X12
	AESENCLAST X11, X2
	AESENCLAST X12, X3
	AESENCLAST X11, X4
	AESENCLAST X12, X5
	AESENCLAST X11, X6
	AESENCLAST X12, X7
	AESENCLAST X11, X8
	AESENCLAST X12, X9

	XORSTORE(X2, 0)
	XORSTORE(X3, 16)
	XORSTORE(X4, 32)
	XORSTORE(X5, 48)
	XORSTORE(X6, 64)
	XORSTORE(X7, 80)
	XORSTORE(X8, 96)
	XORSTORE(X9, 112)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $4, DX
	JMP  loop4

tail:
	TESTQ DX, DX
	JZ    done
	MOVOU X13, X2
	PADDQ X15, X13
	MOVOU X14, X3
	MOVOU 0(AX), X11
	MOVOU 16(AX), X12
	PXOR  X11, X2
	PXOR  X12, X3
	LEAQ  32(AX), R9
	LEAQ  -1(CX), BX

round1:
	PERM(X2, X3)
	MOVOU  0(R9), X11
	MOVOU  16(R9), X12
	AESENC X11, X2
	AESENC X12, X3
	ADDQ   $32, R9
	DECQ   BX
	JNZ    round1

	PERM(X2, X3)
	MOVOU      0(R9), X11
	MOVOU      16(R9), X12
	AESENCLAST X11, X2
	AESENCLAST X12, X3
	XORSTORE(X2, 0)
	XORSTORE(X3, 16)
	ADDQ       $32, SI
	ADDQ       $32, DI
	DECQ       DX
	JMP        tail

done:
	PXOR X2, X2
	PXOR X3, X3
	PXOR X4, X4
	PXOR X5, X5
	PXOR X6, X6
	PXOR X7, X7
	PXOR X8, X8
	PXOR X9, X9
	PXOR X10, X10
	PXOR X11, X11
	PXOR X12, X12
	RET

// func ctrXORVAES512(rk *byte, rounds int, ctr *[32]byte, dst, src *byte, length int)
//
// Sixteen blocks (eight ZMM registers) per group. A final group of more
// than eight blocks is computed whole into the frame and XORed with masked
// loads and stores; one of at most two, four or eight blocks (64, 128 or
// 256 bytes) runs on one, two or four registers only and is XORed straight
// from them (vtail), without the frame. The rounds are latency-bound: on
// the CPUs measured, eight register chains take hardly longer than one, so
// what a short group saves is the frame's stores, reloads and wiping and
// the idle rounds' work, not round latency.
TEXT ·ctrXORVAES512(SB), $512-48
	MOVQ            rk+0(FP), AX
	MOVQ            rounds+8(FP), CX
	MOVQ            ctr+16(FP), R8
	MOVQ            dst+24(FP), DI
	MOVQ            src+32(FP), SI
	MOVQ            length+40(FP), DX
	VMOVDQU64       permIdx<>(SB), Z8

	// The counter is read a word at a time, as callers store it: a
	// 32-byte load of data just written in smaller pieces cannot be
	// forwarded from the store buffer and waits for the stores to reach
	// the cache.
	VMOVQ           0(R8), X9
	VPINSRQ         $1, 8(R8), X9, X9
	VMOVQ           16(R8), X12
	VPINSRQ         $1, 24(R8), X12, X12
	VINSERTI128     $1, X12, Y9, Y9
	VINSERTI64X4    $1, Y9, Z9, Z9
	VPADDQ          ctrInit<>(SB), Z9, Z9
	VMOVDQU64       ctrStep<>(SB), Z10
	VBROADCASTI64X4 (AX), Z13

group:
	TESTQ DX, DX
	JLE   vdone
	CMPQ  DX, $64
	JBE   vshort1
	CMPQ  DX, $128
	JBE   vshort2
	CMPQ  DX, $256
	JBE   vshort4

	VMOVDQA64 Z9, Z0
	VPADDQ    Z10, Z0, Z1
	VPADDQ    Z10, Z1, Z2
	VPADDQ    Z10, Z2, Z3
	VPADDQ    Z10, Z3, Z4
	VPADDQ    Z10, Z4, Z5
	VPADDQ    Z10, Z5, Z6
	VPADDQ    Z10, Z6, Z7
	VPADDQ    Z10, Z7, Z9
	VPXORQ    Z13, Z0, Z0
	VPXORQ    Z13, Z1, Z1
	VPXORQ    Z13, Z2, Z2
	VPXORQ    Z13, Z3, Z3
	VPXORQ    Z13, Z4, Z4
	VPXORQ    Z13, Z5, Z5
	VPXORQ    Z13, Z6, Z6
	VPXORQ    Z13, Z7, Z7
	LEAQ      32(AX), R9
	LEAQ      -1(CX), BX

vround:
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
	JNZ             vround

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

	CMPQ DX, $512
	JB   vpartial

	VPXORQ    0(SI), Z0, Z0
	VPXORQ    64(SI), Z1, Z1
	VPXORQ    128(SI), Z2, Z2
	VPXORQ    192(SI), Z3, Z3
	VPXORQ    256(SI), Z4, Z4
	VPXORQ    320(SI), Z5, Z5
	VPXORQ    384(SI), Z6, Z6
	VPXORQ    448(SI), Z7, Z7
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VMOVDQU64 Z5, 320(DI)
	VMOVDQU64 Z6, 384(DI)
	VMOVDQU64 Z7, 448(DI)
	ADDQ      $512, SI
	ADDQ      $512, DI
	SUBQ      $512, DX
	JMP       group

vpartial:
	// Keystream of the last group to the frame, then XOR 64 bytes at a
	// time, the last chunk under a byte mask.
	VMOVDQU64 Z0, 0(SP)
	VMOVDQU64 Z1, 64(SP)
	VMOVDQU64 Z2, 128(SP)
	VMOVDQU64 Z3, 192(SP)
	VMOVDQU64 Z4, 256(SP)
	VMOVDQU64 Z5, 320(SP)
	VMOVDQU64 Z6, 384(SP)
	VMOVDQU64 Z7, 448(SP)
	MOVQ      SP, R10

vchunk:
	CMPQ      DX, $64
	JB        vmask
	VMOVDQU64 (R10), Z0
	VPXORQ    (SI), Z0, Z0
	VMOVDQU64 Z0, (DI)
	ADDQ      $64, R10
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $64, DX
	JMP       vchunk

vmask:
	TESTQ      DX, DX
	JZ         vwipe
	MOVQ       $-1, R11
	MOVQ       DX, CX
	SHLQ       CX, R11
	NOTQ       R11
	KMOVQ      R11, K1
	VMOVDQU8.Z (SI), K1, Z1
	VPXORQ     (R10), Z1, Z1
	VMOVDQU8   Z1, K1, (DI)

vwipe:
	VPXORQ    Z0, Z0, Z0
	VMOVDQU64 Z0, 0(SP)
	VMOVDQU64 Z0, 64(SP)
	VMOVDQU64 Z0, 128(SP)
	VMOVDQU64 Z0, 192(SP)
	VMOVDQU64 Z0, 256(SP)
	VMOVDQU64 Z0, 320(SP)
	VMOVDQU64 Z0, 384(SP)
	VMOVDQU64 Z0, 448(SP)
	JMP       vdone

vshort1:
	// At most two blocks: one register, the counters in Z9.
	VPXORQ Z13, Z9, Z0
	LEAQ   32(AX), R9
	LEAQ   -1(CX), BX

vround1:
	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VAESENC         Z11, Z0, Z0
	ADDQ            $32, R9
	DECQ            BX
	JNZ             vround1

	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VAESENCLAST     Z11, Z0, Z0
	JMP             vtail

vshort2:
	// Three or four blocks: two registers.
	VPADDQ Z10, Z9, Z1
	VPXORQ Z13, Z9, Z0
	VPXORQ Z13, Z1, Z1
	LEAQ   32(AX), R9
	LEAQ   -1(CX), BX

vround2:
	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VPERMB          Z1, Z8, Z1
	VAESENC         Z11, Z0, Z0
	VAESENC         Z11, Z1, Z1
	ADDQ            $32, R9
	DECQ            BX
	JNZ             vround2

	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VPERMB          Z1, Z8, Z1
	VAESENCLAST     Z11, Z0, Z0
	VAESENCLAST     Z11, Z1, Z1
	JMP             vtail

vshort4:
	// Five to eight blocks: four registers.
	VPADDQ Z10, Z9, Z1
	VPADDQ Z10, Z1, Z2
	VPADDQ Z10, Z2, Z3
	VPXORQ Z13, Z9, Z0
	VPXORQ Z13, Z1, Z1
	VPXORQ Z13, Z2, Z2
	VPXORQ Z13, Z3, Z3
	LEAQ   32(AX), R9
	LEAQ   -1(CX), BX

vround4:
	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VPERMB          Z1, Z8, Z1
	VPERMB          Z2, Z8, Z2
	VPERMB          Z3, Z8, Z3
	VAESENC         Z11, Z0, Z0
	VAESENC         Z11, Z1, Z1
	VAESENC         Z11, Z2, Z2
	VAESENC         Z11, Z3, Z3
	ADDQ            $32, R9
	DECQ            BX
	JNZ             vround4

	VBROADCASTI64X4 (R9), Z11
	VPERMB          Z0, Z8, Z0
	VPERMB          Z1, Z8, Z1
	VPERMB          Z2, Z8, Z2
	VPERMB          Z3, Z8, Z3
	VAESENCLAST     Z11, Z0, Z0
	VAESENCLAST     Z11, Z1, Z1
	VAESENCLAST     Z11, Z2, Z2
	VAESENCLAST     Z11, Z3, Z3

vtail:
	// The keystream of the rest of the message (1..256 bytes) is in Z0 and
	// the registers after it: XOR whole registers, moving the next one
	// down into Z0, then the last part under a byte mask. A message ending
	// on a register boundary takes no masked store (which later loads of
	// the output could not forward from).
	CMPQ      DX, $64
	JB        vlast
	VPXORQ    (SI), Z0, Z0
	VMOVDQU64 Z0, (DI)
	SUBQ      $64, DX
	JZ        vdone
	ADDQ      $64, SI
	ADDQ      $64, DI
	VMOVDQA64 Z1, Z0
	VMOVDQA64 Z2, Z1
	VMOVDQA64 Z3, Z2
	JMP       vtail

vlast:
	MOVQ       DX, CX
	MOVQ       $-1, R11
	SHLQ       CX, R11
	NOTQ       R11
	KMOVQ      R11, K1
	VMOVDQU8.Z (SI), K1, Z4
	VPXORQ     Z4, Z0, Z0
	VMOVDQU8   Z0, K1, (DI)

vdone:
	VPXORQ     Z0, Z0, Z0
	VPXORQ     Z1, Z1, Z1
	VMOVDQA64  Z0, Z2
	VMOVDQA64  Z0, Z3
	VMOVDQA64  Z0, Z4
	VMOVDQA64  Z0, Z5
	VMOVDQA64  Z0, Z6
	VMOVDQA64  Z0, Z7
	VMOVDQA64  Z0, Z11
	VMOVDQA64  Z0, Z13
	VZEROUPPER
	RET
