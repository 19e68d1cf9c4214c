// Resource limits with cgroups (--memory, --pids, --cpu): cgroup v2 where the controller is
// enabled there, else the v1 hierarchy of that controller (hybrid machines have both). The
// jail's cgroups are made below tsjail's own, joined by the jail before it starts anything,
// read after it ends to say which limit was hit, and removed.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JailError } from './errors';

export interface Limits {
  /** Bytes of memory. */
  readonly memory?: bigint;
  /** Most processes and threads at once. */
  readonly pids?: number;
  /** CPUs' worth of time (0.5 = half of one CPU). */
  readonly cpu?: number;
}

type Controller = 'memory' | 'pids' | 'cpu';

interface Placement { readonly controller: Controller; readonly version: 1 | 2; readonly dir: string }

const ROOT = '/sys/fs/cgroup';

/** tsjail's own cgroup path per hierarchy, from /proc/self/cgroup. */
function ownPaths(): { v2?: string; v1: Map<string, string> } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    if (controllers === '') v2 = path;
    else for (const c of controllers.split(',')) v1.set(c, path);
  }
  return { ...(v2 !== undefined ? { v2 } : {}), v1 };
}

/** Where the v2 hierarchy is mounted: /sys/fs/cgroup itself, or /sys/fs/cgroup/unified. */
function v2Root(): string | undefined {
  for (const dir of [ROOT, join(ROOT, 'unified')]) if (existsSync(join(dir, 'cgroup.controllers'))) return dir;
  return undefined;
}

function place(controller: Controller, name: string, own: ReturnType<typeof ownPaths>, unified: string | undefined): Placement {
  if (unified && own.v2 !== undefined) {
    const parent = join(unified, own.v2);
    const enabled = readFileSync(join(parent, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (enabled.includes(controller)) return { controller, version: 2, dir: join(parent, name) };
  }
  const path = own.v1.get(controller);
  const mount = join(ROOT, controller);
  if (path !== undefined && existsSync(join(mount, 'cgroup.procs'))) return { controller, version: 1, dir: join(mount, path, name) };
  throw new JailError(`cannot limit ${controller}: no cgroup v2 or v1 ${controller} controller is available here (is the cgroup filesystem mounted and delegated?)`);
}

function write(file: string, value: string, what: string): void {
  try {
    writeFileSync(file, value);
  } catch (e) {
    throw new JailError(`cannot set the ${what} limit: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} writing ${file}`);
  }
}

export class JailCgroups {
  /** One per limited controller; on cgroup v2 several share one directory. */
  private readonly placements: Placement[] = [];

  constructor(private readonly limits: Limits, name: string) {
    const wanted: Controller[] = [];
    if (limits.memory !== undefined) wanted.push('memory');
    if (limits.pids !== undefined) wanted.push('pids');
    if (limits.cpu !== undefined) wanted.push('cpu');
    const own = ownPaths();
    const unified = v2Root();
    try {
      for (const c of wanted) {
        const p = place(c, name, own, unified);
        if (!this.dirs().includes(p.dir)) {
          try {
            mkdirSync(p.dir);
          } catch (e) {
            throw new JailError(`cannot create the jail's ${c} cgroup ${p.dir}: ${(e as NodeJS.ErrnoException).code}`);
          }
        }
        this.placements.push(p);
        this.apply(p);
      }
    } catch (e) {
      // Nothing half-made stays behind: the caller never gets an object to remove.
      this.remove();
      throw e;
    }
  }

  private dirs(): string[] {
    return [...new Set(this.placements.map((p) => p.dir))];
  }

  private apply(p: Placement): void {
    const { memory, pids, cpu } = this.limits;
    if (p.controller === 'memory' && memory !== undefined) write(join(p.dir, p.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'), String(memory), 'memory');
    if (p.controller === 'pids' && pids !== undefined) write(join(p.dir, 'pids.max'), String(pids), 'pids');
    if (p.controller === 'cpu' && cpu !== undefined) {
      const period = 100000;
      const quota = Math.max(1000, Math.round(cpu * period));
      if (p.version === 2) write(join(p.dir, 'cpu.max'), `${quota} ${period}`, 'cpu');
      else {
        write(join(p.dir, 'cpu.cfs_period_us'), String(period), 'cpu');
        write(join(p.dir, 'cpu.cfs_quota_us'), String(quota), 'cpu');
      }
    }
  }

  /**
   * The files the jail is put in through: cgroup.procs, or on v1 `tasks`, which the jail's
   * single-threaded first process writes itself into without the kernel's global lock and its
   * RCU grace period (milliseconds per jail; the helper's open_cgroups).
   */
  joinFiles(): string[] {
    return [...new Map(this.placements.map((p) => [p.dir, join(p.dir, p.version === 1 ? 'tasks' : 'cgroup.procs')])).values()];
  }

  /** What the limits did, in words: "the memory limit (33554432 bytes) was hit: ...". */
  report(): string[] {
    const out: string[] = [];
    for (const p of this.placements) {
      const read = (f: string): string => { try { return readFileSync(join(p.dir, f), 'utf8'); } catch { return ''; } };
      const counter = (text: string, key: string): number => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      if (p.controller === 'memory') {
        const kills = p.version === 2 ? counter(read('memory.events'), 'oom_kill') : counter(read('memory.oom_control'), 'oom_kill');
        if (kills) out.push(`the memory limit (${this.limits.memory} bytes) was hit: the kernel's OOM killer ended ${kills} process${kills === 1 ? '' : 'es'}`);
      }
      if (p.controller === 'pids') {
        const refused = counter(read('pids.events'), 'max');
        if (refused) out.push(`the pids limit (${this.limits.pids}) was hit: ${refused} fork${refused === 1 ? ' was' : 's were'} refused`);
      }
    }
    return out;
  }

  /** Removes the jail's cgroups (empty once the jail has ended). */
  remove(): void {
    for (const dir of this.dirs()) {
      try { rmdirSync(dir); } catch { /* still busy or already gone */ }
    }
  }
}

/**
 * Removes the cgroups that a tsjail no longer running left below this one (one killed with
 * SIGKILL cannot remove its own). rmdir removes only an empty cgroup, so a busy one stays.
 */
export function removeStale(): void {
  const own = ownPaths();
  const unified = v2Root();
  const parents = new Set<string>();
  if (unified && own.v2 !== undefined) parents.add(join(unified, own.v2));
  for (const c of ['memory', 'pids', 'cpu'] as const) {
    const path = own.v1.get(c);
    if (path !== undefined) parents.add(join(ROOT, c, path));
  }
  const alive = (pid: number): boolean => {
    try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ESRCH'; }
  };
  for (const parent of parents) {
    let names: string[];
    try { names = readdirSync(parent); } catch { continue; }
    for (const name of names) {
      const m = /^tsjail-(?:probe-)?(\d+)-/.exec(name);
      if (m && !alive(Number(m[1]))) try { rmdirSync(join(parent, name)); } catch { /* busy, or not ours to remove */ }
    }
  }
}
