// The C helper (helper/tsjail-helper.c) through koffi: encodes a spawn spec in the flat layout
// the helper parses, and runs spawn and wait on koffi's worker threads, so Node's event loop
// never blocks on the jail.
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, constants as fsConstants, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync,
} from 'node:fs';
import { constants as osConstants, homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { inInitialUserNamespace, overflowUid } from './userns';
import { JailError } from './errors';
import type { LandlockRuleset } from './landlock';
import { CAPABILITY_SETS, type CapabilitySet } from '../policy/jailSettings';
import { errnoName } from '../kernel/errno';

/**
 * A bind of a host path (then remounted with `flags`, MS_* bits, if any), a filesystem, or a
 * file rule's hide (an empty directory or an empty file of its own over `dst`, where it exists). `rule` names
 * the file rule a mount enforces, for messages ("hide /root/.ssh (default)"); `nofollow` opens
 * a bind's source through no symlink at all.
 */
export type MountSpec =
  | { readonly kind: 'bind'; readonly src: string; readonly dst: string; readonly flags: number; readonly idmap?: boolean; readonly nofollow?: boolean; readonly rule?: string }
  | { readonly kind: 'fs'; readonly fstype: string; readonly dst: string; readonly flags: number; readonly data?: string; readonly rule?: string }
  | { readonly kind: 'hide'; readonly dst: string; readonly flags: 0; readonly rule?: string };

export interface SpawnSpec {
  readonly cloneFlags: number;
  /** A new user namespace's maps ("inside outside count" lines), written by the helper's parent side. */
  readonly idMaps?: { readonly uid: string; readonly gid: string; readonly denySetgroups: boolean };
  readonly mountProc: boolean;
  readonly mountDev: boolean;
  readonly readonlyRoot: boolean;
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
  /** Capability numbers kept in each set; all others are dropped. */
  readonly caps: Readonly<Record<CapabilitySet, readonly number[]>>;
  readonly noNewPrivs: boolean;
  readonly dieWithParent: boolean;
  readonly newSession: boolean;
  readonly rlimits: readonly { readonly resource: number; readonly value: bigint }[];
  readonly path: string;
  readonly hostname?: string;
  readonly root?: string;
  readonly cwd?: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
  /** Directories to search when `path` has no slash (PATH inside the jail). */
  readonly search: readonly string[];
  readonly mounts: readonly MountSpec[];
  readonly filter?: Uint8Array;
  /** Load the filter with a notification listener and hand it to tsjail (the supervisor). */
  readonly notify?: boolean;
  /** The cgroup files the jail joins through before anything else (cgroups.ts joinFiles). */
  readonly cgroups?: readonly string[];
  /** With `root`: an overlay whose writes go to this directory (upper/, work/ inside it)... */
  readonly overlayUpper?: string;
  /** ...or to a tmpfs of this size (e.g. "64m"). */
  readonly overlaySize?: string;
  /** Namespaces to join (setns) instead of creating: CLONE_NEW* type and path. */
  readonly join?: readonly { readonly type: number; readonly path: string }[];
  /** After /proc: sysctls ("kernel.shmmax=..."), paths to hide, paths to make read-only. */
  readonly sysctl?: readonly string[];
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
  /** --late: the preload library's bytes, handed to the command as a sealed memfd. */
  readonly lateLibrary?: Uint8Array;
  /** The root (and an overlay's upper directory) shown through the jail's id mapping. */
  readonly rootIdmap?: boolean;
  /** The root is a fresh tmpfs (--stage). */
  readonly rootTmpfs?: boolean;
  /** A filter was asked for (no --insecure): a spec without one is refused, never run unfiltered. */
  readonly requireFilter?: boolean;
  /** The Landlock ruleset the command is restricted by (landlock.ts); none where the kernel has no Landlock. */
  readonly landlock?: LandlockRuleset;
  /** Reads of hidden paths reported (hiddenReads.ts): the map pipe's write end the jail inherits. */
  readonly hiddenMap?: number;
  /** The fds the command gets as its stdin, stdout and stderr (-1: tsjail's own); the library's `stdio`. */
  readonly stdio?: readonly [number, number, number];
  /**
   * Without a PID namespace: the jail's first process is a keeper, a child subreaper that
   * outlives the command and kills what it left running (run_keeper in the helper).
   */
  readonly keeper?: boolean;
  /**
   * --tty: the pty slave that becomes the command's stdio and controlling terminal (terminal.ts),
   * or 'in-jail': a pair made in the jail's own devpts (with `mountDev`), its master handed back.
   */
  readonly ttySlave?: number | 'in-jail';
}

/** Step numbers of the helper, for messages: "cannot <step>". */
export const STEPS: Readonly<Record<number, string>> = {
  1: 'prepare the jail', 2: 'create the namespaces (clone)', 3: 'set the parent-death signal', 4: 'deny setgroups in the user namespace',
  5: 'write the uid map', 6: 'write the gid map', 7: 'make mounts private', 8: 'bind-mount', 9: 'mount a filesystem',
  10: 'bind the new root', 11: 'pivot_root into the new root', 12: 'detach the old root', 13: 'mount /proc', 14: 'populate /dev',
  15: 'remount the root read-only', 16: 'set the hostname', 17: 'fork the command', 18: 'start a new session (setsid)',
  19: 'set up stdio', 20: 'set a resource limit', 21: 'change directory', 22: 'set supplementary groups', 23: 'set the group id',
  24: 'set the user id', 25: 'drop capabilities', 26: 'set no_new_privs', 27: 'load the seccomp filter', 28: 'execute the command', 29: 'join the jail\'s cgroups', 30: 'mount the overlay root', 31: 'hand the preload library over',
  32: 'set a sysctl', 33: 'mask a path', 34: 'make a path read-only', 35: 'join a namespace',
  36: 'make an idmapped mount', 37: 'pass the mounts to the jail',
  40: 'verify that the seccomp filter is loaded', 41: 'bring up the loopback interface',
  45: 'drop the privileges of the jail\'s PID 1', 46: 'open the jail\'s own pseudo-terminal',
  60: 'create the Landlock ruleset', 61: 'add a Landlock rule', 62: 'restrict the command with Landlock',
  90: 'pass a hidden path\'s file id to tsjail',
  101: 'set no_new_privs', 102: 'load the seccomp filter into this process', 103: 'synchronize the filter to every thread (TSYNC)',
  105: 'make the jail\'s keeper a child subreaper',
  110: 'start the DNS network\'s holder', 111: 'create the DNS network (unshare)', 112: 'bring up the DNS network\'s loopback',
};
/** Steps from here on are "mount i of the spec" (its tree, its mount point or the mount). */
export const STEP_MOUNT_BASE = 1000;
export const STEP_EXEC = 28;

/** The spec's bytes, written into one growing buffer (a buffer per field made a spec cost milliseconds). */
class Writer {
  private buf = Buffer.allocUnsafe(1 << 14);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
  u32(...values: number[]): this {
    this.room(4 * values.length);
    for (const v of values) this.at = this.buf.writeUInt32LE(v >>> 0, this.at);
    return this;
  }
  /** `s` and its NUL. */
  private text(s: string): void {
    if (s.includes('\0')) throw new Error(`a NUL byte in ${JSON.stringify(s)}`);
    const n = Buffer.byteLength(s, 'utf8');
    this.room(n + 1);
    this.at += this.buf.write(s, this.at, 'utf8');
    this.buf[this.at++] = 0;
  }
  /** A blob of the NUL-terminated string; length 0 for none. */
  optString(s: string | undefined): this {
    if (s === undefined) return this.u32(0);
    if (s.includes('\0')) throw new Error(`a NUL byte in ${JSON.stringify(s)}`);
    this.u32(Buffer.byteLength(s, 'utf8') + 1).text(s);
    return this;
  }
  strings(list: readonly string[]): this {
    this.u32(list.length);
    for (const s of list) this.text(s);
    return this;
  }
  /** u32 length, then the bytes; length 0 for none. */
  blob(b: Uint8Array | undefined): this {
    if (!b) return this.u32(0);
    this.u32(b.length).room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.at));
  }
}

