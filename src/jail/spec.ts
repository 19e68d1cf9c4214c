// Jail options (flags, a policy file's `jail` section, an OCI bundle) turned into the helper's
// spawn spec: namespaces, id maps, mounts, user, capabilities, limits, environment.
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { resolveCapabilities, type CapabilitySets } from './capabilities';
import { JailError } from './errors';
import type { MountSpec, SpawnSpec } from './helper';
import { bindMount, checkSysctl, ociMount, tmpfsMount, type OciMount } from './mounts';
import { resolveGroup, resolveUser } from './users';

const CLONE_NEWNS = 0x00020000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWUTS = 0x04000000, CLONE_NEWIPC = 0x08000000,
  CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

export const NAMESPACES = { user: CLONE_NEWUSER, pid: CLONE_NEWPID, net: CLONE_NEWNET, ipc: CLONE_NEWIPC, uts: CLONE_NEWUTS, mount: CLONE_NEWNS, cgroup: CLONE_NEWCGROUP } as const;
export type NamespaceName = keyof typeof NAMESPACES;

const RLIMITS: Readonly<Record<string, number>> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10, sigpending: 11,
  msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

/** Everything `tsjail run` can be told, from flags or from a policy file's `jail` section. */
export interface JailOptions {
  readonly network?: boolean;
  readonly root?: string;
  readonly user?: string;
  readonly cwd?: string;
  readonly insecure?: boolean;
  readonly hostname?: string;
  readonly unshare?: readonly NamespaceName[];
  readonly binds?: readonly { readonly src: string; readonly dst: string; readonly readonly: boolean }[];
  readonly tmpfs?: readonly string[];
  readonly dev?: boolean;
  readonly proc?: boolean;
  readonly env?: Readonly<Record<string, string>>;
  readonly clearEnv?: boolean;
  readonly keepEnv?: readonly string[];
  readonly rlimits?: Readonly<Record<string, number | bigint>>;
  readonly timeoutSeconds?: number;
  /** After SIGTERM/SIGINT to tsjail (forwarded to the jail), kill the whole jail this much later (default 10). */
  readonly killAfterSeconds?: number;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /** Capabilities to keep in every set (all others are dropped)... */
  readonly capKeep?: readonly string[];
  /** ...and per set (ujail -C, OCI process.capabilities): { ambient: ['CAP_NET_BIND_SERVICE'], ... }. */
  readonly capabilities?: CapabilitySets;
  /** Primary group (name or gid), with `user`. */
  readonly group?: string;
  /** log: report the policy's denials but let the calls run. */
  readonly log?: boolean;
  /** Also write each denial as a JSON line to this file. */
  readonly report?: string;
  /** Remount the jail's root read-only. */
  readonly readonlyRoot?: boolean;
  /** With `root`: an overlay root whose writes persist in this directory (ujail -O)... */
  readonly overlay?: string;
  /** ...or vanish with a tmpfs of this size (ujail -T), e.g. "64m". */
  readonly tmpOverlay?: string;
  /** A fresh empty root holding only these paths (ELF programs with their loader and libraries). */
  readonly stage?: readonly { readonly path: string; readonly writable: boolean }[];
  /** Write the jail's first pid here (ujail -P); removed when the jail ends. */
  readonly pidfile?: string;
  /** A name for the jail, shown in reports. */
  readonly name?: string;
  /** bubblewrap's --json-status-fd: child pid and namespace ids at start, exit code at the end. */
  readonly jsonStatusFd?: number;
  /** cgroup limits: bytes of memory, most processes, CPUs' worth of time. */
  readonly memory?: bigint;
  readonly pids?: number;
  readonly cpu?: number;
  /** Load the policy's filter just before main() (dynamic programs; see late.ts). */
  readonly late?: boolean;
  /** More mounts, as OCI writes them (bind, tmpfs, devpts, mqueue, sysfs, cgroup), in order, after binds and tmpfs. */
  readonly mounts?: readonly OciMount[];
  /** Namespaced sysctls to set in the jail: { 'net.ipv4.ip_forward': '1' }. */
  readonly sysctl?: Readonly<Record<string, string>>;
  /** Paths hidden (OCI maskedPaths) and made read-only (OCI readonlyPaths) once /proc is mounted. */
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
  /** Supplementary groups (gids) in place of the user's own, with `user`. */
  readonly groups?: readonly number[];
  /** With a user namespace: its id maps, as OCI writes them (default: tsjail's own ids, identically). */
  readonly uidMap?: readonly IdMap[];
  readonly gidMap?: readonly IdMap[];
  /** Existing namespaces to join, by path: { net: '/run/netns/blue' } (ip netns, a container's /proc/PID/ns/net). */
  readonly join?: Readonly<Partial<Record<JoinableNamespace, string>>>;
}

