// `tsjail run --late`: the policy's filter is loaded just before main() by a preload library
// (helper/tsjail-preload.c) instead of before execve, so it need not allow what the dynamic
// loader and libc's start-up do. Until then the command runs under a start-up filter: the
// policy plus unconditional allows for the loader's syscalls (the policy's own denials still
// win, by the most-restrictive rule). The kernel allows one notification listener per process
// and the late filter needs it, so a call the start-up filter refuses fails with ENOSYS and is
// not reported. Static programs have no loader: they get the policy before execve, as without
// --late.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../policy/model';
import { isKnownSyscallName } from '../syscalls/table';
import { readElf } from './elf';
import { nativePath } from './helper';

/** Where the command finds the late filter and the library (helper/tsjail-helper.c). */
export const LATE_FILTER_FD = 4;
export const LATE_LIBRARY_FD = 5;
export const LATE_PIPE_FD = 6;

/**
 * What runs between execve and main(): glibc's loader and start-up (measured with strace on
 * ls, python3, node, sh, git, perl here; 32-bit and older-libc spellings added), libselinux's
 * constructor (statfs), and the preload library itself (fstat, pread64, fcntl, write, close, seccomp).
 */
export const STARTUP_SYSCALLS: readonly string[] = [
  'execve', 'brk', 'arch_prctl', 'set_thread_area', 'set_tls', 'mmap', 'mmap2', 'munmap', 'mprotect',
  'access', 'faccessat', 'faccessat2', 'open', 'openat', 'close', 'read', 'pread64',
  'fstat', 'fstat64', 'newfstatat', 'fstatat64', 'stat', 'stat64', 'statx', 'statfs', 'statfs64', 'readlink', 'readlinkat',
  'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'getrlimit', 'ugetrlimit', 'getrandom', 'futex', 'futex_time64',
  'uname', 'fcntl', 'fcntl64', 'write', 'seccomp', 'exit_group',
].filter(isKnownSyscallName);

/** The policy widened by the start-up syscalls: what the command runs under until main(). */
export function startupPolicy<P extends Policy>(policy: P): P {
  return { ...policy, rules: [...policy.rules, { syscalls: STARTUP_SYSCALLS, action: { kind: 'allow' }, conditions: [], label: 'start-up (--late)' }] };
}

/** The file the jail will execute for `command`, as seen from the host (undefined if not found). */
function programFile(command: string, root: string, cwd: string, search: readonly string[]): string | undefined {
  if (command.includes('/')) return join(root, command.startsWith('/') ? '' : cwd, command);
  return search.map((dir) => join(root, dir, command)).find((p) => existsSync(p));
}

/** True when the command is a static ELF program: no loader runs, so --late cannot apply. */
export function isStaticProgram(command: string, root: string, cwd: string, search: readonly string[]): boolean {
  const file = programFile(command, root, cwd, search);
  const info = file ? readElf(file) : undefined;
  return info !== undefined && info.interp === undefined;
}

/** The environment additions that make the command load the library and find its filter. */
export function lateEnvironment(env: readonly string[]): string[] {
  const preload = `/proc/self/fd/${LATE_LIBRARY_FD}`;
  const existing = env.find((e) => e.startsWith('LD_PRELOAD='))?.slice('LD_PRELOAD='.length);
  return [
    ...env.filter((e) => !e.startsWith('LD_PRELOAD=')),
    `LD_PRELOAD=${existing ? `${preload} ${existing}` : preload}`,
    `TSJAIL_LATE_FILTER_FD=${LATE_FILTER_FD}`,
    `TSJAIL_LATE_LIBRARY_FD=${LATE_LIBRARY_FD}`,
    `TSJAIL_LATE_PIPE_FD=${LATE_PIPE_FD}`,
  ];
}

/** The preload library's bytes, handed to the command in a sealed memfd. */
export function preloadLibrary(): Uint8Array {
  return readFileSync(nativePath('preload'));
}
