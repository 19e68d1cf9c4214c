// The TypeScript policy language: `definePolicy`, actions as rule builders (`allow`, `errno`,
// `kill`, ...) and argument predicates. Every rule remembers where it was written, so errors
// and denial reports can say `policy.ts:12`.
import { resolve as resolvePath, sep } from 'node:path';
import type { AbiName } from '../arch/abi';
import { suggest } from '../syscalls/suggest';
import type { SyscallArgNames, SyscallName } from '../syscalls/table.generated';
import { PolicyError } from './errors';
import type { Action, ArgCondition, CompareOp, Policy, Rule, SourceLocation } from './model';
import type { ErrnoName } from '../kernel/errno';
import { PRESET_NAMES, type PresetName, type JailOptions } from './jailSettings';

/** An argument comparison built by `eq`, `masked`, `hasNone`, ... */
export interface Predicate {
  readonly op: CompareOp;
  readonly value: bigint;
  readonly mask?: bigint;
  readonly width?: 64 | 32 | 16;
}

export type ArgValue = bigint | number;
/** A value (equality), a predicate, or a list of them (any may hold). */
export type ArgSpec = ArgValue | Predicate | NoneOf | readonly (ArgValue | Predicate)[];

type ArgIndexKey = 'arg0' | 'arg1' | 'arg2' | 'arg3' | 'arg4' | 'arg5';
/** Conditions on one syscall's arguments, keyed by the kernel's names or arg0..arg5. */
export type Where<N extends SyscallName> = { readonly [K in SyscallArgNames[N] | ArgIndexKey]?: ArgSpec };
/** Conditions for several syscalls at once: index keys only. */
export type WhereAny = { readonly [K in ArgIndexKey | string]?: ArgSpec };

type NameArg = SyscallName | readonly SyscallName[];

/** Rules built by one call, carrying its action so it can also serve as a default. */
export interface RuleGroup extends ReadonlyArray<Rule> {
  readonly action: Action;
}

export type ActionName = 'allow' | 'log' | 'kill' | 'kill_process' | 'kill_thread' | 'trap' | 'user_notif';

const DSL_DIR = __dirname + sep;

/** The first stack frame outside tsjail's own policy code: where the user wrote the rule. */
export function callerLocation(): SourceLocation | undefined {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const line of stack) {
    const m = /\(?((?:file:\/\/)?[^()\s]+):(\d+):\d+\)?\s*$/.exec(line);
    if (!m) continue;
    const file = m[1]!.replace(/^file:\/\//, '');
    if (file.startsWith(DSL_DIR) || file.startsWith('node:') || file.startsWith('internal/')) continue;
    // Only the line: sucrase keeps lines but not columns (it rewrites imported names).
    return { file: displayPath(file), line: Number(m[2]) };
  }
  return undefined;
}

function displayPath(file: string): string {
  const rel = resolvePath(file).slice(process.cwd().length + 1);
  return resolvePath(file).startsWith(process.cwd() + sep) ? rel : file;
}

function toBig(v: ArgValue, loc?: SourceLocation): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isSafeInteger(v)) throw new PolicyError(`argument value ${v} is not a safe integer`, loc, 'use a bigint (e.g. 0x100000000n) for large values');
  return BigInt(v);
}

function predicate(op: CompareOp, value: ArgValue, opts?: { width?: 64 | 32 | 16 }, mask?: ArgValue): Predicate {
  const loc = callerLocation();
  return {
    op, value: toBig(value, loc),
    ...(mask !== undefined ? { mask: toBig(mask, loc) } : {}),
    ...(opts?.width ? { width: opts.width } : {}),
  };
}

