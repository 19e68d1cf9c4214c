// Enforces network rules without namespaces or privilege: the filter stops connect(), sendto()
// with an address, sendmsg() and sendmmsg() at tsjail (user_notif rules added to the policy);
// the helper copies the address (and a send's data and control messages) out of the jail,
// tsjail decides on that copy, and the helper performs the call itself on the jail's socket
// (pidfd_getfd) with the same copy, then answers with its result. Nothing the jail can still
// change is read again, so a racing thread cannot swap the address after the decision.
import { errnoName } from '../kernel/errno';
import { NET_STOP_LABEL } from '../policy/jailStops';
import { statSync } from 'node:fs';
import type { Rule, ArgCondition } from '../policy/model';
import { netCopy, netFinish, redirectSocket, unixOpen, unixSameMount, type NetCopy, type NetKind, type Notification } from './helper';
import {
  allowFlagFor, canonicalAddress, decideNet, destinationText, formatAddress, nameMatches, parseIPv4, parseIPv6, usesNames,
  type NetDecision, type NetDestination, type NetRule,
} from './netRules';
import { dnsQueryName } from './dnsMessages';
import type { DnsNetwork } from './dnsNetwork';
import type { Answerer } from './notifications';
import { allowUnixFlag, decideUnix, unixRefusalReason, type UnixScope } from './unixRules';

const AF_UNSPEC = 0, AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17;
const SOCK_SEQPACKET = 5;
const IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_ICMPV6 = 58;
const SOL_SOCKET = 1, SCM_RIGHTS = 1, SCM_CREDENTIALS = 2, SOL_IP = 0, SOL_IPV6 = 41, SOL_UDP = 17;
/** A refused connect or send fails as a local firewall makes it fail (iptables -A OUTPUT -j REJECT... gives EPERM). */
export const NET_REFUSED_ERRNO = 1;
const ENOENT = 2, EINVAL = 22, EAFNOSUPPORT = 97;
/** A refused unix socket fails as one the jail may not write to does. */
export const UNIX_REFUSED_ERRNO = 13; // EACCES

/** Control messages a send may carry: they set the packet's source, TTL, class or segmenting, never where it goes. */
const HARMLESS_CONTROL: Readonly<Record<number, readonly number[]>> = {
  [SOL_IP]: [1 /* IP_TOS */, 2 /* IP_TTL */, 8 /* IP_PKTINFO */],
  [SOL_IPV6]: [50 /* IPV6_PKTINFO */, 52 /* IPV6_HOPLIMIT */, 62 /* IPV6_DONTFRAG */, 67 /* IPV6_TCLASS */],
  [SOL_UDP]: [103 /* UDP_SEGMENT */],
};

const cond = (arg: string, op: ArgCondition['op'], value: number): ArgCondition => ({ arg, op, value: BigInt(value) });
const LABEL = NET_STOP_LABEL;

/**
 * The rules network rules add to the policy: the calls that name a destination stop at tsjail
 * (user_notif, so a policy that refuses them outright still wins), and the side doors close:
 * io_uring (its connect and sendmsg never pass the filter), AF_PACKET, inet protocols other than
 * TCP, UDP and ICMP (SCTP connects from setsockopt, MPTCP has its own paths), and IP options
 * or IPv6 routing headers (a source route sends packets to its first hop, whatever the address).
 * With `ip` false (only unix sockets are decided), the stops and io_uring only.
 */
