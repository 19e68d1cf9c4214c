// Learned profiles generalize: a program that used one call of a class gets the calls that do the
// same thing with no more privilege, the calls that timing or the disk's state decides, and
// argument pins widened where that is safe. Nothing is added that the built-in policy does not
// allow unconditionally on that ABI (decided by the reference evaluator on defaultPolicy()), so
// generalizing never crosses a privilege line: no class joins open with openat2, clone with
// unshare or clone3, and nothing of the built-in's dangerous groups is ever added.
import type { Abi } from '../arch/abi';
import { SECCOMP_RET_ALLOW } from '../kernel/seccomp';
import * as C from '../kernel/constants';
import { evaluatePolicy } from '../policy/evaluate';
import type { Policy } from '../policy/model';
import { syscallArgs, syscallNumber } from '../syscalls/table';
import { defaultPolicy } from './defaultPolicy';
import type { Learned } from './learn';

/** Calls that do the same thing with the same privilege: which one a program makes is its libc's or its run's choice. */
export interface SyscallClass {
  readonly name: string;
  readonly members: readonly string[];
  readonly reason: string;
}

export const SYSCALL_CLASSES: readonly SyscallClass[] = [
  { name: 'poll family', members: ['poll', 'ppoll', 'select', '_newselect', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2'],
    reason: 'waiting for file descriptors: event loops (libuv, Python selectors) pick the mechanism at run time' },
  { name: 'child waits', members: ['wait4', 'waitid', 'waitpid'], reason: 'waiting for a child process: libcs and shells use either' },
  { name: 'signal waits', members: ['rt_sigsuspend', 'pause', 'rt_sigtimedwait', 'rt_sigtimedwait_time64'],
    reason: 'sleeping until a signal: whether a shell suspends for SIGCHLD depends on whether the child already exited' },
  { name: 'stat family', members: ['stat', 'lstat', 'fstat', 'newfstatat', 'statx', 'stat64', 'lstat64', 'fstat64', 'fstatat64'],
    reason: 'reading a file\'s metadata: libc picks by version, path or descriptor' },
  { name: 'statfs family', members: ['statfs', 'fstatfs', 'statfs64', 'fstatfs64'], reason: 'reading a file system\'s metadata, by path or descriptor' },
  { name: 'reads', members: ['read', 'readv', 'pread64', 'preadv', 'preadv2'], reason: 'reading an open descriptor, at its offset or a given one' },
  { name: 'writes', members: ['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2'], reason: 'writing an open descriptor, at its offset or a given one' },
  { name: 'copies between descriptors', members: ['sendfile', 'sendfile64', 'copy_file_range', 'splice'],
    reason: 'copying between open descriptors: which one works depends on the file systems of the run' },
  { name: 'clocks and sleeps', members: ['clock_gettime', 'clock_gettime64', 'gettimeofday', 'time', 'clock_getres', 'clock_getres_time64', 'clock_nanosleep', 'clock_nanosleep_time64', 'nanosleep'],
    reason: 'reading the clock and sleeping: the vDSO answers most reads, a fallback reaches the kernel' },
  { name: 'futex and yield', members: ['futex', 'sched_yield'], reason: 'threads waiting for each other: contention, and so the call, depends on timing' },
  { name: 'directory listing', members: ['getdents', 'getdents64'], reason: 'reading a directory, in the old or the 64-bit format' },
  { name: 'descriptor copies', members: ['dup', 'dup2', 'dup3'], reason: 'duplicating a descriptor the program already has' },
  { name: 'pipes', members: ['pipe', 'pipe2'], reason: 'creating a pipe, with or without flags' },
  { name: 'access checks', members: ['access', 'faccessat', 'faccessat2'], reason: 'checking a path\'s permissions' },
  { name: 'symlink reads', members: ['readlink', 'readlinkat'], reason: 'reading a symlink' },
  { name: 'removals', members: ['unlink', 'unlinkat', 'rmdir'], reason: 'removing a name: whether it is a file or an empty directory is the disk\'s state (git, npm)' },
  { name: 'directory creation', members: ['mkdir', 'mkdirat'], reason: 'creating a directory by path or relative to a descriptor' },
  { name: 'renames', members: ['rename', 'renameat', 'renameat2'], reason: 'renaming by path or relative to a descriptor' },
  { name: 'hard links', members: ['link', 'linkat'], reason: 'linking by path or relative to a descriptor' },
  { name: 'symlinks', members: ['symlink', 'symlinkat'], reason: 'creating a symlink by path or relative to a descriptor' },
  { name: 'mode changes', members: ['chmod', 'fchmod', 'fchmodat', 'fchmodat2'], reason: 'changing a file\'s mode by path or descriptor (set-id bits stay tsjail\'s to refuse)' },
  { name: 'time stamps', members: ['utime', 'utimes', 'utimensat', 'futimesat'], reason: 'setting a file\'s times' },
  { name: 'truncation', members: ['truncate', 'ftruncate', 'truncate64', 'ftruncate64'], reason: 'truncating by path or descriptor' },
  { name: 'flushes', members: ['fsync', 'fdatasync'], reason: 'flushing a file to disk, with or without its metadata' },
  { name: 'seeks', members: ['lseek', '_llseek'], reason: 'moving a descriptor\'s offset' },
  { name: 'descriptor flags', members: ['fcntl', 'fcntl64'], reason: 'reading and setting a descriptor\'s flags' },
  { name: 'accepts', members: ['accept', 'accept4'], reason: 'accepting a connection on a socket the program listens on' },
  { name: 'socket sends', members: ['sendto', 'sendmsg', 'sendmmsg'], reason: 'sending on a socket the program has (destinations stay the network rules\' to decide)' },
  { name: 'socket receives', members: ['recvfrom', 'recvmsg', 'recvmmsg'], reason: 'receiving on a socket the program has' },
  { name: 'event descriptors', members: ['eventfd', 'eventfd2'], reason: 'creating an event counter, with or without flags' },
  { name: 'signal descriptors', members: ['signalfd', 'signalfd4'], reason: 'reading signals from a descriptor, with or without flags' },
  { name: 'inotify', members: ['inotify_init', 'inotify_init1'], reason: 'watching files, with or without flags' },
  { name: 'signal masks', members: ['rt_sigprocmask', 'sigprocmask'], reason: 'blocking one\'s own signals' },
  { name: 'own identity', members: ['getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups'], reason: 'reading one\'s own user and group ids' },
  { name: 'ending', members: ['exit', 'exit_group'], reason: 'ending a thread or the process' },
];

/** Calls a run makes or not depending on timing or the disk's state, added when what leads to them was seen. */
export interface ImpliedCalls {
  readonly name: string;
  readonly adds: readonly string[];
  readonly reason: string;
  readonly applies: (table: LearnedTable) => boolean;
}

type LearnedTable = Learned['abis'][string];

/** A value as learn records it (a constant, constants joined with |, or a number), as a number. */
export function learnedValue(text: string): number {
  const constants = C as Record<string, unknown>;
  return text.split(' | ').reduce((acc, part) => {
    const v = /^-?\d+$|^0x/.test(part) ? Number(part) : typeof constants[part] === 'number' && Object.prototype.hasOwnProperty.call(constants, part) ? constants[part] as number : 0;
    return (acc | v) >>> 0;
  }, 0);
}

const cloneFlags = (t: LearnedTable): number[] => (t.clone?.values?.clone_flags ?? []).map(learnedValue);

/** What threads make or not depending on timing (also what a threaded runtime adds, runtimeCalls.ts). */
export const THREAD_TIMING_SYSCALLS = ['futex', 'sched_yield', 'nanosleep', 'clock_nanosleep', 'madvise', 'membarrier'] as const;

export const IMPLIED_CALLS: readonly ImpliedCalls[] = [
  { name: 'threads', adds: THREAD_TIMING_SYSCALLS,
    reason: 'a program that starts threads makes these or not depending on timing',
    applies: (t) => t.clone3 !== undefined || cloneFlags(t).some((f) => (f & C.CLONE_THREAD) !== 0) },
  { name: 'children', adds: ['wait4', 'waitid', 'rt_sigsuspend', 'pause', 'rt_sigtimedwait'],
    reason: 'a program that starts processes waits for them by wait4 when they already exited, else suspends until SIGCHLD',
    applies: (t) => t.fork !== undefined || t.vfork !== undefined || t.wait4 !== undefined || t.waitid !== undefined || cloneFlags(t).some((f) => (f & C.CLONE_THREAD) === 0) },
  { name: 'disk state', adds: ['getdents64', 'unlink', 'unlinkat', 'rmdir', 'fstatfs', 'statfs'],
    reason: 'a program that creates files finds them there on the next run, and lists and removes them (npm ci, git clone)',
    applies: (t) => ['mkdir', 'mkdirat', 'symlink', 'symlinkat', 'rename', 'renameat', 'renameat2', 'link', 'linkat'].some((n) => t[n] !== undefined) },
];

/** The terminal ioctls a tty program needs (never TIOCSTI or TIOCLINUX: they inject input and reach the console). */
export const TERMINAL_IOCTLS = ['TCGETS', 'TCSETS', 'TCSETSW', 'TCSETSF', 'TCSBRK', 'TCXONC', 'TCFLSH', 'TIOCGPGRP', 'TIOCSPGRP',
  'TIOCOUTQ', 'TIOCGWINSZ', 'TIOCSWINSZ', 'TIOCGSID', 'FIONREAD'] as const;

/** prctl options that read the caller's own state, name it, or only take privilege away. */
export const SAFE_PRCTL_OPTIONS = ['PR_SET_PDEATHSIG', 'PR_GET_PDEATHSIG', 'PR_GET_DUMPABLE', 'PR_SET_NAME', 'PR_GET_NAME',
  'PR_GET_SECCOMP', 'PR_CAPBSET_READ', 'PR_SET_NO_NEW_PRIVS', 'PR_GET_NO_NEW_PRIVS', 'PR_SET_VMA'] as const;

/** Socket families of the same kind: the same program reaches IPv4 or IPv6 as the host resolves. AF_UNIX and AF_NETLINK stay alone. */
export const SOCKET_FAMILY_KINDS: readonly (readonly string[])[] = [['AF_INET', 'AF_INET6']];

/** Arches whose ioctl numbers are the ones named in constants.ts (MIPS, PowerPC, SPARC, ... number them differently). */
const GENERIC_IOCTL_FAMILIES = ['x86', 'arm', 'arm64', 'loongarch', 'riscv', 's390'];

/** A widening of one argument pin: when it applies, which values join, and why. */
interface ValueWidening {
  readonly syscall: string;
  readonly arg: string;
  readonly sets: readonly (readonly string[])[];
  readonly reason: string;
  readonly on?: (abi: Abi) => boolean;
}

const VALUE_WIDENINGS: readonly ValueWidening[] = [
  { syscall: 'ioctl', arg: 'cmd', sets: [TERMINAL_IOCTLS], reason: 'the terminal ioctls a tty program needs (never TIOCSTI, TIOCLINUX)',
    on: (abi) => GENERIC_IOCTL_FAMILIES.includes(abi.argsFamily ?? '') },
  { syscall: 'socket', arg: 'family', sets: SOCKET_FAMILY_KINDS, reason: 'the families of the same kind (IPv4 and IPv6)' },
  { syscall: 'prctl', arg: 'option', sets: [SAFE_PRCTL_OPTIONS], reason: 'the prctl options that only read, name or restrict the caller' },
];

/** An argument pin: the values seen, and what a widening allows beyond them and why. */
export type ArgPin =
  | { readonly arg: string; readonly seen: readonly string[]; readonly values: readonly string[]; readonly widened?: string }
  /** Any value with none of the bits of the named constant (clone without namespace flags). */
  | { readonly arg: string; readonly seen: readonly string[]; readonly noBitsOf: 'CLONE_NAMESPACE_FLAGS'; readonly widened: string };

/** One allowed call of a written profile and why it is there. */
export interface ProfileCall {
  readonly name: string;
  /** The concern it is listed under: its class, or undefined. */
  readonly group?: string;
  /** Calls seen while learning (0 when added), and per run when the record keeps that. */
  readonly count: number;
  readonly runs?: readonly number[];
  /** Why it is allowed without having been seen. */
  readonly added?: string;
  readonly pin?: ArgPin;
}

let builtin: Policy | undefined;

/** The built-in policy's decision for a call with the given arguments on this ABI. */
function builtinAllows(abi: Abi, name: string, args: readonly bigint[] = []): boolean {
  const nr = syscallNumber(abi, name);
  if (nr === undefined) return false;
  builtin ??= defaultPolicy();
  const data = { nr, arch: abi.auditArch, args: Array.from({ length: 6 }, (_, i) => args[i] ?? 0n) };
  return evaluatePolicy(builtin, [abi], data).ret >>> 0 === SECCOMP_RET_ALLOW;
}

/** The built-in policy allows the call on this ABI whatever its arguments: every rule naming it is a plain allow. */
export function builtinAllowsUnconditionally(abi: Abi, name: string): boolean {
  builtin ??= defaultPolicy();
  const rules = builtin.rules.filter((r) => r.syscalls.includes(name));
  return rules.length > 0 && rules.every((r) => r.action.kind === 'allow' && !r.conditions.length) && builtinAllows(abi, name);
}

/** The built-in policy allows this value of the call's argument (the others zero). */
export function builtinAllowsValue(abi: Abi, name: string, arg: string, value: number): boolean {
  const index = syscallArgs(abi, name)?.find((a) => a.name === arg)?.index;
  if (index === undefined) return false;
  const args: bigint[] = [];
  args[index] = BigInt(value >>> 0);
  return builtinAllows(abi, name, args);
}

/** The members of a class that exist on this ABI and that the built-in policy allows unconditionally there. */
export function classMembersOn(abi: Abi, cls: SyscallClass): string[] {
  return cls.members.filter((m) => builtinAllowsUnconditionally(abi, m));
}

const classOf = (name: string): SyscallClass | undefined => SYSCALL_CLASSES.find((c) => c.members.includes(name));

function widenPin(abi: Abi, name: string, arg: string, seen: readonly string[]): ArgPin {
  if (name === 'clone' && arg === 'clone_flags' && seen.every((v) => (learnedValue(v) & C.CLONE_NAMESPACE_FLAGS) === 0)) {
    return { arg, seen, noBitsOf: 'CLONE_NAMESPACE_FLAGS', widened: 'any flags without a namespace flag' };
  }
  const values = [...seen];
  const reasons: string[] = [];
  for (const w of VALUE_WIDENINGS) {
    if (w.syscall !== name || w.arg !== arg || (w.on && !w.on(abi))) continue;
    for (const set of w.sets) {
      if (!seen.some((v) => set.some((s) => learnedValue(s) === learnedValue(v)))) continue;
      const joining = set.filter((s) => !values.some((v) => learnedValue(v) === learnedValue(s)) && builtinAllowsValue(abi, name, arg, learnedValue(s)));
      if (!joining.length) continue;
      values.push(...joining);
      reasons.push(w.reason);
    }
  }
  return reasons.length ? { arg, seen, values, widened: reasons.join('; ') } : { arg, seen, values };
}

/**
 * The calls a profile learned on this ABI allows: exactly those seen (`exact`), or generalized by
 * the implied calls, the classes and the argument widenings.
 */
export function profileOf(abi: Abi, table: LearnedTable, exact: boolean): ProfileCall[] {
  const calls = new Map<string, ProfileCall>();
  for (const [name, e] of Object.entries(table)) {
    const pinned = Object.entries(e.values ?? {})[0];
    const pin = pinned && (exact ? { arg: pinned[0], seen: pinned[1], values: pinned[1] } : widenPin(abi, name, pinned[0], pinned[1]));
    calls.set(name, { name, group: classOf(name)?.name, count: e.count, ...(e.runs ? { runs: e.runs } : {}), ...(pin ? { pin } : {}) });
  }
  if (exact) return [...calls.values()];
  const add = (name: string, added: string): void => {
    if (!calls.has(name) && builtinAllowsUnconditionally(abi, name)) calls.set(name, { name, group: classOf(name)?.name, count: 0, added });
  };
  for (const rule of IMPLIED_CALLS) if (rule.applies(table)) for (const name of rule.adds) add(name, `${rule.name}: ${rule.reason}`);
  for (const from of [...calls.keys()]) {
    const cls = classOf(from);
    if (cls) for (const m of classMembersOn(abi, cls)) add(m, `same class as ${from} (${cls.name})`);
  }
  return [...calls.values()];
}
