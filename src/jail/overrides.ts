// --allow and --deny on top of a policy; cloudflare sandbox's variables, which replace it.
import { PolicyError } from '../policy/errors';
import type { Policy, Rule } from '../policy/model';
import { didYouMean, isKnownSyscallName } from '../syscalls/table';
import type { JailOptions } from '../policy/jailSettings';

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

/** What cloudflare sandbox's variables ask for: a policy that replaces tsjail's, and what to tell the user. */
export interface SandboxVariables {
  /** Undefined when neither list is set (SECCOMP_DEFAULT_ACTION alone changes nothing, as in libsandbox). */
  readonly policy?: Policy;
  /** SECCOMP_DEFAULT_ACTION=log: the list's refusals are reported and the calls run. */
  readonly log: boolean;
  /** WARNING lines and notes, for stderr. */
  readonly messages: readonly string[];
}

/** The names of a `a:b` list, as libsandbox splits it: on ':' only, empty entries skipped. */
function sandboxList(variable: string, value: string): string[] {
  const names = value.split(':').filter(Boolean);
  for (const n of names) {
    if (!isKnownSyscallName(n)) throw new PolicyError(`unknown syscall '${n}' in ${variable}${didYouMean(n)}`, { file: variable, line: 0 }, 'the list is syscall names separated by \':\', e.g. read:write:exit_group');
  }
  return names;
}

/**
 * cloudflare sandbox's semantics, exactly: SECCOMP_SYSCALL_ALLOW (even empty) is a strict
 * allowlist whose default kills the process; else SECCOMP_SYSCALL_DENY kills on its calls and
 * allows every other; SECCOMP_DEFAULT_ACTION=log (exactly "log") logs instead of killing. Other
 * ABIs than the native one are killed, as libseccomp's default bad-arch action does.
 */
export function sandboxVariables(env: NodeJS.ProcessEnv): SandboxVariables {
  const allow = env.SECCOMP_SYSCALL_ALLOW, deny = env.SECCOMP_SYSCALL_DENY, action = env.SECCOMP_DEFAULT_ACTION;
  const log = action === 'log';
  const messages: string[] = [];
  const kill = { kind: 'kill_process' } as const;
  const build = (variable: string, names: string[], listed: Rule['action'], dflt: Policy['defaultAction']): Policy => ({
    defaultAction: dflt, badArchAction: kill, arches: [], origin: variable,
    rules: names.length ? [{ syscalls: names, action: listed, conditions: [], label: variable, source: { file: 'the environment', line: 0 } }] : [],
  });
  let policy: Policy | undefined;
  if (allow !== undefined) {
    const names = sandboxList('SECCOMP_SYSCALL_ALLOW', allow);
    policy = build('SECCOMP_SYSCALL_ALLOW', names, { kind: 'allow' }, kill);
    messages.push(`WARNING: SECCOMP_SYSCALL_ALLOW is set: the built-in policy is REPLACED by cloudflare sandbox's strict allowlist of ${names.length} syscall${names.length === 1 ? '' : 's'} (${names.join(', ') || 'none'}), each allowed with ANY arguments, every other call KILLS the jail`);
    if (deny !== undefined) messages.push('note: SECCOMP_SYSCALL_DENY is ignored: SECCOMP_SYSCALL_ALLOW is set and wins, as in cloudflare\'s sandbox');
  } else if (deny !== undefined) {
    const names = sandboxList('SECCOMP_SYSCALL_DENY', deny);
    policy = build('SECCOMP_SYSCALL_DENY', names, kill, { kind: 'allow' });
    messages.push(`WARNING: SECCOMP_SYSCALL_DENY is set: the built-in policy is REPLACED by cloudflare sandbox's deny list: only ${names.join(', ') || 'nothing'} kill${names.length === 1 ? 's' : ''} the jail, EVERY other syscall is ALLOWED with any arguments (the built-in policy's refusals of ptrace, bpf, mount, keyctl, io_uring, ... are gone)`);
  } else if (action !== undefined) {
    messages.push(`note: SECCOMP_DEFAULT_ACTION=${action} is ignored: as in cloudflare's sandbox it applies only with SECCOMP_SYSCALL_ALLOW or SECCOMP_SYSCALL_DENY (the built-in policy's log mode is --log)`);
  }
  if (policy && log) messages.push('WARNING: SECCOMP_DEFAULT_ACTION=log: the calls the list refuses are only reported, and they RUN');
  else if (policy && action !== undefined) messages.push(`note: SECCOMP_DEFAULT_ACTION=${action} is not "log": refused calls kill, as in cloudflare's sandbox`);
  return { ...(policy ? { policy } : {}), log: log && policy !== undefined, messages };
}
