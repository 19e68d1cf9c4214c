// Unix sockets under the rules. A pathname socket is a file: the jail reaches one where its file
// rules let it write (a writable or private path: its own sockets, the workspace's), or where a
// `unix:` rule allows it, never merely because it can see it (a read-only mount does not stop a
// connect). An abstract socket (@name) is reached only by a `unix:@name` rule. Pure: the
// supervisor (netSupervisor.ts) opens the socket file as the jail resolves its path and asks here.
import { canonicalPath, decidingRule, fsContext, type FsContext, type FsRule, type ResolvedFs } from './fsRules';
import { JailError } from './errors';
import type { NetOption } from '../policy/jailSettings';

export interface UnixRule {
  /** As written (shown in reports). */
  readonly text: string;
  /** A socket path or a directory of sockets (canonical), or an abstract name (without its @). */
  readonly target: { readonly kind: 'path'; readonly path: string } | { readonly kind: 'abstract'; readonly name: string };
}

/** What decides the jail's unix connects and sends: the rules, and the jail's file rules if it has them. */
export interface UnixScope {
  readonly rules: readonly UnixRule[];
  readonly fs?: ResolvedFs;
  /** --bind/--tmpfs destinations: put there by the user, reachable. */
  readonly mounts?: readonly string[];
}

export interface UnixDecision {
  readonly allowed: boolean;
  /** The unix rule that allowed it. */
  readonly rule?: UnixRule;
  /** The file rule that decided a pathname socket (when no unix rule did). */
  readonly fsRule?: FsRule;
}

const PREFIX = 'unix:';
const HINT = 'a unix rule is unix:/PATH (a socket, or a directory of sockets) or unix:@NAME (an abstract socket), e.g. unix:/run/user/1000/bus, unix:@/tmp/.X11-unix/X0';

export const isUnixRule = (text: string): boolean => text.trim().startsWith(PREFIX);

/** `unix:/run/foo.sock` or `unix:@name` → UnixRule; a path is made canonical (/var/run/x is /run/x). */
export function parseUnixRule(text: string, ctx: FsContext = fsContext()): UnixRule {
  const given = text.trim().slice(PREFIX.length);
  if (given.startsWith('@')) {
    if (given.length < 2) throw new JailError(`bad network rule '${text}': an abstract socket needs its name after @ (${HINT})`);
    return { text, target: { kind: 'abstract', name: given.slice(1) } };
  }
  if (!given.startsWith('/') && !given.startsWith('~/')) throw new JailError(`bad network rule '${text}': a socket path is absolute (${HINT})`);
  return { text, target: { kind: 'path', path: canonicalPath(given, ctx, `network rule ${text}:`) } };
}

/** The unix rules among a `jail.net` allowlist (the others are for IP). */
export function unixRulesOf(net: NetOption | undefined, ctx?: FsContext): UnixRule[] {
  if (typeof net !== 'object' || !Array.isArray(net.allow)) return [];
  return net.allow.filter((r) => typeof r === 'string' && isUnixRule(r)).map((r) => parseUnixRule(r, ctx));
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

/**
 * A socket: `@name` (abstract) or its path in the jail's view. `hostTmp`: the socket file is on
 * the host's /tmp filesystem, so a tmpfs rule's /tmp is not private (a jail without a mount
 * namespace): only these directories of it are the jail's (the runs' private TMPDIRs).
 */
export function decideUnix(scope: UnixScope, address: string, hostTmp?: readonly string[]): UnixDecision {
  if (address.startsWith('@')) {
    const rule = scope.rules.find((r) => r.target.kind === 'abstract' && r.target.name === address.slice(1));
    return rule ? { allowed: true, rule } : { allowed: false };
  }
  const rule = scope.rules.find((r) => r.target.kind === 'path' && within(address, r.target.path));
  if (rule) return { allowed: true, rule };
  if (scope.mounts?.some((m) => within(address, m))) return { allowed: true };
  if (!scope.fs) return { allowed: false };
  const fsRule = decidingRule(scope.fs.rules, address);
  if (fsRule.access === 'tmpfs' && hostTmp) {
    const own = hostTmp.find((d) => within(address, d));
    return own ? { allowed: true } : { allowed: false, fsRule: { ...fsRule, access: 'ro', reason: 'the host\'s /tmp, not a private one, here' } };
  }
  return { allowed: fsRule.access === 'rw' || fsRule.access === 'tmpfs', fsRule };
}

/** Why a socket was refused, for the report's "decided by". */
export function unixRefusalReason(d: UnixDecision, address: string): string {
  if (address.startsWith('@')) return 'an abstract unix socket is reached only by a unix:@NAME rule';
  const r = d.fsRule;
  if (!r) return 'a unix socket is reached only by a unix: rule here (the jail has no file rules)';
  const what = r.access === 'hide' ? 'hidden' : 'read-only';
  return `${r.path} is ${what} (${r.source}${r.reason ? `: ${r.reason}` : ''}): a unix socket is reached under a writable path or by a unix: rule`;
}

/** The flag that would allow exactly this socket. */
export const allowUnixFlag = (address: string): string => `--allow-net unix:${address}`;