function capMask(caps: readonly number[]): bigint {
  return caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
}

/** The helper's mount kinds (KIND_* in the helper): a bind, a filesystem, a hide; flag bits above. */
const KIND_BIND = 0, KIND_FS = 1, KIND_HIDE = 2, KIND_IDMAP = 0x100, KIND_NOFOLLOW = 0x200;

function mountKind(m: MountSpec): number {
  if (m.kind === 'fs') return KIND_FS;
  if (m.kind === 'hide') return KIND_HIDE;
  return KIND_BIND | (m.idmap ? KIND_IDMAP : 0) | (m.nofollow ? KIND_NOFOLLOW : 0);
}

/** Tags the trailing Landlock sections ("LLK1", "LLN1": parse_landlock in the helper). */
const LANDLOCK_NET_SECTION = 0x314e4c4c;
const LANDLOCK_SECTION = 0x314b4c4c;
/** Tags the trailing hidden-reads section ("HID1": parse_hidden in the helper). */
const HIDDEN_SECTION = 0x31444948;
/** Tags the trailing stdio section ("STD1": parse_stdio in the helper). */
const STDIO_SECTION = 0x31445453;
/** Tags the trailing keeper section ("KEP1": parse_keeper in the helper). */
const KEEPER_SECTION = 0x3150454b;
/** What ends a jail held by a keeper: the keeper kills its whole tree, then exits as the command did. */
export const KEEPER_END_SIGNAL = 'SIGPWR';
/** Tags the trailing --tty section ("TTY1": parse_tty in the helper). */
const TTY_SECTION = 0x31595454;
/** Its fd value for a pty made in the jail. */
const TTY_IN_JAIL = 0xffffffff;

