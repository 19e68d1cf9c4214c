// A jail without namespaces: where user namespaces are refused (Docker's default seccomp
// profile, a jail in a jail, Ubuntu's AppArmor restriction) or with --no-namespaces. What
// still holds: Landlock for files and scopes, seccomp, no_new_privs, limits. What cannot be had
// is said at start, line by line, and an option that needs a namespace is refused, never
// dropped: the jail is never silently weaker than asked.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { JailError } from './errors';
import { DEFAULT_SECRETS, type FsRule, type ResolvedFs } from './fsRules';
import type { SpawnSpec } from './helper';
import { landlockPlan, restricting, SCOPE } from './landlock';
import type { JailOptions } from '../policy/jailSettings';

const CLONE_NEWUSER = 0x10000000;
const STEP_CLONE = 2;
const EUSERS = 87; // user.max_user_namespaces reached (not in Node's table)
/** Steps where an AppArmor-restricted user namespace (one without capabilities) fails: setgroups, maps, the first mount. */
const RESTRICTED_NAMESPACE_STEPS = [4, 5, 6, 7];

/** Thrown by runSpec when the kernel refused the jail's namespaces (nothing was started). */
export class NamespacesRefused extends Error {
  override readonly name = 'NamespacesRefused';
}

/** Whether a failed start means "user namespaces are refused here" (and not a mistake of the jail's). */
export function namespacesRefused(spec: SpawnSpec, step: number, errno: number): boolean {
  const e = osConstants.errno;
  if (step === STEP_CLONE) return spec.cloneFlags !== 0 && [e.EPERM, e.EACCES, e.ENOSPC, e.EINVAL, EUSERS].includes(errno);
  return (spec.cloneFlags & CLONE_NEWUSER) !== 0 && RESTRICTED_NAMESPACE_STEPS.includes(step) && [e.EPERM, e.EACCES].includes(errno);
}

/** The options that need a namespace, with the flag that asks for each. */
function needsNamespace(o: JailOptions): string[] {
  const ask: [boolean, string][] = [
    [o.root !== undefined, '-r/--root DIR needs a mount namespace'],
    [(o.stage?.length ?? 0) > 0, '--stage needs a mount namespace'],
    [(o.binds?.length ?? 0) > 0, '--bind/--ro-bind need a mount namespace'],
    [(o.tmpfs?.length ?? 0) > 0, '--tmpfs needs a mount namespace'],
    [(o.mounts?.length ?? 0) > 0, 'mounts need a mount namespace'],
    [o.readonlyRoot === true, '--ro-root needs a mount namespace'],
    [o.overlay !== undefined || o.tmpOverlay !== undefined, '--overlay/--tmp-overlay need a mount namespace'],
    [o.dev === true, '--dev (a /dev of its own) needs a mount namespace'],
    [o.proc === true, '--proc (a /proc of its own) needs a PID and a mount namespace'],
    [(o.maskedPaths?.length ?? 0) + (o.readonlyPaths?.length ?? 0) > 0, 'masked and read-only paths need a mount namespace'],
    [o.network === false, '-n/--no-network needs a network namespace'],
    [o.hostname !== undefined, '--hostname needs a UTS namespace'],
    [(o.unshare?.length ?? 0) > 0, `--unshare-${o.unshare?.join('/--unshare-')} asks for namespaces`],
    [Object.keys(o.join ?? {}).length > 0, '--join-ns needs the privilege a user namespace gives'],
    [o.uidMap !== undefined || o.gidMap !== undefined, 'uid/gid maps need a user namespace'],
    [Object.keys(o.sysctl ?? {}).length > 0, 'sysctls are set in namespaces of the jail\'s own'],
    [(o.capKeep?.length ?? 0) > 0 || Object.values(o.capabilities ?? {}).some((set) => set?.length), 'capabilities kept without a user namespace would be the host\'s own'],
  ];
  return ask.filter(([asked]) => asked).map(([, what]) => what);
}

