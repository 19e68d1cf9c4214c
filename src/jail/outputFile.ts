// Files tsjail itself writes where the caller says (--report, --pidfile): often in the working
// directory, which an earlier jail could write. A symlink planted there must not aim tsjail (as
// root, perhaps) at another file or device: only the system's links are followed (/var/run,
// /dev/stderr, /dev/fd: root's, in a directory of the system no jail writes; a jail in a
// root-owned workspace makes root-owned links), the last one only to what is not a regular file
// (a pipe, a terminal); a file is created or truncated only in the directory so reached.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { JailError } from './errors';

const MAX_LINKS = 40; // the kernel's own limit on a path's symlinks

/**
 * Whether the link `link` (lstat `st`) is the system's: root's, in / or /var, /dev, /usr, or
 * anywhere in /proc (/var/run, /dev/fd, /dev/stderr, /proc/self): no jail writes there (a
 * --rw directory may be anywhere else, even in /srv or /opt, so a link there could be a jail's).
 */
function systemLink(link: string, st: { uid: number }): boolean {
  const parent = dirname(link);
  if (st.uid !== 0 || !(['/', '/var', '/dev', '/usr', '/proc'].includes(parent) || parent.startsWith('/proc/'))) return false;
  const p = lstatSync(parent);
  return p.uid === 0 && (p.mode & 0o022) === 0;
}

/** `dir` with every symlink on the way resolved, each one the system's; `fail` refuses any other. */
function realDirectory(dir: string, fail: (why: string) => never): string {
  const todo = dir.split('/').filter(Boolean);
  let real = '';
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') { real = real.slice(0, real.lastIndexOf('/')); continue; }
    const next = `${real}/${part}`;
    let st;
    try { st = lstatSync(next); } catch (e) { return fail(`${next}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
    if (!st.isSymbolicLink()) { real = next; continue; }
    if (!systemLink(next, st)) return fail(`${next} is a symlink outside the system's directories (a link planted where tsjail writes could aim it at any directory): name the directory itself`);
    if (++links > MAX_LINKS) return fail('ELOOP');
    const target = readlinkSync(next);
    if (target.startsWith('/')) real = '';
    todo.unshift(...target.split('/').filter(Boolean));
  }
  return real || '/';
}

/** An fd open for writing `path` (created or truncated), for `what` (the flag, in messages). */
export function openOutputFile(path: string, what: string): number {
  const fail = (why: string): never => { throw new JailError(`cannot write ${what} ${path}: ${why}`); };
  const full = resolve(path);
  const dir = realDirectory(dirname(full), fail);
  let dirFd: number;
  try { dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY); } catch (e) { return fail(`${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  try {
    // The directory opened is the one resolved, unless a part of the way became a link meanwhile.
    if (readlinkSync(`/proc/self/fd/${dirFd}`) !== dir) return fail(`${dir} changed while it was opened`);
    return openIn(`/proc/self/fd/${dirFd}/${basename(full)}`, join(dir, basename(full)), fail);
  } finally {
    closeSync(dirFd);
  }
}

/** Opens `at` (in a directory tsjail holds) for writing. */
function openIn(at: string, shown: string, fail: (why: string) => never): number {
  let link = false;
  try {
    const st = lstatSync(at);
    link = st.isSymbolicLink();
    if (link && !systemLink(shown, st)) return fail('it is a symlink outside the system\'s directories (a link planted where tsjail writes could aim it at a device or at tsjail\'s own fds): name the file itself');
  } catch (e) {
    if (e instanceof JailError) throw e;
    /* missing: created below */
  }
  let fd: number;
  try {
    fd = link
      ? openSync(at, constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK)
      // Not blocking: a FIFO planted there fails (ENXIO without a reader) instead of holding tsjail.
      : openSync(at, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(code === 'ELOOP' ? 'it became a symlink' : code ?? (e as Error).message);
  }
  if (link && fstatSync(fd).isFile()) {
    closeSync(fd);
    return fail('it is a symlink to a file (a link planted where tsjail writes could aim it at any file): name the file itself');
  }
  return fd;
}

/**
 * Removes the file `fd` (still open) was opened on, if `path` still names it: the jail may have
 * put a directory or another file there, or made a directory on the way a symlink; those stay.
 */
export function removeOutputFile(path: string, fd: number): void {
  try {
    const ours = fstatSync(fd);
    const now = lstatSync(path);
    if (now.isFile() && now.dev === ours.dev && now.ino === ours.ino) unlinkSync(path);
  } catch {
    // Gone already, or unreadable: nothing of ours to remove.
  }
}
