// Runs a seccomp program on a seccomp_data exactly as the kernel does (classic BPF as
// converted by bpf_convert_filter: 32-bit ALU, division by zero returns 0, loads only of
// aligned words inside seccomp_data).
import type { Endian } from '../arch/abi';
import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP,
  BPF_JSET, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MISC, BPF_MOD, BPF_MUL, BPF_NEG, BPF_OR,
  BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_W, BPF_X, BPF_XOR,
  bpfClass, bpfMode, bpfOp, bpfSize, bpfSrc, type Instruction,
} from '../kernel/instruction';
import { encodeSeccompData, SIZEOF_SECCOMP_DATA, type SeccompData } from '../kernel/seccomp';

export interface EmulationResult {
  readonly ret: number;
  /** Instructions executed, the `ret` included. */
  readonly executed: number;
  /** Program counters in execution order. */
  readonly path: readonly number[];
}

export class EmulationError extends Error {}

export function emulate(program: readonly Instruction[], data: SeccompData, endian: Endian): EmulationResult {
  const bytes = encodeSeccompData(data, endian);
  const view = new DataView(bytes.buffer);
  const le = endian === 'little';
  const mem = new Uint32Array(16);
  let a = 0;
  let x = 0;
  const path: number[] = [];
  for (let pc = 0; pc < program.length; pc++) {
    const ins = program[pc]!;
    path.push(pc);
    const { code, k } = ins;
    const src = bpfSrc(code) === BPF_X ? x : k;
    switch (bpfClass(code)) {
      case BPF_LD:
        if (bpfMode(code) === BPF_ABS && bpfSize(code) === BPF_W) {
          if (k >= SIZEOF_SECCOMP_DATA || k & 3) throw new EmulationError(`pc ${pc}: load of [${k}] outside seccomp_data`);
          a = view.getUint32(k, le);
        } else if (bpfMode(code) === BPF_IMM) a = k;
        else if (bpfMode(code) === BPF_MEM) a = mem[k & 15]!;
        else if (bpfMode(code) === BPF_LEN) a = SIZEOF_SECCOMP_DATA;
        else throw new EmulationError(`pc ${pc}: load mode 0x${code.toString(16)} is not allowed in seccomp`);
        break;
      case BPF_LDX:
        if (bpfMode(code) === BPF_IMM) x = k;
        else if (bpfMode(code) === BPF_MEM) x = mem[k & 15]!;
        else if (bpfMode(code) === BPF_LEN) x = SIZEOF_SECCOMP_DATA;
        else throw new EmulationError(`pc ${pc}: ldx mode 0x${code.toString(16)} is not allowed in seccomp`);
        break;
      case BPF_ST: mem[k & 15] = a; break;
      case BPF_STX: mem[k & 15] = x; break;
      case BPF_ALU:
        switch (bpfOp(code)) {
          case BPF_ADD: a = (a + src) >>> 0; break;
          case BPF_SUB: a = (a - src) >>> 0; break;
          case BPF_MUL: a = Math.imul(a, src) >>> 0; break;
          case BPF_DIV: if (src === 0) return { ret: 0, executed: path.length, path }; a = Math.floor(a / src) >>> 0; break;
          case BPF_MOD: if (src === 0) return { ret: 0, executed: path.length, path }; a = (a % src) >>> 0; break;
          case BPF_OR: a = (a | src) >>> 0; break;
          case BPF_AND: a = (a & src) >>> 0; break;
          case BPF_XOR: a = (a ^ src) >>> 0; break;
          case BPF_LSH: a = (a << (src & 31)) >>> 0; break;
          case BPF_RSH: a = a >>> (src & 31); break;
          case BPF_NEG: a = (-a) >>> 0; break;
          default: throw new EmulationError(`pc ${pc}: unknown ALU op 0x${code.toString(16)}`);
        }
        break;
      case BPF_JMP: {
        const op = bpfOp(code);
        if (op === BPF_JA) { pc += k; break; }
        let taken: boolean;
        if (op === BPF_JEQ) taken = a === src;
        else if (op === BPF_JGT) taken = a > src;
        else if (op === BPF_JGE) taken = a >= src;
        else if (op === BPF_JSET) taken = (a & src) !== 0;
        else throw new EmulationError(`pc ${pc}: unknown jump 0x${code.toString(16)}`);
        pc += taken ? ins.jt : ins.jf;
        break;
      }
      case BPF_RET:
        return { ret: ((code & 0x18) === BPF_A ? a : (code & 0x18) === BPF_X ? x : k) >>> 0, executed: path.length, path };
      case BPF_MISC:
        if ((code & 0xf8) === BPF_TAX) x = a; else a = x;
        break;
    }
  }
  throw new EmulationError('the program ran off its end without a ret');
}
