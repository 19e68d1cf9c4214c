// --allow and --deny on top of a policy.
import { PolicyError } from '../policy/errors';
import type { Policy, Rule } from '../policy/model';
import { didYouMean, isKnownSyscallName } from '../syscalls/table';
import type { JailOptions } from './spec';

/** The rules --allow and --deny add: checked names, placed where precedence makes them win. */
function extraRules(o: JailOptions): Rule[] {
  const check = (names: readonly string[]): string[] => names.map((n) => {
    if (!isKnownSyscallName(n)) throw new PolicyError(`unknown syscall '${n}'${didYouMean(n)}`, { file: 'command line', line: 0 });
    return n;
  });
  const rules: Rule[] = [];
  if (o.allow?.length) rules.push({ syscalls: check(o.allow), action: { kind: 'allow' }, conditions: [], label: '--allow' });
  if (o.deny?.length) rules.push({ syscalls: check(o.deny), action: { kind: 'errno', errno: 'EPERM' }, conditions: [], label: '--deny' });
  return rules;
}

/**
 * --allow must override the policy's denials for those names: rules naming them are dropped
 * and an unconditional allow takes their place; --deny adds EPERM, which outranks allow.
 */
export function policyWithOverrides<P extends Policy>(policy: P, o: JailOptions): P {
  const allowed = new Set(o.allow ?? []);
  const kept = policy.rules
    .map((r) => ({ ...r, syscalls: r.syscalls.filter((s) => !allowed.has(s)) }))
    .filter((r) => r.syscalls.length);
  return { ...policy, rules: [...kept, ...extraRules(o)] };
}

