#include "textflag.h"

// func scanBlocks(s string) (sum, ctl, high uint32)
TEXT ·scanBlocks(SB), NOSPLIT, $0-28
	MOVQ  s_base+0(FP), SI
	MOVQ  s_len+8(FP), CX
	PXOR  X0, X0               // zero
	PXOR  X1, X1               // two 64-bit sums
	PXOR  X2, X2               // OR of 0x20-b (saturated) and b==DEL: control bytes
	PXOR  X3, X3               // OR of the bytes: high bytes
	MOVOU spaces<>(SB), X4
	MOVOU dels<>(SB), X5
	SHRQ  $4, CX
	JZ    done

loop:
	MOVOU   (SI), X6
	POR     X6, X3
	MOVO    X4, X7
	PSUBUSB X6, X7             // non-zero where b < 0x20
	POR     X7, X2
	MOVO    X6, X7
	PCMPEQB X5, X7             // 0xFF where b == 0x7F
	POR     X7, X2
	PSADBW  X0, X6             // sum of each 8-byte half
	PADDQ   X6, X1
	ADDQ    $16, SI
	DECQ    CX
	JNZ     loop

done:
	MOVQ     X1, AX
	PSRLO    $8, X1
	MOVQ     X1, BX
	ADDQ     BX, AX
	MOVL     AX, sum+16(FP)
	PCMPEQB  X0, X2            // 0xFF where no control byte was seen
	PMOVMSKB X2, AX
	XORL     $0xFFFF, AX
	MOVL     AX, ctl+20(FP)
	PMOVMSKB X3, AX            // top bits: a byte above 0x7F
	MOVL     AX, high+24(FP)
	RET

DATA spaces<>+0(SB)/8, $0x2020202020202020
DATA spaces<>+8(SB)/8, $0x2020202020202020
GLOBL spaces<>(SB), RODATA|NOPTR, $16

DATA dels<>+0(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA dels<>+8(SB)/8, $0x7f7f7f7f7f7f7f7f
GLOBL dels<>(SB), RODATA|NOPTR, $16
