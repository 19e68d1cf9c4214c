// `tsjail run --late`: the policy decides alone only from main() on, so it need not allow what
// the dynamic loader and libc's start-up do. The policy's filter is loaded before execve as in
// every run, with tsjail holding its notification listener (so no code in the jail can install
// another). Until the preload library (helper/tsjail-preload.c) reports that main() is next,
// tsjail lets the start-up syscalls the policy stops through (the start-up policy: the policy
// plus unconditional allows for them; the policy's own denials still win, by the
// most-restrictive rule); after it, the policy alone decides. Static programs have no loader:
// the policy applies from execve, as without --late.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../policy/model';
import { isKnownSyscallName } from '../syscalls/table';
import { readElf } from './elf';
import { nativeLibrary } from './helper';

/** Where the command finds the preload library (helper/tsjail-helper.c). */
export const LATE_LIBRARY_FD = 4;

/**
 * What runs between execve and main(): glibc's loader and start-up (measured with strace on
 * ls, python3, node, sh, git, perl here; 32-bit and older-libc spellings added), libselinux's
 * constructor (statfs), and the preload library itself (close).
 */
export const STARTUP_SYSCALLS: readonly string[] = [
  'execve', 'brk', 'arch_prctl', 'set_thread_area', 'set_tls', 'mmap', 'mmap2', 'munmap', 'mprotect',
  'access', 'faccessat', 'faccessat2', 'open', 'openat', 'close', 'read', 'pread64',
  'fstat', 'fstat64', 'newfstatat', 'fstatat64', 'stat', 'stat64', 'statx', 'statfs', 'statfs64', 'readlink', 'readlinkat',
  'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'getrlimit', 'ugetrlimit', 'getrandom', 'futex', 'futex_time64',
  'uname', 'exit_group',
].filter(isKnownSyscallName);

/** The policy widened by the start-up syscalls: what decides until main(). */
export function startupPolicy<P extends Policy>(policy: P): P {
  return { ...policy, rules: [...policy.rules, { syscalls: STARTUP_SYSCALLS, action: { kind: 'allow' }, conditions: [], label: 'start-up (--late)' }] };
}

/** The file the jail will execute for `command`, as seen from the host (undefined if not found). */
function programFile(command: string, root: string, cwd: string, search: readonly string[]): string | undefined {
  if (command.includes('/')) return join(root, command.startsWith('/') ? '' : cwd, command);
  return search.map((dir) => join(root, dir, command)).find((p) => existsSync(p));
}

/** True when the command is a static ELF program: no loader runs, so the policy applies from execve. */
export function isStaticProgram(command: string, root: string, cwd: string, search: readonly string[]): boolean {
  const file = programFile(command, root, cwd, search);
  const info = file ? readElf(file) : undefined;
  return info !== undefined && info.interp === undefined;
}

/** The environment with the preload library added (before any LD_PRELOAD of the caller's). */
export function lateEnvironment(env: readonly string[]): string[] {
  const preload = `/proc/self/fd/${LATE_LIBRARY_FD}`;
  const existing = env.find((e) => e.startsWith('LD_PRELOAD='))?.slice('LD_PRELOAD='.length);
  return [
    ...env.filter((e) => !e.startsWith('LD_PRELOAD=')),
    `LD_PRELOAD=${existing ? `${preload} ${existing}` : preload}`,
    `TSJAIL_LATE_LIBRARY_FD=${LATE_LIBRARY_FD}`,
  ];
}

/** The preload library's bytes, handed to the command in a sealed memfd: the very bytes checked against helper/tsjail-preload.c. */
export function preloadLibrary(): Uint8Array {
  return nativeLibrary('preload').bytes;
}