/** The flat layout `parse()` in the helper reads. */
export function encodeSpec(s: SpawnSpec): Buffer {
  if (s.requireFilter && !s.filter?.length) throw new JailError('refusing to start the jail: a seccomp filter was asked for but the spawn spec carries none (this is a bug in tsjail)');
  const w = new Writer();
  w.u32(
    s.cloneFlags, s.idMaps?.denySetgroups ? 1 : 0, s.mountProc ? 1 : 0, s.mountDev ? 1 : 0, s.readonlyRoot ? 1 : 0,
    s.user ? 1 : 0, s.user?.uid ?? 0, s.user?.gid ?? 0, s.user?.groups.length ?? 0, s.noNewPrivs ? 1 : 0, s.dieWithParent ? 1 : 0,
    s.newSession ? 1 : 0, process.pid, s.rlimits.length, s.notify ? 1 : 0,
  );
  for (const set of CAPABILITY_SETS) w.u32(Number(capMask(s.caps[set]) & 0xffffffffn), Number(capMask(s.caps[set]) >> 32n));
  if (s.user) w.u32(...s.user.groups);
  for (const r of s.rlimits) w.u32(r.resource, Number(r.value & 0xffffffffn), Number(r.value >> 32n));
  w.optString(s.path).optString(s.hostname).optString(s.root).optString(s.cwd).optString(s.overlayUpper).optString(s.overlaySize);
  w.optString(s.idMaps?.uid).optString(s.idMaps?.gid);
  w.strings(s.argv).strings(s.env).strings(s.search);
  w.u32(s.mounts.length);
  for (const mt of s.mounts) {
    w.u32(mountKind(mt), mt.flags).optString(mt.kind === 'bind' ? mt.src : mt.kind === 'fs' ? mt.fstype : '').optString(mt.dst); // a hide has no source
    w.optString(mt.kind === 'fs' ? mt.data : undefined);
  }
  w.strings(s.cgroups ?? []).strings((s.join ?? []).map((j) => j.path)).u32(...(s.join ?? []).map((j) => j.type));
  w.strings(s.sysctl ?? []).strings(s.maskedPaths ?? []).strings(s.readonlyPaths ?? []);
  w.blob(s.filter).blob(s.lateLibrary);
  w.u32(s.rootIdmap ? 1 : 0, s.rootTmpfs ? 1 : 0);
  if (s.landlock) {
    const l = s.landlock;
    w.u32(LANDLOCK_SECTION, l.handledFs, l.scoped, l.restrictFlags, l.rules.length, l.handledFs ? 1 : 0);
    for (const r of l.rules) w.u32(r.rights).optString(r.path);
    // Then, where an allowlist's TCP ports are known, Landlock's connect rules ("LLN1").
    if (l.netConnectPorts) w.u32(LANDLOCK_NET_SECTION, l.netConnectPorts.length, ...l.netConnectPorts);
  }
  if (s.hiddenMap !== undefined) w.u32(HIDDEN_SECTION, s.hiddenMap);
  if (s.stdio) w.u32(STDIO_SECTION, ...s.stdio);
  if (s.keeper) w.u32(KEEPER_SECTION);
  if (s.ttySlave !== undefined) w.u32(TTY_SECTION, s.ttySlave === 'in-jail' ? TTY_IN_JAIL : s.ttySlave);
  return w.done();
}

const PACKAGE_ROOT = resolve(__dirname, '../../..');

/** tsjail's two C libraries: the helper (loaded by Node) and the --late preload library. */
export type NativeLibrary = 'helper' | 'preload';
export const NATIVE_LIBRARIES: readonly NativeLibrary[] = ['helper', 'preload'];

/** What a library carries to say which source it was built from (tsjail_source_mark in the C). */
const SOURCE_MARK = 'tsjail-source-sha256:';

export class HelperUnavailable extends Error {
  override readonly name = 'HelperUnavailable';
}

/** The C source tsjail ships for a library, and its SHA-256 (hex). */
export function nativeSource(name: NativeLibrary): { readonly file: string; readonly bytes: Buffer; readonly hash: string } {
  const file = join(PACKAGE_ROOT, `helper/tsjail-${name}.c`);
  const bytes = readFileSync(file);
  return { file, bytes, hash: createHash('sha256').update(bytes).digest('hex') };
}

/** A library's file name is keyed to its source: a build of other sources is never even looked at. */
export const libraryFile = (name: NativeLibrary, hash: string): string => `libtsjail-${name}-${hash.slice(0, 16)}.so`;

/** Why a directory may not hold libraries tsjail loads (undefined: it may). */
function directoryProblem(dir: string, owners: readonly number[]): string | undefined {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    return `${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (!owners.includes(st.uid)) return `${dir} is owned by uid ${st.uid}, not by you`;
  if (st.mode & 0o002) return `${dir} is writable by everyone`;
  return undefined;
}

/** A library file and its bytes if it is fit to load, else why not: read through O_NOFOLLOW, checked by its mark. */
function inspect(file: string, hash: string, owners: readonly number[]): { readonly bytes: Buffer } | { readonly problem: string } {
  const dirProblem = directoryProblem(dirname(file), owners);
  if (dirProblem) return { problem: dirProblem };
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problem: code === 'ELOOP' ? 'is a symbolic link' : `cannot be read (${code ?? (e as Error).message})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { problem: 'is not a regular file' };
    if (!owners.includes(st.uid)) return { problem: `is owned by uid ${st.uid}, not by you` };
    if (st.mode & 0o022) return { problem: 'is writable by others' };
    const bytes = readFileSync(fd);
    if (!bytes.includes(`${SOURCE_MARK}${hash}`)) return { problem: 'was not built from the shipped source (its source hash differs)' };
    return { bytes };
  } finally {
    closeSync(fd);
  }
}

