// `tsjail run`: runs a spawn spec in the jail, serves its notifications, forwards signals, and
// maps the outcome to an exit status (podman's convention: 125 tsjail failed, 126 not
// executable, 127 not found, 128+N killed by signal N).
import { closeSync, readFileSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { JailError } from './errors';
import { execOutcome, KEEPER_END_SIGNAL, landlockAbi, spawnJailed, STEP_EXEC, STEP_MOUNT_BASE, STEPS, waitFor, type Notification, type SpawnSpec } from './helper';
import { jailFs, type ResolvedFs } from './fsRules';
import { checkNoNamespaces, NamespacesRefused, namespacesRefused, withoutNamespaces } from './noNamespaces';
import { withDefaultLimits } from './limits';
import { MAIN_NR, NotificationLoop, type Answerer } from './notifications';
import { dirname, join } from 'node:path';
import { buildSpawnSpec, jailIdentity, NAMESPACES } from './spec';
import type { JailOptions } from '../policy/jailSettings';
import type { ExitWatch } from './exitInfo';
import { hostAbi } from '../arch/abi';
import { openOutputFile, removeOutputFile } from './outputFile';

function errnoName(n: number): string {
  return Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

const HINTS: Readonly<Record<string, string>> = {
  'create the namespaces (clone)': 'user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces); run as root or pass --unshare with fewer namespaces',
  'pivot_root into the new root': 'the root must be a directory on a filesystem you can bind-mount',
  'set the user id': 'in a rootless jail only your own uid is mapped; run tsjail as root to switch users',
  'set the group id': 'in a rootless jail only your own gid is mapped; run tsjail as root to switch users',
  'set supplementary groups': 'in a rootless jail supplementary groups cannot be set; run tsjail as root',
  'load the seccomp filter': 'the kernel needs CONFIG_SECCOMP_FILTER',
  'join a namespace': 'joining needs CAP_SYS_ADMIN over that namespace; a rootless jail can join only namespaces its own user namespace owns',
  'set a sysctl': 'a rootless jail (or one in a user namespace) may not write most sysctls; run tsjail as root',
  'verify that the seccomp filter is loaded': 'the filter was loaded but is not in force; nothing ran (report this as a tsjail bug)',
  'mount a filesystem': 'in a rootless jail the kernel allows tmpfs, devpts, mqueue and, with its own network namespace, sysfs',
};

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
/** How long a jail asked to stop (SIGTERM, SIGINT to tsjail) has before it is killed: docker stop's default. */
export const DEFAULT_KILL_AFTER_SECONDS = 10;

/**
 * SIGKILL to everything in the jail. With a PID namespace (every `tsjail run` has one) the
 * death of its PID 1 ends all its processes; without, its keeper ends its whole tree (the
 * helper's run_keeper), and its cgroups are killed.
 */
function killWholeJail(pid: number, spec: SpawnSpec, reaped = false): void {
  // Once reaped, its pid may be another process's; its process group's number is not reused while the group lives.
  if (!reaped) try { process.kill(pid, spec.keeper ? KEEPER_END_SIGNAL : 'SIGKILL'); } catch { /* already gone */ }
  if (spec.cloneFlags & NAMESPACES.pid) return;
  for (const dir of (spec.cgroups ?? []).map(dirname)) {
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
    } catch {
      // cgroup v1 has no cgroup.kill: each of its processes, as listed.
      try { for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
    }
  }
  // (A keeper exits only when no process of the jail is left.)
  if (!spec.keeper) try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
}

/**
 * The jail's namespaces as bubblewrap reports them: "pid-namespace": inode number. Read from the
 * command: PID 1 is not dumpable, so a rootless tsjail may not read its links.
 */
function namespaceIds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ns of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts', 'user']) {
    try {
      const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`));
      if (m) out[`${ns}-namespace`] = Number(m[1]);
    } catch { /* not visible */ }
  }
  return out;
}

function commandPid(initPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(/\s+/);
    return children[0] ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** A mount step's message names the mount: "cannot bind /src on /x: ENOTDIR (...)". */
function mountFailure(spec: SpawnSpec, step: number, errno: number): string {
  const m = spec.mounts[step - STEP_MOUNT_BASE];
  const what = !m ? `mount #${step - STEP_MOUNT_BASE}` : m.rule ?? (m.kind === 'bind' ? `bind ${m.src} on ${m.dst}` : m.kind === 'fs' ? `mount ${m.fstype} on ${m.dst}` : `hide ${m.dst}`);
  if (m?.kind === 'bind' && m.nofollow && errno === osConstants.errno.ELOOP) {
    return `cannot ${what}: ELOOP (a symlink is now on the way to ${m.src}, put there since tsjail resolved it: nothing was bound)`;
  }
  const hint = errno === osConstants.errno.ENOTDIR || errno === osConstants.errno.EINVAL || errno === osConstants.errno.EISDIR
    ? ' (the mount point, or a directory on its way, is not of the kind the mount needs: a FIFO, socket or device is never a mount point)'
    : errno === osConstants.errno.EACCES || errno === osConstants.errno.EROFS
      ? ' (the jail may not create the mount point there: create it, or give the jail its own root with -r or --stage)'
      : errno === osConstants.errno.ELOOP || errno === osConstants.errno.ENOENT ? ' (a dangling symlink or a missing path on the way)' : '';
  return `cannot ${what}: ${errnoName(errno)}${hint}`;
}

function execFailure(command: readonly string[], step: number, errno: number, log: (msg: string) => void, spec?: SpawnSpec): number {
  if (step >= STEP_MOUNT_BASE && spec) {
    log(mountFailure(spec, step, errno));
    return 125;
  }
  if (step === STEP_EXEC) {
    log(`${command[0]}: ${errno === osConstants.errno.ENOENT ? 'command not found' : `cannot execute: ${errnoName(errno)}`}`);
    return errno === osConstants.errno.ENOENT ? 127 : 126;
  }
  const name = STEPS[step] ?? `step ${step}`;
  const hint = name === 'load the seccomp filter' && errno !== osConstants.errno.EINVAL ? undefined : HINTS[name];
  // The step's object, where the message would not name it otherwise.
  const object = name === 'change directory' && spec?.cwd !== undefined ? ` to ${spec.cwd} (-d, in the jail)` : '';
  log(`cannot ${name}${object}: ${errnoName(errno)}${hint ? ` (${hint})` : ''}`);
  return 125;
}

/**
 * Something that answers the jail's stopped calls (the denial supervisor, the learner): the
 * filter it needs loaded, and what it does with each notification.
 */
export interface Watch {
  /** The program the jail loads, with USER_NOTIF where calls should stop at tsjail. */
  readonly filter: Uint8Array;
  /** Answers one stopped call (an unanswered one fails with EPERM). */
  readonly handle: StoppedCallHandler;
  /**
   * Present when the watch supports --late: a dynamic program then gets `filter` (which also
   * stops the preload library's MAIN_NR call), and its stopped calls are decided by `handle`
   * until main() is next, by the watch's own `handle` after.
   */
  readonly late?: { readonly filter: Uint8Array; readonly handle: StoppedCallHandler };
  /** The exit status to report, given the command's. */
  exitCode?(code: number): number;
  /** Given, once the jail runs, what ends it (all its processes). */
  ending?(end: () => void): void;
  /** Called once the jail has ended. */
  finish?(): void;
  /** The jail runs without namespaces, under these file rules (noNamespaces.ts): before it starts. */
  withoutNamespaces?(fs: ResolvedFs | undefined): void;
  /**
   * Present when the watch explains the guard of a jail without a PID namespace (otherProcesses.ts):
   * told so before it starts, it decides the guard's stopped calls as otherProcessRules do. A
   * watch without it gets the guard's refusals as plain EPERM (they never reach it).
   */
  explainsOtherProcesses?(): void;
  /** A hidden path was opened (hiddenReads.ts); `pid` 0 where the kernel does not say who. */
  hiddenRead?(path: string, pid: number): void;
  /** Before the jail starts: DNS read on connected sockets too (dnsNetwork.ts) until end(), or, `without` that, why not. */
  readDns?(without?: string): { end(): void } | undefined;
}

/**
 * A process that runs jails for its own ends (the library's spawn): the jail's stdio, and what it
 * is told. Its own signals stay its own (a `tsjail run` forwards SIGINT and SIGTERM to the jail).
 */
export interface JailHost {
  /** The fds the command gets as stdin, stdout, stderr (-1: this process's own). */
  readonly stdio?: readonly [number, number, number];
  /** The helper has started the jail (the fds it was given may be closed now), or failed to. */
  spawned?(): void;
  /** The command runs (its exec succeeded): the jail's first process, and how to signal the jail. */
  started(pid: number, kill: (signal: NodeJS.Signals) => void): void;
  /**
   * The jail has ended: the command's own wait status where it is known (with a PID 1 or a keeper
   * between: only where the kernel kept it, see exitInfo.ts), before the exit status is returned.
   */
  ended?(commandStatus: number | undefined): void;
}

/** The signals the jail's PID 1 and keeper pass on to the command (run_init, run_keeper). */
const PASSED_ON: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT']);

/** What a Watch does with a stopped call; `mainPid` is the command's pid. */
export type StoppedCallHandler = (n: Notification, mainPid: () => number | undefined, answer: Answerer) => void | Promise<void>;

/**
 * --late for a dynamic program: its filter also stops MAIN_NR, and the preload library is handed
 * over by fd. Undefined for a static program (the policy applies from execve).
 */
function lateSpec(command: readonly string[], spec: SpawnSpec, filter: Uint8Array, log: (msg: string) => void): SpawnSpec | undefined {
  const { isStaticProgram, lateEnvironment, preloadLibrary } = require('./late') as typeof import('./late');
  if (isStaticProgram(command[0]!, spec.root ?? '/', spec.cwd ?? process.cwd(), spec.search)) {
    log(`--late: ${command[0]} is statically linked (no loader runs before main): the policy applies from exec`);
    return undefined;
  }
  if (!spec.mountProc) throw new JailError('--late needs /proc in the jail (the command loads the library from /proc/self/fd): drop --no-proc');
  return { ...spec, env: lateEnvironment(spec.env), filter, notify: true, lateLibrary: preloadLibrary() };
}

/** Runs a command in the jail; resolves to the exit status tsjail should exit with. */
export async function runJailed(
  command: readonly string[], filter: Uint8Array | undefined, given: JailOptions, log: (msg: string) => void, watch?: Watch,
  /** The file rules of `given` (jailFs), where the caller has resolved them already. */
  fs: ResolvedFs | undefined = jailFs(given),
  host?: JailHost,
): Promise<number> {
  const o = withDefaultLimits(given, log);
  // --no-namespaces makes none, tsjail's own DNS network neither; --insecure stops no call to read.
  const dns = o.insecure ? undefined : watch?.readDns?.(o.noNamespaces ? '--no-namespaces' : undefined);
  try {
    return await runJailedWith(command, filter, o, log, watch, fs, host);
  } finally {
    dns?.end();
  }
}

async function runJailedWith(
  command: readonly string[], filter: Uint8Array | undefined, o: JailOptions, log: (msg: string) => void, watch: Watch | undefined,
  fs: ResolvedFs | undefined, host: JailHost | undefined,
): Promise<number> {
  if (o.noNamespaces) return runWithoutNamespaces(command, filter, o, log, watch, '--no-namespaces', fs, host);
  if (o.hostIds && process.getuid?.() === 0) log('WARNING: --host-ids: the jail runs as the host\'s root (uid 0 minus capabilities): it can read and write every file root can; unsafe for untrusted code');
  if (o.hostFs) log('WARNING: --host-fs: the jail shares the host\'s files as they are: it can read your secrets (~/.ssh, ~/.aws...) and write everything you can; unsafe for untrusted code');
  for (const note of fs?.notes ?? []) log(`note: ${note}`);
  // A root-started jail runs as a private id range, held while it runs.
  const range = jailIdentity(o) === 'private-range' ? (require('./idRange') as typeof import('./idRange')).allocateIdRange() : undefined;
  let refused: NamespacesRefused;
  try {
    const spec = buildSpawnSpec(command, o.insecure ? undefined : filter, o, range?.base, fs);
    if (!spec.landlock?.handledFs && fs) log('Landlock is not available on this kernel: the mount layer alone hides secrets, so one created during the run (~/.aws/credentials made later) is not hidden');
    return await runSpec(command, spec, o, log, watch, host);
  } catch (e) {
    if (!(e instanceof NamespacesRefused)) throw e;
    refused = e;
  } finally {
    range?.release();
  }
  return runWithoutNamespaces(command, filter, o, log, watch, refused.message, fs, host);
}

/** The jail without namespaces (noNamespaces.ts): `why` there are none starts what it says. */
async function runWithoutNamespaces(
  command: readonly string[], filter: Uint8Array | undefined, o: JailOptions, log: (msg: string) => void, watch: Watch | undefined, why: string,
  fs: ResolvedFs | undefined, host: JailHost | undefined,
): Promise<number> {
  checkNoNamespaces(o, why);
  const built = buildSpawnSpec(command, o.insecure ? undefined : filter, { ...o, noNamespaces: true }, undefined, fs);
  // Other processes of the uid are in reach: a guard refuses what would change them, before any
  // filter decides (the policy's, a raw one, learn's), whenever one is loaded.
  const guarded = !o.insecure && (filter !== undefined || watch !== undefined);
  const jail = withoutNamespaces(built, o, why, landlockAbi(), fs, guarded);
  for (const line of jail.statement) log(line);
  watch?.withoutNamespaces?.(jail.fs);
  try {
    return await runSpec(command, jail.spec, o, log, watch, host, guarded);
  } finally {
    jail.remove();
  }
}

/** Jails this process has made cgroups for: two started in one millisecond get names of their own. */
let cgroupNames = 0;

async function runSpec(
  command: readonly string[], spec0: SpawnSpec, o: JailOptions, log: (msg: string) => void, watch?: Watch, host?: JailHost,
  /** A jail without a PID namespace: the guard (otherProcesses.ts) runs before the filter loaded. */
  guarded = false,
): Promise<number> {
  // --late is settled first: it can still refuse, and nothing is to be cleaned up yet.
  // Files tsjail writes are checked before anything is made: a failure is a message, not a half-started jail.
  const pidFd = o.pidfile ? openOutputFile(o.pidfile, '--pidfile') : undefined;
  const late = o.late && watch?.late && !o.insecure ? lateSpec(command, spec0, watch.late.filter, log) : undefined;
  const limited = o.memory !== undefined || o.pids !== undefined || o.cpu !== undefined;
  const cgroups = limited
    ? new (require('./cgroups') as typeof import('./cgroups')).JailCgroups(
      { ...(o.memory !== undefined ? { memory: o.memory } : {}), ...(o.pids !== undefined ? { pids: o.pids } : {}), ...(o.cpu !== undefined ? { cpu: o.cpu } : {}) },
      `tsjail-${process.pid}-${(cgroupNames++).toString(36)}-${Date.now().toString(36)}`)
    : undefined;
  const spec1: SpawnSpec = late ?? (watch && !o.insecure ? { ...spec0, filter: watch.filter, notify: true } : spec0);
  let filter = spec1.filter;
  if (guarded) {
    if (!filter) throw new JailError('internal error: a jail without a PID namespace has no filter to guard');
    const other = require('./otherProcesses') as typeof import('./otherProcesses');
    filter = other.guarded(other.hostGuard(watch?.explainsOtherProcesses !== undefined), filter, hostAbi().endian);
    watch?.explainsOtherProcesses?.();
  }
  const spec2: SpawnSpec = { ...spec1, ...(filter ? { filter } : {}), ...(cgroups ? { cgroups: cgroups.joinFiles() } : {}), ...(host?.stdio ? { stdio: host.stdio } : {}), requireFilter: !o.insecure };
  if (o.insecure) log('WARNING: --insecure: running WITHOUT a seccomp filter; the command can make any syscall its namespaces allow');
  const hidden = watch?.hiddenRead ? (require('./hiddenReads') as typeof import('./hiddenReads')).HiddenReads.start(spec2, log) : undefined;
  // --tty: in a jail with its own /dev, a pair in its devpts (the helper makes it); else one on the host's.
  const terminals = o.tty ? (require('./terminal') as typeof import('./terminal')).JailTerminal : undefined;
  const ttyInJail = terminals !== undefined && spec2.mountDev && (spec2.cloneFlags & NAMESPACES.mount) !== 0;
  let terminal = terminals && !ttyInJail ? terminals.open() : undefined;
  const spec: SpawnSpec = { ...spec2, ...(hidden ? { hiddenMap: hidden.mapFd } : {}), ...(terminal ? { ttySlave: terminal.slave } : ttyInJail ? { ttySlave: 'in-jail' } : {}) };
  const started = await spawnJailed(spec).catch((e: unknown) => { cgroups?.remove(); hidden?.close(); void terminal?.finish(); host?.spawned?.(); throw e; });
  if (started.ok && started.ttyMaster !== undefined) terminal = terminals!.ofMaster(started.ttyMaster);
  host?.spawned?.();
  if (started.ok) terminal?.relay();
  if (!started.ok) {
    await terminal?.finish();
    cgroups?.remove();
    hidden?.close();
    if (pidFd !== undefined) { removeOutputFile(o.pidfile!, pidFd); closeSync(pidFd); }
    if (namespacesRefused(spec, started.step, started.errno)) {
      throw new NamespacesRefused(`user namespaces are refused here (${STEPS[started.step] ?? `step ${started.step}`}: ${errnoName(started.errno)})`);
    }
    return execFailure(command, started.step, started.errno, log, spec);
  }
  const pid = started.pid;
  // --pidfile holds the command's pid (ujail's meaning), not its init's or keeper's. Where a listener was
  // handed over the command exists already (and waits for tsjail on its first stopped call);
  // else it is known once it has exec'd.
  const commandsPid = (): number | undefined => (spec.cloneFlags & NAMESPACES.pid || spec.keeper ? commandPid(pid) : pid);
  let pidWritten = false;
  const writePid = (): void => {
    const p = pidFd !== undefined && !pidWritten ? commandsPid() : undefined;
    if (p !== undefined) { writeSync(pidFd!, `${p}\n`); pidWritten = true; }
  };
  if (started.listener !== undefined) writePid();
  if (o.jsonStatusFd !== undefined) writeSync(o.jsonStatusFd, `${JSON.stringify({ 'child-pid': pid, ...namespaceIds(commandPid(pid) ?? pid) })}\n`);
  let mainPid: number | undefined;
  const serve = (handle: StoppedCallHandler) => (n: Notification, answer: Answerer): void | Promise<void> =>
    handle(n, () => (mainPid ??= commandPid(pid)), answer);
  let mainReached = false;
  let loop: NotificationLoop | undefined;
  if (started.listener !== undefined && watch) {
    const afterMain = serve(watch.handle);
    const beforeMain = late ? serve(watch.late!.handle) : afterMain;
    loop = new NotificationLoop(started.listener, (n, answer) => {
      // --late: the preload library's call; from now on the policy alone decides.
      if (late && n.nr === MAIN_NR) { mainReached = true; answer({ errno: 0 }); return undefined; }
      return (late && !mainReached ? beforeMain : afterMain)(n, answer);
    }, log);
  }
  const serving = loop?.run();
  // With a PID 1 (or keeper) between, its status cannot tell a signal from an exit code: the command's pidfd can.
  const between = (spec.cloneFlags & NAMESPACES.pid) !== 0 || spec.keeper === true;
  const watchCommand = (): ExitWatch | undefined => {
    const command = host?.ended && between ? commandPid(pid) : undefined;
    return command !== undefined ? (require('./exitInfo') as typeof import('./exitInfo')).watchExit(command, pid) : undefined;
  };
  // Where the command waits on its first stopped call it exists already: watched before it can end.
  let exitWatch = started.listener !== undefined ? watchCommand() : undefined;
  hidden?.started(spec, started, log);
  const drainHidden = (): void => hidden?.drain((path, who) => watch!.hiddenRead!(path, who), log);
  const hiddenTimer = hidden ? setInterval(drainHidden, 100) : undefined;
  const killJail = (): void => killWholeJail(pid, spec);
  watch?.ending?.(killJail);
  // SIGTERM and SIGINT ask the jail to stop; what is still running after the grace period is killed.
  let stopTimer: NodeJS.Timeout | undefined;
  let killedAfterGrace = false;
  const grace = o.killAfterSeconds ?? DEFAULT_KILL_AFTER_SECONDS;
  const handlers = host ? [] : FORWARDED.map((sig) => {
    const h = (): void => {
      try { process.kill(pid, sig); } catch { /* already gone */ }
      if ((sig === 'SIGTERM' || sig === 'SIGINT') && !stopTimer) {
        stopTimer = setTimeout(() => { killedAfterGrace = true; killJail(); }, grace * 1000);
      }
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  let timedOut = false;
  const timer = o.timeoutSeconds ? setTimeout(() => {
    timedOut = true;
    killJail();
  }, o.timeoutSeconds * 1000) : undefined;
  try {
    const failed = started.execPipe !== undefined ? await execOutcome(started.execPipe) : undefined;
    // A signal other than SIGKILL goes to the jail's PID 1, which forwards it to the command.
    let reaped = false;
    if (!failed) {
      exitWatch ??= watchCommand();
      writePid();
      host?.started(pid, (sig) => {
        if (reaped) return;
        if (sig === 'SIGKILL') killJail();
        // PID 1 (or the keeper) forwards these; another signal goes to the command itself, as
        // child_process sends it to its child (to PID 1 SIGSTOP would stop only PID 1, SIGABRT nothing).
        else if (between && !PASSED_ON.has(sig) && exitWatch) exitWatch.signal(osConstants.signals[sig]);
        else try { process.kill(pid, sig); } catch { /* already gone */ }
      });
    }
    const status = await waitFor(pid);
    reaped = true;
    if (!failed) host?.ended?.(between ? exitWatch?.status() : status);
    drainHidden(); // every open the command made has its event queued by now
    if (failed) return execFailure(command, failed.step, failed.errno, log, spec);
    if (late && !mainReached) {
      log(`--late: ${command[0]} never reported main() (it does not start through glibc's __libc_start_main, or ended before main): the start-up policy, the policy plus the loader's syscalls, decided throughout`);
    }
    if (timedOut) {
      log(`timed out after ${o.timeoutSeconds} s: the jail was killed`);
      return 124;
    }
    if (killedAfterGrace) log(`the jail was still running ${grace} s after it was asked to stop: killed (--kill-after)`);
    for (const line of cgroups?.report() ?? []) log(line);
    const signal = status & 0x7f;
    const raw = signal === 0 ? (status >> 8) & 0xff : 128 + signal;
    const code = watch?.exitCode ? watch.exitCode(raw) : raw;
    if (o.jsonStatusFd !== undefined) writeSync(o.jsonStatusFd, `${JSON.stringify({ 'exit-code': code })}\n`);
    return code;
  } finally {
    // Without a PID namespace what the command left running would outlive it: it goes with it.
    if (!(spec.cloneFlags & NAMESPACES.pid)) killWholeJail(pid, spec, true);
    cgroups?.remove();
    await terminal?.finish();
    if (pidFd !== undefined) { removeOutputFile(o.pidfile!, pidFd); closeSync(pidFd); }
    exitWatch?.close();
    if (timer) clearTimeout(timer);
    if (hiddenTimer) clearInterval(hiddenTimer);
    hidden?.close();
    if (stopTimer) clearTimeout(stopTimer);
    for (const [sig, h] of handlers) process.off(sig, h);
    loop?.stop();
    await serving;
    watch?.finish?.();
  }
}
