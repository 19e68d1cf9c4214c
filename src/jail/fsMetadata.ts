// A file's mode and extended attributes in a jail without a mount namespace. There Landlock alone
// holds the file rules, and Landlock does not rule chmod or xattrs: a jail could chmod, or set an
// ACL on, any host file its uid owns (as root every root-owned one: chmod u+s on a binary, chmod
// 666 /etc/shadow). So tsjail performs a stopped chmod itself, on its own copy of the path, opened
// once (O_PATH), where the rules make that file writable and the jail's uid owns it; the call is
// never continued, so a thread racing the path changes nothing. Setting or removing an extended
// attribute is refused (EOPNOTSUPP, as on a filesystem without them).
import { chmodSync, closeSync, fstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { decidingRule, type ResolvedFs } from './fsRules';
import { readJailString } from './fsWrites';

const E = osConstants.errno;
const O_PATH = 0o10000000, O_NOFOLLOW = 0o400000;
const AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
const SET_ID = 0o6000;

/** Where each chmod call has its fd or its dirfd and path, its mode and flags (argument indexes). */
const CHMODS: Readonly<Record<string, { readonly fd?: number; readonly dirfd?: number; readonly path?: number; readonly mode: number; readonly flags?: number }>> = {
  chmod: { path: 0, mode: 1 },
  fchmod: { fd: 0, mode: 1 },
  fchmodat: { dirfd: 0, path: 1, mode: 2 },
  fchmodat2: { dirfd: 0, path: 1, mode: 2, flags: 3 },
};
/** Calls that set or remove an extended attribute (system.posix_acl_access is a chmod too). */
export const XATTR_CHANGES = ['setxattr', 'lsetxattr', 'fsetxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'setxattrat', 'removexattrat'] as const;

function errnoOf(e: unknown): number {
  return E[(e as NodeJS.ErrnoException).code as keyof typeof E] ?? E.EPERM;
}

/** The thread group of thread `pid`. */
function tgid(pid: number): number {
  try {
    return Number(/^Tgid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? pid);
  } catch {
    return pid;
  }
}

/** The jail thread's filesystem uid (the one the kernel checks ownership with). */
function fsuid(pid: number): number | undefined {
  try {
    const ids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
    return ids?.length === 4 ? Number(ids[3]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The answer to a stopped chmod or xattr change of thread `pid` under `fs` (the rules of a jail
 * without a mount namespace): performed by tsjail ({ errno: 0 }) or refused; undefined for other calls.
 */
export function performMetadata(fs: ResolvedFs, syscall: string, args: readonly bigint[], pid: number): { errno: number } | undefined {
  if ((XATTR_CHANGES as readonly string[]).includes(syscall)) return { errno: E.EOPNOTSUPP };
  const call = CHMODS[syscall];
  if (!call) return undefined;
  const int = (i: number): number => Number(BigInt.asIntN(32, args[i]!));
  const flags = call.flags !== undefined ? int(call.flags) : 0;
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return { errno: E.EINVAL };
  const mode = Number(args[call.mode]! & 0o7777n);
  // The file as the jail names it, looked up through its own fds and working directory.
  const fdPath = (n: number): string | undefined => { try { readlinkSync(`/proc/${pid}/fd/${n}`); return `/proc/${pid}/fd/${n}`; } catch { return undefined; } };
  let where: string;
  if (call.fd !== undefined) {
    const file = fdPath(int(call.fd));
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
    const own = path.replace(/^\/proc\/(self|thread-self)(?=\/|$)/, (_m, which: string) => (which === 'self' ? `/proc/${tgid(pid)}` : `/proc/${tgid(pid)}/task/${pid}`));
    where = own.startsWith('/') ? own : own === '' ? dir! : `${dir}/${own}`;
  }
  let fd: number;
  try {
    fd = openSync(where, O_PATH | (flags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0));
  } catch (e) {
    return { errno: errnoOf(e) };
  }
  try {
    const st = fstatSync(fd);
    if (st.isSymbolicLink()) return { errno: E.EOPNOTSUPP };
    // Decided by where the opened file is, not by the name that led there.
    const located = readlinkSync(`/proc/self/fd/${fd}`);
    if (!located.startsWith('/')) return { errno: E.EACCES };
    const rule = decidingRule(fs.rules, located);
    if (rule.access !== 'rw' && rule.access !== 'tmpfs') return { errno: E.EACCES };
    const uid = fsuid(pid);
    if (uid === undefined || st.uid !== uid) return { errno: E.EPERM };
    // No set-id file as root (setIdRules.ts), nor one tsjail's own ids would mark for the jail.
    if (mode & SET_ID && (uid === 0 || process.getuid?.() !== uid)) return { errno: E.EPERM };
    chmodSync(`/proc/self/fd/${fd}`, mode);
    return { errno: 0 };
  } catch (e) {
    return { errno: errnoOf(e) };
  } finally {
    closeSync(fd);
  }
}