/** Builds one of the libraries into `dir` (made private unless `dirMode` says otherwise) with the system C compiler; returns its path. */
export function buildNative(name: NativeLibrary, dir: string, dirMode = 0o700): string {
  try {
    mkdirSync(dir, { recursive: true, mode: dirMode });
  } catch (e) {
    throw new HelperUnavailable(`cannot create ${dir} to build the ${name} library in: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set XDG_CACHE_HOME to a directory of yours)`);
  }
  const dirProblem = directoryProblem(dir, [process.geteuid?.() ?? 0]);
  if (dirProblem) throw new HelperUnavailable(`refusing to build ${name} library into ${dir}: ${dirProblem}`);
  // Compiled from the very bytes that were hashed, so the mark cannot name another version.
  const source = nativeSource(name);
  const out = join(dir, libraryFile(name, source.hash));
  // Built in a private directory beside it, then renamed: a concurrent tsjail sees the old
  // file or the new, never half of one, and a symlink planted at `out` is replaced, not followed.
  const temp = mkdtempSync(join(dir, '.build-'));
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  try {
    execFileSync(process.env.CC ?? 'cc', [
      '-O2', '-Wall', '-shared', '-fPIC', `-DTSJAIL_SOURCE_HASH="${source.hash}"`, '-o', join(temp, 'lib.so'), '-x', 'c', '-', '-ldl',
    ], { input: source.bytes, stdio: ['pipe', 'ignore', 'pipe'] });
    // Not group-writable whatever the umask: tsjail refuses a library others could change.
    chmodSync(join(temp, 'lib.so'), 0o755);
    renameSync(join(temp, 'lib.so'), out);
    return out;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    throw new HelperUnavailable(err.code === 'ENOENT'
      ? `no usable prebuilt ${libraryFile(name, source.hash)} for ${process.platform}-${process.arch} and no C compiler to build one from ${source.file} (install gcc or clang, or set CC)`
      : `building ${libraryFile(name, source.hash)} from ${source.file} failed: ${err.stderr?.toString().trim() || err.message}`);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

const warn = (msg: string): void => { process.stderr.write(`tsjail: ${msg}\n`); };

/** A library checked against the shipped source: where it is, its bytes, and whether it came with the package. */
export interface NativeFile { readonly path: string; readonly bytes: Buffer; readonly shipped: boolean }

/**
 * The library for this platform: the package's prebuilt one if it matches the source, else one
 * built into the user's cache (~/.cache/tsjail/<platform>/). A library that does not match is
 * never used: it is rebuilt, with a message, or tsjail stops (HelperUnavailable, exit 125).
 */
export function nativeLibrary(name: NativeLibrary, options: { readonly skipShipped?: boolean } = {}): NativeFile {
  const platform = `${process.platform}-${process.arch}`;
  const { hash } = nativeSource(name);
  const file = libraryFile(name, hash);
  const uid = process.geteuid?.() ?? 0;
  const shipped = join(PACKAGE_ROOT, 'helper/build', platform, file);
  if (!options.skipShipped && lexists(shipped)) {
    // Inside a user namespace the host's root owns the shipped build as the overflow uid.
    const found = inspect(shipped, hash, [uid, 0, ...(inInitialUserNamespace() ? [] : [overflowUid()])]);
    if ('bytes' in found) return { path: shipped, bytes: found.bytes, shipped: true };
    warn(`the shipped ${shipped} ${found.problem}: building it from source instead`);
  }
  // A relative XDG_CACHE_HOME is to be ignored (XDG base directory spec).
  const xdg = process.env.XDG_CACHE_HOME;
  const cacheDir = join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'tsjail', platform);
  const cached = join(cacheDir, file);
  if (lexists(cached)) {
    const found = inspect(cached, hash, [uid]);
    if ('bytes' in found) return { path: cached, bytes: found.bytes, shipped: false };
    warn(`refusing ${cached}: it ${found.problem}; rebuilding it from source`);
  }
  const built = inspect(buildNative(name, cacheDir), hash, [uid]);
  if ('problem' in built) throw new HelperUnavailable(`the ${name} library just built at ${cached} ${built.problem}`);
  return { path: cached, bytes: built.bytes, shipped: false };
}

function lexists(path: string): boolean {
  try { lstatSync(path); return true; } catch { return false; }
}

/** Path of the checked library for this platform (see nativeLibrary). */
export function nativePath(name: NativeLibrary): string {
  return nativeLibrary(name).path;
}

interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}

interface Bound {
  spawn: KoffiFunction; wait: KoffiFunction; execResult: KoffiFunction;
  notifRecv: KoffiFunction; notifSend: KoffiFunction; close: KoffiFunction; tryLock: KoffiFunction;
  killNotifier: KoffiFunction; landlockAbi: KoffiFunction; netCopy: KoffiFunction; netFinish: KoffiFunction;
  unixOpen: KoffiFunction; notifSyncWakeup: KoffiFunction; unixSameMount: KoffiFunction;
  pipe: KoffiFunction; pidfd: KoffiFunction; pollerStart: KoffiFunction; pollerAdd: KoffiFunction; loadFilter: KoffiFunction;
  hiddenMap: KoffiFunction; hiddenRead: KoffiFunction; utimens: KoffiFunction;
  dnsHolder: KoffiFunction; dnsRequest: KoffiFunction; netRedirect: KoffiFunction;
}

let bound: Bound | undefined;

interface KoffiLibrary { func(signature: string): KoffiFunction }