/** Namespaces a jail can join instead of creating (setns before anything else). */
export const JOINABLE = ['net', 'ipc', 'uts', 'cgroup'] as const;
export type JoinableNamespace = (typeof JOINABLE)[number];

export interface IdMap { readonly containerID: number; readonly hostID: number; readonly size: number }

/** The user namespace's maps: the given ones (any as root; rootless, only one's own id), else one's own ids. */
function idMaps(o: JailOptions, rootless: boolean): NonNullable<SpawnSpec['idMaps']> {
  const own = (id: number): IdMap[] => [{ containerID: id, hostID: id, size: 1 }];
  const text = (maps: readonly IdMap[], kind: string, ownId: number): string => {
    for (const m of maps) {
      if (![m.containerID, m.hostID, m.size].every((v) => Number.isInteger(v) && v >= 0) || m.size === 0) throw new JailError(`bad ${kind} map entry ${JSON.stringify(m)}`);
      if (rootless && (m.hostID !== ownId || m.size !== 1)) throw new JailError(`rootless, only your own ${kind} (${ownId}) can be mapped: run tsjail as root to map ${m.hostID}+${m.size}`);
    }
    return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
  };
  return {
    uid: text(o.uidMap ?? own(process.getuid!()), 'uid', process.getuid!()),
    gid: text(o.gidMap ?? own(process.getgid!()), 'gid', process.getgid!()),
    denySetgroups: rootless,
  };
}

