// Refused writes, explained. The kernel refuses a write outside the jail's writable paths (a
// read-only mount, Landlock); this module says which path, which rule and which flag would allow
// it. The filter stops only the calls that intend to write (opens with write flags, mkdir,
// unlink, rename, ...; reads stay in the kernel), tsjail predicts the kernel's answer from the
// file rules, reports a refusal, and lets the call go on: the kernel decides it as it would
// have. Letting it continue after reading its path is safe here because nothing is decided on
// that copy; a racing thread can at most make a report wrong, never a write succeed.
import { lstatSync, readlinkSync, readSync, openSync, closeSync } from 'node:fs';
import { endianness } from 'node:os';
import { posix } from 'node:path';
import { hasAll, named, userNotif } from '../policy/dsl';
import type { Rule } from '../policy/model';
import { WRITE_INTENT_LABEL } from '../policy/jailStops';
import { decidingRule, type FsRule, type ResolvedFs } from './fsRules';


const O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_TRUNC = 0o1000;
const AT_FDCWD = -100;

/**
 * A path a call writes: its argument, the dirfd it is relative to, and when the kernel refuses
 * it for being read-only rather than for another reason: `absent` (a create: an existing path
 * is EEXIST), `exists` (a removal or change: a missing one is ENOENT), `any` (rename's target).
 */
interface PathArg { readonly path: number; readonly dirfd?: number; readonly when: 'absent' | 'exists' | 'any' }
interface WriteCall {
  readonly paths: readonly PathArg[];
  /** The open flags argument (opens decide by their flags)... */
  readonly flags?: number;
  /** ...or the argument pointing at them: openat2's struct open_how (flags first, a u64), in memory. */
  readonly howFlags?: number;
  /** The last component is followed (chmod, truncate...), not acted on itself (unlink, lchown). */
  readonly follows?: boolean;
}

const at = (dirfd: number, path: number, when: PathArg['when']): PathArg => ({ dirfd, path, when });
const plain = (path: number, when: PathArg['when']): PathArg => ({ path, when });

/** Every call that writes through a path, and where its paths are (argument indexes, as on x86_64). */
const WRITE_CALLS: Readonly<Record<string, WriteCall>> = {
  open: { paths: [plain(0, 'any')], flags: 1, follows: true },
  openat: { paths: [at(0, 1, 'any')], flags: 2, follows: true },
  // Stopped whatever its flags (the filter cannot read them), they are read for the report only.
  openat2: { paths: [at(0, 1, 'any')], howFlags: 2, follows: true },
  creat: { paths: [plain(0, 'any')], follows: true },
  mkdir: { paths: [plain(0, 'absent')] },
  mkdirat: { paths: [at(0, 1, 'absent')] },
  mknod: { paths: [plain(0, 'absent')] },
  mknodat: { paths: [at(0, 1, 'absent')] },
  symlink: { paths: [plain(1, 'absent')] },
  symlinkat: { paths: [at(1, 2, 'absent')] },
  link: { paths: [plain(1, 'absent')] },
  linkat: { paths: [at(2, 3, 'absent')] },
  unlink: { paths: [plain(0, 'exists')] },
  unlinkat: { paths: [at(0, 1, 'exists')] },
  rmdir: { paths: [plain(0, 'exists')] },
  rename: { paths: [plain(0, 'exists'), plain(1, 'any')] },
  renameat: { paths: [at(0, 1, 'exists'), at(2, 3, 'any')] },
  renameat2: { paths: [at(0, 1, 'exists'), at(2, 3, 'any')] },
  truncate: { paths: [plain(0, 'exists')], follows: true },
  chmod: { paths: [plain(0, 'exists')], follows: true },
  fchmodat: { paths: [at(0, 1, 'exists')], follows: true },
  fchmodat2: { paths: [at(0, 1, 'exists')], follows: true },
  chown: { paths: [plain(0, 'exists')], follows: true },
  lchown: { paths: [plain(0, 'exists')] },
  fchownat: { paths: [at(0, 1, 'exists')], follows: true },
  utime: { paths: [plain(0, 'exists')], follows: true },
  utimes: { paths: [plain(0, 'exists')], follows: true },
  futimesat: { paths: [at(0, 1, 'exists')], follows: true },
  utimensat: { paths: [at(0, 1, 'exists')], follows: true },
  setxattr: { paths: [plain(0, 'exists')], follows: true },
  lsetxattr: { paths: [plain(0, 'exists')] },
  removexattr: { paths: [plain(0, 'exists')], follows: true },
  lremovexattr: { paths: [plain(0, 'exists')] },
  setxattrat: { paths: [at(0, 1, 'exists')], follows: true },
  removexattrat: { paths: [at(0, 1, 'exists')], follows: true },
  // Through an fd: nothing to predict, but without a mount layer tsjail decides them (fsMetadata.ts).
  fchmod: { paths: [] },
  fchown: { paths: [] },
  fsetxattr: { paths: [] },
  fremovexattr: { paths: [] },
};

