// What a jail on the host's root may read, write and see: the default rules (host read-only,
// the working directory writable, a private /tmp, secrets hidden), a policy's `jail.fs` and the
// --ro/--rw/--hide/--show/--noexec flags, resolved once at start into one list of rules on
// canonical paths. The mount layer (spec.ts → helper) and Landlock (landlock.ts) both enforce
// this list; nothing else decides file access.
import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { cacheDir } from '../formats/cacheSettings';
import { JailError } from './errors';
import type { FsRuleInput } from '../policy/jailSettings';

/**
 * ro: read and execute; rw: also write; hide: not there (an empty directory or an empty file where
 * it exists, unreadable where it appears later); tmpfs: a fresh, empty, writable directory.
 */
export type FsAccess = 'ro' | 'rw' | 'hide' | 'tmpfs';

/** One rule as written in a policy's `jail.fs` (in order: a later rule for the same path wins). */
/** A resolved rule: `path` is absolute and canonical (no symlink, no `..`). */
export interface FsRule {
  readonly path: string;
  readonly access: FsAccess;
  /** Programs beneath may be executed (false for --noexec paths). */
  readonly exec: boolean;
  /** Where the rule came from: 'default', '--rw', 'policy', ... */
  readonly source: string;
  /** Why a default rule exists (shown by explain and in refusals). */
  readonly reason?: string;
}

export interface ResolvedFs {
  /** Sorted by path (a parent before what is beneath it); '/' first. At most one rule per path. */
  readonly rules: readonly FsRule[];
  /** Things the user should know (the working directory is not writable, and why). */
  readonly notes: readonly string[];
}

/** Hidden in every jail on the host's root; `~` is the home of whoever runs tsjail. */
export const DEFAULT_SECRETS: readonly { readonly path: string; readonly reason: string }[] = [
  { path: '~/.ssh', reason: 'SSH keys and known hosts: log in elsewhere as you' },
  { path: '~/.gnupg', reason: 'GnuPG private keys: sign and decrypt as you' },
  { path: '~/.aws', reason: 'AWS credentials' },
  { path: '~/.azure', reason: 'Azure credentials' },
  { path: '~/.config/gcloud', reason: 'Google Cloud credentials' },
  { path: '~/.kube', reason: 'Kubernetes cluster credentials' },
  { path: '~/.docker', reason: 'container registry credentials' },
  { path: '~/.netrc', reason: 'passwords for FTP/HTTP hosts (curl, git, pip read it)' },
  { path: '~/.git-credentials', reason: 'git HTTPS passwords and tokens' },
  { path: '~/.config/gh', reason: 'the GitHub CLI token' },
  { path: '~/.npmrc', reason: 'npm registry tokens' },
  { path: '~/.pypirc', reason: 'PyPI upload tokens' },
  { path: '~/.cargo/credentials.toml', reason: 'crates.io token' },
  { path: '~/.vault-token', reason: 'a HashiCorp Vault token' },
  { path: '~/.password-store', reason: 'pass(1) password store' },
  { path: '~/.local/share/keyrings', reason: 'the desktop keyring' },
  { path: '~/.mozilla', reason: 'Firefox profiles: session cookies (logged in as you) and saved passwords' },
  { path: '~/.config/google-chrome', reason: 'Chrome profiles: session cookies and saved passwords' },
  { path: '~/.config/chromium', reason: 'Chromium profiles: session cookies and saved passwords' },
  { path: '~/.thunderbird', reason: 'Thunderbird profiles: mail account passwords' },
  { path: '~/.pgpass', reason: 'PostgreSQL passwords' },
  { path: '~/.config/rclone', reason: 'rclone\'s cloud storage credentials' },
  { path: '~/.terraform.d', reason: 'Terraform Cloud tokens' },
  { path: '~/.bash_history', reason: 'shell history: the secrets typed on command lines' },
  { path: '~/.zsh_history', reason: 'the same, for zsh' },
  // Where /var/run is a link to /run both name one socket: the later entry's reason is kept.
  { path: '/var/run/docker.sock', reason: 'the Docker daemon: through it a member of the docker group is root' },
  { path: '/run/docker.sock', reason: 'the Docker daemon: through it a member of the docker group is root' },
  { path: '/etc/shadow', reason: 'password hashes' },
  { path: '/etc/gshadow', reason: 'group password hashes' },
];

