#include "textflag.h"

// func scanBytes(s string, marks *uint16) (sum, ctl, high, pipes uint32)
//
// Takes s 16 bytes at a time. The bytes after the last whole block are
// read with one more 16-byte load that stays inside s's memory page (ending
// at s's end, or starting at its start when the page goes on), and the
// lanes outside s are masked off. Sums, ORs and counts do not depend on
// the order of the bytes, so the lanes need no shifting; only the
// delimiter marks do.
TEXT ·scanBytes(SB), NOSPLIT, $0-40
	MOVQ  s_base+0(FP), SI
	MOVQ  s_len+8(FP), CX
	MOVQ  marks+16(FP), DI
	PXOR  X0, X0               // zero
	PXOR  X1, X1               // byte sums, two 64-bit lanes
	PXOR  X2, X2               // non-zero lanes: a control byte or DEL
	PXOR  X3, X3               // OR of the bytes
	PXOR  X9, X9               // delimiter counts, two 64-bit lanes
	MOVOU consts<>+0(SB), X4   // 0x20 ×16
	MOVOU consts<>+16(SB), X5  // 0x7F ×16
	MOVOU consts<>+32(SB), X10 // '|' ×16
	MOVOU consts<>+48(SB), X11 // 0x01 ×16
	MOVQ  CX, DX
	ANDQ  $15, DX              // bytes after the whole blocks
	SHRQ  $4, CX               // whole blocks
	JZ    tail

loop:
	MOVOU   (SI), X6
	POR     X6, X3
	MOVO    X4, X7
	PSUBUSB X6, X7             // non-zero where b < 0x20
	POR     X7, X2
	MOVO    X6, X7
	PCMPEQB X5, X7             // 0xFF where b is DEL
	POR     X7, X2
	MOVO    X6, X7
	PCMPEQB X10, X7            // 0xFF where b is '|'
	TESTQ   DI, DI
	JZ      count
	PMOVMSKB X7, AX
	MOVW    AX, (DI)
	ADDQ    $2, DI

count:
	PAND    X11, X7
	PSADBW  X0, X7
	PADDQ   X7, X9
	PSADBW  X0, X6
	PADDQ   X6, X1
	ADDQ    $16, SI
	DECQ    CX
	JNZ     loop

tail:
	TESTQ DX, DX
	JZ    done
	LEAQ  masks<>(SB), R8
	CMPQ  s_len+8(FP), $16
	JB    short
	MOVOU -16(SI)(DX*1), X6    // s's last 16 bytes: the top DX lanes are new
	MOVOU (R8)(DX*1), X8       // 0xFF in the top DX lanes
	MOVQ  $16, CX
	SUBQ  DX, CX               // the marks move down past the old lanes
	JMP   last

short:
	MOVQ  SI, AX
	ANDQ  $0xFFF, AX
	CMPQ  AX, $0xFF0
	JA    shortend
	MOVOU (SI), X6             // the page goes on: s is in the low DX lanes
	LEAQ  32(R8), AX
	SUBQ  DX, AX
	MOVOU (AX), X8             // 0xFF in the low DX lanes
	XORL  CX, CX
	JMP   last

shortend:
	MOVOU -16(SI)(DX*1), X6    // ends with s, starts before it in the same page
	MOVOU (R8)(DX*1), X8
	MOVQ  $16, CX
	SUBQ  DX, CX

last:
	PAND    X8, X6             // lanes outside s are zero from here on
	POR     X6, X3
	MOVO    X4, X7
	PSUBUSB X6, X7
	PAND    X8, X7             // a zeroed lane is no control byte
	POR     X7, X2
	MOVO    X6, X7
	PCMPEQB X5, X7
	POR     X7, X2
	MOVO    X6, X7
	PCMPEQB X10, X7
	TESTQ   DI, DI
	JZ      lastcount
	PMOVMSKB X7, AX
	SHRL    CX, AX
	MOVW    AX, (DI)

lastcount:
	PAND    X11, X7
	PSADBW  X0, X7
	PADDQ   X7, X9
	PSADBW  X0, X6
	PADDQ   X6, X1

done:
	MOVQ     X1, AX
	PSRLO    $8, X1
	MOVQ     X1, BX
	ADDQ     BX, AX
	MOVL     AX, sum+24(FP)
	PCMPEQB  X0, X2            // 0xFF where no control byte was seen
	PMOVMSKB X2, AX
	XORL     $0xFFFF, AX
	MOVL     AX, ctl+28(FP)
	PMOVMSKB X3, AX            // top bits: a byte above 0x7F
	MOVL     AX, high+32(FP)
	MOVQ     X9, AX
	PSRLO    $8, X9
	MOVQ     X9, BX
	ADDQ     BX, AX
	MOVL     AX, pipes+36(FP)
	RET

DATA consts<>+0(SB)/8, $0x2020202020202020
DATA consts<>+8(SB)/8, $0x2020202020202020
DATA consts<>+16(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA consts<>+24(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA consts<>+32(SB)/8, $0x7c7c7c7c7c7c7c7c
DATA consts<>+40(SB)/8, $0x7c7c7c7c7c7c7c7c
DATA consts<>+48(SB)/8, $0x0101010101010101
DATA consts<>+56(SB)/8, $0x0101010101010101
GLOBL consts<>(SB), RODATA|NOPTR, $64

// 16 zero bytes, 16 0xFF bytes, 16 zero bytes: 16 bytes from offset n
// have 0xFF in the top n lanes, from offset 32-n in the low n lanes.
DATA masks<>+0(SB)/8, $0
DATA masks<>+8(SB)/8, $0
DATA masks<>+16(SB)/8, $-1
DATA masks<>+24(SB)/8, $-1
DATA masks<>+32(SB)/8, $0
DATA masks<>+40(SB)/8, $0
GLOBL masks<>(SB), RODATA|NOPTR, $48
