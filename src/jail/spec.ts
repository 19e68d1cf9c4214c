// Jail options (flags, a policy file's `jail` section, an OCI bundle) turned into the helper's
// spawn spec: namespaces, id maps, mounts, user, capabilities, limits, environment.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { resolveCapabilities } from './capabilities';
import { JailError } from './errors';
import type { MountSpec, SpawnSpec } from './helper';
import { jailEnvironment } from './environment';
import { bindMount, checkSysctl, isBindMount, ociMount, tmpfsMount } from './mounts';
import { fsMounts } from './fsMounts';
import { jailFs, type ResolvedFs } from './fsRules';
import { jailLandlock } from './landlock';
import { resolveNet, tcpConnectPorts } from './netRules';
import { RANGE_SIZE } from './idRange';
import { resolveGroup, resolveUser } from './users';
import { inInitialUserNamespace } from './userns';
import { type NamespaceName, JOINABLE, type JoinableNamespace, type IdMap, type JailOptions } from '../policy/jailSettings';

const CLONE_NEWNS = 0x00020000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWUTS = 0x04000000, CLONE_NEWIPC = 0x08000000,
  CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

export const NAMESPACES: Readonly<Record<NamespaceName, number>> = { user: CLONE_NEWUSER, pid: CLONE_NEWPID, net: CLONE_NEWNET, ipc: CLONE_NEWIPC, uts: CLONE_NEWUTS, mount: CLONE_NEWNS, cgroup: CLONE_NEWCGROUP } as const;

const CAP_SYS_ADMIN = 21, CAP_SETFCAP = 31;

const RLIMITS: Readonly<Record<string, number>> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10, sigpending: 11,
  msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

/** runc's defaults for a fresh /proc (and /sys), in every jail that mounts one. */
export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
] as const;
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;

/**
 * Whose ids the jail runs with: rootless (one's own, in a user namespace), a private range (a
 * root-started jail: its root maps to an unused host id), or the host's (--host-ids, a bundle
 * without a user namespace, or explicit maps).
 */
export type Identity = 'rootless' | 'private-range' | 'host';

export function jailIdentity(o: JailOptions): Identity {
  if (process.getuid?.() !== 0) return 'rootless';
  // Root of a user namespace (a container's, an outer jail's) has no host range to hand out:
  // its ids are already not the host's.
  return o.hostIds || o.noNamespaces || o.uidMap || o.gidMap || !inInitialUserNamespace() ? 'host' : 'private-range';
}

/**
 * True when a private-range jail may write host files as their owners (an idmapped writable
 * bind, a writable -r DIR, an overlay's upper directory): it then gets the set-id rules.
 */
export function writesHostFilesAsOwner(o: JailOptions, fs: ResolvedFs | undefined = jailFs(o)): boolean {
  // Without namespaces a root-started jail is the host's root: what it makes is root's.
  if (o.noNamespaces && process.getuid?.() === 0 && inInitialUserNamespace()) return true;
  if (jailIdentity(o) !== 'private-range') return false;
  const rwMount = (o.mounts ?? []).some((m) => isBindMount(m) && !(m.options ?? []).includes('ro'));
  // A writable file rule (the working directory, by default) is an idmapped bind too; '/' is not (the host's root as it is).
  const rwRule = fs?.rules.some((r) => r.access === 'rw' && r.path !== '/') ?? false;
  return (o.binds ?? []).some((b) => !b.readonly) || rwMount || rwRule || (o.root !== undefined && !o.readonlyRoot) || o.overlay !== undefined;
}

/** An allowlist's TCP ports, for Landlock's connect rules under the supervisor (all its TCP rules name ports). */
function tcpLayer(o: JailOptions): { tcpConnectPorts?: { from: number; to: number }[] } {
  const setting = resolveNet(o.net);
  const ports = setting.kind === 'allowlist' ? tcpConnectPorts(setting.rules) : undefined;
  return ports ? { tcpConnectPorts: ports } : {};
}

/** Namespaces a jail can join instead of creating (setns before anything else). */