/** Directories the working directory may not be (nor be under) and still be made writable. */
const SYSTEM_DIRS = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/usr', '/var/lib', '/var/cache', '/var/log', '/var/spool', '/var/mail', '/opt', '/snap', '/srv'];

export interface FsContext {
  readonly home: string;
  readonly cwd: string;
  /** Running as root: /root is hidden as a whole. */
  readonly root: boolean;
  /** Whose session's runtime directory (/run/user/UID) is hidden. */
  readonly uid?: number;
}

export function fsContext(): FsContext {
  return { home: homedir(), cwd: process.cwd(), root: process.getuid?.() === 0, ...(process.getuid ? { uid: process.getuid() } : {}) };
}

/** The session's sockets: a read-only file rule does not stop connect(), so the directory is hidden. */
const RUNTIME_DIR_REASON = 'your session\'s sockets: its D-Bus (systemd-run --user starts programs outside the jail), gpg-agent and ssh-agent, the keyring, the display';

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : dir + sep);
}

/**
 * `~` expanded, relative to the working directory, then the real path of its longest existing
 * prefix plus the rest (a rule may name what does not exist yet). A writable path must not pass
 * through a symlink: a link planted in a workspace would otherwise turn `--rw ./build` into
 * write access to wherever it points.
 */
export function canonicalPath(given: string, ctx: FsContext, what: string, noSymlinks = false, depth = 0): string {
  if (given === '' || given.includes('\0')) throw new JailError(`${what}: bad path ${JSON.stringify(given)}`);
  if (given.startsWith('~') && !given.startsWith('~/') && given !== '~') throw new JailError(`${what} ${given}: only ~ and ~/ are expanded (not ~user)`);
  const lexical = lexicalPath(given, ctx);
  let existing = lexical;
  const rest: string[] = [];
  while (!existsSync(existing) && !isSymlink(existing)) {
    if (existing === '/') break;
    rest.unshift(existing.slice(dirname(existing).length).replace(/^\//, ''));
    existing = dirname(existing);
  }
  if (isSymlink(existing) && !existsSync(existing)) {
    // A dangling link (a secret's target not made yet): the rule is for where it points.
    if (noSymlinks) throw new JailError(`${what} ${given}: ${existing} is a symlink; name its target itself if that is what may be written`);
    if (depth > 40) throw new JailError(`${what} ${given}: a symlink loop`);
    return canonicalPath(join(resolve(dirname(existing), readlinkSync(existing)), ...rest), ctx, what, false, depth + 1);
  }
  let real: string;
  try {
    real = realpathSync(existing);
  } catch (e) {
    throw new JailError(`${what} ${given}: ${(e as NodeJS.ErrnoException).code === 'ELOOP' ? 'a symlink loop' : `cannot resolve ${existing}`}`);
  }
  if (noSymlinks && real !== existing) {
    throw new JailError(`${what} ${given}: ${existing} leads through a symlink to ${real}; name ${real} itself if that is what may be written`);
  }
  return rest.length ? join(real, ...rest) : real;
}

/** `given` with `~` expanded, made absolute and normalized: no symlink is followed. */
function lexicalPath(given: string, ctx: FsContext): string {
  const expanded = given === '~' ? ctx.home : given.startsWith('~/') ? join(ctx.home, given.slice(2)) : given;
  return normalize(isAbsolute(expanded) ? expanded : resolve(ctx.cwd, expanded));
}

function isSymlink(path: string): boolean {
  try {
    // A missing path is no exception (its Error and stack would cost more than the lstat).
    return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
  } catch {
    return false;
  }
}

/** The flag or key of one input rule. */
function inputRule(r: FsRuleInput): [keyof FsRuleInputUnion, string] {
  const keys = Object.keys(r);
  if (keys.length !== 1 || !['ro', 'rw', 'hide', 'show', 'noexec'].includes(keys[0]!)) {
    throw new JailError(`bad fs rule ${JSON.stringify(r)}: expected one of { ro: PATH }, { rw: PATH }, { hide: PATH }, { show: PATH }, { noexec: PATH }`);
  }
  const path = (r as Record<string, unknown>)[keys[0]!];
  if (typeof path !== 'string') throw new JailError(`bad fs rule ${JSON.stringify(r)}: the path must be a string`);
  return [keys[0] as keyof FsRuleInputUnion, path];
}
type FsRuleInputUnion = { ro: string; rw: string; hide: string; show: string; noexec: string };

/**
 * The rules for a jail on the host's root: defaults, then `inputs` in order (a policy's, then the
 * flags'), each tagged with `source(i)`. A later rule for the same path replaces an earlier one;
 * beneath a path its deepest rule decides (as mounts stack).
 */
export function resolveFs(inputs: readonly FsRuleInput[], ctx: FsContext, source: (i: number) => string = () => 'policy'): ResolvedFs {
  const byPath = new Map<string, FsRule>();
  const notes: string[] = [];
  const put = (rule: FsRule): void => {
    byPath.delete(rule.path); // re-inserted last: Map order is the order rules were given
    byPath.set(rule.path, rule);
  };
  put({ path: '/', access: 'ro', exec: true, source: 'default', reason: 'the host is visible read-only' });
  put({ path: '/tmp', access: 'tmpfs', exec: true, source: 'default', reason: 'a private /tmp, empty at start, gone at the end' });
  const cwd = ctx.cwd;
  const system = SYSTEM_DIRS.find((d) => within(cwd, d));
  // The working directory is a real path: a $HOME through a symlink is compared as its target.
  const home = canonicalPath('~', ctx, '$HOME');
  if (cwd === '/') notes.push('the working directory is /: nothing is writable but /tmp (--rw DIR to give more)');
  else if (within(home, cwd)) notes.push(`the working directory ${cwd} is ${cwd === home ? 'your home' : 'above your home'}: it stays read-only (--rw DIR to give a project directory)`);
  else if (system) notes.push(`the working directory ${cwd} is a system directory (${system}): it stays read-only (--rw ${cwd} if you mean it)`);
  else put({ path: cwd, access: 'rw', exec: true, source: 'default', reason: 'the working directory' });
  const hidden = [
    ...DEFAULT_SECRETS, ...(ctx.root ? [{ path: '/root', reason: 'root\'s home' }] : []),
    ...(ctx.uid !== undefined ? [{ path: `/run/user/${ctx.uid}`, reason: RUNTIME_DIR_REASON }] : []),
    // Read-only in the jail like the rest of the host, and hidden too (unless the jail cannot reach it: see below).
    { path: cacheDir(process.env, ctx.home, ctx.root), reason: CACHE_REASON },
  ];
  for (const s of hidden) put({ path: canonicalPath(s.path, ctx, 'default secret'), access: 'hide', exec: false, source: 'default', reason: s.reason });
  inputs.forEach((input, i) => {
    const [key, given] = inputRule(input);
    // A flag names itself (--rw); a policy's rule says where it is from (policy rw).
    const what = source(i) === 'flag' ? `--${key}` : `${source(i)} ${key}`;
    const path = canonicalPath(given, ctx, what, key === 'rw');
    const earlier = byPath.get(path);
    // A link planted in a workspace must not turn `--ro .git` into a rule for a hidden path.
    const hiding = [...byPath.values()].find((r) => r.access === 'hide' && within(path, r.path));
    if (key === 'ro' && hiding && path !== lexicalPath(given, ctx)) {
      throw new JailError(`${what} ${given}: it leads through a symlink to ${path}, which is hidden (${hiding.path}, ${hiding.source}); name ${path} itself if that is what may be read`);
    }
    if (key === 'show') {
      if (earlier?.access !== 'hide') throw new JailError(`${what} ${given}: no rule hides ${path} (hidden by default: ${hidden.map((h) => h.path).join(' ')})`);
      byPath.delete(path);
    } else if (key === 'noexec') {
      const at = earlier ?? { ...decidingRule([...byPath.values()], path), path };
      put({ ...at, exec: false, source: what });
    } else {
      put({ path, access: key, exec: key !== 'hide', source: what });
    }
  });
  const cache = [...byPath.values()].find((r) => r.reason === CACHE_REASON && r.source === 'default');
  if (cache && !cacheReachable(cache.path, byPath, ctx.root)) byPath.delete(cache.path);
  const rules = [...byPath.values()].sort((a, b) => (a.path === b.path ? 0 : a.path === '/' ? -1 : b.path === '/' ? 1 : a.path < b.path ? -1 : 1));
  for (const r of rules) {
    if (r.access === 'rw' || r.access === 'tmpfs') {
      // (Not the filter cache: it exists when it matters, and is no secret of the user's to warn about.)
      const covered = rules.filter((h) => h.access === 'hide' && h.path !== r.path && within(h.path, r.path) && h.reason !== CACHE_REASON);
      for (const h of covered) notes.push(`${h.path} is hidden inside writable ${r.path}: hidden if it exists at start (not if created later)`);
    }
  }
  return { rules, notes };
}

const CACHE_REASON = 'tsjail\'s compiled filters (filterCache.ts): a jail must not plant one for the next run';

/**
 * Whether the jail reaches the cache directory, so that hiding it can work. Beneath the deepest
 * rule above it: a private tmpfs or a hidden directory, no (it is not there); a bind (ro or rw),
 * yes (as root an id-mapped one: the jail owns what the user owns); the host's root itself, as
 * root only through directories others may search (the jail is a private id range there). Where
 * it cannot reach the directory, the hide mount would fail on the way (EACCES).
 */
function cacheReachable(path: string, rules: ReadonlyMap<string, FsRule>, root: boolean): boolean {
  let searchable = true;
  for (let up = dirname(path); ; up = dirname(up)) {
    const rule = rules.get(up);
    if (rule && up !== '/') return rule.access === 'ro' || rule.access === 'rw';
    if (root && searchable) {
      try {
        searchable = (statSync(up).mode & 0o001) !== 0;
      } catch { /* not made yet: filterCache.ts makes it searchable */ }
    }
    if (up === '/') return searchable;
  }
}

/** The rule that decides `path`: the one for the deepest directory containing it (or the path itself). */
export function decidingRule(rules: readonly FsRule[], path: string): FsRule {
  let best: FsRule | undefined;
  for (const r of rules) if (within(path, r.path) && (!best || r.path.length > best.path.length)) best = r;
  if (!best) throw new Error(`internal error: no fs rule decides ${path} (the rules have no '/')`);
  return best;
}

/** One line per rule, for `tsjail explain` and start-up notes. */
export function describeFs(fs: ResolvedFs): string[] {
  const words: Record<FsAccess, string> = { ro: 'read-only', rw: 'writable', hide: 'hidden', tmpfs: 'private (empty tmpfs)' };
  return fs.rules.map((r) => `${r.path.padEnd(32)} ${words[r.access]}${r.exec || r.access === 'hide' ? '' : ', no exec'}  (${r.source}${r.reason ? `: ${r.reason}` : ''})`);
}

/** The jail options fsRules reads (a subset of JailOptions, kept here to avoid an import cycle). */
export interface FsOptions {
  readonly fs?: readonly FsRuleInput[];
  /** The same from the command line: after `fs`, each labelled by its flag. */
  readonly fsFlags?: readonly FsRuleInput[];
  readonly hostFs?: boolean;
  readonly root?: string;
  readonly stage?: readonly unknown[];
}

/**
 * The file rules of a jail, or undefined where there are none: --host-fs (the host shared as it
 * is) and jails with a root of their own (-r, --stage, a bundle: they see only what they are given).
 */
export function jailFs(o: FsOptions, ctx: FsContext = fsContext()): ResolvedFs | undefined {
  const ownRoot = o.root !== undefined || (o.stage?.length ?? 0) > 0;
  const inputs = [...(o.fs ?? []), ...(o.fsFlags ?? [])];
  if (o.hostFs || ownRoot) {
    if (inputs.length) throw new JailError(o.hostFs ? '--host-fs shares the host as it is: it takes no --ro/--rw/--hide rules' : 'file rules (--ro/--rw/--hide/--show/--noexec) are for jails on the host\'s root; with -r or --stage use --bind/--ro-bind/--tmpfs');
    return undefined;
  }
  const fromPolicy = o.fs?.length ?? 0;
  return resolveFs(inputs, ctx, (i) => (i < fromPolicy ? 'policy' : 'flag'));
}