function environment(o: JailOptions): string[] {
  const env = new Map<string, string>();
  const inherited = o.clearEnv ? (o.keepEnv ?? []) : Object.keys(process.env);
  for (const k of inherited) if (process.env[k] !== undefined) env.set(k, process.env[k]!);
  for (const [k, v] of Object.entries(o.env ?? {})) env.set(k, v);
  if (!env.has('PATH')) env.set('PATH', '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** Bind mounts for staged paths: files and directories as given, ELF programs with their needs. */
function stagedMounts(stage: readonly { path: string; writable: boolean }[]): MountSpec[] {
  const { elfClosure } = require('./elf') as typeof import('./elf');
  const out = new Map<string, MountSpec>();
  for (const { path, writable } of stage) {
    const abs = resolve(path);
    if (!existsSync(abs)) throw new JailError(`cannot stage ${path}: it does not exist`);
    for (const f of statSync(abs).isDirectory() ? [abs] : elfClosure(abs)) {
      out.set(f, bindMount(f, f, f === abs ? !writable : true));
    }
  }
  return [...out.values()];
}

/** True when nothing is at `path` (not when it is only out of reach: the helper then says why). */
function missing(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** The helper's spec for a command; `filter` is the compiled seccomp program, if any. */
export function buildSpawnSpec(command: readonly string[], filter: Uint8Array | undefined, o: JailOptions): SpawnSpec {
  if (!command.length) throw new JailError('no command given: tsjail run [OPTIONS] -- CMD [ARGS...]');
  const rootless = process.getuid?.() !== 0;
  let flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS;
  if (rootless) flags |= CLONE_NEWUSER;
  if (o.network === false) flags |= CLONE_NEWNET;
  for (const ns of o.unshare ?? []) flags |= NAMESPACES[ns];
  const joins = Object.entries(o.join ?? {}).map(([ns, path]) => {
    if (!(JOINABLE as readonly string[]).includes(ns)) throw new JailError(`cannot join a ${ns} namespace (joinable: ${JOINABLE.join(', ')})`);
    if (ns === 'net' && o.network === false) throw new JailError('--no-network and joining a network namespace contradict each other');
    if (missing(path!)) throw new JailError(`cannot join the ${ns} namespace at ${path}: it does not exist`);
    flags &= ~NAMESPACES[ns as JoinableNamespace];
    return { type: NAMESPACES[ns as JoinableNamespace], path: resolve(path!) };
  });
  if (o.stage?.length && o.root) throw new JailError('--stage builds its own root: give it without --root');
  // A staged root: an empty directory covered by a tmpfs, with each staged file bound into it.
  const staged: MountSpec[] = o.stage?.length ? [tmpfsMount('/'), ...stagedMounts(o.stage)] : [];
  // A staged root is made last (nothing to clean up after a bad option); its files are the host's.
  const given = o.root ? resolve(o.root) : undefined;
  const user = o.user !== undefined ? resolveUser(o.user, given ?? '/') : undefined;
  if (o.group !== undefined && !user) throw new JailError('--group needs --user: the group goes with the user the command runs as');
  if (o.groups && !user) throw new JailError('supplementary groups need a user: the groups go with the user the command runs as');
  const gid = o.group !== undefined ? resolveGroup(o.group, given ?? '/') : user?.gid;
  const env = environment(o);
  const path = env.find((e) => e.startsWith('PATH='))!.slice(5);
  const mounts: MountSpec[] = [
    ...staged,
    ...(o.binds ?? []).map((b) => bindMount(resolve(b.src), b.dst, b.readonly)),
    ...(o.tmpfs ?? []).map(tmpfsMount),
    ...(o.mounts ?? []).map((m) => ociMount(m, process.cwd())),
  ];
  for (const m of mounts) if (!isAbsolute(m.dst)) throw new JailError(`mount destination '${m.dst}' must be an absolute path`);
  if ((o.overlay || o.tmpOverlay) && !given) throw new JailError('--overlay and --tmp-overlay need --root DIR: the overlay goes over that directory');
  if (o.tmpOverlay && !/^\d+[kmg]?$/i.test(o.tmpOverlay)) throw new JailError(`bad --tmp-overlay size '${o.tmpOverlay}': e.g. 64m`);
  if ((o.uidMap || o.gidMap) && !(flags & CLONE_NEWUSER)) throw new JailError('uid/gid maps need a user namespace (--unshare-user)');
  for (const p of [...(o.maskedPaths ?? []), ...(o.readonlyPaths ?? [])]) if (!isAbsolute(p)) throw new JailError(`masked or read-only path '${p}' must be absolute`);
  if (o.maskedPaths?.length && (given || o.stage?.length) && !o.dev) throw new JailError('masked paths are covered with the jail\'s /dev/null: add --dev');
  const sysctl = Object.entries(o.sysctl ?? {}).map(([key, value]) => {
    checkSysctl(key, { ipc: (flags & CLONE_NEWIPC) !== 0, net: (flags & CLONE_NEWNET) !== 0, uts: (flags & CLONE_NEWUTS) !== 0 });
    return `${key}=${value}`;
  });
  const rlimits = Object.entries(o.rlimits ?? {}).map(([name, value]) => {
    const resource = RLIMITS[name.toLowerCase().replace(/^rlimit_/, '')];
    if (resource === undefined) throw new JailError(`unknown resource limit '${name}' (known: ${Object.keys(RLIMITS).join(', ')})`);
    return { resource, value: BigInt(value) };
  });
  const caps = resolveCapabilities(o.capKeep, o.capabilities);
  const maps = flags & CLONE_NEWUSER ? idMaps(o, rootless) : undefined;
  const root = o.stage?.length ? mkdtempSync(join(tmpdir(), 'tsjail-stage-')) : given;
  return {
    cloneFlags: flags,
    ...(maps ? { idMaps: maps } : {}),
    mountProc: o.proc ?? (flags & CLONE_NEWPID) !== 0,
    mountDev: o.dev ?? false,
    readonlyRoot: o.readonlyRoot ?? false,
    ...(o.overlay ? { overlayUpper: resolve(o.overlay) } : {}),
    ...(o.tmpOverlay ? { overlaySize: o.tmpOverlay } : {}),
    ...(user ? { user: { uid: user.uid, gid: gid!, groups: o.groups ?? user.groups } } : {}),
    ...(sysctl.length ? { sysctl } : {}),
    ...(joins.length ? { join: joins } : {}),
    ...(o.maskedPaths?.length ? { maskedPaths: o.maskedPaths } : {}),
    ...(o.readonlyPaths?.length ? { readonlyPaths: o.readonlyPaths } : {}),
    caps,
    noNewPrivs: true,
    dieWithParent: true,
    newSession: true,
    rlimits,
    path: command[0]!,
    ...(o.hostname ? { hostname: o.hostname } : {}),
    ...(root ? { root } : {}),
    ...(o.cwd ? { cwd: o.cwd } : root ? { cwd: '/' } : {}),
    argv: command,
    env,
    search: path.split(':').filter(Boolean),
    mounts,
    ...(filter ? { filter } : {}),
  };
}