/**
 * koffi's native module itself, taken from where koffi's package keeps this platform's: koffi's
 * index.js would first load https, zlib and its download tools (9 ms of CPU in a CLI run). Else,
 * and where the versions differ, koffi as it loads itself.
 */
export function koffiModule(): { readonly version: string; load(path: string): KoffiLibrary } {
  const pkg = require.resolve('koffi/package.json');
  const { version } = require(pkg) as { version: string };
  try {
    const native = require(join(dirname(pkg), 'build/koffi', `${process.platform}_${process.arch}`, 'koffi.node')) as ReturnType<typeof koffiModule>;
    if (native.version === version) return native;
  } catch { /* another libc or ABI (musl, armhf): koffi knows which */ }
  return require('koffi') as ReturnType<typeof koffiModule>;
}

/** koffi.load of the helper; a shipped one that cannot be loaded (another arch, a damaged file) gives way to a build. */
function loadHelper(): KoffiLibrary {
  const koffi = koffiModule();
  const { hash } = nativeSource('helper');
  const load = (found: NativeFile): KoffiLibrary => {
    const lib = koffi.load(found.path);
    // The loaded code itself says which source it is (the bytes were checked before loading).
    const loaded = String(lib.func('const char *tsjail_source_hash(void)')());
    if (loaded !== hash) throw new HelperUnavailable(`${found.path} says it was built from source ${loaded}, not ${hash}`);
    return lib;
  };
  const found = nativeLibrary('helper');
  try {
    return load(found);
  } catch (e) {
    if (!found.shipped) throw e instanceof HelperUnavailable ? e : new HelperUnavailable(`cannot load ${found.path}: ${(e as Error).message}`);
    warn(`the shipped ${found.path} cannot be loaded (${(e as Error).message}): building it from source instead`);
  }
  const rebuilt = nativeLibrary('helper', { skipShipped: true });
  try {
    return load(rebuilt);
  } catch (e) {
    throw e instanceof HelperUnavailable ? e : new HelperUnavailable(`cannot load ${rebuilt.path}: ${(e as Error).message}`);
  }
}

function bind(): Bound {
  if (bound) return bound;
  const lib = loadHelper();
  bound = {
    spawn: lib.func('int tsjail_spawn(const uint8_t *spec, size_t len, int32_t *result)'),
    wait: lib.func('int tsjail_wait(int pid)'),
    execResult: lib.func('int tsjail_exec_result(int fd, int32_t *result)'),
    notifRecv: lib.func('int tsjail_notif_recv(int fd, uint8_t *out, int timeout_ms)'),
    notifSend: lib.func('int tsjail_notif_send(int fd, uint64_t id, int error, int cont)'),
    close: lib.func('int tsjail_close(int fd)'),
    tryLock: lib.func('int tsjail_try_lock(const char *path)'),
    killNotifier: lib.func('int tsjail_kill_notifier(int listener, uint64_t id, int tid)'),
    landlockAbi: lib.func('int tsjail_landlock_abi(void)'),
    netCopy: lib.func('void *tsjail_net_copy(int listener, uint64_t id, int tid, int kind, const uint64_t *args, uint8_t *out, int32_t *err)'),
    netFinish: lib.func('int tsjail_net_finish(void *job, int error, int inline_ok)'),
    unixOpen: lib.func('int tsjail_unix_open(void *job, uint8_t *out, int outlen, _Out_ uint64_t *dev)'),
    notifSyncWakeup: lib.func('int tsjail_notif_sync_wakeup(int listener)'),
    unixSameMount: lib.func('int tsjail_unix_same_mount(void *job, const char *path)'),
    hiddenMap: lib.func('int tsjail_hidden_map(int32_t *fds)'),
    hiddenRead: lib.func('int tsjail_hidden_read(int group, uint8_t *out, int outlen, int timeout_ms)'),
    pipe: lib.func('int tsjail_pipe(int32_t *fds)'),
    pidfd: lib.func('int tsjail_pidfd(int pid)'),
    pollerStart: lib.func('int tsjail_poller_start(void)'),
    pollerAdd: lib.func('int tsjail_poller_add(int fd, uint64_t token)'),
    loadFilter: lib.func('int tsjail_load_filter(const uint8_t *prog, size_t len, int tsync, int32_t *result)'),
    utimens: lib.func('int tsjail_utimens(int fd, const int64_t *times)'),
    dnsHolder: lib.func('int tsjail_dns_holder(int32_t *result)'),
    dnsRequest: lib.func('int tsjail_dns_request(int chan, const uint8_t *request, int32_t *fd)'),
    netRedirect: lib.func('int tsjail_net_redirect(void *job, int sock)'),
  };
  return bound;
}

export type SpawnResult =
  | {
    readonly ok: true; readonly pid: number; readonly listener?: number; readonly execPipe?: number;
    /** With `hiddenMap`: the fanotify group the jail's masks are marked in, or the errno that left it unwatched. */
    readonly hiddenGroup?: { readonly fd: number } | { readonly errno: number };
    /** With `ttySlave: 'in-jail'`: the master of the jail's own pty. */
    readonly ttyMaster?: number;
  }
  | { readonly ok: false; readonly step: number; readonly errno: number };