export function netPolicyRules(ip = true): Rule[] {
  const notify = { kind: 'user_notif' } as const;
  const refuse = { kind: 'errno', errno: 'EPERM' } as const;
  const otherProtocol = [0, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6].map((p) => cond('protocol', 'ne', p));
  const stops: Rule[] = [
    { syscalls: ['connect', 'sendmsg', 'sendmmsg'], action: notify, conditions: [], label: LABEL },
    { syscalls: ['sendto'], action: notify, conditions: [cond('addr', 'ne', 0)], label: LABEL },
    { syscalls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'], action: refuse, conditions: [], label: `${LABEL}: no io_uring` },
  ];
  if (!ip) return stops;
  return [
    ...stops,
    { syscalls: ['socket', 'socketpair'], action: refuse, conditions: [cond('family', 'eq', AF_PACKET)], label: `${LABEL}: no packet sockets` },
    ...[AF_INET, AF_INET6].flatMap((family): Rule[] => [
      { syscalls: ['socket'], action: refuse, conditions: [cond('family', 'eq', family), ...otherProtocol], label: `${LABEL}: TCP, UDP and ICMP only` },
      // Protocol 0 of a SOCK_SEQPACKET is SCTP where its module is loaded (it connects from setsockopt).
      {
        syscalls: ['socket'], action: refuse, label: `${LABEL}: TCP, UDP and ICMP only`,
        conditions: [cond('family', 'eq', family), { arg: 'type', op: 'masked_eq', value: BigInt(SOCK_SEQPACKET), mask: 0xfn }],
      },
    ]),
    { syscalls: ['setsockopt'], action: refuse, conditions: [cond('level', 'eq', SOL_IP), cond('optname', 'eq', 4 /* IP_OPTIONS */)], label: `${LABEL}: no source routes` },
    ...[57 /* IPV6_RTHDR */, 5 /* IPV6_2292RTHDR */, 6 /* IPV6_2292PKTOPTIONS */].map((optname): Rule => ({
      syscalls: ['setsockopt'], action: refuse, conditions: [cond('level', 'eq', SOL_IPV6), cond('optname', 'eq', optname)], label: `${LABEL}: no source routes`,
    })),
  ];
}

/** How long a name's addresses count after tsjail resolved it. */
const NAME_TTL_MS = 300_000;
/** An unknown address makes tsjail resolve the allowed names again, at most this often. */
const REFRESH_MS = 2_000;
/** How long a connect to an unknown address waits for names being resolved. */
const RESOLVE_WAIT_MS = 3_000;
/** Names remembered from DNS queries, at most (tsjail's memory stays bounded). */
const MAX_LEARNED = 1024;

/** The addresses allowed names resolved to, as tsjail saw them: at start, on demand, and from the jail's DNS queries. */
export class NameBook {
  private readonly byAddress = new Map<string, Map<string, number>>();
  private readonly learned = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private lastRefresh = 0;

  // node:dns/promises is loaded for the first name resolved: most jails resolve none.
  constructor(
    private readonly rules: readonly NetRule[],
    private readonly resolve: (name: string) => Promise<readonly { address: string; family: number }[]> = (name) => (require('node:dns/promises') as typeof import('node:dns/promises')).lookup(name, { all: true }),
    private readonly now: () => number = Date.now,
  ) {}

  private exactNames(): string[] {
    return this.rules.flatMap((r) => (r.target.kind === 'name' ? [r.target.name] : []));
  }

  namesOf(family: 4 | 6, address: bigint): string[] {
    const names = this.byAddress.get(`${family}:${address}`);
    if (!names) return [];
    const t = this.now();
    return [...names].filter(([, until]) => until > t).map(([n]) => n).sort();
  }

  /** Records that `name` resolves to these addresses (for NAME_TTL_MS). */
  remember(name: string, found: readonly { address: string; family: number }[]): void {
    for (const a of found) {
      const bits = a.family === 4 ? parseIPv4(a.address) : parseIPv6(a.address);
      if (bits === undefined) continue;
      const c = canonicalAddress(a.family === 4 ? 4 : 6, bits);
      const key = `${c.family}:${c.address}`;
      const names = this.byAddress.get(key) ?? new Map<string, number>();
      names.set(name, this.now() + NAME_TTL_MS);
      this.byAddress.set(key, names);
    }
  }

  /** Resolves `name` (in the background) and records its addresses. */
  learn(name: string): Promise<void> {
    const p = this.resolve(name).then((found) => this.remember(name, found), () => undefined).finally(() => this.pending.delete(p));
    this.pending.add(p);
    return p;
  }

  /** At start: every exact name of the rules. */
  start(): void {
    this.lastRefresh = this.now();
    for (const n of this.exactNames()) void this.learn(n);
  }

  /** A name the jail asked its DNS for: resolved too when some rule could allow it (wildcards learn names only this way). */
  sawQuery(name: string): void {
    const n = name.toLowerCase();
    if (this.learned.has(n) || this.learned.size >= MAX_LEARNED || !this.rules.some((r) => nameMatches(r.target, n))) return;
    this.learned.add(n);
    void this.learn(n);
  }

  /** Before an address is refused: what is being resolved, and the names again if they were not resolved lately. */
  async settle(): Promise<void> {
    if (this.now() - this.lastRefresh >= REFRESH_MS) {
      this.lastRefresh = this.now();
      for (const n of [...this.exactNames(), ...this.learned]) void this.learn(n);
    }
    if (!this.pending.size) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.pending]), new Promise((r) => { timer = setTimeout(r, RESOLVE_WAIT_MS); })]);
    clearTimeout(timer);
  }
}

