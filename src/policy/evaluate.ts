// The reference evaluator: decides a call straight from the policy's semantics (DESIGN §2),
// with no ranges, chains or BPF. It is the oracle the compiler is tested against.
import { X32_SYSCALL_BIT, type Abi } from '../arch/abi';
import type { SeccompData } from '../kernel/seccomp';
import { syscallName } from '../syscalls/table';
import { conditionHolds, resolveCondition, type ConditionOutcome } from './condition';
import { actionSeverity, type ArgCondition, type Policy, type Rule } from './model';
import { isNewerSyscall, newerSyscalls, NR_SKIP, type NewerSyscalls } from './newerSyscalls';
import { actionRet, checkSyscallNames } from './resolve';

export type Decider =
  | { readonly kind: 'rule'; readonly ruleIndex: number }
  | { readonly kind: 'default' }
  /** A number above the highest syscall the policy knows (policy/newerSyscalls.ts): ENOSYS. */
  | { readonly kind: 'newer' }
  | { readonly kind: 'bad_arch' };

export interface Decision {
  readonly ret: number;
  readonly decider: Decider;
  /** The ABI the call was made through, when one of the targets. */
  readonly abi?: Abi;
  readonly syscall?: string;
}


/** Which targeted ABI a (arch, nr) pair belongs to, or undefined for a bad arch. */
export function abiOfCall(targets: readonly Abi[], arch: number, nr: number): Abi | undefined {
  const candidates = targets.filter((a) => a.auditArch === arch >>> 0);
  if (!candidates.some((a) => a.name === 'x86_64' || a.name === 'x32')) return candidates[0];
  // x86_64 and x32 share AUDIT_ARCH_X86_64; numbers at or above the x32 bit belong to x32.
  const n = nr >>> 0;
  if (n === NR_SKIP) return candidates[0];
  return candidates.find((a) => (a.name === 'x32') === (n >= X32_SYSCALL_BIT));
}

// The supervisor decides every stopped call of a run with the same policy: its names are
// checked once (and indexed: syscall → its rules, in order), and each condition is resolved
// once per ABI and syscall.
const rulesByName = new WeakMap<Policy, Map<string, number[]>>();
const resolvedConditions = new WeakMap<ArgCondition, Map<string, ConditionOutcome>>();
const newerByAbi = new WeakMap<Policy, Map<string, NewerSyscalls | undefined>>();

function newerOf(policy: Policy, abi: Abi): NewerSyscalls | undefined {
  let byAbi = newerByAbi.get(policy);
  if (!byAbi) newerByAbi.set(policy, (byAbi = new Map()));
  if (!byAbi.has(abi.name)) byAbi.set(abi.name, newerSyscalls(policy, abi));
  return byAbi.get(abi.name);
}

function resolvedCondition(abi: Abi, name: string, cond: ArgCondition, rule: Rule): ConditionOutcome {
  let byCall = resolvedConditions.get(cond);
  if (!byCall) resolvedConditions.set(cond, (byCall = new Map()));
  const key = `${abi.name}|${name}`;
  let outcome = byCall.get(key);
  if (!outcome) byCall.set(key, (outcome = resolveCondition(abi, name, cond, rule.source)));
  return outcome;
}

export function evaluatePolicy(policy: Policy, targets: readonly Abi[], data: SeccompData): Decision {
  let index = rulesByName.get(policy);
  if (!index) {
    checkSyscallNames(policy);
    index = new Map();
    policy.rules.forEach((rule, i) => { for (const n of new Set(rule.syscalls)) (index!.get(n) ?? index!.set(n, []).get(n)!).push(i); });
    rulesByName.set(policy, index);
  }
  const abi = abiOfCall(targets, data.arch, data.nr);
  if (!abi) return { ret: actionRet(policy.badArchAction, targets[0]!), decider: { kind: 'bad_arch' } };
  const name = syscallName(abi, data.nr);
  let best: { ret: number; severity: number; ruleIndex: number } | undefined;
  if (name !== undefined) {
    for (const ruleIndex of index.get(name) ?? []) {
      const rule = policy.rules[ruleIndex]!;
      const matches = rule.conditions.every((cond) => {
        const outcome = resolvedCondition(abi, name, cond, rule);
        if (outcome.kind !== 'test') return outcome.kind === 'always';
        return conditionHolds(outcome.condition, data.args?.[outcome.condition.argIndex] ?? 0n);
      });
      if (!matches) continue;
      const severity = actionSeverity(rule.action);
      if (!best || severity < best.severity) best = { ret: actionRet(rule.action, abi, rule.source), severity, ruleIndex };
    }
  }
  const base = { abi, ...(name !== undefined ? { syscall: name } : {}) };
  if (best) return { ...base, ret: best.ret, decider: { kind: 'rule', ruleIndex: best.ruleIndex } };
  const newer = newerOf(policy, abi);
  if (newer && isNewerSyscall(newer, data.nr)) return { ...base, ret: newer.ret, decider: { kind: 'newer' } };
  return { ...base, ret: actionRet(policy.defaultAction, abi), decider: { kind: 'default' } };
}
