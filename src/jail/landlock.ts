// The file rules (fsRules.ts) as a Landlock ruleset: the second, kernel-enforced layer beside the
// mount layer, and the only one where there is no mount namespace. Landlock only grants, and a
// grant holds beneath its path, so "everything except these" is expressed by its complement:
// along the way from '/' to each path that is refused, only the siblings of that way get the
// right. The complement is computed once at start from the directories on the way (readdir of
// each, nothing deeper): a path created there later gets no rule, and so no access. That is the
// point for secrets (~/.aws/credentials made during the run stays unreadable), and the price:
// a new entry in a directory on the way to a secret (a new file directly in ~) is unreadable too.
//
// What Landlock cannot say, and the mount layer alone holds:
// - names stay listable (READ_DIR) beneath a directory on the way: `ls ~/.ssh` shows the names,
//   never the contents;
// - a refusal inside a writable directory (--hide or --ro beneath --rw): a grant to write
//   beneath P is a grant for everything beneath P, so such a rule is reported in `uncarved`.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { JailError } from './errors';
import { decidingRule, type FsRule, type ResolvedFs } from './fsRules';
import { landlockAbi, type MountSpec } from './helper';

/** LANDLOCK_ACCESS_FS_* (linux/landlock.h). */
export const FS = {
  EXECUTE: 1 << 0, WRITE_FILE: 1 << 1, READ_FILE: 1 << 2, READ_DIR: 1 << 3, REMOVE_DIR: 1 << 4, REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6, MAKE_DIR: 1 << 7, MAKE_REG: 1 << 8, MAKE_SOCK: 1 << 9, MAKE_FIFO: 1 << 10, MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12, REFER: 1 << 13, TRUNCATE: 1 << 14, IOCTL_DEV: 1 << 15,
} as const;

/** LANDLOCK_SCOPE_* (ABI 6). */
export const SCOPE = { ABSTRACT_UNIX_SOCKET: 1 << 0, SIGNAL: 1 << 1 } as const;

/** landlock_restrict_self flags (ABI 7). */
export const RESTRICT_SELF = { LOG_SAME_EXEC_OFF: 1 << 0, LOG_NEW_EXEC_ON: 1 << 1, LOG_SUBDOMAINS_OFF: 1 << 2 } as const;

/** The file rights each ABI knows (index = ABI; 0: no Landlock). */
const FS_BY_ABI = [0, (1 << 13) - 1, (1 << 14) - 1, (1 << 15) - 1, (1 << 15) - 1, (1 << 16) - 1, (1 << 16) - 1, (1 << 16) - 1];

/** All file rights the kernel of this ABI handles (later ABIs know no more than 7 here). */
export function handledFsRights(abi: number): number {
  return FS_BY_ABI[Math.max(0, Math.min(abi, FS_BY_ABI.length - 1))]!;
}

const READ = FS.READ_FILE | FS.READ_DIR;
/** Everything a writable directory allows; never device nodes (MAKE_CHAR, MAKE_BLOCK): none is left behind. */
const WRITE = FS.WRITE_FILE | FS.TRUNCATE | FS.MAKE_DIR | FS.MAKE_REG | FS.MAKE_SOCK | FS.MAKE_FIFO | FS.MAKE_SYM
  | FS.REMOVE_DIR | FS.REMOVE_FILE | FS.REFER;
const DEVICE_WRITE = FS.WRITE_FILE | FS.TRUNCATE;
/** The rights a rule on a file (not a directory) may carry; the helper masks the others off there. */
export const FILE_RIGHTS = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;

export interface LandlockRule {
  /** Absolute, as the jail sees it; opened without following symlinks (a symlink or a missing path gets no grant). */
  readonly path: string;
  readonly rights: number;
}

export interface LandlockRuleset {
  /**
   * The file rights refused unless a rule grants them (0: no file rules, only scopes). With file
   * rules, the stdio files the jail is given (a tty, a redirected file) stay re-openable as they
   * were opened (/dev/stdout): the helper grants them.
   */
  readonly handledFs: number;
  readonly scoped: number;
  readonly restrictFlags: number;
  readonly rules: readonly LandlockRule[];
  /**
   * The network layer (ABI 4): with an allowlist whose TCP rules all name ports, TCP connects
   * only to those ports (a second layer under the supervisor, which decides the addresses).
   */
  readonly netConnectPorts?: readonly number[];
}