/** A refused connect or send, for the report (see "Every denial explained" in the README). */
export interface NetRefusal {
  readonly call: 'connect' | 'send';
  readonly syscall: string;
  /** `1.2.3.4:80/tcp`, or for a refusal that is not about an address, what was refused. */
  readonly destination: string;
  readonly protocol: string | null;
  readonly address: string | null;
  readonly port: number | null;
  readonly name: string | null;
  readonly decidedBy: string;
  readonly suggestion: string;
  /** How the call failed, when not EPERM (a unix socket: EACCES). */
  readonly action?: string;
}

type RefusalOf = (destination: string, decidedBy: string, suggestion: string, d?: NetDestination, name?: string) => NetRefusal;

/** The refusals of one call: `call` and `syscall` as reported. */
const refusalsOf = (call: NetRefusal['call'], syscall: string): RefusalOf => (destination, decidedBy, suggestion, d, name) => ({
  call, syscall, destination, protocol: d?.protocol ?? null, address: d ? formatAddress(d.family, d.address) : null,
  port: d && d.protocol !== 'icmp' ? d.port : null, name: name ?? null, decidedBy, suggestion,
});

/** The DNS network's sockets given to the jail, by protocol and port, remembered for reports (the latest this many). */
const MAX_DNS_CLIENTS = 4096;

/** Where a copied address points, for an inet socket: a destination, nothing to decide, or an errno the kernel would give. */
type Target = { readonly dest: NetDestination } | 'none' | { readonly errno: number };

function protocolOf(copy: NetCopy): NetDestination['protocol'] | undefined {
  if (copy.protocol === IPPROTO_TCP) return 'tcp';
  if (copy.protocol === IPPROTO_UDP) return 'udp';
  if (copy.protocol === IPPROTO_ICMP || copy.protocol === IPPROTO_ICMPV6) return 'icmp';
  return undefined;
}

/** Reads a sockaddr as the kernel's inet code would on a socket of `domain`. */
export function inetTarget(domain: number, name: Buffer, kind: NetKind, protocol: NetDestination['protocol']): Target {
  if (!name.length) return 'none';
  if (name.length < 2) return { errno: EINVAL };
  let family = name.readUInt16LE(0);
  if (family === AF_UNSPEC) {
    // connect(AF_UNSPEC) disconnects; IPv6 sends ignore it; IPv4 UDP takes it as AF_INET (BSD compatibility).
    if (kind === 'connect' || domain === AF_INET6) return 'none';
    family = AF_INET;
  }
  let dest: NetDestination;
  if (family === AF_INET) {
    if (name.length < 16) return { errno: EINVAL };
    dest = { family: 4, address: BigInt(name.readUInt32BE(4)), port: name.readUInt16BE(2), protocol };
  } else if (family === AF_INET6) {
    if (name.length < 24) return { errno: EINVAL };
    const address = (name.readBigUInt64BE(8) << 64n) | name.readBigUInt64BE(16);
    dest = { ...canonicalAddress(6, address), port: name.readUInt16BE(2), protocol };
  } else {
    return { errno: EAFNOSUPPORT };
  }
  // The unspecified address is the local host (the kernel connects 0.0.0.0 to 127.0.0.1, :: to ::1).
  if (dest.address === 0n) dest = { ...dest, address: dest.family === 4 ? 0x7f000001n : 1n };
  return { dest };
}

/** A sockaddr_un as text: the path, or @name for an abstract one. */
export function unixAddress(name: Buffer): string {
  const path = name.subarray(2);
  if (path[0] === 0) return `@${path.subarray(1).toString('latin1')}`;
  const end = path.indexOf(0);
  return path.subarray(0, end < 0 ? path.length : end).toString('utf8');
}

