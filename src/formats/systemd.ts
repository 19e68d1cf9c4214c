// systemd's seccomp settings (systemd.exec(5)) as a policy: SystemCallFilter= with @groups,
// `~` deny lists and per-entry `:ERRNO`, SystemCallErrorNumber=, SystemCallArchitectures=.
import { hostAbi, lookupAbi, type AbiName } from '../arch/abi';
import { suggest } from '../syscalls/suggest';
import { isKnownSyscallName, SYSCALL_NAMES } from '../syscalls/table';
import { GENERIC_ERRNO } from '../kernel/errno';
import { PolicyError } from '../policy/errors';
import { expandGroup } from '../policy/groups';
import type { Action, Policy, Rule } from '../policy/model';

function errnoAction(spec: string, where: { file: string; line: number }): Action {
  if (spec === 'kill') return { kind: 'kill_process' };
  if (/^\d+$/.test(spec)) return { kind: 'errno', errno: Number(spec) };
  if (GENERIC_ERRNO[spec] !== undefined) return { kind: 'errno', errno: spec };
  throw new PolicyError(`unknown errno '${spec}'`, where, 'use a name such as EPERM, a number, or kill');
}

/** Reads `SystemCallFilter=`, `SystemCallErrorNumber=` and `SystemCallArchitectures=` lines (a unit or drop-in). */
export function importSystemd(text: string, file = 'unit'): Policy {
  let allowList: boolean | undefined;
  const listed = new Map<string, { line: number; errno?: string }>();
  let errorNumber: Action = { kind: 'kill_process' };
  const arches: AbiName[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const where = { file, line: i + 1 };
    const m = /^(SystemCallFilter|SystemCallErrorNumber|SystemCallArchitectures)\s*=\s*(.*)$/.exec(line);
    if (!m) return;
    const [, key, value] = m;
    if (key === 'SystemCallErrorNumber') { errorNumber = errnoAction(value!.trim(), where); return; }
    if (key === 'SystemCallArchitectures') {
      for (const a of value!.trim().split(/\s+/).filter(Boolean)) {
        const abi = a === 'native' ? hostAbi() : lookupAbi(a);
        if (!abi) throw new PolicyError(`unknown architecture '${a}'`, where);
        if (!arches.includes(abi.name)) arches.push(abi.name);
      }
      return;
    }
    if (!value!.trim()) { listed.clear(); allowList = undefined; return; } // an empty assignment resets
    const invert = value!.trim().startsWith('~');
    const entries = value!.trim().replace(/^~/, '').split(/\s+/).filter(Boolean);
    // The first assignment decides the mode; later ones of the other kind remove from the list.
    allowList ??= !invert;
    const adds = allowList !== invert;
    for (const entry of entries) {
      const [name, errnoSpec] = entry.split(':');
      const names = name!.startsWith('@') ? expandGroup(name!) : [name!];
      if (!name!.startsWith('@') && !isKnownSyscallName(name!)) {
        throw new PolicyError(`unknown syscall '${name}'${suggest(name!, SYSCALL_NAMES)}`, where);
      }
      for (const n of names) {
        if (adds) listed.set(n, { line: i + 1, ...(errnoSpec ? { errno: errnoSpec } : {}) });
        else listed.delete(n);
      }
    }
  });
  if (allowList === undefined) throw new PolicyError('no SystemCallFilter= line', { file, line: 0 }, 'e.g. SystemCallFilter=@system-service');
  // In allow-list mode systemd always permits @default.
  if (allowList) for (const n of expandGroup('@default')) if (!listed.has(n)) listed.set(n, { line: 0 });
  const rules: Rule[] = [];
  const byAction = new Map<string, { action: Action; names: string[]; line: number }>();
  for (const [name, { line, errno }] of listed) {
    const action: Action = allowList ? { kind: 'allow' } : errno ? errnoAction(errno, { file, line }) : errorNumber;
    const key = JSON.stringify(action);
    const group = byAction.get(key) ?? { action, names: [], line };
    group.names.push(name);
    byAction.set(key, group);
  }
  for (const { action, names, line } of byAction.values()) {
    rules.push({ syscalls: names.sort(), action, conditions: [], source: { file, line }, label: allowList ? 'SystemCallFilter' : 'SystemCallFilter=~' });
  }
  return {
    defaultAction: allowList ? errorNumber : { kind: 'allow' },
    badArchAction: { kind: 'kill_process' },
    arches,
    rules,
    origin: file,
  };
}