/** The filter's part: stop these calls at tsjail (opens only with write intent: O_RDONLY|O_CREAT too). */
export function writeIntentRules(): Rule[] {
  const intent = [O_WRONLY, O_RDWR, O_CREAT, O_TRUNC];
  return named(WRITE_INTENT_LABEL, [
    ...intent.flatMap((bit) => [...userNotif('open', { flags: hasAll(bit) }), ...userNotif('openat', { flags: hasAll(bit) })]),
    ...userNotif(...(Object.keys(WRITE_CALLS).filter((n) => n !== 'open' && n !== 'openat') as ['creat'])),
  ]);
}

export function isWriteCall(syscall: string): boolean {
  return syscall in WRITE_CALLS;
}

/** Up to `length` bytes at `address` in the jail's memory (fewer where its mapping ends); undefined if none can be read. */
export function readJailBytes(pid: number, address: bigint, length: number): Buffer | undefined {
  if (address === 0n) return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r');
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, address);
    return buf.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Reads a NUL-terminated string of at most PATH_MAX bytes from the jail's memory; undefined if it cannot. */
export function readJailString(pid: number, address: bigint): string | undefined {
  const buf = readJailBytes(pid, address, 4096);
  const end = buf ? buf.indexOf(0) : -1;
  return end < 0 ? undefined : buf!.subarray(0, end).toString('utf8');
}

/** The flags an open call gives, from its argument or its struct open_how; undefined where unreadable (the kernel's EFAULT). */
function openFlags(call: WriteCall, args: readonly bigint[], pid: number): number | undefined {
  if (call.flags !== undefined) return Number(args[call.flags]! & 0xffffffffn);
  if (call.howFlags === undefined) return O_CREAT | O_WRONLY; // creat = O_CREAT|O_WRONLY|O_TRUNC
  const how = readJailBytes(pid, args[call.howFlags]!, 8);
  return how?.length === 8 ? Number((endianness() === 'LE' ? how.readBigUInt64LE(0) : how.readBigUInt64BE(0)) & 0xffffffffn) : undefined;
}