/** A mount the jail is given on top of the rules (--bind, --tmpfs, an OCI mount): what is at its destination. */
export interface MountGrant { readonly path: string; readonly writable: boolean }

export interface LandlockInputs {
  readonly abi: number;
  /** Mounts beyond the rules: their destinations get what the mount gives. */
  readonly mounts?: readonly MountGrant[];
  /** The jail has its own /dev (its own devpts and /dev/shm): only then are those writable. */
  readonly privateDev: boolean;
  /** Names in a directory (the default reads the host's; tests give their own). */
  readonly list?: (dir: string) => readonly string[];
}

export interface LandlockPlan {
  readonly ruleset: LandlockRuleset;
  /** Refusals inside writable directories that Landlock cannot carve (the mount layer holds them). */
  readonly uncarved: readonly { readonly path: string; readonly inside: string }[];
}

/** More rules than this is not a ruleset but a mistake (a directory of thousands of entries on the way to a secret). */
export const MAX_RULES = 4096;

const writable = (r: FsRule): boolean => r.access === 'rw' || r.access === 'tmpfs';

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : dir + sep);
}

function isDirectory(path: string): boolean {
  try { return lstatSync(path).isDirectory(); } catch { return false; }
}

function isSymlink(path: string): boolean {
  try { return lstatSync(path).isSymbolicLink(); } catch { return false; }
}

/** The names in `dir`; the symlinks among them added to `links` (from the directory entries: no lstat each). */
function hostList(dir: string, links: Set<string>): readonly string[] {
  try {
    const entries = readdirSync(dir, { withFileTypes: true });
    for (const e of entries) if (e.isSymbolicLink()) links.add(join(dir, e.name));
    return entries.map((e) => e.name);
  } catch {
    return []; // unreadable: its unknown entries get no grant (fail closed)
  }
}

/**
 * The grants of one kind of right: `allowed` says where the rules give it. A refusal beneath a
 * granted directory is carved out by granting that directory's other entries instead; inside a
 * writable directory it is not (see the file comment), and is reported.
 */
function carve(
  rules: readonly FsRule[], allowed: (r: FsRule) => boolean, rights: number, chainRights: number,
  list: (dir: string) => readonly string[], isLink: (path: string) => boolean, grant: (path: string, rights: number) => void,
  uncarved: (path: string, inside: string) => void,
): void {
  const exact = new Map(rules.map((r) => [r.path, r]));
  const beneath = (dir: string): FsRule[] => rules.filter((r) => r.path !== dir && within(r.path, dir));
  const visit = (dir: string, rule: FsRule): void => {
    const below = beneath(dir);
    if (allowed(rule)) {
      const refused = below.filter((r) => !allowed(r));
      if (!refused.length) { grant(dir, rights); return; }
      if (writable(rule)) {
        for (const r of refused) uncarved(r.path, dir);
        grant(dir, rights);
        return;
      }
      // A directory on the way to a refusal: its entries, as they are now, each decided alone.
      if (chainRights) grant(dir, chainRights);
      // The entries a rule beneath names (by its first component here) are visited, the others granted.
      const ruled = new Set(below.map((r) => r.path.slice(dir === '/' ? 1 : dir.length + 1).split('/')[0]!));
      for (const name of [...new Set([...list(dir), ...ruled])].sort()) {
        const path = join(dir, name);
        if (ruled.has(name)) visit(path, exact.get(path) ?? rule);
        else if (!isLink(path)) grant(path, rights); // a symlink: its target's rules decide
      }
    } else {
      // Refused here: only the rules beneath that decide their own subtree can grant.
      for (const r of below) if (!below.some((q) => q !== r && within(r.path, q.path))) visit(r.path, r);
    }
  };
  visit('/', exact.get('/') ?? decidingRule(rules, '/'));
}

