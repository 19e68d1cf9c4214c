// Capability names (linux/capability.h) for --cap-keep and a policy's jail settings.
import { PolicyError } from '../policy/errors';
import { suggest } from '../syscalls/suggest';
import { CAPABILITY_SETS, type CapabilitySet, type CapabilitySets } from '../policy/jailSettings';

export const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** `NET_BIND_SERVICE`, `cap_net_bind_service` or `CAP_NET_BIND_SERVICE` → its number. */
export function capabilityNumber(name: string): number {
  const full = (name.toUpperCase().startsWith('CAP_') ? name : `CAP_${name}`).toUpperCase();
  const n = CAPABILITIES.indexOf(full);
  if (n < 0) throw new PolicyError(`unknown capability '${name}'${suggest(full, CAPABILITIES)}`);
  return n;
}

/** The five capability sets of a process, as OCI's process.capabilities and ujail -C name them. */

/**
 * The capability numbers of each set: `keep` (--cap-keep) in every set, plus each set's own
 * names; everything else is dropped. Combinations the kernel would refuse are errors here,
 * with the fix: effective and ambient need permitted, ambient and inheritable need what the
 * kernel checks them against (inheritable, bounding).
 */
export function resolveCapabilities(keep: readonly string[] = [], sets: CapabilitySets = {}): Record<CapabilitySet, number[]> {
  for (const key of Object.keys(sets)) {
    if (!(CAPABILITY_SETS as readonly string[]).includes(key)) throw new PolicyError(`unknown capability set '${key}'${suggest(key, CAPABILITY_SETS)} (sets: ${CAPABILITY_SETS.join(', ')})`);
  }
  const out = Object.fromEntries(CAPABILITY_SETS.map((set) => [set, [...new Set([...keep, ...(sets[set] ?? [])].map(capabilityNumber))].sort((a, b) => a - b)])) as Record<CapabilitySet, number[]>;
  const requires: [CapabilitySet, CapabilitySet, string][] = [
    ['effective', 'permitted', 'a capability can only be effective while permitted'],
    ['ambient', 'permitted', 'the kernel raises an ambient capability only if it is permitted'],
    ['ambient', 'inheritable', 'the kernel raises an ambient capability only if it is inheritable'],
    ['inheritable', 'bounding', 'a capability dropped from the bounding set cannot be made inheritable'],
  ];
  for (const [set, needs, why] of requires) {
    const missing = out[set].filter((c) => !out[needs].includes(c));
    if (missing.length) {
      throw new PolicyError(`${missing.map((c) => CAPABILITIES[c]).join(', ')} in the ${set} set must also be in the ${needs} set (${why})`);
    }
  }
  return out;
}
