// Network rules: what a jail may connect and send to. Pure: parses rule text, and decides a
// destination (tsjail's own copy of the address) against the rules. The supervisor
// (netSupervisor.ts) enforces the decision; see "Network rules" in the README.
import { isIPv4, isIPv6 } from 'node:net';
import { JailError } from './errors';
import type { NetOption } from '../policy/jailSettings';

/** `jail.net` in a policy file: the host's network, none, the host's loopback only, or an allowlist. */
export type NetProtocol = 'tcp' | 'udp';

/** Where a rule points: an address block, a host name, every subdomain of a name, or any host. */
export type NetTarget =
  | { readonly kind: 'block'; readonly family: 4 | 6; readonly base: bigint; readonly prefix: number }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'wildcard'; readonly suffix: string }
  | { readonly kind: 'any' };

export interface NetRule {
  /** As written (shown in reports). */
  readonly text: string;
  readonly target: NetTarget;
  /** Inclusive port range; undefined: every port. */
  readonly ports?: { readonly from: number; readonly to: number };
  /** Undefined: TCP, UDP and ICMP (ping sockets). */
  readonly protocol?: NetProtocol;
}

/** What the jail's network is: the host's as it is, its own empty one (lo only), or the host's through an allowlist. */
export type NetSetting =
  | { readonly kind: 'host' }
  | { readonly kind: 'none' }
  | { readonly kind: 'allowlist'; readonly rules: readonly NetRule[] };

/** A connect or send as tsjail copied it: protocol from the socket, address from the copy (IPv4-mapped IPv6 already made IPv4). */
export interface NetDestination {
  readonly family: 4 | 6;
  readonly address: bigint;
  readonly port: number;
  readonly protocol: NetProtocol | 'icmp';
}

export interface NetDecision {
  readonly allowed: boolean;
  /** The rule that allowed it. */
  readonly rule?: NetRule;
  /** The allowed name the address came from, when a name rule decided. */
  readonly name?: string;
}

/** `--net loopback`: the host's loopback addresses, every port and protocol. */
export const LOOPBACK_RULES: readonly string[] = ['127.0.0.0/8', '[::1]'];

const HINT = 'a rule is HOST[:PORT[-PORT]][/tcp|/udp] with HOST an IPv4 address, [IPv6], a CIDR block, a name, *.name, or nothing (any host), e.g. 127.0.0.2:8080, [::1]:53/udp, 10.0.0.0/8, registry.npmjs.org:443/tcp, *.example.com, :443';

function bad(text: string, why: string): JailError {
  return new JailError(`bad network rule '${text}': ${why} (${HINT})`);
}