/** The devices every program writes (and the terminal ones it also drives by ioctl). */
function deviceGrants(privateDev: boolean): LandlockRule[] {
  const tty = DEVICE_WRITE | FS.IOCTL_DEV;
  return [
    ...['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom'].map((path) => ({ path, rights: DEVICE_WRITE })),
    { path: '/dev/tty', rights: tty },
    // The jail's own devpts instance and /dev/shm; the host's are other sessions' terminals and shared memory.
    ...(privateDev ? [{ path: '/dev/ptmx', rights: tty }, { path: '/dev/pts', rights: tty }, { path: '/dev/shm', rights: READ | WRITE }] : []),
  ];
}

/** A directory as it is now: any entry added, removed or renamed changes its ctime (which utimes cannot set back). */
function dirSignature(dir: string): string {
  try {
    const st = statSync(dir, { bigint: true });
    return `${st.dev}:${st.ino}:${st.ctimeNs}:${st.mtimeNs}`;
  } catch {
    return 'none';
  }
}

/**
 * Plans made from the host's listings, by their inputs, with the signature of every directory
 * listed (taken before its listing): a process that starts many jails plans again only when one
 * of those directories changed. A plan only grants, so even a stale one could only refuse more.
 */
const hostPlans = new Map<string, { readonly plan: LandlockPlan; readonly listed: ReadonlyMap<string, string> }>();
const MAX_HOST_PLANS = 16;

/**
 * The Landlock ruleset of a jail: `fs` its file rules (undefined: none, e.g. --host-fs or -r DIR:
 * then only the scopes), at the kernel's `abi` (0: no Landlock, an empty ruleset).
 */
export function landlockPlan(fs: ResolvedFs | undefined, inputs: LandlockInputs): LandlockPlan {
  if (inputs.list || !fs || inputs.abi < 1) return planFrom(fs, inputs);
  const key = JSON.stringify([fs.rules, inputs.mounts ?? [], inputs.abi, inputs.privateDev]);
  const known = hostPlans.get(key);
  if (known && [...known.listed].every(([dir, signature]) => dirSignature(dir) === signature)) return known.plan;
  const listed = new Map<string, string>();
  const links = new Set<string>();
  const plan = planFrom(fs, { ...inputs, list: (dir) => { listed.set(dir, dirSignature(dir)); return hostList(dir, links); } }, (path) => links.has(path));
  hostPlans.delete(key);
  if (hostPlans.size >= MAX_HOST_PLANS) hostPlans.delete(hostPlans.keys().next().value!);
  hostPlans.set(key, { plan, listed });
  return plan;
}

function planFrom(fs: ResolvedFs | undefined, inputs: LandlockInputs, hostIsLink?: (path: string) => boolean): LandlockPlan {
  const { abi } = inputs;
  const scoped = abi >= 6 ? SCOPE.SIGNAL | SCOPE.ABSTRACT_UNIX_SOCKET : 0;
  // Audit records for the command's denials too (ABI 7): by default only the calling program's are logged.
  const restrictFlags = abi >= 7 ? RESTRICT_SELF.LOG_NEW_EXEC_ON : 0;
  if (!fs || abi < 1) return { ruleset: { handledFs: 0, scoped, restrictFlags, rules: [] }, uncarved: [] };
  const handledFs = handledFsRights(abi);
  // A mount's destination holds what the mount gives; where a file rule names the very path (the
  // mount layer's own mounts for the rules: /tmp's tmpfs, a hidden path's mask), the rule decides.
  const byPath = new Map(fs.rules.map((r) => [r.path, r]));
  for (const m of inputs.mounts ?? []) if (!byPath.has(m.path)) byPath.set(m.path, { path: m.path, access: m.writable ? 'rw' : 'ro', exec: true, source: 'mount' });
  const rules = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const rights = new Map<string, number>();
  const grant = (path: string, r: number): void => { rights.set(path, (rights.get(path) ?? 0) | r); };
  const uncarved = new Map<string, string>();
  const note = (path: string, inside: string): void => { uncarved.set(path, inside); };
  const listed = new Map<string, readonly string[]>();
  const links = new Set<string>();
  const list = (dir: string): readonly string[] => {
    if (!listed.has(dir)) listed.set(dir, inputs.list ? inputs.list(dir) : hostList(dir, links));
    return listed.get(dir)!;
  };
  // Every path carve asks about is in a directory it listed: the host's listing knows its links.
  const isLink = hostIsLink ?? (inputs.list ? isSymlink : (path: string): boolean => links.has(path));
  carve(rules, (r) => r.access !== 'hide', READ, FS.READ_DIR, list, isLink, grant, note);
  carve(rules, (r) => r.access !== 'hide' && r.exec, FS.EXECUTE, 0, list, isLink, grant, note);
  carve(rules, writable, WRITE, 0, list, isLink, grant, note);
  for (const d of deviceGrants(inputs.privateDev)) grant(d.path, d.rights);
  const sorted = [...rights.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // A rule that grants nothing its ancestors' rules do not is dropped.
  const kept: LandlockRule[] = [];
  const keptRights = new Map<string, number>();
  for (const [path, r] of sorted) {
    let inherited = 0;
    for (let up = path; up !== '/';) {
      up = dirname(up);
      inherited |= keptRights.get(up) ?? 0;
    }
    const masked = r & handledFs;
    if (masked & ~inherited) { kept.push({ path, rights: masked }); keptRights.set(path, masked); }
  }
  if (kept.length > MAX_RULES) {
    const busiest = [...new Set(kept.map((k) => k.path.slice(0, k.path.lastIndexOf('/')) || '/'))]
      .map((d) => [d, kept.filter((k) => (k.path.slice(0, k.path.lastIndexOf('/')) || '/') === d).length] as const).sort((a, b) => b[1] - a[1])[0]!;
    throw new JailError(`the file rules need ${kept.length} Landlock rules (at most ${MAX_RULES}): ${busiest[0]} has ${busiest[1]} entries beside a hidden path; hide a path in a smaller directory, or --show it`);
  }
  return {
    ruleset: { handledFs, scoped, restrictFlags, rules: kept },
    uncarved: [...uncarved.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, inside]) => ({ path, inside })),
  };
}

