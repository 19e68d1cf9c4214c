// How the command ended, where its PID 1 cannot say: PID 1 exits with 128+N after signal N, the
// same status as a command that exits with 128+N itself. A pidfd opened on the command while it
// runs keeps its wait status once it is reaped (PIDFD_GET_INFO with PIDFD_INFO_EXIT, Linux 6.15),
// so the library can report a signal as child_process does (exitCode null, signalCode set).

interface Libc {
  pidfdOpen(pid: number): number;
  getInfo(fd: number, info: Buffer): number;
  close(fd: number): number;
}

const SYS_PIDFD_OPEN: Readonly<Record<string, number>> = { x64: 434, arm64: 434, arm: 434, ia32: 434, riscv64: 434, ppc64: 434, s390x: 434, loong64: 434 };
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
  const nr = SYS_PIDFD_OPEN[process.arch] ?? 434;
  libc = {
    pidfdOpen: (pid) => Number(syscall(nr, 'int', pid, 'unsigned int', 0)),
    getInfo: (fd, info) => ioctl(fd, PIDFD_GET_INFO, info),
    close: (fd) => close(fd),
  };
  return libc;
}

/** The command's end as its pidfd keeps it: its raw wait status once reaped, where the kernel keeps one. */
export interface ExitWatch {
  /** The wait status (signal in the low 7 bits, exit code above), or undefined if the kernel did not keep it. */
  status(): number | undefined;
  close(): void;
}

function info(c: Libc, fd: number): Buffer | undefined {
  const buf = Buffer.alloc(INFO_SIZE);
  buf.writeBigUInt64LE(PIDFD_INFO_EXIT, 0);
  return c.getInfo(fd, buf) === 0 ? buf : undefined;
}

/**
 * A watch on `pid`, a child of `parent` (checked after the pidfd is open: a pid read from /proc
 * may have been reused); undefined where the kernel has no pidfds or the process is gone.
 */
export function watchExit(pid: number, parent: number): ExitWatch | undefined {
  let c: Libc;
  try { c = bindLibc(); } catch { return undefined; }
  const fd = c.pidfdOpen(pid);
  if (fd < 0) return undefined;
  const first = info(c, fd);
  // Without PIDFD_GET_INFO (before 6.13) nothing is learnt; another parent: not the command.
  if (!first || first.readUInt32LE(PPID_OFFSET) !== parent) { c.close(fd); return undefined; }
  let open = true;
  return {
    status: () => {
      if (!open) return undefined;
      const now = info(c, fd);
      return now && (now.readBigUInt64LE(0) & PIDFD_INFO_EXIT) !== 0n ? now.readInt32LE(EXIT_CODE_OFFSET) : undefined;
    },
    close: () => { if (open) { open = false; c.close(fd); } },
  };
}