export function parseIPv4(s: string): bigint | undefined {
  if (!isIPv4(s)) return undefined;
  return s.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

export function parseIPv6(s: string): bigint | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  // A trailing dotted quad (::ffff:1.2.3.4) is its last 32 bits.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v4 = parseIPv4(quad[1]!)!;
    text = `${text.slice(0, -quad[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** An IPv6 address that is an IPv4 one (::ffff:a.b.c.d) is decided as that IPv4 address, as the kernel routes it. */
export function canonicalAddress(family: 4 | 6, address: bigint): { readonly family: 4 | 6; readonly address: bigint } {
  return family === 6 && address >> 32n === 0xffffn ? { family: 4, address: address & 0xffffffffn } : { family, address };
}

function parsePorts(text: string, s: string): { from: number; to: number } {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) throw bad(text, `'${s}' is not a port or a range LO-HI`);
  const from = Number(m[1]), to = Number(m[2] ?? m[1]);
  if (from < 1 || to > 65535 || from > to) throw bad(text, `ports go from 1 to 65535, low to high, not '${s}'`);
  return { from, to };
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

function parseName(text: string, name: string): string {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.length > 253 || !n.split('.').every((l) => LABEL.test(l))) throw bad(text, `'${name}' is not an address or a host name`);
  return n;
}

function parseBlock(text: string, host: string, family: 4 | 6): NetTarget {
  const [addr, prefixText] = host.split('/') as [string, string | undefined];
  const base = family === 4 ? parseIPv4(addr) : parseIPv6(addr);
  if (base === undefined) throw bad(text, `'${addr}' is not an IPv${family} address`);
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) throw bad(text, `the prefix length of an IPv${family} block is 0 to ${bits}, not '${prefixText}'`);
  const hostBits = BigInt(bits - prefix);
  if ((base & ((1n << hostBits) - 1n)) !== 0n) throw bad(text, `${host} has bits set past its /${prefix} (did you mean ${formatAddress(family, (base >> hostBits) << hostBits)}/${prefix}?)`);
  // A v4-mapped block is that IPv4 block: decisions are made on canonical addresses.
  if (family === 6 && prefix >= 96 && base >> 32n === 0xffffn) return { kind: 'block', family: 4, base: base & 0xffffffffn, prefix: prefix - 96 };
  return { kind: 'block', family, base, prefix };
}

function parseTarget(text: string, host: string): NetTarget {
  if (host === '' || host === '*') return { kind: 'any' };
  if (/^[\d./]+$/.test(host)) return parseBlock(text, host, 4);
  if (host.includes(':')) return parseBlock(text, host, 6);
  if (host.startsWith('*.')) return { kind: 'wildcard', suffix: parseName(text, host.slice(2)) };
  if (host.includes('*')) throw bad(text, 'a wildcard is only a leading *. (e.g. *.example.com)');
  return { kind: 'name', name: parseName(text, host) };
}

/** One rule's text → NetRule; a JailError naming the rule and the syntax otherwise. */
export function parseNetRule(text: string): NetRule {
  let rest = text.trim();
  if (!rest) throw bad(text, 'it is empty');
  let protocol: NetProtocol | undefined;
  const proto = /\/(tcp|udp)$/i.exec(rest);
  if (proto) { protocol = proto[1]!.toLowerCase() as NetProtocol; rest = rest.slice(0, -proto[0].length); }
  else if (/\/[a-z]+$/i.test(rest)) throw bad(text, `the protocol is /tcp or /udp, not '${/\/([a-z]+)$/i.exec(rest)![1]}'`);
  let host = rest, portText: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw bad(text, 'an IPv6 address in brackets needs its ]');
    host = rest.slice(1, end);
    // [2001:db8::]/32 is [2001:db8::/32].
    const prefix = /^\/\d+/.exec(rest.slice(end + 1))?.[0] ?? '';
    host += prefix;
    const after = rest.slice(end + 1 + prefix.length);
    if (after && !after.startsWith(':')) throw bad(text, `after ] comes :PORT, not '${after}'`);
    if (after) portText = after.slice(1);
    if (!host.includes(':')) throw bad(text, `[${host}] is not an IPv6 address`);
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [host, portText] = rest.split(':') as [string, string];
  }
  const ports = portText === undefined ? undefined : parsePorts(text, portText);
  const target = parseTarget(text, host);
  if (target.kind === 'any' && !ports && !protocol) throw bad(text, 'it allows everything: use --net host for that');
  return { text, target, ...(ports ? { ports } : {}), ...(protocol ? { protocol } : {}) };
}

/** `jail.net` (or the flags) → what the jail's network is. */
export function resolveNet(net: NetOption | undefined): NetSetting {
  if (net === undefined || net === 'host') return { kind: 'host' };
  if (net === 'none') return { kind: 'none' };
  if (net === 'loopback') return { kind: 'allowlist', rules: LOOPBACK_RULES.map(parseNetRule) };
  if (typeof net !== 'object' || !Array.isArray(net.allow) || net.allow.some((r) => typeof r !== 'string')) {
    throw new JailError(`bad jail.net ${JSON.stringify(net)}: expected 'none', 'loopback', 'host' or { allow: ['HOST[:PORT][/tcp|/udp]', ...] }`);
  }
  // unix: rules are for unix sockets (unixRules.ts): an allowlist of them only leaves IP as the host's.
  const ip = net.allow.filter((r) => !r.trim().startsWith('unix:'));
  if (!ip.length && net.allow.length) return { kind: 'host' };
  return { kind: 'allowlist', rules: ip.map(parseNetRule) };
}

/** --net and --allow-net → a NetOption; --allow-net adds to --net loopback, and to nothing else. */
export function netFromFlags(net: string | undefined, allow: readonly string[]): NetOption | undefined {
  if (net !== undefined && !['none', 'loopback', 'host'].includes(net)) throw new JailError(`bad --net '${net}': expected none, loopback or host (and --allow-net RULE for an allowlist)`);
  if (!allow.length) return net as NetOption | undefined;
  const unixOnly = allow.every((r) => r.trim().startsWith('unix:'));
  if (net === 'none' && unixOnly) throw new JailError('--net none and --allow-net unix:... together are not supported: the file rules decide unix sockets under --net none (--rw DIR for a socket directory)');
  if (net === 'none' || (net === 'host' && !unixOnly)) throw new JailError(`--net ${net} and --allow-net contradict each other: drop one (--allow-net alone allows only its rules; unix: rules leave the IP network as it is)`);
  return { allow: [...(net === 'loopback' ? LOOPBACK_RULES : []), ...allow] };
}

/** A policy file's `jail.net` under the flags: flags replace it, except that --allow-net alone adds to its allowlist. */
export function combineNet(fromPolicy: NetOption | undefined, fromFlags: NetOption | undefined, flagsOnlyAllow: boolean): NetOption | undefined {
  if (flagsOnlyAllow && typeof fromPolicy === 'object' && typeof fromFlags === 'object') return { allow: [...fromPolicy.allow, ...fromFlags.allow] };
  return fromFlags ?? fromPolicy;
}

function inBlock(t: NetTarget & { kind: 'block' }, family: 4 | 6, address: bigint): boolean {
  if (t.family !== family) return false;
  const shift = BigInt((family === 4 ? 32 : 128) - t.prefix);
  return address >> shift === t.base >> shift;
}

/** Does a name rule cover this host name? `*.example.com` covers its subdomains, not example.com itself. */
export function nameMatches(t: NetTarget, name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return (t.kind === 'name' && t.name === n) || (t.kind === 'wildcard' && n.endsWith(`.${t.suffix}`));
}

function portAndProtocolMatch(r: NetRule, d: NetDestination): boolean {
  if (r.protocol && r.protocol !== d.protocol) return false;
  // A ping socket's "port" is its echo id: only rules for every port cover it.
  if (r.ports && (d.protocol === 'icmp' || d.port < r.ports.from || d.port > r.ports.to)) return false;
  return true;
}

/**
 * The first rule that allows the destination; `namesOf` gives the names tsjail saw resolve to an
 * address. Nothing allows it: refused.
 */
export function decideNet(rules: readonly NetRule[], d: NetDestination, namesOf: (family: 4 | 6, address: bigint) => readonly string[]): NetDecision {
  const names = namesOf(d.family, d.address);
  for (const rule of rules) {
    if (!portAndProtocolMatch(rule, d)) continue;
    const t = rule.target;
    if (t.kind === 'any' || (t.kind === 'block' && inBlock(t, d.family, d.address))) return { allowed: true, rule };
    const name = names.find((n) => nameMatches(t, n));
    if (name) return { allowed: true, rule, name };
  }
  return { allowed: false };
}

/** Does any rule need the destination's name (so an unknown address is worth resolving again)? */
export const usesNames = (rules: readonly NetRule[]): boolean => rules.some((r) => r.target.kind === 'name' || r.target.kind === 'wildcard');

export function formatAddress(family: 4 | 6, address: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((address >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((address >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The longest run of zero groups (two or more) becomes :: (RFC 5952).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** `1.2.3.4:80/tcp`, `[::1]:53/udp`, `registry.npmjs.org:443/tcp`: the destination as a rule. */
export function destinationText(d: NetDestination, name?: string): string {
  const host = name ?? (d.family === 6 ? `[${formatAddress(6, d.address)}]` : formatAddress(4, d.address));
  return d.protocol === 'icmp' ? host : `${host}:${d.port}/${d.protocol}`;
}

/** The flag that would allow exactly this destination. */
export const allowFlagFor = (d: NetDestination, name?: string): string => `--allow-net ${destinationText(d, name)}`;

/**
 * For Landlock's TCP connect rules (a second layer): the TCP ports the allowlist lets the jail
 * connect to, as sorted disjoint ranges, when every rule that covers TCP names its ports;
 * undefined when some rule allows every port (Landlock then cannot add anything). Landlock
 * sees ports only, never addresses: it narrows, the supervisor decides.
 */
export function tcpConnectPorts(rules: readonly NetRule[]): { from: number; to: number }[] | undefined {
  const tcp = rules.filter((r) => r.protocol !== 'udp');
  if (tcp.some((r) => !r.ports)) return undefined;
  const sorted = tcp.map((r) => ({ ...r.ports! })).sort((a, b) => a.from - b.from || a.to - b.to);
  const out: { from: number; to: number }[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && p.from <= last.to + 1) last.to = Math.max(last.to, p.to);
    else out.push(p);
  }
  return out;
}

/** One line per rule, for notes and `explain`. */
export function describeNet(s: NetSetting): string[] {
  if (s.kind === 'host') return ['network: the host\'s, unrestricted'];
  if (s.kind === 'none') return ['network: none (a network namespace of its own with only lo)'];
  return [`network: the host's, connects and sends only to ${s.rules.length ? s.rules.map((r) => r.text).join(', ') : 'nothing'}`];
}
