// Files tsjail itself writes where the caller says (--report, --pidfile): often in the working
// directory, which an earlier jail could write. A symlink planted there must not aim tsjail (as
// root, perhaps) at another file: a link is followed only to what is not a regular file
// (/dev/stderr, a pipe), and a file is created or truncated only at the path itself.
import { closeSync, constants, fstatSync, lstatSync, openSync, unlinkSync } from 'node:fs';
import { JailError } from './errors';

/** An fd open for writing `path` (created or truncated), for `what` (the flag, in messages). */
export function openOutputFile(path: string, what: string): number {
  const fail = (why: string): never => { throw new JailError(`cannot write ${what} ${path}: ${why}`); };
  let link = false;
  try { link = lstatSync(path).isSymbolicLink(); } catch { /* missing: created below */ }
  let fd: number;
  try {
    fd = link
      ? openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK)
      // Not blocking: a FIFO planted there fails (ENXIO without a reader) instead of holding tsjail.
      : openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
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
