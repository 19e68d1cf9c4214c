// Resolves a Policy for one ABI: concrete return values, syscall numbers, and for each syscall
// the ordered chain of rules that decides it. The chain is "first match wins" once sorted by the
// kernel's precedence (DESIGN §2), so the compiler can emit it as an if-else ladder.
import { ABIS, hostAbi, lookupAbi, type Abi } from '../arch/abi';
import {
  SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF,
} from '../kernel/seccomp';
import { didYouMean, isKnownSyscallName, syscallNumber } from '../syscalls/table';
import { resolveCondition, type ResolvedCondition } from './condition';
import { newerSyscalls, type NewerSyscalls } from './newerSyscalls';
import { errnoNumber } from '../kernel/errno';
import { PolicyError, type Warning } from './errors';
import { actionSeverity, type Action, type Policy, type Rule, type SourceLocation } from './model';

export interface ChainLink {
  /** Index of the rule in policy.rules. */
  readonly ruleIndex: number;
  readonly ret: number;
  /** ANDed; empty = unconditional. */
  readonly conditions: readonly ResolvedCondition[];
}

export interface SyscallChain {
  readonly name: string;
  readonly nr: number;
  readonly links: readonly ChainLink[];
}

export interface AbiPolicy {
  readonly abi: Abi;
  readonly defaultRet: number;
  readonly badArchRet: number;
  /** Only syscalls with at least one link; everything else takes defaultRet. */
  readonly chains: readonly SyscallChain[];
  /** Rules that never decide a syscall: a more restrictive unconditional rule comes first. */
  readonly shadowed: readonly { readonly ruleIndex: number; readonly syscall: string; readonly by: number }[];
  /** Rules whose conditions can never all hold on this ABI. */
  readonly neverMatching: readonly { readonly ruleIndex: number; readonly syscall: string; readonly why: string }[];
  /** Numbers that return ENOSYS instead of defaultRet: syscalls newer than the policy. */
  readonly newer?: NewerSyscalls;
}

/** The SECCOMP_RET_* value of an action on an ABI; range errors are PolicyErrors. */
export function actionRet(action: Action, abi: Abi, loc?: SourceLocation): number {
  switch (action.kind) {
    case 'allow': return SECCOMP_RET_ALLOW;
    case 'log': return SECCOMP_RET_LOG;
    case 'kill_process': return SECCOMP_RET_KILL_PROCESS;
    case 'kill_thread': return SECCOMP_RET_KILL_THREAD;
    case 'trap': return SECCOMP_RET_TRAP;
    case 'user_notif': return SECCOMP_RET_USER_NOTIF;
    case 'trace': {
      if (!Number.isInteger(action.data) || action.data < 0 || action.data > 0xffff) {
        throw new PolicyError(`trace data ${action.data} is out of range`, loc, 'it must be an integer from 0 to 65535');
      }
      return (SECCOMP_RET_TRACE | action.data) >>> 0;
    }
    case 'errno': {
      let n: number | undefined;
      if (typeof action.errno === 'string') {
        n = errnoNumber(action.errno, abi.name);
        if (n === undefined) {
          throw new PolicyError(`unknown errno '${action.errno}' on ${abi.name}`, loc,
            /^E[A-Z0-9]+$/.test(action.errno) ? 'give the number for this ABI' : 'use a name such as EPERM or ENOSYS, or a number');
        }
      } else n = action.errno;
      if (!Number.isInteger(n) || n < 0 || n > 4095) {
        throw new PolicyError(`errno ${n} is out of range`, loc, 'the kernel takes 0 to 4095 (MAX_ERRNO)');
      }
      return (SECCOMP_RET_ERRNO | n) >>> 0;
    }
  }
}

/** The ABIs a policy targets: its own list, or the host's. */
export function targetAbis(policy: Policy, override?: readonly string[]): Abi[] {
  const names = override && override.length ? override : policy.arches;
  if (!names.length) return [hostAbi()];
  const out: Abi[] = [];
  for (const n of names) {
    const abi = lookupAbi(n);
    if (!abi) throw new PolicyError(`unknown architecture '${n}'`, undefined, `known: ${Object.keys(ABIS).join(', ')}`);
    if (!out.includes(abi)) out.push(abi);
  }
  return out;
}

/** Checks names across all rules once: a name unknown on every ABI is an error. */
export function checkSyscallNames(policy: Policy): void {
  for (const rule of policy.rules) {
    for (const name of rule.syscalls) {
      if (!isKnownSyscallName(name)) throw new PolicyError(`unknown syscall '${name}'${didYouMean(name)}`, rule.source);
    }
  }
}

export function resolvePolicy(policy: Policy, abi: Abi, warnings: Warning[] = []): AbiPolicy {
  checkSyscallNames(policy);
  const defaultRet = actionRet(policy.defaultAction, abi);
  const badArchRet = actionRet(policy.badArchAction, abi);
  const bySyscall = new Map<string, { rule: Rule; ruleIndex: number; ret: number; conditions: ResolvedCondition[] }[]>();
  const neverMatching: { ruleIndex: number; syscall: string; why: string }[] = [];
  const shadowed: { ruleIndex: number; syscall: string; by: number }[] = [];
  policy.rules.forEach((rule, ruleIndex) => {
    const ret = actionRet(rule.action, abi, rule.source);
    for (const name of rule.syscalls) {
      if (syscallNumber(abi, name) === undefined) continue; // not on this ABI (runc skips these too)
      const conditions: ResolvedCondition[] = [];
      let never: string | undefined;
      for (const cond of rule.conditions) {
        const outcome = resolveCondition(abi, name, cond, rule.source, warnings);
        if (outcome.kind === 'never') never = outcome.why;
        else if (outcome.kind === 'test') conditions.push(outcome.condition);
      }
      if (never !== undefined) { neverMatching.push({ ruleIndex, syscall: name, why: never }); continue; }
      const list = bySyscall.get(name) ?? [];
      list.push({ rule, ruleIndex, ret, conditions: dedupeConditions(conditions) });
      bySyscall.set(name, list);
    }
  });
  const chains: SyscallChain[] = [];
  for (const [name, entries] of bySyscall) {
    const sorted = [...entries].sort((a, b) => actionSeverity(a.rule.action) - actionSeverity(b.rule.action) || a.ruleIndex - b.ruleIndex);
    const firstUnconditional = sorted.findIndex((e) => e.conditions.length === 0);
    if (firstUnconditional >= 0) {
      for (const e of sorted.slice(firstUnconditional + 1)) shadowed.push({ ruleIndex: e.ruleIndex, syscall: name, by: sorted[firstUnconditional]!.ruleIndex });
    }
    const links: ChainLink[] = sorted
      .slice(0, firstUnconditional < 0 ? sorted.length : firstUnconditional + 1)
      .map((e) => ({ ruleIndex: e.ruleIndex, ret: e.ret, conditions: e.conditions }));
    // A trailing link that returns the default changes nothing.
    while (links.length && links[links.length - 1]!.ret === defaultRet) links.pop();
    if (links.length) chains.push({ name, nr: syscallNumber(abi, name)!, links });
  }
  chains.sort((a, b) => a.nr - b.nr);
  const newer = newerSyscalls(policy, abi);
  return { abi, defaultRet, badArchRet, chains, shadowed, neverMatching, ...(newer ? { newer } : {}) };
}

function dedupeConditions(conds: ResolvedCondition[]): ResolvedCondition[] {
  const seen = new Set<string>();
  return conds.filter((c) => {
    const key = `${c.argIndex}/${c.width}/${c.op}/${c.value}/${c.mask}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