type PredOpts = { readonly width?: 64 | 32 | 16 };
export const eq = (v: ArgValue, o?: PredOpts): Predicate => predicate('eq', v, o);
export const ne = (v: ArgValue, o?: PredOpts): Predicate => predicate('ne', v, o);
export const lt = (v: ArgValue, o?: PredOpts): Predicate => predicate('lt', v, o);
export const le = (v: ArgValue, o?: PredOpts): Predicate => predicate('le', v, o);
export const gt = (v: ArgValue, o?: PredOpts): Predicate => predicate('gt', v, o);
export const ge = (v: ArgValue, o?: PredOpts): Predicate => predicate('ge', v, o);
/** (arg & mask) == value */
export const maskedEq = (mask: ArgValue, value: ArgValue, o?: PredOpts): Predicate => predicate('masked_eq', value, o, mask);
/** Every bit of `bits` is set. */
export const hasAll = (bits: ArgValue, o?: PredOpts): Predicate => predicate('masked_eq', bits, o, bits);
/** No bit of `bits` is set (e.g. clone flags without CLONE_NEWUSER). */
export const hasNone = (bits: ArgValue, o?: PredOpts): Predicate => predicate('masked_eq', 0, o, bits);

/** A value equal to none of these: several `ne` conditions, all of which must hold. */
export interface NoneOf { readonly noneOf: readonly bigint[] }
export const noneOf = (values: readonly ArgValue[]): NoneOf => {
  const loc = callerLocation();
  return { noneOf: values.map((v) => toBig(v, loc)) };
};

function isNoneOf(x: unknown): x is NoneOf {
  return typeof x === 'object' && x !== null && 'noneOf' in x;
}

function isPredicate(x: unknown): x is Predicate {
  return typeof x === 'object' && x !== null && 'op' in x && 'value' in x;
}

/** Expands a Where into alternative condition lists (lists in a key mean "any of"). */
function expandWhere(where: WhereAny, loc?: SourceLocation): ArgCondition[][] {
  let alternatives: ArgCondition[][] = [[]];
  for (const [key, spec] of Object.entries(where)) {
    if (spec === undefined) continue;
    const arg: number | string = /^arg[0-5]$/.test(key) ? Number(key.slice(3)) : /^[0-5]$/.test(key) ? Number(key) : key;
    if (isNoneOf(spec)) {
      const all = spec.noneOf.map((value): ArgCondition => ({ arg, op: 'ne', value }));
      alternatives = alternatives.map((alt) => [...alt, ...all]);
      continue;
    }
    const options = (Array.isArray(spec) ? spec : [spec]) as (ArgValue | Predicate)[];
    if (!options.length) throw new PolicyError(`the list for argument '${key}' is empty, so the rule could never match`, loc);
    const conds: ArgCondition[] = options.map((o) => {
      if (isPredicate(o)) return { arg, op: o.op, value: o.value, ...(o.mask !== undefined ? { mask: o.mask } : {}), ...(o.width ? { width: o.width } : {}) };
      if (typeof o === 'number' || typeof o === 'bigint') return { arg, op: 'eq', value: toBig(o, loc) };
      throw new PolicyError(`argument '${key}': expected a number, bigint or predicate such as eq(...)`, loc);
    });
    alternatives = alternatives.flatMap((alt) => conds.map((c) => [...alt, c]));
  }
  return alternatives;
}

function group(action: Action, args: readonly (NameArg | WhereAny)[], loc: SourceLocation | undefined): RuleGroup {
  const names: string[] = [];
  let where: WhereAny | undefined;
  args.forEach((a, i) => {
    if (typeof a === 'string') names.push(a);
    else if (Array.isArray(a)) names.push(...(a as string[]));
    else if (typeof a === 'object' && a !== null && i === args.length - 1) where = a as WhereAny;
    else throw new PolicyError('expected syscall names, then optionally one object of argument conditions', loc);
  });
  if (where && !names.length) throw new PolicyError('argument conditions need a syscall name', loc);
  const rules: Rule[] = (where ? expandWhere(where, loc) : [[]]).flatMap((conditions) =>
    names.length ? [{ syscalls: names, action, conditions, ...(loc ? { source: loc } : {}) }] : []);
  return Object.assign(rules, { action });
}

type RuleArgs = [NameArg, ...NameArg[]] | [];

