// Two levels in one filter: what a policy expects (a learned profile) and what it enforces (the
// built-in policy, or another). A call the expected policy allows gets the enforced policy's
// answer; a call outside it that the enforced policy lets run stops at tsjail as drift (reported,
// then let go on); a call the enforced policy refuses is refused. Built as the enforced policy
// plus user_notif rules for the complement of what the expected policy allows: the kernel's
// most-restrictive-wins gives exactly that, since errno, trap and kill outrank user_notif.
import type { Abi } from '../arch/abi';
import { syscallsOf } from '../syscalls/table';
import { resolveCondition, widthMask, type ResolvedCondition } from './condition';
import { PolicyError } from './errors';
import type { Action, ArgCondition, Policy, Rule } from './model';
import { checkSyscallNames, targetAbis } from './resolve';
import { DRIFT_LABEL } from './jailStops';

export { DRIFT_LABEL };

/** Alternatives one syscall's complement may expand to (each a rule); past it the composition is refused. */
const MAX_ALTERNATIVES = 256;

/** Actions under which a call runs: what "the expected policy allows" means. */
export function lets(action: Action): boolean {
  return action.kind === 'allow' || action.kind === 'log';
}

/** Actions that refuse a call outright: they outrank drift's user_notif. */
function refuses(action: Action): boolean {
  return action.kind === 'kill_process' || action.kind === 'kill_thread' || action.kind === 'trap' || action.kind === 'errno';
}

type Conjunction = readonly ResolvedCondition[];

/** A condition as a rule writes it, pinned to its resolved index and width (so it resolves to itself again). */
function written(c: ResolvedCondition): ArgCondition {
  return { arg: c.argIndex, op: c.op, value: c.value, ...(c.op === 'masked_eq' ? { mask: c.mask } : {}), width: c.width };
}

/** ¬c as alternatives: a masked compare fails when any one of its bits differs. */
function negation(c: ResolvedCondition): ResolvedCondition[] {
  const flip = { eq: 'ne', ne: 'eq', lt: 'ge', ge: 'lt', le: 'gt', gt: 'le' } as const;
  if (c.op !== 'masked_eq') return [{ ...c, op: flip[c.op], mask: widthMask(c.width) }];
  const out: ResolvedCondition[] = [];
  for (let b = 0n; b < BigInt(c.width); b++) {
    const bit = 1n << b;
    if (c.mask & bit) out.push({ ...c, op: 'masked_eq', mask: bit, value: (c.value & bit) ^ bit });
  }
  return out;
}

/** False when two equalities on one argument contradict (the conjunction can never hold). */
function consistent(conj: Conjunction): boolean {
  for (const a of conj) {
    for (const b of conj) {
      if (a.argIndex !== b.argIndex || a.width !== b.width || a.op !== 'eq') continue;
      if ((b.op === 'eq' && b.value !== a.value) || (b.op === 'ne' && b.value === a.value)) return false;
    }
  }
  return true;
}

const key = (c: ResolvedCondition): string => `${c.argIndex}|${c.width}|${c.op}|${c.value}|${c.mask}`;

/** A rule's conditions on one ABI: its conjunction, or null if it can never match there. */
function conjunctionOf(abi: Abi, syscall: string, rule: Rule): Conjunction | null {
  const out: ResolvedCondition[] = [];
  for (const cond of rule.conditions) {
    const o = resolveCondition(abi, syscall, cond, rule.source);
    if (o.kind === 'never') return null;
    if (o.kind === 'test') out.push(o.condition);
  }
  return out;
}

/** c1 ∧ c2, or null when it can never hold. */
function both(c1: Conjunction, c2: Conjunction): Conjunction | null {
  const merged = [...c1, ...c2.filter((c) => !c1.some((a) => key(a) === key(c)))];
  return consistent(merged) ? merged : null;
}

/** Alternatives without repeats; more than MAX_ALTERNATIVES is an error naming the syscall. */
function distinct(alts: readonly (Conjunction | null)[], syscall: string, rule: Rule | undefined): Conjunction[] {
  const out = new Map<string, Conjunction>();
  for (const alt of alts) if (alt) out.set(alt.map(key).sort().join('&'), alt);
  if (out.size > MAX_ALTERNATIVES) {
    throw new PolicyError(`the rules for ${syscall} are too many to tell apart in one filter (more than ${MAX_ALTERNATIVES} combinations of their argument conditions)`, rule?.source,
      `allow ${syscall} with fewer conditions in the expected policy, or drop --enforce`);
  }
  return [...out.values()];
}