/** The control messages of a send, as (level, type) pairs; undefined if malformed (the kernel refuses those). */
export function controlMessages(control: Buffer): { level: number; type: number }[] | undefined {
  const out: { level: number; type: number }[] = [];
  for (let at = 0; at + 16 <= control.length;) {
    const len = Number(control.readBigUInt64LE(at));
    if (len < 16 || at + len > control.length) return undefined;
    out.push({ level: control.readInt32LE(at + 8), type: control.readInt32LE(at + 12) });
    at += (len + 7) & ~7;
  }
  return out;
}

let tmpDevice: bigint | undefined;
/** The device of tsjail's own /tmp: the host's. */
function hostTmpDevice(): bigint {
  return tmpDevice ??= statSync('/tmp', { bigint: true }).dev;
}

export class NetSupervisor {
  readonly names: NameBook;

  private readonly rules: readonly NetRule[];

  constructor(
    /** The IP allowlist; undefined: IP is the host's, unrestricted (only unix sockets are decided). */
    private readonly ipRules: readonly NetRule[] | undefined,
    private readonly refused: (n: Notification, r: NetRefusal) => void,
    /** Log mode: refusals are reported, and the calls still run. */
    private readonly logOnly = false,
    names?: NameBook,
    private readonly unix: UnixScope = { rules: [] },
  ) {
    this.rules = ipRules ?? [];
    this.names = names ?? new NameBook(this.rules);
    this.names.start();
  }

  private describeRules(): string {
    return `network rules (${this.rules.map((r) => r.text).join(', ') || 'none'})`;
  }

  private readonly finished = new WeakSet<NetCopy>();

  /** Finishes a copied call once: refuse with errno (reported), or perform it with the copy. */
  private finish(copy: NetCopy, n: Notification, errno: number, refusal?: NetRefusal): void {
    if (this.finished.has(copy)) return;
    this.finished.add(copy);
    try {
      if (refusal) this.refused(n, refusal);
    } finally {
      // --log lets refused inet destinations through; never a unix address, a control message or
      // another family: those tsjail cannot perform as the jail would (its view, its ids).
      netFinish(copy, refusal && this.logOnly && refusal.protocol !== null ? 0 : errno);
    }
  }

  /** A stopped connect or send: answered by the helper, now or (names being resolved) later; on any fault, refused. */
  handle(n: Notification, kind: NetKind, answer: Answerer): void | Promise<void> {
    const copy = netCopy(answer.listener, n, kind);
    answer('taken');
    if (!copy) return undefined;
    const failClosed = (e: unknown): never => { this.finish(copy, n, NET_REFUSED_ERRNO); throw e; };
    try {
      return this.decide(copy, n, kind)?.catch(failClosed);
    } catch (e) {
      return failClosed(e);
    }
  }