function promisify<T>(f: KoffiFunction, args: unknown[], map: (ret: number) => T): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    f.async(...args, (err: Error | null, ret: number) => (err ? reject(err) : resolvePromise(map(ret))));
  });
}

/** The helper parses a spec into one static copy: jails started from one process start one at a time. */
let spawning: Promise<unknown> = Promise.resolve();

/** Starts the jail; resolves once the command has been exec'd (or, with a listener, is about to be). */
export function spawnJailed(spec: SpawnSpec): Promise<SpawnResult> {
  let buf: Buffer;
  try {
    buf = encodeSpec(spec);
  } catch (e) {
    return Promise.reject(e);
  }
  const result = new Int32Array(6).fill(-1);
  const started = spawning.then(() => promisify(bind().spawn, [buf, buf.length, result], (pid): SpawnResult => {
    const group = result[4]!, master = result[5]!;
    if (pid <= 0) {
      if (group >= 0) bind().close(group);
      if (master >= 0) bind().close(master);
      return { ok: false, step: result[0]!, errno: result[1]! };
    }
    return {
      ok: true, pid, ...(result[2]! >= 0 ? { listener: result[2]! } : {}), ...(result[3]! >= 0 ? { execPipe: result[3]! } : {}),
      ...(spec.hiddenMap !== undefined ? { hiddenGroup: group >= 0 ? { fd: group } : { errno: -group } } : {}),
      ...(master >= 0 ? { ttyMaster: master } : {}),
    };
  }));
  spawning = started.catch(() => undefined);
  return started;
}

/** Resolves once `fd` is readable or hung up (the helper's poller thread watches it, not one of Node's workers). */
function readable(fd: number): Promise<boolean> {
  const { whenReadable } = require('./readiness') as typeof import('./readiness');
  return whenReadable(fd);
}

/** The exec outcome of a jail started with a listener: undefined when the command runs. */
export async function execOutcome(execPipe: number): Promise<{ step: number; errno: number } | undefined> {
  const result = new Int32Array(2);
  await readable(execPipe);
  return bind().execResult(execPipe, result) === 1 ? { step: result[0]!, errno: result[1]! } : undefined;
}

/** Waits for a process (its pidfd watched by the poller); resolves to its raw wait status. */
export async function waitFor(pid: number): Promise<number> {
  const pidfd = bind().pidfd(pid) as number;
  if (pidfd < 0) throw new Error(`pidfd_open ${pid}: errno ${-pidfd}`);
  try {
    await readable(pidfd);
  } finally {
    bind().close(pidfd);
  }
  // It has ended: waitpid returns at once.
  const status = bind().wait(pid) as number;
  if (status < 0) throw new Error(`waitpid: errno ${-status}`);
  return status;
}

/** The poller's token pipe (read end), started once per process. */
export function startPoller(): number {
  const fd = bind().pollerStart() as number;
  if (fd < 0) throw new Error(`cannot start tsjail's poller thread: errno ${-fd}`);
  return fd;
}

/** Has the poller report `token` once `fd` is next readable. */
export function watchFd(fd: number, token: bigint): void {
  const r = bind().pollerAdd(fd, token) as number;
  if (r < 0) throw new Error(`cannot watch fd ${fd}: errno ${-r}`);
}

/** A close-on-exec pipe for a jail's stdio: [read end, write end]. */
export function stdioPipe(): [number, number] {
  const fds = new Int32Array(2);
  const r = bind().pipe(fds) as number;
  if (r < 0) throw new Error(`pipe: errno ${-r}`);
  return [fds[0]!, fds[1]!];
}

/** no_new_privs and `filter` into this process (every thread with `tsync`); the failed step, or undefined. */
export function loadFilterHere(filter: Uint8Array, tsync: boolean): { readonly step: number; readonly errno: number } | undefined {
  const result = new Int32Array(2);
  const r = bind().loadFilter(Buffer.from(filter), filter.length, tsync ? 1 : 0, result) as number;
  return r < 0 ? { step: result[0]!, errno: result[1]! } : undefined;
}

export interface Notification {
  readonly id: bigint;
  /** The calling thread, as tsjail's PID namespace numbers it. */
  readonly pid: number;
  readonly nr: number;
  readonly arch: number;
  readonly args: readonly bigint[];
}

function decodeNotification(r: number, out: Uint8Array): Notification | null | 'gone' {
  if (r === 0) return null;
  if (r < 0) return 'gone';
  const v = new DataView(out.buffer);
  return {
    id: v.getBigUint64(0, true), pid: v.getUint32(8, true), nr: v.getUint32(12, true), arch: v.getUint32(16, true),
    args: Array.from({ length: 6 }, (_, i) => v.getBigUint64(32 + 8 * i, true)),
  };
}

/**
 * The next notification, on this thread, waiting at most `timeoutMs` (kept to a millisecond or
 * two; 0 once readiness.ts says one waits): null after the timeout, or 'gone' when no process uses the filter.
 */
export function receiveNotificationNow(listener: number, timeoutMs: number): Notification | null | 'gone' {
  const out = new Uint8Array(88);
  return decodeNotification(bind().notifRecv(listener, out, timeoutMs) as number, out);
}

/** Answers a notification: fail with `errno`, or let the call run. */
export function answerNotification(listener: number, id: bigint, answer: { errno: number } | 'continue'): void {
  bind().notifSend(listener, id, answer === 'continue' ? 0 : answer.errno, answer === 'continue' ? 1 : 0);
}

