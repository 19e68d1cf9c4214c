// The kernel's checks for a seccomp filter: bpf_check_classic (net/core/filter.c) and
// seccomp_check_filter (kernel/seccomp.c). Returns every problem found; empty = accepted.
import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP,
  BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS, BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD,
  BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR,
  type Instruction,
} from '../kernel/instruction';
import { SIZEOF_SECCOMP_DATA } from '../kernel/seccomp';

const ALU_OPS = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH];
const COND_JUMPS = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET];

/** Opcodes seccomp accepts (after it rewrites `ld len`). */
const SECCOMP_CODES: ReadonlySet<number> = new Set([
  BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN,
  BPF_RET | BPF_K, BPF_RET | BPF_A,
  ...ALU_OPS.flatMap((op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X]), BPF_ALU | BPF_NEG,
  BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
  BPF_JMP | BPF_JA, ...COND_JUMPS.flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

function isCondJump(code: number): boolean {
  return (code & 0x07) === BPF_JMP && (code & 0xf0) !== BPF_JA;
}

export function verifyProgram(program: readonly Instruction[]): string[] {
  const problems: string[] = [];
  const n = program.length;
  if (n === 0) return ['the program is empty'];
  if (n > BPF_MAXINSNS) problems.push(`${n} instructions exceed the kernel's limit of ${BPF_MAXINSNS}`);
  program.forEach((ins, pc) => {
    const { code, k } = ins;
    const at = `pc ${pc}`;
    if (!SECCOMP_CODES.has(code)) { problems.push(`${at}: opcode 0x${code.toString(16)} is not allowed in a seccomp filter`); return; }
    if (code === (BPF_LD | BPF_W | BPF_ABS) && (k >= SIZEOF_SECCOMP_DATA || k & 3)) {
      problems.push(`${at}: load of offset ${k} is outside seccomp_data or not 4-byte aligned`);
    }
    if ((code === (BPF_ALU | BPF_DIV | BPF_K) || code === (BPF_ALU | BPF_MOD | BPF_K)) && k === 0) problems.push(`${at}: division by constant 0`);
    if ((code === (BPF_ALU | BPF_LSH | BPF_K) || code === (BPF_ALU | BPF_RSH | BPF_K)) && k >= 32) problems.push(`${at}: shift by ${k}`);
    if ([BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX].includes(code) && k >= BPF_MEMWORDS) problems.push(`${at}: scratch word ${k} does not exist`);
    if (code === (BPF_JMP | BPF_JA) && k >= n - pc - 1) problems.push(`${at}: ja ${k} jumps past the end`);
    if (isCondJump(code) && (pc + ins.jt + 1 >= n || pc + ins.jf + 1 >= n)) problems.push(`${at}: branch jumps past the end`);
  });
  if ((program[n - 1]!.code & 0x07) !== BPF_RET) problems.push('the last instruction is not a ret');
  if (!problems.length) problems.push(...checkLoadAndStores(program));
  return problems;
}

/** The kernel's check that scratch memory is written before it is read on every path. */
function checkLoadAndStores(program: readonly Instruction[]): string[] {
  const masks = new Array<number>(program.length).fill(0xffff);
  let valid = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, k, jt, jf } = program[pc]!;
    valid &= masks[pc]!;
    if (code === BPF_ST || code === BPF_STX) valid |= 1 << k;
    else if (code === (BPF_LD | BPF_MEM) || code === (BPF_LDX | BPF_MEM)) {
      if (!(valid & (1 << k))) return [`pc ${pc}: scratch word ${k} is read before it is written`];
    } else if (code === (BPF_JMP | BPF_JA)) {
      masks[pc + 1 + k]! &= valid;
      valid = 0xffff;
    } else if (isCondJump(code)) {
      masks[pc + 1 + jt]! &= valid;
      masks[pc + 1 + jf]! &= valid;
      valid = 0xffff;
    }
  }
  return [];
}
