// Size and speed figures of a program: what `--stats` prints and the benchmark compares.
import type { Abi } from '../arch/abi';
import { syscallsOf } from '../syscalls/table';
import { cacheReport } from '../bpf/cache';
import { emulate } from '../bpf/emulator';
import type { SyscallWeights } from '../policy/model';
import { weightsByNumber } from '../policy/weights';
import { BPF_JA, BPF_JMP, BPF_RET, type Instruction } from '../kernel/instruction';

export interface ProgramStats {
  readonly instructions: number;
  /** The longest path through the program, in instructions executed (args included). */
  readonly worstPath: number;
  /** Mean instructions executed over every syscall of the ABI (arguments zero). */
  readonly meanExecuted: number;
  /** Syscalls the kernel caches as always allowed. */
  readonly cacheable: number;
  readonly syscalls: number;
}

/** Longest path from pc 0: jumps only go forward, so one backward sweep suffices. */
export function worstPath(program: readonly Instruction[]): number {
  const longest = new Array<number>(program.length).fill(0);
  for (let pc = program.length - 1; pc >= 0; pc--) {
    const { code, jt, jf, k } = program[pc]!;
    if ((code & 0x07) === BPF_RET) longest[pc] = 1;
    else if ((code & 0x07) === BPF_JMP && (code & 0xf0) === BPF_JA) longest[pc] = 1 + longest[pc + 1 + k]!;
    else if ((code & 0x07) === BPF_JMP) longest[pc] = 1 + Math.max(longest[pc + 1 + jt]!, longest[pc + 1 + jf]!);
    else longest[pc] = 1 + longest[pc + 1]!;
  }
  return longest[0]!;
}

export function programStats(program: readonly Instruction[], abi: Abi): ProgramStats {
  const entries = syscallsOf(abi);
  const total = entries.reduce((sum, e) => sum + emulate(program, { nr: e.nr, arch: abi.auditArch }, abi.endian).executed, 0);
  return {
    instructions: program.length,
    worstPath: worstPath(program),
    meanExecuted: total / entries.length,
    cacheable: cacheReport(program, abi).cached.length,
    syscalls: entries.length,
  };
}

/**
 * Mean instructions executed per call of a call mix on one ABI (arguments zero): every call
 * counted, as on a kernel without the action cache or for calls it cannot cache.
 */
export function meanPerCall(program: readonly Instruction[], abi: Abi, weights: SyscallWeights): number {
  let calls = 0, executed = 0;
  for (const [nr, count] of weightsByNumber(weights, [abi])) {
    calls += count;
    executed += count * emulate(program, { nr, arch: abi.auditArch }, abi.endian).executed;
  }
  if (!calls) throw new Error(`the call mix has no call on ${abi.name}`);
  return executed / calls;
}
