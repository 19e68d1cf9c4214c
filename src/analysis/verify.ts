// `tsjail verify`: proves that a seccomp program implements a policy, on every path. The
// program and the policy's reference program (referenceProgram.ts) are walked together over
// symbolic seccomp_data (src/bpf/diff.ts): no input is sampled, so "no difference" is a proof
// and each difference found is a region of real calls, given with one of them.
import type { Abi, Endian } from '../arch/abi';
import { diffPrograms, type Difference } from '../bpf/diff';
import { verifyProgram } from '../bpf/verify';
import {
  BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_MAXINSNS, BPF_RET, BPF_W,
  decodeProgram, SIZEOF_SOCK_FILTER, type Instruction,
} from '../kernel/instruction';
import { describeDataOffset, describeRet, SECCOMP_DATA_IP, SECCOMP_DATA_NR } from '../kernel/seccomp';
import { abiOfCall } from '../policy/evaluate';
import { PolicyError } from '../policy/errors';
import type { Policy } from '../policy/model';
import { targetAbis } from '../policy/resolve';
import { syscallName } from '../syscalls/table';
import { describeWord, example, syscallsIn, type PolicyDifference } from './diff';
import { referenceProgram } from './referenceProgram';

/** A program verify cannot judge: not one the kernel would load, or outside what the walk follows. */
export class ProgramError extends Error {}

/** The opcodes the exact walk follows: all that tsjail and libseccomp emit. */
const FOLLOWED: ReadonlySet<number> = new Set([
  BPF_LD | BPF_W | BPF_ABS, BPF_ALU | BPF_AND | BPF_K, BPF_JMP | BPF_JA, BPF_RET | BPF_K,
  ...[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].map((op) => BPF_JMP | op | BPF_K),
]);

/** Raw `struct sock_filter[]` bytes as a program, or a ProgramError saying what is wrong with them. */
export function decodeFilter(bytes: Uint8Array, endian: Endian, file: string): Instruction[] {
  if (bytes.length === 0) throw new ProgramError(`${file}: empty (a seccomp program has 1 to ${BPF_MAXINSNS} instructions)`);
  if (bytes.length % SIZEOF_SOCK_FILTER) {
    throw new ProgramError(`${file}: ${bytes.length} bytes, not a multiple of ${SIZEOF_SOCK_FILTER} (a raw program is struct sock_filter[], as tsjail compile -o or seccomp_export_bpf writes it)`);
  }
  if (bytes.length / SIZEOF_SOCK_FILTER > BPF_MAXINSNS) {
    throw new ProgramError(`${file}: ${bytes.length / SIZEOF_SOCK_FILTER} instructions, over the kernel's limit of ${BPF_MAXINSNS} (the kernel would refuse it)`);
  }
  return decodeProgram(bytes, endian);
}

/** A region where the program and the policy differ: `program` is what the program returns, `policy` what the policy means. */
export type VerifyDifference = Omit<PolicyDifference, 'a' | 'b'> & { readonly program: string; readonly policy: string };

export interface VerifyReport {
  readonly abis: readonly Abi[];
  /** Instructions of the program and of the reference it was proven against. */
  readonly programLength: number;
  readonly referenceLength: number;
  /** How many regions differ: 0 means the program implements the policy on every input. */
  readonly regions: number;
  /** The first regions (all, or as many as `limit` asked for), described. */
  readonly differences: readonly VerifyDifference[];
}

