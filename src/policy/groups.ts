// systemd's syscall groups (`@system-service`, `@privileged`, ...) as syscall names: policies name
// them in rules (dsl.ts), the systemd formats read and write them.
import { SYSTEMD_GROUPS } from '../syscalls/groups.generated';
import { suggest } from '../syscalls/suggest';
import { isKnownSyscallName } from '../syscalls/table';
import { PolicyError } from './errors';

/** The syscall names of a group, references expanded; names no ABI knows are dropped (systemd skips them too). */
export function expandGroup(group: string, seen = new Set<string>()): string[] {
  const entries = SYSTEMD_GROUPS[group];
  if (!entries) throw new PolicyError(`unknown syscall group '${group}'${suggest(group, Object.keys(SYSTEMD_GROUPS))}`);
  if (seen.has(group)) return [];
  seen.add(group);
  return entries.flatMap((e) => (e.startsWith('@') ? expandGroup(e, seen) : isKnownSyscallName(e) ? [e] : []));
}