/** The user namespace's maps: the given ones (any as root; rootless, only one's own id), else one's own ids. */
function idMaps(o: JailOptions, rootless: boolean, rangeBase: number | undefined): NonNullable<SpawnSpec['idMaps']> {
  if (rangeBase !== undefined) {
    const map = `0 ${rangeBase} ${RANGE_SIZE}\n`;
    return { uid: map, gid: map, denySetgroups: false };
  }
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

/** True when nothing is at `path` (not when it is only out of reach: the helper then says why). */
function missing(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * The helper's spec for a command; `filter` is the compiled seccomp program, if any;
 * `rangeBase` the host id a private-range jail's id 0 maps to (see idRange.ts); `fs` the file
 * rules (jailFs), when the caller has them already.
 */
export function buildSpawnSpec(command: readonly string[], filter: Uint8Array | undefined, o: JailOptions, rangeBase?: number, fs: ResolvedFs | undefined = jailFs(o)): SpawnSpec {
  if (!command.length) throw new JailError('no command given: tsjail run [OPTIONS] -- CMD [ARGS...]');
  const identity = jailIdentity(o);
  if (identity === 'private-range' && rangeBase === undefined) throw new Error('internal error: a private-range jail needs its id range');
  const rootless = identity === 'rootless';
  const privateRange = identity === 'private-range';
  let flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP;
  if (rootless || privateRange) flags |= CLONE_NEWUSER;
  const ownNetwork = o.network === false || o.net === 'none';
  if (ownNetwork) flags |= CLONE_NEWNET;
  if (o.network === false && o.net !== undefined && o.net !== 'none') throw new JailError(`--no-network gives the jail a network of its own with only lo, and --net ${typeof o.net === 'string' ? o.net : '/ --allow-net'} rules the host's: drop one`);
  for (const ns of o.unshare ?? []) flags |= NAMESPACES[ns];
  const joins = Object.entries(o.join ?? {}).map(([ns, path]) => {
    if (!(JOINABLE as readonly string[]).includes(ns)) throw new JailError(`cannot join a ${ns} namespace (joinable: ${JOINABLE.join(', ')})`);
    if (ns === 'net' && ownNetwork) throw new JailError('--no-network and joining a network namespace contradict each other');
    if (missing(path!)) throw new JailError(`cannot join the ${ns} namespace at ${path}: it does not exist`);
    flags &= ~NAMESPACES[ns as JoinableNamespace];
    return { type: NAMESPACES[ns as JoinableNamespace], path: resolve(path!) };
  });
  if (o.stage?.length && o.root) throw new JailError('--stage builds its own root: give it without --root');
  // A staged root: a fresh tmpfs (made in the jail: nothing on the host) with each staged file bound into it.
  // stage.ts reads ELF files: loaded only for --stage.
  const staged: MountSpec[] = o.stage?.length ? (require('./stage') as typeof import('./stage')).stagedMounts(o.stage) : [];
  const given = o.root ? resolve(o.root) : undefined;
  const user = o.user !== undefined ? resolveUser(o.user, given ?? '/') : undefined;
  if (privateRange && user && (user.uid >= RANGE_SIZE || user.gid >= RANGE_SIZE || user.groups.some((g) => g >= RANGE_SIZE))) {
    throw new JailError(`user ${o.user} (uid ${user.uid}) is outside the jail's ids (0-${RANGE_SIZE - 1}); --host-ids runs with the host's ids (unsafe for untrusted code)`);
  }
  if (o.group !== undefined && !user) throw new JailError('--group needs --user: the group goes with the user the command runs as');
  if (o.groups && !user) throw new JailError('supplementary groups need a user: the groups go with the user the command runs as');
  const gid = o.group !== undefined ? resolveGroup(o.group, given ?? '/') : user?.gid;
  const env = jailEnvironment(o, process.env, user);
  const path = env.find((e) => e.startsWith('PATH='))!.slice(5);
  // A private-range jail sees what it is given as the host does (idmapped: the jail's ids write as the host ids they map to).
  const idmapped = (m: MountSpec): MountSpec => (privateRange && m.kind === 'bind' ? { ...m, idmap: true } : m);
  // File rules first (parents first, as resolveFs sorted them); the jail's own mounts go on top.
  const ruled = fs ? fsMounts(fs, privateRange) : undefined;
  const mounts: MountSpec[] = [
    ...(ruled?.mounts ?? []),
    ...staged,
    ...(o.binds ?? []).map((b) => idmapped(bindMount(resolve(b.src), b.dst, b.readonly))),
    ...(o.tmpfs ?? []).map(tmpfsMount),
    ...(o.mounts ?? []).map((m) => idmapped(ociMount(m, process.cwd()))),
  ];
  for (const m of mounts) {
    if (!isAbsolute(m.dst)) throw new JailError(`mount destination '${m.dst}' must be an absolute path`);
    if (m.dst.split('/').includes('..')) throw new JailError(`mount destination '${m.dst}' must not contain '..'`);
    if (m.kind === 'bind' && missing(m.src)) throw new JailError(`cannot bind ${m.src}: it does not exist`);
  }
  if ((o.overlay || o.tmpOverlay) && !given) throw new JailError('--overlay and --tmp-overlay need --root DIR: the overlay goes over that directory');
  if (o.tmpOverlay && !/^\d+[kmg]?$/i.test(o.tmpOverlay)) throw new JailError(`bad --tmp-overlay size '${o.tmpOverlay}': e.g. 64m`);
  if ((o.uidMap || o.gidMap) && !(flags & CLONE_NEWUSER)) throw new JailError('uid/gid maps need a user namespace (--unshare-user)');
  for (const p of [...(o.maskedPaths ?? []), ...(o.readonlyPaths ?? [])]) if (!isAbsolute(p)) throw new JailError(`masked or read-only path '${p}' must be absolute`);
  if (o.maskedPaths?.length && (given || o.stage?.length) && o.dev === false) throw new JailError('masked paths are covered with the jail\'s /dev/null: add --dev');
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
  // Through an idmapped mount a file capability written by the jail's root is stored with the
  // host's root as its owner (a v2 capability, in force on the host): SETFCAP would plant them.
  if (privateRange && writesHostFilesAsOwner(o, fs) && Object.values(caps).some((set) => set.includes(CAP_SETFCAP))) {
    throw new JailError('CAP_SETFCAP cannot be kept where the jail writes host files as their owners (a writable --bind, -r DIR, --overlay): the file capabilities it set would hold on the host; drop it, make the mounts read-only, or use --host-ids (unsafe)');
  }
  // Read-only flags the jail's own user namespace set are not locked: with SYS_ADMIN (and mount
  // allowed) it could remount an idmapped read-only bind read-write and write as the host's root.
  const idmappedOrReadonly = mounts.some((m) => m.kind === 'bind' && m.idmap) || given !== undefined || o.readonlyRoot === true;
  if (privateRange && idmappedOrReadonly && Object.values(caps).some((set) => set.includes(CAP_SYS_ADMIN))) {
    throw new JailError('CAP_SYS_ADMIN cannot be kept in a root-started jail with binds, -r DIR or --ro-root: it could remount them read-write and write as the host\'s root; drop it or use --host-ids (unsafe)');
  }
  // Every jail's file rules are its own mounts: with SYS_ADMIN it could unmount a hide or remount the root read-write.
  if (fs && Object.values(caps).some((set) => set.includes(CAP_SYS_ADMIN))) {
    throw new JailError('CAP_SYS_ADMIN cannot be kept in a jail with file rules (the default on the host\'s root): it could unmount them and read the hidden secrets or write the read-only host; drop it, or use --host-fs (unsafe)');
  }
  const maps = flags & CLONE_NEWUSER ? idMaps(o, rootless, privateRange ? rangeBase : undefined) : undefined;
  const root = given;
  const mountProc = o.proc ?? (flags & CLONE_NEWPID) !== 0;
  // A minimal /dev unless the host's is asked for; runc's /proc defaults wherever a fresh /proc is.
  const mountDev = o.dev ?? true;
  // (Masking a file takes the jail's /dev/null: without --dev, only a jail on the host's root has one.)
  const masked = [...(mountProc && (mountDev || (!root && !o.stage?.length)) ? DEFAULT_MASKED_PATHS : []), ...(o.maskedPaths ?? [])];
  const readonlyPaths = [...(mountProc ? DEFAULT_READONLY_PATHS : []), ...(o.readonlyPaths ?? [])];
  return {
    cloneFlags: flags,
    ...(maps ? { idMaps: maps } : {}),
    mountProc,
    mountDev,
    readonlyRoot: (o.readonlyRoot ?? false) || (ruled?.readonlyRoot ?? false),
    ...(o.overlay ? { overlayUpper: resolve(o.overlay) } : {}),
    ...(o.tmpOverlay ? { overlaySize: o.tmpOverlay } : {}),
    ...(user ? { user: { uid: user.uid, gid: gid!, groups: o.groups ?? user.groups } } : {}),
    ...(sysctl.length ? { sysctl } : {}),
    ...(joins.length ? { join: joins } : {}),
    ...(masked.length ? { maskedPaths: [...new Set(masked)] } : {}),
    ...(readonlyPaths.length ? { readonlyPaths: [...new Set(readonlyPaths)] } : {}),
    ...(privateRange && (root || o.overlay) ? { rootIdmap: true } : {}),
    ...(o.stage?.length ? { rootTmpfs: true } : {}),
    caps,
    noNewPrivs: true,
    dieWithParent: true,
    newSession: true,
    rlimits,
    path: command[0]!,
    ...(o.hostname ? { hostname: o.hostname } : {}),
    ...(root ? { root } : {}),
    // (On the host's root with file rules, the working directory is entered again: the inherited one is beneath its bind.)
    ...(o.cwd ? { cwd: o.cwd } : root || o.stage?.length ? { cwd: '/' } : fs ? { cwd: process.cwd() } : {}),
    argv: command,
    env,
    search: path.split(':').filter(Boolean),
    mounts,
    ...(filter ? { filter } : {}),
    // The same file rules again, by Landlock, in the jail's view (after its mounts).
    ...jailLandlock(fs, { mounts, privateDev: mountDev && (flags & CLONE_NEWNS) !== 0, ...tcpLayer(o) }),
  };
}
