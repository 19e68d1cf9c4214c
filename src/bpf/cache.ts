// Which syscalls the kernel's action cache (Linux 5.11+, seccomp_cache_prepare) marks as
// always-allowed: it runs the filter knowing only nr and arch, and caches a syscall only when
// that run reaches `ret SECCOMP_RET_ALLOW` without touching anything else.
import type { Abi } from '../arch/abi';
import { syscallsOf } from '../syscalls/table';
import {
  BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W,
  type Instruction,
} from '../kernel/instruction';
import { SECCOMP_DATA_ARCH, SECCOMP_DATA_NR, SECCOMP_RET_ALLOW } from '../kernel/seccomp';

/** The kernel's seccomp_is_const_allow, instruction for instruction. */
export function isConstAllow(program: readonly Instruction[], arch: number, nr: number): boolean {
  let reg = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, k, jt, jf } = program[pc]!;
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (k === SECCOMP_DATA_NR) reg = nr >>> 0;
        else if (k === SECCOMP_DATA_ARCH) reg = arch >>> 0;
        else return false;
        break;
      case BPF_RET | BPF_K: return k >>> 0 === SECCOMP_RET_ALLOW;
      case BPF_JMP | BPF_JA: pc += k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += reg === k ? jt : jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += reg >= k ? jt : jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += reg > k ? jt : jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (reg & k) !== 0 ? jt : jf; break;
      case BPF_ALU | BPF_AND | BPF_K: reg = (reg & k) >>> 0; break;
      default: return false;
    }
  }
  return false;
}

export interface CacheReport {
  readonly abi: Abi;
  /** Syscalls of the ABI's table the kernel caches as allowed. */
  readonly cached: readonly string[];
  /** Syscalls in the ABI's table. */
  readonly total: number;
}

/** Cacheable syscalls of one ABI (x32 numbers are never cached by the kernel: beyond its bitmap). */
export function cacheReport(program: readonly Instruction[], abi: Abi): CacheReport {
  const entries = syscallsOf(abi);
  const cached = abi.name === 'x32' ? [] : entries.filter((e) => isConstAllow(program, abi.auditArch, e.nr)).map((e) => e.name);
  return { abi, cached, total: entries.length };
}