/** The directory a relative path starts from, as the jail sees it (its cwd, or the dirfd's file). */
function startDir(pid: number, dirfd: number | undefined): string | undefined {
  try {
    const link = dirfd === undefined || dirfd === AT_FDCWD ? `/proc/${pid}/cwd` : `/proc/${pid}/fd/${dirfd}`;
    const target = readlinkSync(link);
    return target.startsWith('/') ? target : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `path` resolved as the jail resolves it: through /proc/PID/root, following symlinks inside
 * the jail's root (at most 40), the last component too unless `keepLast`.
 */
export function resolveInJail(pid: number, path: string, keepLast: boolean): { path: string; exists: boolean } {
  const root = `/proc/${pid}/root`;
  let parts = path.split('/').filter((p) => p && p !== '.');
  let done: string[] = [];
  for (let links = 0; parts.length;) {
    const part = parts.shift()!;
    if (part === '..') { done.pop(); continue; }
    const here = `/${[...done, part].join('/')}`;
    let stat;
    try {
      stat = lstatSync(root + here);
    } catch {
      return { path: posix.join(here, ...parts), exists: false };
    }
    if (stat.isSymbolicLink() && !(keepLast && !parts.length) && links++ < 40) {
      let target: string;
      try {
        target = readlinkSync(root + here);
      } catch {
        // A link only the jail can read (its /proc/self, seen from outside its PID namespace): the path as far as it goes.
        return { path: posix.join(here, ...parts), exists: true };
      }
      if (target.startsWith('/')) done = [];
      parts = [...target.split('/').filter((p) => p && p !== '.'), ...parts];
      continue;
    }
    done.push(part);
  }
  return { path: `/${done.join('/')}`, exists: true };
}

export interface WriteRefusal {
  readonly syscall: string;
  /** The path as the jail resolved it. */
  readonly path: string;
  readonly rule: FsRule;
  /** The errno the kernel gives: EROFS under the mount layer, EACCES under Landlock alone. */
  readonly errno: 'EROFS' | 'EACCES';
  /** The flag that would allow it. */
  readonly suggestion: string;
}

/** Where the kernel's own layers decide and a rule-based guess would mislead (devices, /proc's links). */
const KERNEL_DECIDES = ['/dev', '/proc', '/sys'];

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/**
 * The paths this call is about to write, as the jail resolves them, where the file rules decide
 * (not /dev, /proc, /sys or `otherMounts`, the destinations of --bind/--tmpfs mounts); a path the
 * kernel refuses for another reason (EEXIST for a create over an existing path, ENOENT for a
 * missing one) is not written.
 */
export function writtenPaths(syscall: string, args: readonly bigint[], pid: number, otherMounts: readonly string[]): { path: string; exists: boolean }[] {
  const call = WRITE_CALLS[syscall];
  if (!call) return [];
  const flags = openFlags(call, args, pid);
  if (flags === undefined) return [];
  const out: { path: string; exists: boolean }[] = [];
  for (const p of call.paths) {
    const given = readJailString(pid, args[p.path]!);
    // No path, or an empty one (AT_EMPTY_PATH: the call writes through an fd opened earlier).
    if (!given) continue;
    const base = given.startsWith('/') ? '/' : startDir(pid, p.dirfd !== undefined ? Number(BigInt.asIntN(32, args[p.dirfd]!)) : undefined);
    if (base === undefined) continue;
    const { path, exists } = resolveInJail(pid, posix.join(base, given), !call.follows);
    if (KERNEL_DECIDES.some((d) => under(path, d)) || otherMounts.some((d) => under(path, d))) continue;
    if (call.flags !== undefined || call.howFlags !== undefined || syscall === 'creat') {
      // O_RDONLY|O_CREAT of an existing file writes nothing; without O_CREAT a missing one is ENOENT.
      if (exists ? !(flags & (O_WRONLY | O_RDWR | O_TRUNC)) : !(flags & O_CREAT)) continue;
    } else if ((p.when === 'absent' && exists) || (p.when === 'exists' && !exists)) continue;
    out.push({ path, exists });
  }
  return out;
}

/** The refusal the kernel is about to give this call, if the rules say it will; undefined if the write is allowed or not one. */
export function predictRefusal(
  fs: ResolvedFs, syscall: string, args: readonly bigint[], pid: number,
  options: { readonly mountLayer: boolean; readonly otherMounts: readonly string[] },
): WriteRefusal | undefined {
  for (const { path, exists } of writtenPaths(syscall, args, pid, options.otherMounts)) {
    const rule = decidingRule(fs.rules, path);
    if (rule.access === 'rw' || rule.access === 'tmpfs') continue;
    return { syscall, path, rule, errno: options.mountLayer ? 'EROFS' : 'EACCES', suggestion: suggestion(rule, path, exists) };
  }
  return undefined;
}

/** The flag that allows the write: --show for a default secret, --rw for the file or its directory. */
function suggestion(rule: FsRule, path: string, exists: boolean): string {
  if (rule.access === 'hide') return hideSuggestion(rule);
  return `--rw ${exists ? path : posix.dirname(path)}`;
}

/** What shows a hidden path: --show for a default secret, else dropping the rule that hides it. */
export function hideSuggestion(rule: FsRule): string {
  return rule.source === 'default' ? `--show ${rule.path} (${rule.reason})` : `drop ${rule.source} ${rule.path}`;
}

/** The stderr text of a refused write. */
export function formatWriteRefusal(r: WriteRefusal, who: string): string {
  const what = r.rule.access === 'hide' ? 'hidden' : 'read-only';
  return [
    `${who} ${r.syscall}(${r.path}) -> ${r.errno}: ${r.rule.path} is ${what} (${r.rule.source}${r.rule.reason ? `: ${r.rule.reason}` : ''})`,
    `        to allow it: ${r.suggestion}`,
  ].join('\n');
}
