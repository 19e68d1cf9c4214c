// The command itself, where a PID 1 (or keeper) stands between it and tsjail, through a pidfd
// opened on it while it runs: how it ended (PID 1 exits with 128+N after signal N, the same status
// as a command that exits with 128+N itself; the pidfd keeps the command's wait status once it is
// reaped, PIDFD_GET_INFO with PIDFD_INFO_EXIT, Linux 6.15), so the library reports a signal as
// child_process does; and the signals PID 1 does not forward, sent to it with no pid to reuse.

import { readFileSync } from 'node:fs';

interface Libc {
  pidfdOpen(pid: number): number;
  pidfdSendSignal(fd: number, signal: number): number;
  getInfo(fd: number, info: Buffer): number;
  close(fd: number): number;
}

/** pidfd_open and pidfd_send_signal: the same numbers on every ABI (asm-generic and the others alike). */
const SYS_PIDFD_OPEN = 434, SYS_PIDFD_SEND_SIGNAL = 424;
/** struct pidfd_info as of Linux 6.15 (PIDFD_INFO_SIZE_VER0): mask, cgroupid, 11 ids, exit_code. */
const INFO_SIZE = 64;
const PIDFD_INFO_EXIT = 1n << 3n;
/** _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info). */
const PIDFD_GET_INFO = ((3 << 30) | (INFO_SIZE << 16) | (0xff << 8) | 11) >>> 0;
const PPID_OFFSET = 24, EXIT_CODE_OFFSET = 60;

let libc: Libc | undefined;

function bindLibc(): Libc {
  if (libc) return libc;
  const koffi = require('koffi') as { load(path: string): { func(decl: string): (...args: unknown[]) => number } };
  const c = koffi.load('libc.so.6');
  const syscall = c.func('long syscall(long, ...)');
  const ioctl = c.func('int ioctl(int, unsigned long, _Inout_ uint8_t *info)');
  const close = c.func('int close(int)');
  libc = {
    pidfdOpen: (pid) => Number(syscall(SYS_PIDFD_OPEN, 'int', pid, 'unsigned int', 0)),
    pidfdSendSignal: (fd, signal) => Number(syscall(SYS_PIDFD_SEND_SIGNAL, 'int', fd, 'int', signal, 'void *', null, 'unsigned int', 0)),
    getInfo: (fd, info) => ioctl(fd, PIDFD_GET_INFO, info),
    close: (fd) => close(fd),
  };
  return libc;
}

/** The command's end as its pidfd keeps it: its raw wait status once reaped, where the kernel keeps one. */
export interface ExitWatch {
  /** The wait status (signal in the low 7 bits, exit code above), or undefined if the kernel did not keep it. */
  status(): number | undefined;
  /** Sends `signal` to the command itself; false once it is gone. */
  signal(signal: number): boolean;
  close(): void;
}

function info(c: Libc, fd: number): Buffer | undefined {
  const buf = Buffer.alloc(INFO_SIZE);
  buf.writeBigUInt64LE(PIDFD_INFO_EXIT, 0);
  return c.getInfo(fd, buf) === 0 ? buf : undefined;
}

/** Before PIDFD_GET_INFO (Linux 6.13): the parent as /proc says it. */
function parentFromProc(pid: number): number | undefined {
  try {
    return Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * A watch on `pid`, a child of `parent` (checked after the pidfd is open: a pid read from /proc
 * may have been reused); undefined where the kernel has no pidfds (before 5.3) or the process is gone.
 */
export function watchExit(pid: number, parent: number): ExitWatch | undefined {
  let c: Libc;
  try { c = bindLibc(); } catch { return undefined; }
  const fd = c.pidfdOpen(pid);
  if (fd < 0) return undefined;
  // The pidfd holds the pid: checked now, it is the command's (not a reused pid) for good.
  const first = info(c, fd);
  if ((first ? first.readUInt32LE(PPID_OFFSET) : parentFromProc(pid)) !== parent) { c.close(fd); return undefined; }
  let open = true;
  return {
    status: () => {
      if (!open) return undefined;
      const now = info(c, fd);
      return now && (now.readBigUInt64LE(0) & PIDFD_INFO_EXIT) !== 0n ? now.readInt32LE(EXIT_CODE_OFFSET) : undefined;
    },
    signal: (signal) => open && c.pidfdSendSignal(fd, signal) === 0,
    close: () => { if (open) { open = false; c.close(fd); } },
  };
}