/** Refuses (JailError, exit 125) options a jail without namespaces cannot honour; `why` says why there are none. */
export function checkNoNamespaces(o: JailOptions, why: string): void {
  const refused = needsNamespace(o);
  if (refused.length) throw new JailError(`${why}: ${refused.join('; ')}; nothing was run (drop ${refused.length > 1 ? 'these options' : 'the option'} to run without namespaces)`);
}

export interface NoNamespaceJail {
  readonly spec: SpawnSpec;
  /** What holds and what does not, one line each, for the start of the run. */
  readonly statement: readonly string[];
  /** The run's private TMPDIR, removed by `remove`. */
  readonly tmpdir: string;
  /** The file rules Landlock holds (/tmp read-only, TMPDIR writable); undefined with --host-fs. */
  readonly fs: ResolvedFs | undefined;
  remove(): void;
}

/** The private TMPDIRs of the runs without namespaces going on: the jail's own sockets may be there (netSupervisor.ts). */
export const runTmpdirs = new Set<string>();

/** The file rules without a mount namespace: /tmp is the host's (read-only), a private directory of the run is writable. */
function sharedTmp(fs: ResolvedFs, tmpdir: string): ResolvedFs {
  const rules: FsRule[] = fs.rules.map((r) => (r.access === 'tmpfs' ? { ...r, access: 'ro', reason: 'the host\'s /tmp: read-only without a mount namespace' } : r));
  rules.push({ path: tmpdir, access: 'rw', exec: true, source: 'no namespaces', reason: 'the run\'s private TMPDIR' });
  return { rules, notes: fs.notes };
}

/**
 * The spec of `spec`'s jail without namespaces (the spec was built with noNamespaces: no mounts),
 * with Landlock at `abi` holding the file rules alone (`fs`: those of `o`, where already resolved); `why`: why there are no namespaces.
 */
export function withoutNamespaces(spec: SpawnSpec, o: JailOptions, why: string, abi: number, fs: ResolvedFs | undefined, guarded: boolean): NoNamespaceJail {
  if (fs && abi < 1) {
    throw new JailError(`${why}, and this kernel has no Landlock (or it is disabled): without a mount namespace nothing would keep the jail from writing your files or reading your secrets; nothing was run (--host-fs runs it with the host's files unprotected, UNSAFE)`);
  }
  const tmpdir = mkdtempSync('/tmp/tsjail-');
  runTmpdirs.add(tmpdir);
  const remove = (): void => { runTmpdirs.delete(tmpdir); rmSync(tmpdir, { recursive: true, force: true }); };
  try {
    const rules = fs && sharedTmp(fs, tmpdir);
    const plan = landlockPlan(rules, { abi, privateDev: false });
    if (plan.uncarved.length) {
      throw new JailError(`${why}: ${plan.uncarved.map((u) => `${u.path} (refused inside writable ${u.inside})`).join(', ')} can be refused only by a mount namespace (Landlock grants a writable directory whole); nothing was run (drop the rule, or make ${plan.uncarved[0]!.inside} read-only)`);
    }
    const env = [...spec.env.filter((e) => !e.startsWith('TMPDIR=')), `TMPDIR=${tmpdir}`];
    const { idMaps: _maps, maskedPaths: _masked, readonlyPaths: _ro, landlock: _namespaced, ...rest } = spec;
    // Without CAP_SETPCAP the bounding set cannot be changed (and with no_new_privs nothing can be gained from it).
    const caps = mayDropBounding() ? spec.caps : { ...spec.caps, bounding: Array.from({ length: 64 }, (_, i) => i) };
    const jailSpec: SpawnSpec = {
      ...rest, cloneFlags: 0, mountProc: false, mountDev: false, mounts: [], env, caps, keeper: true,
      ...restricting(plan.ruleset),
    };
    return { spec: jailSpec, statement: statement(jailSpec, o, why, abi, tmpdir, rules, guarded), tmpdir, fs: rules, remove };
  } catch (e) {
    remove();
    throw e;
  }
}