/** The kernel's checks first (verify judges only loadable programs), then the walk's fragment. */
function checkProgram(program: readonly Instruction[], file: string): void {
  const problems = verifyProgram(program);
  if (problems.length) {
    const shown = problems.slice(0, 5).join('; ');
    throw new ProgramError(`${file}: the kernel would refuse this program: ${shown}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
  }
  const pc = program.findIndex((ins) => !FOLLOWED.has(ins.code));
  if (pc >= 0) {
    throw new ProgramError(`${file}: pc ${pc}: opcode 0x${program[pc]!.code.toString(16)} is outside what verify follows (ld [k], and k, jeq/jgt/jge/jset k, ja, ret k: what tsjail and libseccomp emit)`);
  }
}

export interface VerifyOptions {
  /** Target ABIs (names or aliases); default: the policy's, else the host's. */
  readonly arch?: readonly string[];
  /** The program's name in messages. */
  readonly file?: string;
  /** Describe at most this many regions (describing one costs a look at every syscall). */
  readonly limit?: number;
}

/** Proves `program` implements `policy` on its target ABIs (or `arch`), or lists where it does not. */
export function verifyFilter(policy: Policy, program: readonly Instruction[], options: VerifyOptions = {}): VerifyReport {
  const file = options.file ?? 'the program';
  const abis = targetAbis(policy, options.arch);
  const endian = abis[0]!.endian;
  const mixed = abis.find((a) => a.endian !== endian);
  if (mixed) throw new PolicyError(`${abis[0]!.name} and ${mixed.name} differ in byte order, so no one program holds both`, undefined, 'verify one program per byte order (--arch)');
  checkProgram(program, file);
  const reference = referenceProgram(policy, abis);
  let found: Difference[];
  try {
    found = diffPrograms(program, reference);
  } catch (e) {
    // The walk stops on a path it cannot follow exactly (a test before any load: of the initial
    // A = 0): the program is valid, but verify cannot decide it.
    throw new ProgramError(`${file}: ${(e as Error).message}: verify cannot decide this program`);
  }
  const differences = found.slice(0, options.limit ?? found.length).map((d): VerifyDifference => {
    const call = example(d, endian);
    const abi = abiOfCall(abis, call.arch, call.nr);
    const others = [...d.constraints].filter(([offset]) => offset >= SECCOMP_DATA_IP).sort((x, y) => x[0] - y[0]);
    return {
      abi: abi?.name ?? `arch 0x${call.arch.toString(16)} (not a target)`,
      syscalls: abi ? syscallsIn([abi], call.arch, d.constraints.get(SECCOMP_DATA_NR)) : [],
      args: others.flatMap(([offset, c]) => describeWord(c).map((t) => `${describeDataOffset(offset, endian)} ${t}`)),
      program: describeRet(d.a), policy: describeRet(d.b), example: call,
    };
  });
  return { abis, programLength: program.length, referenceLength: reference.length, regions: found.length, differences };
}

/** verifyFilter on raw `struct sock_filter[]` bytes, read in the byte order of the policy's targets. */
export function verifyFilterFile(policy: Policy, bytes: Uint8Array, options: VerifyOptions & { readonly file: string }): VerifyReport {
  const endian = targetAbis(policy, options.arch)[0]!.endian;
  return verifyFilter(policy, decodeFilter(bytes, endian, options.file), options);
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** `openat(0x0, 0x2, ...) [x86_64 nr 257]`: the call as a reader would write it. */
export function describeCall(d: VerifyDifference, abis: readonly Abi[]): string {
  const c = d.example;
  const abi = abiOfCall(abis, c.arch, c.nr);
  const name = abi ? syscallName(abi, c.nr) ?? `nr ${c.nr}` : `nr ${c.nr}`;
  const args = (c.args ?? []).map(hex).join(', ');
  const ip = c.instructionPointer !== undefined ? `, ip ${hex(c.instructionPointer)}` : '';
  return `${name}(${args}) [arch ${hex(c.arch)}, nr ${hex(c.nr)}${ip}]`;
}

/**
 * The report as `tsjail verify` prints it: a proof line, or the regions (those that differ alike
 * on one ABI, with the same argument constraints, on one line) each with one call in it.
 */
export function formatVerifyReport(r: VerifyReport, names: { readonly program: string; readonly policy: string }, lineLimit = 20): string {
  const on = r.abis.map((a) => a.name).join(', ');
  if (!r.regions) {
    return `proven: ${names.program} (${r.programLength} instructions) implements ${names.policy} on ${on}, on every path (reference: ${r.referenceLength} instructions)\n`;
  }
  const groups = new Map<string, { readonly first: VerifyDifference; readonly syscalls: string[] }>();
  for (const d of r.differences) {
    const key = JSON.stringify([d.abi, d.args, d.program, d.policy]);
    const group = groups.get(key) ?? groups.set(key, { first: d, syscalls: [] }).get(key)!;
    group.syscalls.push(...d.syscalls);
  }
  const lines = [`${names.program} differs from ${names.policy} on ${on} in ${r.regions} region${r.regions > 1 ? 's' : ''}:`];
  for (const { first: d, syscalls } of [...groups.values()].slice(0, lineLimit)) {
    const calls = syscalls.length > 6 ? `${syscalls.slice(0, 6).join(', ')} and ${syscalls.length - 6} more` : syscalls.join(', ');
    lines.push(`${d.abi}: ${calls || '(any call)'}${d.args.length ? ` where ${d.args.join(', ')}` : ''}: program ${d.program}, policy ${d.policy}`);
    lines.push(`  e.g. ${describeCall(d, r.abis)}`);
  }
  const undescribed = r.regions - r.differences.length;
  if (groups.size > lineLimit || undescribed) lines.push(`and more: ${groups.size > lineLimit ? `${groups.size - lineLimit} lines like these` : ''}${groups.size > lineLimit && undescribed ? ', ' : ''}${undescribed ? `${undescribed} regions not described` : ''} (--json lists every region)`);
  return `${lines.join('\n')}\n`;
}
