// `tsjail run --bundle DIR` (ujail -J): an OCI bundle's config.json as jail options. Every
// field is either carried out or named in an error: nothing is silently ignored.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Policy } from '../policy/model';
import { importOci } from '../formats/oci';
import { JailError } from './errors';
import { ociMount } from './mounts';
import { type NamespaceName, JOINABLE, type JoinableNamespace, CAPABILITY_SETS, type CapabilitySets, type OciMount, type JailOptions } from '../policy/jailSettings';

interface OciConfig {
  ociVersion?: string;
  process?: {
    terminal?: boolean; args?: string[]; env?: string[]; cwd?: string;
    user?: { uid: number; gid: number; additionalGids?: number[] };
    rlimits?: { type: string; hard: number; soft: number }[];
    noNewPrivileges?: boolean;
    capabilities?: Record<string, string[]>;
    [k: string]: unknown;
  };
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  linux?: {
    namespaces?: { type: string; path?: string }[];
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    seccomp?: unknown;
    resources?: {
      memory?: { limit?: number }; pids?: { limit?: number }; cpu?: { quota?: number; period?: number };
      devices?: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[]; [k: string]: unknown;
    };
    sysctl?: Record<string, string>;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    [k: string]: unknown;
  };
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

const NAMESPACE_NAMES: Readonly<Record<string, NamespaceName>> = {
  pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', mount: 'mount', user: 'user', cgroup: 'cgroup',
};

export interface BundleRun {
  readonly command: string[];
  readonly options: JailOptions;
  readonly policy?: Policy;
}

/**
 * process.capabilities as runc applies them: an ambient capability the kernel would refuse to
 * raise (not permitted and inheritable) is left out, as runc leaves it.
 */
function capabilitySets(caps: Record<string, string[]>, unsupported: string[]): CapabilitySets | undefined {
  for (const set of Object.keys(caps)) if (!(CAPABILITY_SETS as readonly string[]).includes(set)) unsupported.push(`process.capabilities.${set}`);
  if (!Object.keys(caps).length) return undefined;
  const norm = (names: readonly string[] | undefined): string[] => (names ?? []).map((n) => n.toUpperCase());
  const raisable = norm(caps.permitted).filter((n) => norm(caps.inheritable).includes(n));
  return { ...caps, ambient: norm(caps.ambient).filter((n) => raisable.includes(n)) };
}

export function loadBundle(dir: string): BundleRun {
  let c: OciConfig;
  try {
    c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as OciConfig;
  } catch (e) {
    throw new JailError(`cannot read ${join(dir, 'config.json')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const unsupported: string[] = [];
  const known = (obj: Record<string, unknown> | undefined, prefix: string, keys: string[]): void => {
    for (const k of Object.keys(obj ?? {})) if (!keys.includes(k)) unsupported.push(`${prefix}${k}`);
  };
  known(c, '', ['ociVersion', 'process', 'root', 'hostname', 'mounts', 'linux', 'annotations']);
  known(c.process, 'process.', ['terminal', 'args', 'env', 'cwd', 'user', 'rlimits', 'noNewPrivileges', 'capabilities']);
  known(c.linux, 'linux.', ['namespaces', 'uidMappings', 'gidMappings', 'seccomp', 'resources', 'sysctl', 'maskedPaths', 'readonlyPaths']);
  known(c.linux?.resources, 'linux.resources.', ['memory', 'pids', 'cpu', 'devices']);
  // The jail's /dev holds only runc's default devices, which is what a deny-all device list means.
  const devices = c.linux?.resources?.devices ?? [];
  if (devices.some((d) => d.allow || (d.type ?? 'a') !== 'a' || d.major !== undefined || d.minor !== undefined)) {
    unsupported.push('linux.resources.devices (rules other than deny-all: the jail\'s /dev has only null, zero, full, random, urandom, tty)');
  }
  const p = c.process ?? {};
  if (p.terminal) unsupported.push('process.terminal (true)');
  if (!p.args?.length) throw new JailError('the bundle has no process.args');
  const env: Record<string, string> = {};
  for (const kv of p.env ?? []) { const i = kv.indexOf('='); if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1); }
  const unshare: NamespaceName[] = [];
  const joined: Partial<Record<JoinableNamespace, string>> = {};
  for (const ns of c.linux?.namespaces ?? []) {
    const name = NAMESPACE_NAMES[ns.type];
    if (!name) unsupported.push(`linux.namespaces[${ns.type}]`);
    else if (!ns.path) unshare.push(name);
    else if ((JOINABLE as readonly string[]).includes(name)) joined[name as JoinableNamespace] = ns.path;
    else unsupported.push(`linux.namespaces[${ns.type}].path (joining a ${ns.type} namespace; joinable: network, ipc, uts, cgroup)`);
  }
  const caps = capabilitySets(p.capabilities ?? {}, unsupported);
  // /proc and /dev are the jail's own (a fresh proc; a tmpfs with runc's default devices).
  const proc = (c.mounts ?? []).some((m) => m.type === 'proc' && m.destination === '/proc');
  const mounts = (c.mounts ?? []).filter((m) => !(m.type === 'proc' && m.destination === '/proc') && !(m.type === 'tmpfs' && m.destination === '/dev'));
  for (const m of mounts) {
    try { ociMount(m, dir); } catch (e) { if (e instanceof JailError) unsupported.push(`mounts[${m.destination}]: ${e.message.replace(/^mount \S+: /, '')}`); else throw e; }
  }
  if (unsupported.length) throw new JailError(`${join(dir, 'config.json')} uses what tsjail does not support: ${unsupported.join(', ')}`);
  const res = c.linux?.resources;
  const rlimits: Record<string, bigint> = {};
  for (const r of p.rlimits ?? []) rlimits[r.type.replace(/^RLIMIT_/, '').toLowerCase()] = BigInt(Math.min(r.soft, r.hard));
  const options: JailOptions = {
    // runc always gives a container its default devices (null, zero, full, random, urandom, tty).
    clearEnv: true, env, unshare, proc, dev: true,
    // runc runs a bundle without a user namespace as the host's root: so does tsjail.
    ...(unshare.includes('user') ? {} : { hostIds: true }),
    ...(Object.keys(joined).length ? { join: joined } : {}),
    // Sources are relative to the bundle (only a bind's source is a path; the others are unused).
    ...(mounts.length ? { mounts: mounts.map((m) => (m.source ? { ...m, source: resolve(dir, m.source) } : m)) } : {}),
    ...(c.linux?.uidMappings?.length ? { uidMap: c.linux.uidMappings } : {}),
    ...(c.linux?.gidMappings?.length ? { gidMap: c.linux.gidMappings } : {}),
    ...(p.user?.additionalGids?.length ? { groups: [...new Set([p.user.gid, ...p.user.additionalGids])] } : {}),
    ...(c.linux?.sysctl && Object.keys(c.linux.sysctl).length ? { sysctl: c.linux.sysctl } : {}),
    ...(c.linux?.maskedPaths?.length ? { maskedPaths: c.linux.maskedPaths } : {}),
    ...(c.linux?.readonlyPaths?.length ? { readonlyPaths: c.linux.readonlyPaths } : {}),
    ...(p.cwd ? { cwd: p.cwd } : {}),
    ...(p.user ? { user: String(p.user.uid), group: String(p.user.gid) } : {}),
    ...(c.root ? { root: isAbsolute(c.root.path) ? c.root.path : join(dir, c.root.path), readonlyRoot: Boolean(c.root.readonly) } : {}),
    ...(c.hostname ? { hostname: c.hostname } : {}),
    ...(Object.keys(rlimits).length ? { rlimits } : {}),
    ...(caps ? { capabilities: caps } : {}),
    ...(res?.memory?.limit ? { memory: BigInt(res.memory.limit) } : {}),
    ...(res?.pids?.limit ? { pids: res.pids.limit } : {}),
    ...(res?.cpu?.quota && res.cpu.quota > 0 ? { cpu: res.cpu.quota / (res.cpu.period ?? 100000) } : {}),
  };
  const policy = c.linux?.seccomp ? importOci(c.linux.seccomp, { file: join(dir, 'config.json') }).policy : undefined;
  return { command: p.args, options, ...(policy ? { policy } : {}) };
}