/** The argument conditions under which `syscall` is NOT allowed by `expected` on `abi`, as alternatives. */
function complement(expected: Policy, abi: Abi, syscall: string): Conjunction[] {
  const rules = expected.rules.filter((r) => r.syscalls.includes(syscall));
  const matching = rules.map((r) => ({ rule: r, conj: conjunctionOf(abi, syscall, r) })).filter((m): m is { rule: Rule; conj: Conjunction } => m.conj !== null);
  // A rule that does not let the call run wins wherever it matches.
  const out: Conjunction[] = matching.filter((m) => !lets(m.rule.action)).map((m) => m.conj);
  if (lets(expected.defaultAction)) return out;
  // Where no allowing rule matches, the default (which does not let it run) decides: ¬(r1 ∨ r2 ...).
  let none: Conjunction[] = [[]];
  for (const { conj } of matching.filter((m) => lets(m.rule.action))) {
    none = distinct(none.flatMap((alt) => conj.flatMap(negation).map((c) => both(alt, [c]))), syscall, rules[0]);
  }
  return [...out, ...none];
}

/**
 * Where drift stops `syscall` on `abi`: outside what `expected` allows, and, when the enforced
 * default refuses, only where some enforced rule that does not refuse matches (elsewhere that
 * default decides, and drift must not outrank it).
 */
function driftAlternatives(expected: Policy, enforced: Policy, abi: Abi, syscall: string): Conjunction[] {
  const outside = complement(expected, abi, syscall);
  if (!refuses(enforced.defaultAction)) return outside;
  const running = enforced.rules.filter((r) => r.syscalls.includes(syscall) && !refuses(r.action))
    .map((r) => conjunctionOf(abi, syscall, r)).filter((c): c is Conjunction => c !== null);
  if (running.some((c) => c.length === 0)) return outside;
  return distinct(outside.flatMap((alt) => running.map((c) => both(alt, c))), syscall, undefined);
}

const fingerprint = (alts: readonly Conjunction[]): string => alts.map((a) => a.map(key).join('&')).join('|');

/**
 * The one policy that enforces `enforced` and stops, as drift, what `expected` does not allow
 * (of what `enforced` does not refuse). Its targets, default and bad-arch action are the enforced
 * policy's; the drift rules come last. Calls of numbers no syscall table names take the enforced
 * policy's default.
 */
export function composeDrift<P extends Policy>(expected: Policy, enforced: P): P {
  checkSyscallNames(expected);
  const abis = targetAbis(enforced);
  const tables = abis.map((abi) => ({ abi, names: new Set(syscallsOf(abi).map((s) => s.name)) }));
  const ruled = new Set(enforced.rules.flatMap((r) => r.syscalls));
  const drift: Rule[] = [];
  const unconditional: string[] = [];
  for (const name of [...new Set(tables.flatMap((t) => [...t.names]))].sort()) {
    // Where the enforced policy has no rule and refuses by default, the call is refused: no drift.
    if (!ruled.has(name) && refuses(enforced.defaultAction)) continue;
    const onAbis = tables.filter((t) => t.names.has(name)).map((t) => driftAlternatives(expected, enforced, t.abi, name));
    if (new Set(onAbis.map(fingerprint)).size > 1) {
      throw new PolicyError(`the expected policy's conditions on ${name} mean different things on ${abis.map((a) => a.name).join(' and ')}`, undefined, 'enforce a policy that targets one ABI');
    }
    const alts = onAbis[0] ?? [];
    if (alts.some((a) => a.length === 0)) unconditional.push(name);
    else for (const alt of alts) drift.push({ syscalls: [name], action: { kind: 'user_notif' }, conditions: alt.map(written), label: DRIFT_LABEL });
  }
  if (unconditional.length) drift.unshift({ syscalls: unconditional, action: { kind: 'user_notif' }, conditions: [], label: DRIFT_LABEL });
  return { ...enforced, rules: [...enforced.rules, ...drift] };
}