  private decide(copy: NetCopy, n: Notification, kind: NetKind): void | Promise<void> {
    if (copy.empty) return this.finish(copy, n, 0);
    const call = kind === 'connect' ? 'connect' : 'send';
    const refusal = refusalsOf(call, kind);
    const messages = controlMessages(copy.control);
    if (!messages) return this.finish(copy, n, EINVAL);
    for (const m of messages) {
      if (m.level === SOL_SOCKET && m.type === SCM_RIGHTS) continue;
      const ok = copy.domain !== AF_UNIX && (!this.ipRules || HARMLESS_CONTROL[m.level]?.includes(m.type));
      if (ok) continue;
      const what = m.level === SOL_SOCKET && m.type === SCM_CREDENTIALS ? 'SCM_CREDENTIALS (tsjail sends for the jail: the kernel would check the ids claimed against tsjail\'s rights)' : `control message level ${m.level} type ${m.type}`;
      return this.finish(copy, n, NET_REFUSED_ERRNO, refusal(what, `${LABEL}: a ${kind} with ${what} is not performed`, 'send without it'));
    }
    if (copy.domain === AF_UNIX) return this.decideUnix(copy, n, refusal);
    // Netlink reaches the kernel only.
    if (copy.domain === AF_NETLINK) return this.finish(copy, n, 0);
    // The host's network, unrestricted: performed as the kernel would have.
    if (!this.ipRules) return this.finish(copy, n, 0);
    if (copy.domain !== AF_INET && copy.domain !== AF_INET6) {
      return this.finish(copy, n, NET_REFUSED_ERRNO, refusal(`a socket of address family ${copy.domain}`, `${LABEL}: only unix, netlink, IPv4 and IPv6 sockets may connect or send`, 'use a TCP or UDP socket'));
    }
    const protocol = protocolOf(copy);
    if (!protocol) return this.finish(copy, n, NET_REFUSED_ERRNO, refusal(`IP protocol ${copy.protocol}`, `${LABEL}: TCP, UDP and ICMP only`, 'use TCP or UDP'));
    const target = inetTarget(copy.domain, copy.name, kind, protocol);
    const peer = inetTarget(copy.domain, copy.peer, 'sendto', protocol);
    const toDns = typeof target === 'object' && 'dest' in target ? target.dest : typeof peer === 'object' && 'dest' in peer ? peer.dest : undefined;
    let question: NetRefusal | undefined;
    if (call === 'send' && protocol === 'udp' && toDns?.port === 53) {
      const q = dnsQueryName(copy.dataStart);
      if (q) this.names.sawQuery(q);
      question = this.refusedQuestion(q, toDns, refusal);
    }
    if (target === 'none') return question ? this.finish(copy, n, NET_REFUSED_ERRNO, question) : this.finish(copy, n, 0);
    if ('errno' in target) return this.finish(copy, n, target.errno);
    const d = target.dest;
    const conclude = (decision: NetDecision): void => {
      // An allowed resolver still answers only the names the rules allow.
      if (decision.allowed && question) return this.finish(copy, n, NET_REFUSED_ERRNO, question);
      // A connect to a resolver is made in the DNS network: whatever the jail sends on it, tsjail's server reads.
      if (decision.allowed && kind === 'connect' && d.port === 53 && protocol !== 'icmp' && this.dns) return this.redirect(copy, n, d, refusal);
      if (decision.allowed) return this.finish(copy, n, 0);
      const name = this.names.namesOf(d.family, d.address)[0];
      this.finish(copy, n, NET_REFUSED_ERRNO, refusal(destinationText(d), `${this.describeRules()}: no rule allows it`, allowFlagFor(d, name), d, name));
    };
    const first = decideNet(this.rules, d, (f, a) => this.names.namesOf(f, a));
    if (first.allowed || !usesNames(this.rules)) return conclude(first);
    // Perhaps an allowed name resolves to it now: ask again (bounded), then decide.
    return this.names.settle().then(() => conclude(decideNet(this.rules, d, (f, a) => this.names.namesOf(f, a))));
  }

  /**
   * Where the rules name hosts, a DNS query the jail sends (as tsjail sees it: with an address, or
   * by sendmsg/sendmmsg) asks only for names a rule allows; anything else sent to port 53 is refused.
   */
  private refusedQuestion(q: string | undefined, resolver: NetDestination, refusal: RefusalOf): NetRefusal | undefined {
    if (!usesNames(this.rules)) return undefined;
    if (q === undefined) return refusal(`a message to ${destinationText(resolver)} that is not a DNS query with one question`, `${this.describeRules()}: DNS to a resolver asks for a name the rules allow`, 'send a DNS query', resolver);
    const name = q.toLowerCase().replace(/\.$/, '');
    if (this.rules.some((r) => nameMatches(r.target, name))) return undefined;
    return refusal(`DNS query for ${name} to ${destinationText(resolver)}`, `${this.describeRules()}: no rule names ${name}`, `--allow-net ${name}`, resolver, name);
  }

  private dns?: DnsNetwork;
  private readonly dnsClients = new Map<string, Notification>();

  /**
   * Where the rules name hosts: the DNS network (dnsNetwork.ts), so that queries sent on
   * connected sockets and over TCP are read too. Where it cannot be made (`without` says why,
   * or making it fails), today's reading only, said with `log`.
   */
  startDns(log: (msg: string) => void, without?: string): { end(): void } | undefined {
    if (!usesNames(this.rules) || this.dns) return undefined;
    const { DnsNetwork } = require('./dnsNetwork') as typeof import('./dnsNetwork');
    const made = without ?? DnsNetwork.start({
      logOnly: this.logOnly,
      allows: (name, resolver, port) => this.allowsQuery(name, resolver, port),
      answered: (name, addresses) => { if (this.rules.some((r) => nameMatches(r.target, name))) this.names.remember(name, addresses); },
    });
    if (typeof made === 'string') {
      log(`note: DNS queries sent with send()/write() on a connected socket, and DNS over TCP, reach an allowed resolver unread (${made}): a program can still ask it for names no rule allows (README: Network rules, Questions)`);
      return undefined;
    }
    const dns = made;
    this.dns = dns;
    return { end: () => { dns.close(); if (this.dns === dns) this.dns = undefined; } };
  }