export function closeFd(fd: number): void {
  bind().close(fd);
}

/** The same on a worker thread: the last close of a fanotify group waits for an RCU grace period (milliseconds) that the event loop need not. */
export function closeFdLater(fd: number): void {
  bind().close.async(fd, () => undefined);
}

/** An exclusive, non-blocking flock on `path`: its fd, or undefined when another holds it. */
export function tryLock(path: string): number | undefined {
  const fd = bind().tryLock(path) as number;
  if (fd >= 0) return fd;
  if (-fd === osConstants.errno.EWOULDBLOCK) return undefined;
  throw new Error(`cannot lock ${path}: ${errnoName(-fd) ?? `errno ${-fd}`}`);
}

/**
 * SIGKILL to the whole thread group of `tid`, the thread stopped in notification `id`, by pidfd,
 * and only while that call still waits (so a reused pid is never hit). Returns the thread
 * group id, or undefined when the caller is already gone.
 */
export function killNotifier(listener: number, id: bigint, tid: number): number | undefined {
  const r = bind().killNotifier(listener, id, tid) as number;
  return r > 0 ? r : undefined;
}

let abi: number | undefined;

/** The kernel's Landlock ABI version, 0 where it has none (not built in, or disabled at boot). */
export function landlockAbi(): number {
  if (abi === undefined) {
    const r = bind().landlockAbi() as number;
    abi = r > 0 ? r : 0;
  }
  return abi;
}

/** A stopped connect or send, copied by the helper and holding the jail's socket until netFinish. */
export interface NetJob { readonly handle: unknown }

/** Which call a job is (the helper's enum net_kind). */
export const NET_KINDS = { connect: 0, sendto: 1, sendmsg: 2, sendmmsg: 3 } as const;
export type NetKind = keyof typeof NET_KINDS;

/** The helper's NET_OUT_HEADER words, then the name, the peer, the control messages (NET_CONTROL_CAP) and the data's start (NET_DNS_BYTES). */
const NET_HEADER = 44, NET_CONTROL_CAP = 4096, NET_DNS_BYTES = 512;

/** What the helper copied: the socket's kind, and the call's address, control messages and data (as far as DNS needs it). */
export interface NetCopy {
  readonly job: NetJob;
  readonly domain: number;
  readonly type: number;
  readonly protocol: number;
  readonly flags: number;
  readonly name: Buffer;
  readonly peer: Buffer;
  readonly control: Buffer;
  readonly dataStart: Buffer;
  /** sendmmsg with vlen 0: nothing to decide. */
  readonly empty: boolean;
  /** The call cannot block (O_NONBLOCK, MSG_DONTWAIT): the helper performs it at once. */
  readonly nonblocking: boolean;
}

/**
 * Copies stopped call `n` out of the jail and takes its socket (pidfd_getfd), checking after the
 * reads that the call still waits. Undefined when it cannot be copied: the helper has then
 * answered it (EFAULT, EBADF, ENOTSOCK...) or it is gone.
 */
export function netCopy(listener: number, n: Notification, kind: NetKind): NetCopy | undefined {
  const out = Buffer.allocUnsafe(NET_HEADER + 256 + NET_CONTROL_CAP + NET_DNS_BYTES); // read only as far as the helper wrote
  const err = new Int32Array(1);
  const handle = bind().netCopy(listener, n.id, n.pid, NET_KINDS[kind], BigUint64Array.from(n.args), out, err);
  if (!handle) return undefined;
  const w = (i: number): number => out.readUInt32LE(4 * i);
  const at = NET_HEADER;
  return {
    job: { handle }, domain: w(0), type: w(1), protocol: w(2), flags: w(3),
    name: out.subarray(at, at + Math.min(w(4), 128)), peer: out.subarray(at + 128, at + 128 + Math.min(w(5), 128)),
    control: out.subarray(at + 256, at + 256 + w(6)), dataStart: out.subarray(at + 256 + NET_CONTROL_CAP, at + 256 + NET_CONTROL_CAP + Math.min(w(7), NET_DNS_BYTES)),
    empty: w(8) === 1, nonblocking: w(9) === 1,
  };
}

/** Refuses a copied call with `errno`, or (errno 0) performs it with the copy and answers with its result. */
export function netFinish(copy: NetCopy, errno: number): void {
  bind().netFinish(copy.job.handle, errno, copy.nonblocking ? 1 : 0);
}

/**
 * Opens the socket file a copied unix call names, as the jail resolves the path (its root and
 * cwd); the call, once finished, reaches that file and no other. Gives where the file is in the
 * jail's view and its device, or the errno the call fails with (ENOENT, ECONNREFUSED for a
 * non-socket...).
 */
export function unixOpen(copy: NetCopy): { readonly path: string; readonly dev: bigint } | { readonly errno: number } {
  const out = Buffer.alloc(4097);
  const dev = new BigUint64Array(1);
  const errno = bind().unixOpen(copy.job.handle, out, out.length, dev) as number;
  if (errno) return { errno };
  return { path: out.subarray(0, out.indexOf(0)).toString('utf8'), dev: dev[0]! };
}

