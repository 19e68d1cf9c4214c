// Classic BPF instructions as the kernel's `struct sock_filter` (linux/filter.h, linux/bpf_common.h).

export interface Instruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

// Instruction classes
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
// ld/ldx sizes and modes
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
// alu/jmp operations
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
// sources
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
// misc
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;

export const bpfClass = (code: number): number => code & 0x07;
export const bpfSize = (code: number): number => code & 0x18;
export const bpfMode = (code: number): number => code & 0xe0;
export const bpfOp = (code: number): number => code & 0xf0;
export const bpfSrc = (code: number): number => code & 0x08;

export function stmt(code: number, k: number): Instruction {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

export function jump(code: number, k: number, jt: number, jf: number): Instruction {
  return { code, jt, jf, k: k >>> 0 };
}

export const SIZEOF_SOCK_FILTER = 8;

/** Encodes instructions as `struct sock_filter[]` in the target's byte order. */
export function encodeProgram(program: readonly Instruction[], endian: 'little' | 'big'): Uint8Array {
  const buf = new Uint8Array(program.length * SIZEOF_SOCK_FILTER);
  const view = new DataView(buf.buffer);
  const le = endian === 'little';
  program.forEach((ins, i) => {
    const o = i * SIZEOF_SOCK_FILTER;
    view.setUint16(o, ins.code, le);
    view.setUint8(o + 2, ins.jt);
    view.setUint8(o + 3, ins.jf);
    view.setUint32(o + 4, ins.k >>> 0, le);
  });
  return buf;
}

/** Decodes `struct sock_filter[]` bytes. */
export function decodeProgram(bytes: Uint8Array, endian: 'little' | 'big'): Instruction[] {
  if (bytes.length % SIZEOF_SOCK_FILTER !== 0) {
    throw new Error(`a BPF program is a multiple of 8 bytes; this one has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = endian === 'little';
  const out: Instruction[] = [];
  for (let o = 0; o < bytes.length; o += SIZEOF_SOCK_FILTER) {
    out.push({ code: view.getUint16(o, le), jt: view.getUint8(o + 2), jf: view.getUint8(o + 3), k: view.getUint32(o + 4, le) });
  }
  return out;
}