/** A rule builder: names only, or one syscall with conditions keyed by its argument names. */
export interface RuleBuilder {
  <N extends SyscallName>(name: N, where: Where<N>): RuleGroup;
  (...names: RuleArgs): RuleGroup;
}

function builder(action: Action): RuleBuilder {
  function build<N extends SyscallName>(name: N, where: Where<N>): RuleGroup;
  function build(...names: RuleArgs): RuleGroup;
  function build(...args: unknown[]): RuleGroup {
    return group(action, args as (NameArg | WhereAny)[], callerLocation());
  }
  return build;
}

export const allow = builder({ kind: 'allow' });
export const log = builder({ kind: 'log' });
export const kill = builder({ kind: 'kill_process' });
export const killProcess = kill;
export const killThread = builder({ kind: 'kill_thread' });
export const trap = builder({ kind: 'trap' });
export const userNotif = builder({ kind: 'user_notif' });

/** errno(code, ...syscalls): code is a number (0–4095) or a name such as 'EPERM'. */
export function errno<N extends SyscallName>(code: number | ErrnoName, name: N, where: Where<N>): RuleGroup;
export function errno(code: number | ErrnoName, ...names: RuleArgs): RuleGroup;
export function errno(code: number | ErrnoName, ...args: unknown[]): RuleGroup {
  return group({ kind: 'errno', errno: code }, args as (NameArg | WhereAny)[], callerLocation());
}

/** trace(data, ...syscalls): hands the call to a ptrace tracer with `data` (0–65535). */
export function trace<N extends SyscallName>(data: number, name: N, where: Where<N>): RuleGroup;
export function trace(data: number, ...names: RuleArgs): RuleGroup;
export function trace(data: number, ...args: unknown[]): RuleGroup {
  return group({ kind: 'trace', data }, args as (NameArg | WhereAny)[], callerLocation());
}

/** A general rule for several syscalls with conditions by index. */
export function rule(spec: { syscalls: readonly SyscallName[]; action: ActionLike; where?: WhereAny; label?: string }): RuleGroup {
  const loc = callerLocation();
  const g = group(toAction(spec.action, loc), [spec.syscalls, ...(spec.where ? [spec.where] : [])], loc);
  return Object.assign(g.map((r) => (spec.label ? { ...r, label: spec.label } : r)), { action: g.action });
}

/** Marks rules whose denials programs expect (they fall back): enforced, never reported. */
export function quiet(rules: readonly Rule[]): Rule[] {
  return rules.map((r) => ({ ...r, quiet: true }));
}

/** Names a group of rules; explanations show the name ("decided by: rule keyrings"). */
export function named(label: string, rules: readonly Rule[]): Rule[] {
  return rules.map((r) => ({ ...r, label }));
}

export type ActionLike = Action | RuleGroup | ActionName;

export function toAction(a: ActionLike, loc?: SourceLocation): Action {
  if (typeof a === 'string') {
    switch (a) {
      case 'kill': case 'kill_process': return { kind: 'kill_process' };
      case 'allow': case 'log': case 'kill_thread': case 'trap': case 'user_notif': return { kind: a };
      default: throw new PolicyError(`unknown action '${String(a)}'`, loc, 'use allow, log, kill, kill_thread, trap, user_notif, errno(...) or trace(...)');
    }
  }
  if (Array.isArray(a)) {
    if (a.length) throw new PolicyError('a default action cannot name syscalls', loc, `write e.g. errno('EPERM') without names`);
    return (a as RuleGroup).action;
  }
  return a as Action;
}

export type RuleInput = Rule | readonly RuleInput[];

