// Syscalls newer than the policy: numbers above the highest one the policy knows on an ABI
// return ENOSYS instead of the default action, so libc falls back to an older call (as it does
// on an older kernel) instead of failing on EPERM. runc does this for every OCI profile (its
// patchbpf stub); a TS policy asks for it with `newerSyscalls: 'enosys'`.
import type { Abi } from '../arch/abi';
import { errnoNumber } from '../kernel/errno';
import { SECCOMP_RET_ERRNO } from '../kernel/seccomp';
import { syscallNumber } from '../syscalls/table';
import type { Policy } from './model';

/** Where ENOSYS replaces the default action on one ABI. */
export interface NewerSyscalls {
  /** The highest number the policy knows: every number above it, except -1 (a tracer's skip). */
  readonly above: number;
  /** Numbers below it too: s390's unknown large numbers arrive as 0 (setup(2), long gone). */
  readonly also: readonly number[];
  readonly ret: number;
}

/** -1: a tracer skipped the call; it keeps the default. */
export const NR_SKIP = 0xffffffff;

/**
 * The ENOSYS region of `policy` on `abi`, or undefined where numbers above take the default: when
 * the policy does not ask, when its default is already permissive (allow, log, trace) or ENOSYS
 * (runc skips its stub there too), or when it knows no syscall of this ABI above 0.
 */
export function newerSyscalls(policy: Policy, abi: Abi): NewerSyscalls | undefined {
  if (policy.newerSyscalls !== 'enosys') return undefined;
  const d = policy.defaultAction;
  const enosys = errnoNumber('ENOSYS', abi.name)!;
  if (d.kind === 'allow' || d.kind === 'log' || d.kind === 'trace') return undefined;
  if (d.kind === 'errno' && (typeof d.errno === 'string' ? errnoNumber(d.errno, abi.name) : d.errno) === enosys) return undefined;
  let above = 0;
  for (const name of [...policy.rules.flatMap((r) => r.syscalls), ...(policy.knownSyscalls ?? [])]) {
    const nr = syscallNumber(abi, name);
    if (nr !== undefined && nr > above) above = nr;
  }
  if (above === 0) return undefined;
  return { above, also: abi.name === 's390' || abi.name === 's390x' ? [0] : [], ret: (SECCOMP_RET_ERRNO | enosys) >>> 0 };
}

/** Whether `nr` (a number of `abi`) is one the ENOSYS region takes. */
export function isNewerSyscall(region: NewerSyscalls, nr: number): boolean {
  const n = nr >>> 0;
  return (n > region.above && n !== NR_SKIP) || region.also.includes(n);
}
