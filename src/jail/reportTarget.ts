// Where denial records go: --report FILE, or a file descriptor tsjail was given (--report-fd N,
// or --report /dev/fd/N, written as fd N itself: reopening /dev/fd/N fails for a socket, ENXIO,
// and a socketpair is what Node gives a child for stdio 'pipe').
import { constants as fsConstants, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { JailError } from './errors';

const linkOf = (path: string): string | undefined => { try { return readlinkSync(path); } catch { return undefined; } };

/** The report's file, or the inherited fd it is written to (checked: open for writing, not one of tsjail's own). */
export function reportTarget(report: string | undefined, reportFd: number | undefined): { reportFile?: string; reportFd?: number } {
  const inherited = reportFd ?? (report !== undefined ? /^\/(?:dev|proc\/self)\/fd\/(\d+)$/.exec(report)?.[1] : undefined);
  if (inherited === undefined) return report !== undefined ? { reportFile: report } : {};
  const fd = Number(inherited);
  checkGivenFd(fd, reportFd !== undefined ? `--report-fd ${fd}` : `--report ${report}`);
  return { reportFd: fd };
}

/** Refuses an fd tsjail was not given open for writing (closed, read-only, or one of Node's own), naming `what`. */
export function checkGivenFd(fd: number, what: string): void {
  if (!Number.isInteger(fd) || fd < 0) throw new JailError(`cannot write ${what}: ${fd} is not a file descriptor (a number from 0)`);
  let flags: number;
  let target: string;
  try {
    flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    throw new JailError(`cannot write ${what}: fd ${fd} is not open: open it for tsjail, e.g. ${fd}>file or a pipe`);
  }
  // Node's own fds (its event loop's epoll and eventfd, its self-pipes) are never a report's.
  const ownPipe = target.startsWith('pipe:') && readdirSync('/proc/self/fd').some((o) => Number(o) !== fd && linkOf(`/proc/self/fd/${o}`) === target);
  if (target.startsWith('anon_inode:') || ownPipe) throw new JailError(`cannot write ${what}: fd ${fd} is tsjail's own (${target}), not one given to it: open it for tsjail, e.g. ${fd}>file or a pipe`);
  if ((flags & 3) === fsConstants.O_RDONLY) throw new JailError(`cannot write ${what}: fd ${fd} is open only for reading`);
}