  /** A query tsjail's DNS server took from the jail's socket bound to `port`: refused (and reported) unless a rule allows its name. */
  private allowsQuery(name: string | undefined, resolver: NetDestination, port: number): boolean {
    const refused = this.refusedQuestion(name, resolver, refusalsOf('send', 'send'));
    if (!refused) return true;
    const client = this.dnsClients.get(`${resolver.protocol}:${port}`);
    // No syscall was refused: the query got a REFUSED answer (nr -1: the call the jail sent it with is not known).
    this.refused({ id: 0n, pid: client?.pid ?? 0, nr: -1, arch: client?.arch ?? 0, args: [] }, { ...refused, action: 'REFUSED' });
    return false;
  }

  /** A connect to a resolver: a socket of the DNS network takes the jail socket's place, and is connected. */
  private redirect(copy: NetCopy, n: Notification, d: NetDestination, refusal: RefusalOf): void {
    const got = this.dns!.socketFor(copy.domain, copy.type, copy.protocol, d);
    const put = 'fd' in got ? redirectSocket(copy, got.fd) : undefined;
    if (put && 'port' in put) {
      const key = `${d.protocol}:${put.port}`;
      this.dnsClients.delete(key);
      this.dnsClients.set(key, n);
      if (this.dnsClients.size > MAX_DNS_CLIENTS) this.dnsClients.delete(this.dnsClients.keys().next().value!);
      return this.finish(copy, n, 0);
    }
    // The call no longer waits: nothing to answer, nothing to report.
    if (put?.errno === ENOENT) return this.finish(copy, n, NET_REFUSED_ERRNO);
    const why = 'reason' in got ? got.reason : `cannot put its socket in place of the jail's: ${errnoName(put!.errno) ?? `errno ${put!.errno}`}`;
    this.finish(copy, n, NET_REFUSED_ERRNO, refusal(destinationText(d), `${LABEL}: a connect to a resolver is made in tsjail's DNS network, and ${why}`, 'run again (the DNS network failed)', d));
  }

  /**
   * A unix connect or send: without an address (a connected socket) performed; to a path, the
   * socket file is opened as the jail resolves the path and decided by where it is; to an
   * abstract name, by the unix rules. Performed on the opened file, as the jail's ids.
   */
  private decideUnix(copy: NetCopy, n: Notification, refusal: (destination: string, decidedBy: string, suggestion: string) => NetRefusal): void {
    // No address, or only a family (the kernel's EINVAL): nothing to decide.
    if (copy.name.length <= 2) return this.finish(copy, n, 0);
    let address = unixAddress(copy.name);
    let hostTmp: readonly string[] | undefined;
    if (!address.startsWith('@')) {
      const opened = unixOpen(copy);
      // Not there (or not a socket) in the jail's view: the kernel's own answer, nothing refused.
      if ('errno' in opened) return this.finish(copy, n, opened.errno);
      address = opened.path;
      // A jail without a mount namespace (or one that left its private /tmp) sees the host's /tmp.
      if (opened.dev === hostTmpDevice()) hostTmp = [...(require('./noNamespaces') as typeof import('./noNamespaces')).runTmpdirs];
    }
    const decision = decideUnix(this.unix, address, hostTmp);
    // Allowed by a file rule: the socket must be on the jail's mount at the rule's path, not on a
    // mount of its own there (a bind of /run into the workspace, where the policy allows mounts).
    if (decision.allowed && decision.fsRule && !unixSameMount(copy, decision.fsRule.path)) {
      const why = `${address} is on another mount than ${decision.fsRule.path} (${decision.fsRule.source}): a unix socket is reached on the writable mount itself or by a unix: rule`;
      return this.finish(copy, n, UNIX_REFUSED_ERRNO, { ...refusal(`unix socket ${address}`, why, allowUnixFlag(address)), action: 'EACCES' });
    }
    if (decision.allowed) return this.finish(copy, n, 0);
    this.finish(copy, n, UNIX_REFUSED_ERRNO, { ...refusal(`unix socket ${address}`, unixRefusalReason(decision, address), allowUnixFlag(address)), action: 'EACCES' });
  }
}