const CAP_SETPCAP = 8n;

/** Whether tsjail holds CAP_SETPCAP (root of the host, not a capability-less root of an outer jail). */
function mayDropBounding(): boolean {
  try {
    const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return eff !== undefined && ((BigInt(`0x${eff}`) >> CAP_SETPCAP) & 1n) === 1n;
  } catch {
    return false;
  }
}

function statement(spec: SpawnSpec, o: JailOptions, why: string, abi: number, tmpdir: string, fs: ResolvedFs | undefined, guarded: boolean): string[] {
  const holds: string[] = [];
  const missing: string[] = [];
  holds.push(spec.filter ? 'seccomp: the policy\'s filter' : 'seccomp: NONE (--insecure)');
  holds.push(`no_new_privs; resource limits${o.noLimits ? ' (only those given: --no-limits)' : ''}; all capabilities dropped`);
  if (fs) {
    const writable = fs.rules.filter((r) => r.access === 'rw').map((r) => r.path);
    const hidden = fs.rules.filter((r) => r.access === 'hide').length;
    holds.push(`files, by Landlock (ABI ${abi}): the host read-only; writable only ${writable.join(', ')}; ${hidden} secret paths unreadable (${DEFAULT_SECRETS.slice(0, 2).map((s) => s.path).join(', ')}...), also ones created later`);
  } else {
    missing.push('files: --host-fs: the host\'s files are shared as they are (read-write)');
  }
  const scoped = spec.landlock !== undefined && (spec.landlock.scoped & SCOPE.SIGNAL) !== 0;
  if (scoped) holds.push('signals and abstract unix sockets reach only the jail\'s own processes (Landlock scopes)');
  else missing.push(`signals and abstract unix sockets are not scoped (Landlock ABI ${abi} < 6): the jail can signal your other processes`);
  // The guard (otherProcesses.ts) runs with any filter; --insecure loads none.
  if (guarded) holds.push('your other processes: the jail cannot change their limits, priority or scheduling (prlimit64, setpriority, ioprio_set, sched_set* naming another process: EPERM)');
  else missing.push('your other processes: without a filter the jail can change their limits, priority and scheduling (--insecure)');
  // Landlock keeps /proc read-only only where it rules files at all.
  if (!fs) missing.push('your other processes\' /proc files: with --host-fs the jail can write them (oom_score_adj, autogroup, clear_refs...)');
  const uid = process.getuid?.() ?? 0;
  holds.push(`processes: what the command leaves running (setsid, double fork) is killed when it ends (a keeper, a child subreaper, holds the tree${scoped ? '' : '; the jail can kill it, as signals are not scoped'})`);
  missing.push('no PID namespace: /proc shows the host\'s processes');
  missing.push(`no mount namespace: no private /tmp (/tmp is read-only; TMPDIR=${tmpdir}, made for this run, removed at the end); /dev and /proc are the host's`);
  missing.push('no network namespace: the host\'s network');
  // Landlock does not cover connect(): tsjail decides unix connects and sends by the file rules (unixRules.ts).
  if (fs) holds.push('unix sockets by path: reached only under the writable paths or by a unix: rule (decided by tsjail; Landlock does not cover connect())');
  missing.push('no IPC or UTS namespace: System V IPC and POSIX message queues are the host\'s; so is the hostname');
  missing.push(uid === 0
    ? 'no user namespace: the jail runs as the host\'s root (uid 0) without capabilities: only Landlock keeps it from files root owns'
    : `no user namespace: the jail runs as your own uid ${uid}`);
  return [
    `${why}: running WITHOUT namespaces. What holds:`,
    ...holds.map((h) => `  holds:   ${h}`),
    'What does not:',
    ...missing.map((m) => `  missing: ${m}`),
  ];
}
