// A policy as a systemd unit drop-in (SystemCallFilter=, SystemCallErrorNumber=,
// SystemCallArchitectures=), where systemd can say the same thing; otherwise a clear error.
import { hostAbi } from '../arch/abi';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS } from '../kernel/seccomp';
import { errnoName } from '../kernel/errno';
import { PolicyError } from '../policy/errors';
import type { Policy } from '../policy/model';
import { resolvePolicy, targetAbis } from '../policy/resolve';
import { expandGroup } from '../policy/groups';
import { syscallNumber } from '../syscalls/table';

/** systemd's word for a return value: EPERM, 38, kill; undefined when it has none. */
function systemdAction(ret: number): string | undefined {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  if (action === SECCOMP_RET_KILL_PROCESS) return 'kill';
  if (action === SECCOMP_RET_ERRNO) return errnoName(ret & 0xffff) ?? String(ret & 0xffff);
  return undefined;
}

export function exportSystemd(policy: Policy, arch?: readonly string[]): string {
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
  const lines = ['[Service]', 'SystemCallArchitectures=native'];
  if (((r.defaultRet & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ALLOW) {
    // Deny-list: every listed call with its own errno (or kill).
    const entries = r.chains.map((c) => {
      const a = systemdAction(c.links[0]!.ret) ?? refuse(`${c.name} gets an action systemd has no word for`);
      return a === 'kill' ? c.name : `${c.name}:${a}`;
    });
    if (r.chains.some((c) => systemdAction(c.links[0]!.ret) === 'kill')) lines.push('SystemCallErrorNumber=kill');
    lines.push(`SystemCallFilter=~${entries.join(' ')}`);
  } else {
    const fallback = systemdAction(r.defaultRet) ?? refuse('the default action has no systemd word');
    for (const c of r.chains) if (c.links[0]!.ret !== SECCOMP_RET_ALLOW) refuse(`${c.name} is refused differently from the default, which an allow-list cannot say`);
    // systemd always adds @default to an allow-list: the policy must already allow it.
    const allowed = new Set(r.chains.map((c) => c.name));
    const missing = expandGroup('@default').filter((n) => syscallNumber(native, n) !== undefined && !allowed.has(n));
    if (missing.length) refuse(`systemd always allows @default, and this policy denies ${missing.join(', ')}`);
    lines.push(`SystemCallFilter=${r.chains.map((c) => c.name).join(' ')}`);
    if (fallback !== 'kill') lines.push(`SystemCallErrorNumber=${fallback}`);
  }
  return `${lines.join('\n')}\n`;
}
