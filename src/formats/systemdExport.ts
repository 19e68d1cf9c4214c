// A policy as a systemd unit drop-in (SystemCallFilter=, SystemCallErrorNumber=,
// SystemCallArchitectures=), where systemd can say the same thing; otherwise a clear error.
// Calls that make up a whole syscall group go as the group (`@file-system`), but only groups
// whose members in the target systemd version are the ones tsjail knows (systemdGroupHistory.ts):
// another version would read the name as other calls, or not know it.
import { hostAbi, type Abi } from '../arch/abi';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS } from '../kernel/seccomp';
import { errnoName } from '../kernel/errno';
import { PolicyError } from '../policy/errors';
import type { Policy } from '../policy/model';
import { resolvePolicy, targetAbis } from '../policy/resolve';
import { expandGroup } from '../policy/groups';
import { SYSTEMD_GROUPS } from '../syscalls/groups.generated';
import { SYSTEMD_GROUPS_VERSION, SYSTEMD_GROUP_HISTORY, SYSTEMD_PER_CALL_ERRNO_SINCE } from '../syscalls/systemdGroupHistory';
import { syscallNumber } from '../syscalls/table';

export interface SystemdExportOptions {
  /** The systemd release that reads the drop-in (default: the one the groups come from, v261). */
  readonly systemdVersion?: number;
  /** Told about each group left out for that release (the CLI prints these on stderr). */
  readonly note?: (message: string) => void;
}

/** systemd's word for a return value: EPERM, 38, kill; undefined when it has none. */
function systemdAction(ret: number): string | undefined {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  if (action === SECCOMP_RET_KILL_PROCESS) return 'kill';
  if (action === SECCOMP_RET_ERRNO) return errnoName(ret & 0xffff) ?? String(ret & 0xffff);
  return undefined;
}

/** Why release `version` cannot take `group` for its v261 members, or undefined when it can. */
function groupRefusal(group: string, version: number): string | undefined {
  const history = SYSTEMD_GROUP_HISTORY[group];
  if (!history || history.sameAsV261 === undefined) return 'its members change with every release';
  if (version < history.known) return `systemd v${version} does not know it (v${history.known} added it)`;
  if (version < history.sameAsV261) return `systemd v${version} has other calls in it (v${history.sameAsV261} has these)`;
  return undefined;
}

/**
 * `names` (in order) as groups and leftover names: largest groups first, each only if all of its
 * calls on `abi` are among `names`, it adds some, and release `version` reads it as tsjail does.
 */
function withGroups(names: readonly string[], abi: Abi, version: number): string[] {
  const wanted = new Set(names);
  const members = (g: string): string[] => expandGroup(g).filter((n) => syscallNumber(abi, n) !== undefined);
  const candidates = Object.keys(SYSTEMD_GROUPS).filter((g) => !groupRefusal(g, version))
    .map((g) => ({ g, calls: members(g) })).filter(({ calls }) => calls.length > 1 && calls.every((n) => wanted.has(n)))
    .sort((a, b) => b.calls.length - a.calls.length || a.g.localeCompare(b.g));
  const covered = new Set<string>();
  const groups: string[] = [];
  for (const { g, calls } of candidates) {
    if (calls.every((n) => covered.has(n))) continue;
    groups.push(g);
    for (const n of calls) covered.add(n);
  }
  return [...groups, ...names.filter((n) => !covered.has(n))];
}

export function exportSystemd(policy: Policy, arch?: readonly string[], options: SystemdExportOptions = {}): string {
  const version = options.systemdVersion ?? SYSTEMD_GROUPS_VERSION;
  const abis = targetAbis(policy, arch);
  const native = hostAbi();
  if (abis.length !== 1 || abis[0] !== native) {
    throw new PolicyError(`systemd filters ${abis.map((a) => a.name).join('+')} only as "native" (${native.name}) or every ABI alike`, undefined, 'compile for the host ABI alone');
  }
  const r = resolvePolicy(policy, native);
  const refuse = (why: string): never => { throw new PolicyError(`not expressible as SystemCallFilter=: ${why}`, undefined, 'load the raw filter instead (tsjail compile --format raw)'); };
  for (const c of r.chains) {
    if (c.links.length > 1 || c.links[0]!.conditions.length) refuse(`${c.name} depends on its arguments`);
  }
  // The entries for the target release; each group v261 would take and it cannot is noted.
  const entriesFor = (names: readonly string[]): string[] => {
    const entries = withGroups(names, native, version);
    for (const g of withGroups(names, native, SYSTEMD_GROUPS_VERSION)) {
      if (g.startsWith('@') && !entries.includes(g)) options.note?.(`${g} left out for systemd v${version}: ${groupRefusal(g, version)}; its calls are written without it`);
    }
    return entries;
  };
  const lines = ['[Service]', 'SystemCallArchitectures=native'];
  if (((r.defaultRet & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ALLOW) {
    // Deny-list: the calls of each action together (groups take a per-call errno too), kill bare.
    const byAction = new Map<string, string[]>();
    for (const c of r.chains) {
      const a = systemdAction(c.links[0]!.ret) ?? refuse(`${c.name} gets an action systemd has no word for`);
      byAction.set(a, [...(byAction.get(a) ?? []), c.name]);
    }
    if ([...byAction.keys()].some((a) => a !== 'kill') && version < SYSTEMD_PER_CALL_ERRNO_SINCE) {
      refuse(`systemd v${version} takes no per-call errno (name:ERRNO came with v${SYSTEMD_PER_CALL_ERRNO_SINCE})`);
    }
    const entries = [...byAction].flatMap(([a, names]) => entriesFor(names).map((n) => (a === 'kill' ? n : `${n}:${a}`)));
    if (byAction.has('kill')) lines.push('SystemCallErrorNumber=kill');
    lines.push(`SystemCallFilter=~${entries.join(' ')}`);
  } else {
    const fallback = systemdAction(r.defaultRet) ?? refuse('the default action has no systemd word');
    for (const c of r.chains) if (c.links[0]!.ret !== SECCOMP_RET_ALLOW) refuse(`${c.name} is refused differently from the default, which an allow-list cannot say`);
    // systemd always adds @default to an allow-list: the policy must already allow it.
    const allowed = new Set(r.chains.map((c) => c.name));
    const missing = expandGroup('@default').filter((n) => syscallNumber(native, n) !== undefined && !allowed.has(n));
    if (missing.length) refuse(`systemd always allows @default, and this policy denies ${missing.join(', ')}`);
    lines.push(`SystemCallFilter=${entriesFor(r.chains.map((c) => c.name)).join(' ')}`);
    if (fallback !== 'kill') lines.push(`SystemCallErrorNumber=${fallback}`);
  }
  return `${lines.join('\n')}\n`;
}