export interface PolicySpec<J = JailOptions> {
  /** What happens to syscalls no rule matches. Default: kill_process. */
  readonly default?: ActionLike;
  readonly arches?: readonly (AbiName | string)[];
  /** What happens to calls from an ABI the policy does not target. Default: kill_process. */
  readonly badArch?: ActionLike;
  readonly rules: readonly RuleInput[];
  /** How often each syscall runs (`tsjail learn --weights-out`): frequent ones get short paths. */
  readonly weights?: Readonly<Record<string, number>>;
  /**
   * 'enosys': numbers above the highest syscall the rules name return ENOSYS instead of the
   * default, so libc falls back from syscalls newer than the policy (runc does this for OCI profiles).
   */
  readonly newerSyscalls?: 'enosys';
  /** Jail settings (`tsjail run`); carried through untouched by the compiler. */
  readonly jail?: J;
  /** A preset (jail/presets.ts) under `jail` and the flags: 'untrusted' or 'agent'. */
  readonly extends?: PresetName;
  /**
   * Drift mode (`tsjail run`, as --enforce): these rules are what the program is expected to do,
   * and this policy is what is enforced: '@builtin' or a policy file (relative to this one).
   */
  readonly enforce?: string;
}

export interface DefinedPolicy<J = JailOptions> extends Policy {
  readonly jail?: J;
  readonly extends?: PresetName;
  readonly enforce?: string;
}

function flatten(rules: readonly RuleInput[], out: Rule[] = []): Rule[] {
  for (const r of rules) {
    if (Array.isArray(r)) flatten(r as readonly RuleInput[], out);
    else out.push(r as Rule);
  }
  return out;
}

/** A `jail:` section as given, with no key JailOptions lacks (a misspelled one is a compile-time error naming it). */
export type ClosedJail<J> = J & { readonly [K in Exclude<keyof J, keyof JailOptions>]: never };

function newerSetting(v: unknown, loc: SourceLocation | undefined): 'enosys' {
  if (v !== 'enosys') throw new PolicyError(`newerSyscalls: expected 'enosys', not ${JSON.stringify(v)}`, loc, 'leave it out for the default action');
  return v;
}

/** The policy; its `jail:` keeps the literal types it was given (`network: false` stays `false`). */
export function definePolicy<const J extends JailOptions = JailOptions>(spec: PolicySpec<J> & { readonly jail?: ClosedJail<J> }): DefinedPolicy<J> {
  const loc = callerLocation();
  if (!spec || !Array.isArray(spec.rules)) throw new PolicyError('definePolicy needs { rules: [...] }', loc);
  if (spec.extends !== undefined && !(PRESET_NAMES as readonly unknown[]).includes(spec.extends)) {
    throw new PolicyError(`extends: '${String(spec.extends)}' is no preset${suggest(String(spec.extends), PRESET_NAMES)}`, loc, `presets: ${PRESET_NAMES.join(', ')}`);
  }
  if (spec.enforce !== undefined && (typeof spec.enforce !== 'string' || !spec.enforce)) {
    throw new PolicyError(`enforce: expected '@builtin' or a policy file, not ${JSON.stringify(spec.enforce)}`, loc);
  }
  return {
    defaultAction: toAction(spec.default ?? 'kill', loc),
    badArchAction: toAction(spec.badArch ?? 'kill', loc),
    arches: (spec.arches ?? []) as AbiName[],
    rules: flatten(spec.rules),
    // Loaded only when used: the syscall table stays unloaded for a policy run from the cache.
    ...(spec.weights !== undefined ? { weights: (require('./weights') as typeof import('./weights')).checkWeights(spec.weights, loc) } : {}),
    ...(spec.newerSyscalls !== undefined ? { newerSyscalls: newerSetting(spec.newerSyscalls, loc) } : {}),
    ...(loc ? { origin: loc.file } : {}),
    ...(spec.jail !== undefined ? { jail: spec.jail } : {}),
    ...(spec.extends !== undefined ? { extends: spec.extends } : {}),
    ...(spec.enforce !== undefined ? { enforce: spec.enforce } : {}),
  };
}

/** The syscalls of a systemd group (`@system-service`, `@privileged`, ...), for rules. */
export function syscallGroup(name: string): SyscallName[] {
  const { expandGroup } = require('./groups') as typeof import('./groups');
  return expandGroup(name) as SyscallName[];
}
