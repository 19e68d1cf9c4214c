// A file's metadata in a jail without a mount namespace: its mode, owner, times and extended
// attributes. There Landlock alone holds the file rules, and Landlock rules none of these: a jail
// could chmod, chown, touch or set an ACL on any host file its uid owns (as root every root-owned
// one: chmod u+s on a binary, chmod 666 /etc/shadow, a forged mtime to hide a change). So tsjail
// performs a stopped chmod, chown or utimes itself, on its own copy of the file, opened once
// (O_PATH) as the jail names it, where the rules make that file writable and the kernel would
// let the jail's own ids do it; the call is never continued, so a thread racing the path changes
// nothing. Setting or removing an extended attribute is refused (EOPNOTSUPP, as on a filesystem
// without them).
import { chmodSync, chownSync, closeSync, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { decidingRule, type ResolvedFs } from './fsRules';
import { readJailBytes, readJailString } from './fsWrites';
import { setFileTimes } from './helper';

const E = osConstants.errno;
const O_PATH = 0o10000000, O_NOFOLLOW = 0o400000;
const AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
const SET_ID = 0o6000;
const UTIME_NOW = (1n << 30n) - 1n, UTIME_OMIT = (1n << 30n) - 2n;

/** What a call changes: a mode, an owner and group (-1: kept), or times ([atime s, ns, mtime s, ns]; undefined: now). */
type Change =
  | { readonly kind: 'mode'; readonly mode: number }
  | { readonly kind: 'owner'; readonly uid: number; readonly gid: number }
  | { readonly kind: 'times'; readonly times: readonly bigint[] | undefined };

/** How the times argument is laid out: struct utimbuf, struct timeval[2], struct timespec[2]. */
type TimesLayout = 'utimbuf' | 'timeval' | 'timespec';

/**
 * Where each call has its fd or its dirfd and path, its flags (argument indexes, as on x86_64),
 * whether it acts on a symlink itself (lchown), and what it changes.
 */
interface MetadataCall {
  readonly fd?: number;
  readonly dirfd?: number;
  readonly path?: number;
  readonly flags?: number;
  readonly nofollow?: true;
  readonly mode?: number;
  readonly owner?: readonly [number, number];
  readonly times?: readonly [number, TimesLayout];
}
const CALLS: Readonly<Record<string, MetadataCall>> = {
  chmod: { path: 0, mode: 1 },
  fchmod: { fd: 0, mode: 1 },
  fchmodat: { dirfd: 0, path: 1, mode: 2 },
  fchmodat2: { dirfd: 0, path: 1, mode: 2, flags: 3 },
  chown: { path: 0, owner: [1, 2] },
  lchown: { path: 0, owner: [1, 2], nofollow: true },
  fchown: { fd: 0, owner: [1, 2] },
  fchownat: { dirfd: 0, path: 1, owner: [2, 3], flags: 4 },
  utime: { path: 0, times: [1, 'utimbuf'] },
  utimes: { path: 0, times: [1, 'timeval'] },
  futimesat: { dirfd: 0, path: 1, times: [2, 'timeval'] },
  utimensat: { dirfd: 0, path: 1, times: [2, 'timespec'], flags: 3 },
};
/** Calls that set or remove an extended attribute (system.posix_acl_access is a chmod too). */
export const XATTR_CHANGES = ['setxattr', 'lsetxattr', 'fsetxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'setxattrat', 'removexattrat'] as const;

function errnoOf(e: unknown): number {
  return E[(e as NodeJS.ErrnoException).code as keyof typeof E] ?? E.EPERM;
}

/** A line of thread `pid`'s /proc status, split into numbers. */
function statusNumbers(pid: number, key: string): number[] | undefined {
  try {
    const line = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim();
    return line === undefined ? undefined : line ? line.split(/\s+/).map(Number) : [];
  } catch {
    return undefined;
  }
}

/** The jail thread's ids the kernel checks a file change with: its filesystem uid and gid, and its groups. */
function jailIds(pid: number): { uid: number; gids: number[] } | undefined {
  const uids = statusNumbers(pid, 'Uid'), gids = statusNumbers(pid, 'Gid'), groups = statusNumbers(pid, 'Groups');
  if (uids?.length !== 4 || gids?.length !== 4 || !groups) return undefined;
  return { uid: uids[3]!, gids: [gids[3]!, ...groups] };
}

/** tsjail's copy of the times the jail passed (as timespecs), undefined for now, or the errno the kernel gives. */
function copyTimes(pid: number, address: bigint, layout: TimesLayout): { times: readonly bigint[] | undefined } | { errno: number } {
  if (address === 0n) return { times: undefined };
  const size = layout === 'utimbuf' ? 16 : 32;
  const b = readJailBytes(pid, address, size);
  if (b?.length !== size) return { errno: E.EFAULT };
  if (layout === 'utimbuf') return { times: [b.readBigInt64LE(0), 0n, b.readBigInt64LE(8), 0n] };
  const [as, af, ms, mf] = [0, 8, 16, 24].map((at) => b.readBigInt64LE(at)) as [bigint, bigint, bigint, bigint];
  if (layout === 'timeval') {
    if ([af, mf].some((us) => us < 0n || us >= 1_000_000n)) return { errno: E.EINVAL };
    return { times: [as, af * 1000n, ms, mf * 1000n] };
  }
  if ([af, mf].some((ns) => (ns < 0n || ns >= 1_000_000_000n) && ns !== UTIME_NOW && ns !== UTIME_OMIT)) return { errno: E.EINVAL };
  // Both now is a touch (the kernel needs write permission only), as no times are.
  return { times: af === UTIME_NOW && mf === UTIME_NOW ? undefined : [as, af, ms, mf] };
}

/** What the call changes, from its registers and tsjail's copy of its times; or the errno the kernel gives. */
function changeOf(call: MetadataCall, args: readonly bigint[], pid: number): Change | { errno: number } {
  if (call.mode !== undefined) return { kind: 'mode', mode: Number(args[call.mode]! & 0o7777n) };
  if (call.owner) {
    const [uid, gid] = call.owner.map((i) => Number(BigInt.asIntN(32, args[i]!))) as [number, number];
    return { kind: 'owner', uid, gid };
  }
  const [at, layout] = call.times!;
  const copied = copyTimes(pid, args[at]!, layout);
  return 'errno' in copied ? copied : { kind: 'times', times: copied.times };
}

/** Whether the jail's own ids may make `change` to file `st` (they own it, or, for a touch, may write it), or the errno. */
function mayChange(change: Change, st: Stats, ids: { uid: number; gids: number[] }): number {
  const owner = st.uid === ids.uid;
  if (change.kind === 'times' && change.times === undefined && !owner) {
    // A touch by another: write permission by the mode bits of the jail's class (it holds no capability).
    const writable = ids.gids.includes(st.gid) ? st.mode & 0o020 : st.mode & 0o002;
    return writable ? 0 : E.EACCES;
  }
  if (!owner) return E.EPERM;
  if (change.kind === 'owner') {
    // Without CAP_CHOWN: the owner stays, the group becomes only one of the jail's own.
    if (change.uid !== -1 && change.uid !== st.uid) return E.EPERM;
    if (change.gid !== -1 && change.gid !== st.gid && !ids.gids.includes(change.gid)) return E.EPERM;
  }
  // No set-id file as root (setIdRules.ts), nor one tsjail's own ids would mark for the jail.
  if (change.kind === 'mode' && change.mode & SET_ID && (ids.uid === 0 || process.getuid?.() !== ids.uid)) return E.EPERM;
  return 0;
}

/**
 * Where the opened file `st` (tsjail's fd `fd`) is: its path, confirmed to lead to that same file
 * now; undefined where no path does (the name it was opened by is gone or other). A file no path
 * reaches any more (unlinked, O_TMPFILE, memfd) gives ''.
 */
function locate(fd: number, st: Stats): string | undefined {
  if (st.nlink === 0) return '';
  try {
    const path = readlinkSync(`/proc/self/fd/${fd}`);
    const now = path.startsWith('/') ? lstatSync(path) : undefined;
    return now && now.dev === st.dev && now.ino === st.ino ? path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The answer to a stopped chmod, chown, utimes or xattr change of thread `pid` under `fs` (the
 * rules of a jail without a mount namespace): performed by tsjail ({ errno: 0 }) or refused;
 * undefined for other calls.
 */
export function performMetadata(fs: ResolvedFs, syscall: string, args: readonly bigint[], pid: number): { errno: number } | undefined {
  if ((XATTR_CHANGES as readonly string[]).includes(syscall)) return { errno: E.EOPNOTSUPP };
  const call = CALLS[syscall];
  if (!call) return undefined;
  const int = (i: number): number => Number(BigInt.asIntN(32, args[i]!));
  const flags = call.flags !== undefined ? int(call.flags) : 0;
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return { errno: E.EINVAL };
  // utimensat(fd, NULL, ...) and futimesat(fd, NULL, ...) act on the fd itself (futimens).
  const onFd = call.fd ?? (call.times && call.path !== undefined && args[call.path] === 0n && int(call.dirfd!) !== AT_FDCWD ? call.dirfd : undefined);
  if (onFd !== undefined && call.fd === undefined && flags) return { errno: E.EINVAL };
  const change = changeOf(call, args, pid);
  if ('errno' in change) return change;
  // The file as the jail names it, looked up through its own fds and working directory.
  const fdPath = (n: number): string | undefined => { try { readlinkSync(`/proc/${pid}/fd/${n}`); return `/proc/${pid}/fd/${n}`; } catch { return undefined; } };
  let where: string;
  if (onFd !== undefined) {
    const file = fdPath(int(onFd));
    if (!file) return { errno: E.EBADF };
    where = file;
  } else {
    const path = readJailString(pid, args[call.path!]!);
    if (path === undefined) return { errno: E.EFAULT };
    const dirfd = call.dirfd !== undefined ? int(call.dirfd) : AT_FDCWD;
    const dir = dirfd === AT_FDCWD ? `/proc/${pid}/cwd` : fdPath(dirfd);
    if (!dir && !path.startsWith('/')) return { errno: E.EBADF };
    if (path === '' && !(flags & AT_EMPTY_PATH)) return { errno: E.ENOENT };
    // The jail's /proc/self is the jail's process, not tsjail.
    const tgid = statusNumbers(pid, 'Tgid')?.[0] ?? pid;
    const own = path.replace(/^\/proc\/(self|thread-self)(?=\/|$)/, (_m, which: string) => (which === 'self' ? `/proc/${tgid}` : `/proc/${tgid}/task/${pid}`));
    where = own.startsWith('/') ? own : own === '' ? dir! : `${dir}/${own}`;
  }
  let fd: number;
  try {
    fd = openSync(where, O_PATH | (call.nofollow || flags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0));
  } catch (e) {
    return { errno: errnoOf(e) };
  }
  try {
    const st = fstatSync(fd);
    if (change.kind === 'mode' && st.isSymbolicLink()) return { errno: E.EOPNOTSUPP };
    // Decided by where the opened file is, not by the name that led there.
    const located = locate(fd, st);
    if (located === undefined) return { errno: E.EACCES };
    if (located !== '') {
      const rule = decidingRule(fs.rules, located);
      if (rule.access !== 'rw' && rule.access !== 'tmpfs') return { errno: E.EACCES };
    }
    const ids = jailIds(pid);
    if (!ids) return { errno: E.EPERM };
    const refused = mayChange(change, st, ids);
    if (refused) return { errno: refused };
    const self = `/proc/self/fd/${fd}`; // the opened file itself, a symlink too
    if (change.kind === 'mode') chmodSync(self, change.mode);
    else if (change.kind === 'owner') chownSync(self, change.uid, change.gid);
    else return { errno: setFileTimes(fd, change.times) };
    return { errno: 0 };
  } catch (e) {
    return { errno: errnoOf(e) };
  } finally {
    closeSync(fd);
  }
}
