// Mounts as OCI writes them ({ destination, type, source, options }: a bundle's `mounts`, a
// policy's `jail.mounts`) turned into the helper's mounts, and the sysctls a jail may set.
import { isAbsolute, resolve } from 'node:path';
import type { MountSpec } from './helper';
import { JailError } from './errors';
import type { OciMount } from '../policy/jailSettings';

const MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16, MS_DIRSYNC = 128,
  MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;

/** Options that are mount flags. */
const FLAGS: Readonly<Record<string, number>> = {
  ro: MS_RDONLY, nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC, sync: MS_SYNCHRONOUS, dirsync: MS_DIRSYNC,
  noatime: MS_NOATIME, nodiratime: MS_NODIRATIME, relatime: MS_RELATIME, strictatime: MS_STRICTATIME,
};
/** Options that ask for what every jail mount already is: read-write, private, a (recursive) bind. */
const DEFAULTS = new Set(['rw', 'suid', 'dev', 'exec', 'atime', 'diratime', 'async', 'bind', 'rbind', 'private', 'rprivate']);
/** Propagation a jail does not do: its mounts are private. */
const PROPAGATION = new Set(['shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);
/** Filesystems the jail mounts itself; `cgroup` is a read-only cgroup2 view. */
const FILESYSTEMS = new Set(['tmpfs', 'devpts', 'mqueue', 'sysfs', 'cgroup', 'cgroup2']);

/** A bind mount, by type or by option (OCI allows either). */
export function isBindMount(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** One OCI mount as the helper's; `base` resolves relative bind sources (the bundle directory). */
export function ociMount(m: OciMount, base: string): MountSpec {
  const where = `mount ${m.destination}`;
  if (!isAbsolute(m.destination)) throw new JailError(`${where}: the destination must be an absolute path`);
  let flags = 0;
  const data: string[] = [];
  const options = m.options ?? [];
  for (const o of options) {
    if (FLAGS[o] !== undefined) flags |= FLAGS[o]!;
    else if (PROPAGATION.has(o)) throw new JailError(`${where}: propagation '${o}' is not supported (jail mounts are private)`);
    else if (!DEFAULTS.has(o)) data.push(o);
  }
  if (isBindMount(m)) {
    if (data.length) throw new JailError(`${where}: unknown bind option${data.length > 1 ? 's' : ''} ${data.join(', ')}`);
    return { kind: 'bind', src: resolve(base, m.source ?? ''), dst: m.destination, flags };
  }
  if (!m.type || !FILESYSTEMS.has(m.type)) {
    throw new JailError(`${where}: filesystem type '${m.type ?? '(none)'}' is not supported (supported: bind, proc at /proc, ${[...FILESYSTEMS].join(', ')})`);
  }
  if (m.type === 'cgroup' || m.type === 'cgroup2') return { kind: 'fs', fstype: 'cgroup2', dst: m.destination, flags: flags | MS_RDONLY };
  return { kind: 'fs', fstype: m.type, dst: m.destination, flags, ...(data.length ? { data: data.join(',') } : {}) };
}

/** A tmpfs as `--tmpfs` and `--stage` make it. */
export function tmpfsMount(dst: string): MountSpec {
  return { kind: 'fs', fstype: 'tmpfs', dst, flags: MS_NOSUID | MS_NODEV, data: 'mode=0755' };
}

export function bindMount(src: string, dst: string, readonly: boolean): MountSpec {
  return { kind: 'bind', src, dst, flags: readonly ? MS_RDONLY | MS_NOSUID : 0 };
}

/**
 * Sysctls a jail may set, as runc allows them: those its own namespaces scope (IPC: kernel.msg*,
 * kernel.sem, kernel.shm*, fs.mqueue.*; network: net.*; UTS: kernel.hostname/domainname).
 * Any other would change the host.
 */
export function checkSysctl(key: string, namespaces: { readonly ipc: boolean; readonly net: boolean; readonly uts: boolean }): void {
  const ipc = /^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$|^fs\.mqueue\./.test(key);
  const net = key.startsWith('net.');
  const uts = key === 'kernel.hostname' || key === 'kernel.domainname';
  if (!ipc && !net && !uts) throw new JailError(`sysctl ${key} is not namespaced: setting it in the jail would change the host`);
  const missing = ipc && !namespaces.ipc ? 'IPC' : net && !namespaces.net ? 'network' : uts && !namespaces.uts ? 'UTS' : undefined;
  if (missing) throw new JailError(`sysctl ${key} needs the jail's own ${missing} namespace`);
}
