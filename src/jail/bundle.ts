// `tsjail run --bundle DIR` (ujail -J): an OCI bundle's config.json as jail options. Every
// field is either carried out or named in an error: nothing is silently ignored.
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Policy } from '../policy/model';
import { importOci } from '../policy/oci';
import { CAPABILITY_SETS } from './capabilities';
import { JailError, type JailOptions, type NamespaceName } from './run';

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
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: {
    namespaces?: { type: string; path?: string }[];
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    seccomp?: unknown;
    resources?: { memory?: { limit?: number }; pids?: { limit?: number }; cpu?: { quota?: number; period?: number }; [k: string]: unknown };
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
  known(c.linux, 'linux.', ['namespaces', 'uidMappings', 'gidMappings', 'seccomp', 'resources']);
  known(c.linux?.resources, 'linux.resources.', ['memory', 'pids', 'cpu']);
  const p = c.process ?? {};
  if (p.terminal) unsupported.push('process.terminal (true)');
  if (!p.args?.length) throw new JailError('the bundle has no process.args');
  const env: Record<string, string> = {};
  for (const kv of p.env ?? []) { const i = kv.indexOf('='); if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1); }
  const unshare: NamespaceName[] = [];
  for (const ns of c.linux?.namespaces ?? []) {
    if (ns.path) unsupported.push(`linux.namespaces[${ns.type}].path (joining a namespace)`);
    const name = NAMESPACE_NAMES[ns.type];
    if (!name) unsupported.push(`linux.namespaces[${ns.type}]`);
    else unshare.push(name);
  }
  for (const [key, maps, own] of [['uidMappings', c.linux?.uidMappings, process.getuid!()], ['gidMappings', c.linux?.gidMappings, process.getgid!()]] as const) {
    for (const m of maps ?? []) if (m.size !== 1 || m.hostID !== own || m.containerID !== own) unsupported.push(`linux.${key} (only the identity of tsjail's own id, ${own}, is mapped)`);
  }
  if (p.user?.additionalGids?.length) unsupported.push('process.user.additionalGids');
  const caps = p.capabilities ?? {};
  for (const set of Object.keys(caps)) if (!(CAPABILITY_SETS as readonly string[]).includes(set)) unsupported.push(`process.capabilities.${set}`);
  const binds: { src: string; dst: string; readonly: boolean }[] = [];
  const tmpfs: string[] = [];
  let proc = false;
  for (const m of c.mounts ?? []) {
    const opts = m.options ?? [];
    if (m.type === 'bind' || opts.includes('bind') || opts.includes('rbind')) {
      binds.push({ src: isAbsolute(m.source ?? '') ? m.source! : join(dir, m.source ?? ''), dst: m.destination, readonly: opts.includes('ro') });
    } else if (m.type === 'tmpfs') tmpfs.push(m.destination);
    else if (m.type === 'proc' && m.destination === '/proc') proc = true;
    else unsupported.push(`mounts[${m.destination}] (type ${m.type})`);
  }
  if (unsupported.length) throw new JailError(`the bundle uses what tsjail does not support: ${unsupported.join(', ')}`);
  const res = c.linux?.resources;
  const rlimits: Record<string, bigint> = {};
  for (const r of p.rlimits ?? []) rlimits[r.type.replace(/^RLIMIT_/, '').toLowerCase()] = BigInt(Math.min(r.soft, r.hard));
  const options: JailOptions = {
    // runc always gives a container its default devices (null, zero, full, random, urandom, tty).
    clearEnv: true, env, unshare, proc, dev: true,
    ...(p.cwd ? { cwd: p.cwd } : {}),
    ...(p.user ? { user: String(p.user.uid), group: String(p.user.gid) } : {}),
    ...(c.root ? { root: isAbsolute(c.root.path) ? c.root.path : join(dir, c.root.path), readonlyRoot: Boolean(c.root.readonly) } : {}),
    ...(c.hostname ? { hostname: c.hostname } : {}),
    ...(binds.length ? { binds } : {}),
    ...(tmpfs.length ? { tmpfs } : {}),
    ...(Object.keys(rlimits).length ? { rlimits } : {}),
    ...(Object.keys(caps).length ? { capabilities: caps } : {}),
    ...(res?.memory?.limit ? { memory: BigInt(res.memory.limit) } : {}),
    ...(res?.pids?.limit ? { pids: res.pids.limit } : {}),
    ...(res?.cpu?.quota && res.cpu.quota > 0 ? { cpu: res.cpu.quota / (res.cpu.period ?? 100000) } : {}),
  };
  const policy = c.linux?.seccomp ? importOci(c.linux.seccomp, { file: join(dir, 'config.json') }).policy : undefined;
  return { command: p.args, options, ...(policy ? { policy } : {}) };
}
