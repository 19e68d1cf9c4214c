// What `tsjail learn` records for a policy's `jail` section: the directories a command wrote
// outside the default writable places (→ `fs: [{ rw: DIR }]`) and, with --learn-net, the
// destinations it connected and sent to (→ `net: { allow: [...] }`). Writes are read from the
// write-intent calls as fsWrites.ts reads them (the kernel still decides each); connects and
// sends are copied and performed by the helper as under network rules (netSupervisor.ts), so
// what is recorded is what was reached.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { decidingRule, type FsContext, type ResolvedFs } from './fsRules';
import { writtenPaths } from './fsWrites';
import { netCopy, netFinish, type NetKind, type Notification } from './helper';
import { destinationText, parseNetRule, type NetDestination } from './netRules';
import { controlMessages, inetTarget, NameBook, NET_REFUSED_ERRNO, unixAddress } from './netSupervisor';
import { dnsQueryName } from './dnsMessages';
import type { Answerer } from './notifications';

const within = (path: string, dir: string): boolean => path === dir || dir === '/' || path.startsWith(`${dir}/`);

/** The file rules of the learning jail, and where its other mounts are (their writes are theirs). */
export interface LearnFiles {
  readonly fs: ResolvedFs;
  readonly ctx: FsContext;
  readonly otherMounts: readonly string[];
}

/**
 * The directory to make writable for a write to `path`, or why none is learned: the nearest
 * existing directory holding it (a rule needs one that exists); never `/`, your home
 * or above, nor one that holds or lies in a hidden path. undefined: the default rules allow it.
 */
export function directoryToLearn(path: string, files: LearnFiles): LearnedWrite | undefined {
  const rule = decidingRule(files.fs.rules, path);
  if (rule.source === 'default' && (rule.access === 'rw' || rule.access === 'tmpfs')) return undefined;
  if (rule.access === 'hide') return { why: `a write to ${path}: hidden (${rule.reason ?? rule.source}), not learned` };
  let dir = dirname(path);
  while (!existsSync(dir)) dir = dirname(dir);
  const why = unlearnable(dir, files);
  return why ? { why: `a write to ${path}: ${why}, not learned${why.includes('home') || dir === '/' ? ' (give --rw PATH yourself if it is meant)' : ''}` } : { dir, refused: rule.access !== 'rw' };
}

/** Why a directory is never made writable by learn (also one from a --merge record, which anyone may have written). */
export function unlearnable(dir: string, files: LearnFiles): string | undefined {
  if (within(files.ctx.home, dir)) return `its directory ${dir} is ${dir === '/' ? '/' : 'your home or above'}`;
  const secret = files.fs.rules.find((h) => h.access === 'hide' && (within(dir, h.path) || within(h.path, dir)));
  return secret ? `${dir} ${within(dir, secret.path) ? 'is in' : 'holds'} hidden ${secret.path}` : undefined;
}

/** A directory learned (`refused`: the kernel refuses the write in this run), or why none is. */
export type LearnedWrite = { readonly dir: string; readonly refused: boolean } | { readonly why: string };

/** The directories a write-intent call writes, learned or not (with the reason). */
export function learnWrites(syscall: string, n: Notification, files: LearnFiles): LearnedWrite[] {
  return writtenPaths(syscall, n.args, n.pid, files.otherMounts).flatMap(({ path }) => directoryToLearn(path, files) ?? []);
}

/** Directories with those beneath another one dropped, sorted. */
export function outermostDirectories(dirs: readonly string[]): string[] {
  const sorted = [...new Set(dirs)].sort();
  return sorted.filter((d) => !sorted.some((o) => o !== d && within(d, o)));
}

const AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, SOL_SOCKET = 1, SCM_RIGHTS = 1, EINVAL = 22;
const PROTOCOLS: Readonly<Record<number, NetDestination['protocol']>> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp' };
/** Names from the jail's DNS queries tsjail resolves, at most (its memory stays bounded). */
const MAX_NAMES = 1024;

/**
 * --learn-net: a connect or send with an address is copied and performed by the helper (as under
 * network rules, never continued) and its destination recorded. What network rules refuse is
 * refused here too, so the learned policy runs the program as learn did: unix socket addresses,
 * families other than unix, netlink and inet, inet protocols other than TCP, UDP, ICMP, and sends
 * with control messages (only SCM_RIGHTS passes, on unix sockets).
 */
export class NetLearner {
  private readonly seen = new Map<string, NetDestination>();
  private readonly queried = new Set<string>();
  readonly refused = new Set<string>();
  private readonly names = new NameBook([]);

  handle(n: Notification, kind: NetKind, answer: Answerer): void {
    const copy = netCopy(answer.listener, n, kind);
    answer('taken');
    if (!copy) return;
    let errno = NET_REFUSED_ERRNO;
    try {
      const messages = controlMessages(copy.control);
      errno = !messages ? EINVAL : this.decide(copy.domain, copy.protocol, copy.name, messages.some((m) => m.level !== SOL_SOCKET || m.type !== SCM_RIGHTS), kind, copy.dataStart, copy.empty);
    } finally {
      netFinish(copy, errno);
    }
  }

  private refuse(what: string): number {
    this.refused.add(what);
    return NET_REFUSED_ERRNO;
  }

  private decide(domain: number, protocolNr: number, name: Buffer, control: boolean, kind: NetKind, data: Buffer, empty: boolean): number {
    if (empty) return 0;
    if (control) return this.refuse(`a ${kind} with control messages other than SCM_RIGHTS`);
    if (domain === AF_UNIX && name.length) return this.refuse(`unix socket ${unixAddress(name)} (network rules refuse unix socket addresses)`);
    if (domain === AF_UNIX || domain === AF_NETLINK) return 0;
    if (domain !== AF_INET && domain !== AF_INET6) return this.refuse(`a socket of address family ${domain}`);
    const protocol = PROTOCOLS[protocolNr];
    if (!protocol) return this.refuse(`IP protocol ${protocolNr}`);
    const target = inetTarget(domain, name, kind, protocol);
    if (target === 'none') return 0;
    if ('errno' in target) return target.errno;
    const d = target.dest;
    if (protocol === 'udp' && d.port === 53) {
      const q = dnsQueryName(data)?.toLowerCase();
      if (q && !this.queried.has(q) && this.queried.size < MAX_NAMES) { this.queried.add(q); void this.names.learn(q); }
    }
    this.seen.set(destinationText(d), d);
    return 0;
  }

  /** The destinations as allowlist rules, sorted: by the name tsjail saw resolve to the address where there is one. */
  async rules(): Promise<string[]> {
    await this.names.settle();
    const out = new Set<string>();
    for (const d of this.seen.values()) {
      const name = this.names.namesOf(d.family, d.address)[0];
      out.add(destinationText(d, name && isRuleName(name) ? name : undefined));
    }
    return [...out].sort();
  }
}

/** A name that parses as a rule's host name (a learned name becomes a rule). */
function isRuleName(name: string): boolean {
  try {
    return parseNetRule(name).target.kind === 'name';
  } catch {
    return false;
  }
}