/** Is the socket file unixOpen opened on the mount the jail has at `path`? (false if that cannot be told) */
export function unixSameMount(copy: NetCopy, path: string): boolean {
  return bind().unixSameMount(copy.job.handle, path) === 1;
}

/** The kernel wakes tsjail, and the answered thread, on the waking CPU (a no-op before Linux 6.6). */
export function syncWakeUp(listener: number): void {
  bind().notifSyncWakeup(listener);
}

/**
 * A fanotify id record of the helper (struct hidden_record): `what` is a mount index or an event
 * mask; `handleType` is -errno in a map record whose mask could not be watched (then `id` is empty).
 */
export interface HiddenRecord { readonly what: number; readonly pid: number; readonly id: string; readonly handleType: number }
export const HIDDEN_RECORD_BYTES = 88;

/** The record at `at` of `b`; `id` joins the filesystem id, handle type and handle bytes (empty: no id). */
export function hiddenRecord(b: Buffer, at: number): HiddenRecord {
  const bytes = Math.min(b.readUInt32LE(at + 8), 64);
  const id = bytes ? `${b.subarray(at + 12, at + 20).toString('hex')}:${b.readInt32LE(at + 4)}:${b.subarray(at + 24, at + 24 + bytes).toString('hex')}` : '';
  return { what: b.readUInt32LE(at), pid: b.readInt32LE(at + 20), id, handleType: b.readInt32LE(at + 4) };
}

/** The map pipe of a jail's masks (read end, write end); a negative errno on failure. */
export function hiddenMap(): { readonly read: number; readonly write: number } | number {
  const fds = new Int32Array(2);
  const r = bind().hiddenMap(fds) as number;
  return r < 0 ? r : { read: fds[0]!, write: fds[1]! };
}

/** The events waiting on `group` (none after timeoutMs); a negative errno on failure. */
export function hiddenEvents(group: number, out: Buffer, timeoutMs: number): HiddenRecord[] | number {
  const n = bind().hiddenRead(group, out, out.length, timeoutMs) as number;
  if (n < 0) return n;
  return Array.from({ length: n }, (_, i) => hiddenRecord(out, i * HIDDEN_RECORD_BYTES));
}

/**
 * Sets the access and modification times of the file tsjail opened as `fd` (O_PATH will do):
 * [atime s, ns, mtime s, ns] (UTIME_NOW, UTIME_OMIT as nanoseconds), undefined for now. Gives 0 or the errno.
 */
export function setFileTimes(fd: number, times: readonly bigint[] | undefined): number {
  return -(bind().utimens(fd, times ? BigInt64Array.from(times) : null) as number);
}

/** The DNS network's holder (tsjail_dns_holder): its channel and pid, or the step that failed and its errno. */
export function startDnsHolder(): { readonly channel: number; readonly pid: number } | { readonly step: number; readonly errno: number } {
  const result = new Int32Array(4);
  return bind().dnsHolder(result) === 0 ? { channel: result[0]!, pid: result[1]! } : { step: result[2]!, errno: result[3]! };
}

/** The holder's requests (DNS_SOCKET, DNS_ADDRESS in the helper). */
const DNS_SOCKET = 1, DNS_ADDRESS = 2, DNS_LISTEN = 3;

function dnsRequest(channel: number, op: number, family: number, type: number, protocol: number, address?: Buffer): { readonly fd: number } | { readonly errno: number } {
  const q = Buffer.alloc(32);
  q.writeUInt32LE(op, 0); q.writeUInt32LE(family, 4); q.writeUInt32LE(type, 8); q.writeUInt32LE(protocol, 12);
  address?.copy(q, 16);
  const fd = new Int32Array(1);
  const errno = bind().dnsRequest(channel, q, fd) as number;
  return errno ? { errno } : { fd: fd[0]! };
}

/** A socket made in the DNS network (AF_INET/AF_INET6, SOCK_DGRAM/SOCK_STREAM, protocol): its fd, or the errno. */
export function dnsNetworkSocket(channel: number, family: number, type: number, protocol: number): { readonly fd: number } | { readonly errno: number } {
  return dnsRequest(channel, DNS_SOCKET, family, type, protocol);
}

/** A socket made in the DNS network and bound to `address` (4 or 16 bytes, network order) port 53, listening if a stream. */
export function dnsNetworkListener(channel: number, family: number, type: number, protocol: number, address: Buffer): { readonly fd: number } | { readonly errno: number } {
  return dnsRequest(channel, DNS_LISTEN, family, type, protocol, address);
}

/** Makes an address (4 or 16 bytes, network order) local in the DNS network; 0 or the errno. */
export function dnsNetworkAddress(channel: number, family: number, address: Buffer): number {
  const r = dnsRequest(channel, DNS_ADDRESS, family, 0, 0, address);
  return 'errno' in r ? r.errno : 0;
}

/**
 * Puts `sock` in place of the jail's socket of a stopped connect (its fd number, O_NONBLOCK and
 * close-on-exec kept), bound to a port of its own; netFinish then connects it. Gives that port,
 * or the errno (ENOENT: the call no longer waits). `sock` is the job's or closed, either way.
 */
export function redirectSocket(copy: NetCopy, sock: number): { readonly port: number } | { readonly errno: number } {
  const r = bind().netRedirect(copy.job.handle, sock) as number;
  return r < 0 ? { errno: -r } : { port: r };
}
