// Explaining a denied call: its arguments decoded with the kernel's names and named constants,
// the rule or default that decided it, and the policy line that would allow exactly it.
import type { Abi } from '../arch/abi';
import { describeRet, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ERRNO } from '../kernel/seccomp';
import * as C from '../kernel/constants';
import type { Decision } from '../policy/evaluate';
import { errnoName } from '../kernel/errno';
import type { Policy, Rule } from '../policy/model';
import { OTHER_PROCESSES_LABEL } from '../policy/jailStops';
import { syscallArgs } from '../syscalls/table';

const CONSTANTS = Object.entries(C as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number');

/** How an argument's value is named: one constant of some families, or a set of flag bits. */
interface ArgMeaning { readonly prefixes: readonly string[]; readonly flags: boolean }

const BY_ARG: Readonly<Record<string, ArgMeaning>> = {
  family: { prefixes: ['AF_'], flags: false },
  domain: { prefixes: ['AF_'], flags: false },
  clone_flags: { prefixes: ['CLONE_'], flags: true },
  prot: { prefixes: ['PROT_'], flags: true },
  option: { prefixes: ['PR_'], flags: false },
  personality: { prefixes: ['PER_', 'UNAME26', 'ADDR_NO_RANDOMIZE', 'READ_IMPLIES_EXEC'], flags: false },
  sig: { prefixes: ['SIG'], flags: false },
};
const BY_SYSCALL_ARG: Readonly<Record<string, ArgMeaning>> = {
  'ioctl:cmd': { prefixes: ['TIOC', 'TC', 'FIO'], flags: false },
  'fcntl:cmd': { prefixes: ['F_'], flags: false },
  'keyctl:option': { prefixes: ['KEYCTL_'], flags: false },
  'keyctl:cmd': { prefixes: ['KEYCTL_'], flags: false },
  'mmap:flags': { prefixes: ['MAP_'], flags: true },
  'open:flags': { prefixes: ['O_'], flags: true },
  'openat:flags': { prefixes: ['O_'], flags: true },
  'socket:type': { prefixes: ['SOCK_'], flags: false },
};

function constantsFor(m: ArgMeaning): [string, number][] {
  return CONSTANTS.filter(([name]) => m.prefixes.some((p) => name.startsWith(p)));
}

/** A value as the policy language would write it: a constant, flags joined with |, or hex. */
export function nameValue(syscall: string, argName: string, value: bigint, signed: boolean, bits: number): string {
  const meaning = BY_SYSCALL_ARG[`${syscall}:${argName}`] ?? BY_ARG[argName];
  const low = Number(value & 0xffffffffn);
  if (meaning && value <= 0xffffffffn) {
    const known = constantsFor(meaning);
    const exact = known.find(([, v]) => v >>> 0 === low >>> 0 && (v !== 0 || !meaning.flags));
    if (exact && !meaning.flags) return exact[0];
    if (meaning.flags && low !== 0) {
      const parts: string[] = [];
      let rest = low >>> 0;
      for (const [name, v] of known) {
        if (v !== 0 && (v & (v - 1)) === 0 && (rest & v) === v >>> 0) { parts.push(name); rest = (rest & ~v) >>> 0; }
      }
      if (parts.length) return [...parts, ...(rest ? [`0x${rest.toString(16)}`] : [])].join(' | ');
    }
  }
  if (signed && bits === 32 && (value & 0xffffffffn) >= 0x80000000n) {
    const v = Number(BigInt.asIntN(32, value));
    return v === C.AT_FDCWD && /^(dfd|fd|olddfd|newdfd|dirfd)$/.test(argName) ? 'AT_FDCWD' : String(v);
  }
  return value < 10n ? String(value) : `0x${value.toString(16)}`;
}

export interface DecodedArg { readonly name: string; readonly value: bigint; readonly text: string }

/** The arguments the kernel passes for this syscall, named and decoded. */
export function decodeArgs(abi: Abi, syscall: string, args: readonly bigint[]): DecodedArg[] {
  const spec = syscallArgs(abi, syscall);
  const list = spec ?? Array.from({ length: 6 }, (_, index) => ({ index, name: `arg${index}`, bits: abi.bits, signed: false }));
  return list.map((a) => {
    const raw = args[a.index] ?? 0n;
    const value = a.bits === 64 ? raw : raw & ((1n << BigInt(a.bits)) - 1n);
    return { name: a.name, value, text: nameValue(syscall, a.name, value, a.signed, a.bits) };
  });
}

export interface DenialExplanation {
  readonly syscall: string;
  readonly action: string;
  readonly decidedBy: string;
  readonly ruleIndex?: number;
  readonly suggestion: string;
  readonly args: readonly DecodedArg[];
}

function describeRule(rule: Rule): string {
  const name = rule.label ? `rule "${rule.label}"` : 'a rule';
  const file = rule.source?.file;
  if (!file) return `${name} (command line)`;
  if (/jail[\\/]defaultPolicy\.[jt]s$/.test(file)) return `${name} of the built-in policy (SYSCALLS.md)`;
  return `${name} (${rule.source!.line ? `${file}:${rule.source!.line}` : file})`;
}

/** The action as a person reads it: EPERM, ENOSYS, killed (SIGSYS). */
export function actionText(ret: number): string {
  if (((ret & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ERRNO) return errnoName(ret & 0xffff) ?? `errno ${ret & 0xffff}`;
  const r = describeRet(ret);
  return r.startsWith('KILL') ? 'killed (SIGSYS)' : r;
}

/** Why a call was denied, and the narrowest rule that would allow it. */
export function explainDenial(policy: Policy, decision: Decision, abi: Abi, syscall: string, args: readonly bigint[]): DenialExplanation {
  const decoded = decodeArgs(abi, syscall, args);
  let decidedBy: string;
  const guard = decision.decider.kind === 'rule' && policy.rules[decision.decider.ruleIndex]!.label === OTHER_PROCESSES_LABEL;
  if (guard) decidedBy = 'tsjail: this jail has no PID namespace, and the call names another process (its limits, priority or scheduling; only pid 0, the caller, may be named)';
  else if (decision.decider.kind === 'rule') decidedBy = describeRule(policy.rules[decision.decider.ruleIndex]!);
  else if (decision.decider.kind === 'default') decidedBy = 'the default action (no rule allows this syscall)';
  else if (decision.decider.kind === 'newer') decidedBy = 'the newer-syscall action: the number is above the highest the policy knows on this ABI (ENOSYS, as runc answers, so libc falls back)';
  else decidedBy = 'the bad-arch action (a syscall through an ABI the policy does not target)';
  // Name the arguments some rule for this syscall tests; no such rule → the whole syscall.
  const tested = new Set<string>();
  for (const r of policy.rules) {
    if (!r.syscalls.includes(syscall)) continue;
    for (const c of r.conditions) tested.add(typeof c.arg === 'number' ? decoded[c.arg]?.name ?? `arg${c.arg}` : c.arg);
  }
  const literal = (a: DecodedArg): string => (a.value > BigInt(Number.MAX_SAFE_INTEGER) && /^0x/.test(a.text) ? `${a.text}n` : a.text);
  const conds = decoded.filter((a) => tested.has(a.name)).map((a) => `${a.name}: ${literal(a)}`);
  const suggestion = guard ? 'nothing allows it here: it would reach the host\'s processes; with user namespaces the jail has a PID namespace and names only its own'
    : decision.decider.kind === 'bad_arch'
    ? `arches: [..., '${abi.name}'] (and rules for ${syscall} there)`
    : conds.length ? `allow('${syscall}', { ${conds.join(', ')} })` : `allow('${syscall}')`;
  return {
    syscall, action: actionText(decision.ret), decidedBy, suggestion, args: decoded,
    ...(decision.decider.kind === 'rule' ? { ruleIndex: decision.decider.ruleIndex } : {}),
  };
}