const MS_RDONLY = 1;

/**
 * A spawn spec's Landlock part: the plan's ruleset for `fs` with the jail's `mounts` on top, at
 * the kernel's ABI; nothing where the kernel has no Landlock (run.ts says what that costs).
 */
export function jailLandlock(
  fs: ResolvedFs | undefined,
  o: { readonly mounts: readonly MountSpec[]; readonly privateDev: boolean; readonly tcpConnectPorts?: readonly { from: number; to: number }[] },
  abi = landlockAbi(),
): { landlock?: LandlockRuleset } {
  const mounts = o.mounts.map((m) => ({ path: m.dst, writable: (m.flags & MS_RDONLY) === 0 }));
  const planned = landlockPlan(fs, { abi, mounts, privateDev: o.privateDev }).ruleset;
  // A hidden file's mask (an empty file of its own, hiddenReads.ts) reads as empty, as /dev/null did;
  // never a hidden directory's: a grant there would hold beneath it, for what a rule mounts inside.
  const masks = planned.handledFs ? o.mounts.filter((m) => m.kind === 'hide' && !isDirectory(m.dst)) : [];
  const ruleset = masks.length ? { ...planned, rules: [...planned.rules, ...masks.map((m) => ({ path: m.dst, rights: FS.READ_FILE }))] } : planned;
  const ports = netLayerPorts(o.tcpConnectPorts, abi);
  return restricting(ports ? { ...ruleset, netConnectPorts: ports } : ruleset);
}

/** At most this many ports get Landlock rules (one rule each); a wider allowlist keeps the supervisor alone. */
export const MAX_NET_PORTS = 256;

/** The TCP ports for Landlock's connect rules, where the kernel has them (ABI 4) and they are few. */
export function netLayerPorts(ranges: readonly { from: number; to: number }[] | undefined, abi: number): number[] | undefined {
  if (!ranges || abi < 4) return undefined;
  const ports = ranges.flatMap((r) => (r.to - r.from < MAX_NET_PORTS ? Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i) : [-1]));
  return ports.includes(-1) || ports.length > MAX_NET_PORTS ? undefined : ports;
}

/** The ruleset for a spawn spec, where it restricts anything (the kernel refuses an empty one). */
export function restricting(ruleset: LandlockRuleset): { landlock?: LandlockRuleset } {
  return ruleset.handledFs || ruleset.scoped || ruleset.netConnectPorts ? { landlock: ruleset } : {};
}
