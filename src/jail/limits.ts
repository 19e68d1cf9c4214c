// Default resource limits: a fork bomb, a runaway allocation, a flood of open files or a core
// dump written where the jail says stop at the jail. Each is overridden by its explicit option
// (--pids, --memory, --rlimit NAME=N); --no-limits turns the defaults off. README "Resource
// limits" says why each number.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { JailCgroups, removeStale, type Limits } from './cgroups';
import type { JailOptions } from '../policy/jailSettings';

/** Processes and threads at once: a parallel build or a browser stays far below it, a fork bomb reaches it in milliseconds. */
export const DEFAULT_TASKS = 1024;
/** Open files: 4× the usual soft limit of 1024 (watchers, servers), small enough that a leak fails soon. */
export const DEFAULT_NOFILE = 4096;
/** Memory: half of the host's, so a runaway jail leaves the host the other half. */
export const defaultMemory = (): bigint => BigInt(Math.floor(totalmem() / 2));

/** An rlimit's key as spec.ts reads it: "NOFILE", "RLIMIT_NOFILE" and "nofile" are one. */
const key = (name: string): string => name.toLowerCase().replace(/^rlimit_/, '');

/** The hard limits tsjail itself runs under (an unprivileged jail cannot raise one). */
function hardLimits(): ReadonlyMap<string, bigint> {
  const names: Readonly<Record<string, string>> = { 'Max processes': 'nproc', 'Max open files': 'nofile', 'Max core file size': 'core' };
  const out = new Map<string, bigint>();
  for (const line of readFileSync('/proc/self/limits', 'utf8').split('\n')) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m && names[m[1]!];
    if (name) out.set(name, m[3] === 'unlimited' ? (1n << 64n) - 1n : BigInt(m[3]!));
  }
  return out;
}

/**
 * Whether a cgroup with this kind of limit can be made here (tried once per process, then
 * removed): a process that starts many jails (the library) probes once, not twice per jail. Should
 * it stop working later, the jail's own cgroup fails to be made and the jail does not start.
 */
const probed = new Map<keyof Limits, boolean>();
function cgroupWorks(limits: Limits): boolean {
  const kind = Object.keys(limits)[0] as keyof Limits;
  let works = probed.get(kind);
  if (works === undefined) {
    try {
      new JailCgroups(limits, `tsjail-probe-${process.pid}-${Date.now().toString(36)}`).remove();
      works = true;
    } catch {
      // Any failure (no controller, not delegated, read-only cgroupfs) means: not here.
      works = false;
    }
    probed.set(kind, works);
  }
  return works;
}

/** What a killed tsjail left is removed once per process (before its first jail's cgroups). */
let staleRemoved = false;

/**
 * True when the jail's first process joins its cgroups as a mapped id other than host root (a
 * uid map whose 0 is another host id): it may not write the root-owned cgroup.procs, so the
 * defaults use no cgroup there.
 */
function joinsAsMappedId(o: JailOptions): boolean {
  const zero = (maps: JailOptions['uidMap']): boolean => (maps ?? []).some((m) => m.containerID === 0 && m.hostID !== 0);
  return zero(o.uidMap) || zero(o.gidMap);
}

/** True when the jail's processes run as host uid 0, which RLIMIT_NPROC does not count. */
function runsAsHostRoot(o: JailOptions): boolean {
  if (process.getuid?.() !== 0 || (o.unshare ?? []).includes('user') || o.uidMap !== undefined) return false;
  return o.user === undefined || o.user === '0' || o.user === 'root';
}

/**
 * The options with the default limits added where no explicit one is given. Tasks: the pids
 * cgroup where one can be made, else RLIMIT_NPROC (which the kernel counts per uid within the
 * jail's user namespace). Memory: the memory cgroup where one can be made, else none.
 */
export function withDefaultLimits(o: JailOptions, log: (msg: string) => void): JailOptions {
  // Every run makes cgroups where it can: what a killed tsjail left is removed first.
  if (!staleRemoved) { removeStale(); staleRemoved = true; }
  if (o.noLimits) return o;
  const mapped = joinsAsMappedId(o);
  const given = new Set(Object.keys(o.rlimits ?? {}).map(key));
  const hard = hardLimits();
  const capped = (name: string, value: bigint): bigint => {
    const h = hard.get(name);
    return h !== undefined && h < value ? h : value;
  };
  const rlimits: Record<string, bigint> = {};
  if (!given.has('nofile')) rlimits.nofile = capped('nofile', BigInt(DEFAULT_NOFILE));
  if (!given.has('core')) rlimits.core = 0n;
  let pids: number | undefined;
  if (o.pids === undefined && !given.has('nproc')) {
    if (!mapped && cgroupWorks({ pids: DEFAULT_TASKS })) pids = DEFAULT_TASKS;
    else if (runsAsHostRoot(o)) log(`WARNING: no default task limit: no pids cgroup can be made here and RLIMIT_NPROC does not apply to host root; give --pids N or --user`);
    else rlimits.nproc = capped('nproc', BigInt(DEFAULT_TASKS));
  }
  const memory = o.memory === undefined && !mapped && cgroupWorks({ memory: defaultMemory() }) ? defaultMemory() : undefined;
  return {
    ...o,
    rlimits: { ...rlimits, ...(o.rlimits ?? {}) },
    ...(pids !== undefined ? { pids } : {}),
    ...(memory !== undefined ? { memory } : {}),
  };
}
