// `tsjail lint`: findings about a policy, each with a severity, a message and where it comes
// from. Decisions are taken with the reference evaluator on the calls that matter, so a
// finding is about what the policy does, not how it is written.
import type { Abi } from '../arch/abi';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_LOG } from '../kernel/seccomp';
import { syscallName, syscallNumber } from '../syscalls/table';
import { CLONE_NEWUSER, TIOCLINUX, TIOCSTI } from '../kernel/constants';
import { uniqueWarnings, type Warning } from '../policy/errors';
import { evaluatePolicy } from '../policy/evaluate';
import { describeLocation, type Policy } from '../policy/model';
import { SOCKETCALL_CALLS, IPC_CALLS } from '../syscalls/multiplexers';
import { resolvePolicy, targetAbis } from '../policy/resolve';
import { diffPolicies } from './diff';

export type Severity = 'danger' | 'warning' | 'info';

export interface Finding {
  readonly severity: Severity;
  readonly abi: string;
  readonly message: string;
  readonly where?: string;
}

/** Calls that break a sandbox when allowed, and why. */
const DANGEROUS: readonly [readonly string[], string][] = [
  [['ptrace', 'process_vm_readv', 'process_vm_writev'], 'reads and steers other processes (and bypasses seccomp on old kernels)'],
  [['io_uring_setup', 'io_uring_enter', 'io_uring_register'], 'performs I/O that seccomp never sees'],
  [['bpf'], 'loads programs into the kernel'],
  [['userfaultfd'], 'makes kernel race exploits reliable'],
  [['keyctl', 'add_key', 'request_key'], 'reaches the kernel keyring, which is not namespaced'],
  [['mount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsmount', 'move_mount', 'open_tree'], 'changes the filesystem view'],
  [['unshare', 'setns'], 'enters new namespaces (a user namespace grants a full capability set)'],
  [['open_by_handle_at'], 'opens files around any mount view'],
  [['init_module', 'finit_module', 'kexec_load', 'kexec_file_load'], 'replaces or extends the kernel'],
];

/** Calls that do the same job: denying one while allowing another is a gap. */
const EQUIVALENTS: readonly (readonly string[])[] = [
  ['execve', 'execveat'], ['open', 'openat', 'openat2'], ['fork', 'vfork', 'clone'],
  ['rename', 'renameat', 'renameat2'], ['unlink', 'unlinkat', 'rmdir'], ['chmod', 'fchmod', 'fchmodat', 'fchmodat2'],
];

const isAllowed = (ret: number): boolean => [SECCOMP_RET_ALLOW, SECCOMP_RET_LOG].includes((ret & SECCOMP_RET_ACTION_FULL) >>> 0);

/**
 * Where two rules of one action with different values (errno numbers, trace data) both match a
 * call, the earlier decides; libseccomp orders such rules by its own tree (the tighter bound
 * first), so the pair almost surely means something else than what either reader makes of it.
 * Found exactly: the regions where the policy with its rules reversed decides otherwise.
 */
function orderFindings(policy: Policy, abis: readonly Abi[]): Finding[] {
  const reversed: Policy = { ...policy, rules: [...policy.rules].reverse() };
  return (['little', 'big'] as const).flatMap((endian) => {
    const names = abis.filter((a) => a.endian === endian).map((a) => a.name);
    if (!names.length) return [];
    return diffPolicies(policy, reversed, names).map((d): Finding => ({
      severity: 'warning', abi: d.abi,
      message: `${d.syscalls.join(', ')}${d.args.length ? ` (${d.args.join(', ')})` : ''}: two rules of the same action with different values both match; the earlier decides (${d.a}, not ${d.b}), where libseccomp would take the rule with the tighter bound: give the calls of one rule a condition the other excludes`,
    }));
  });
}

export function lintPolicy(policy: Policy, arch?: readonly string[], loadWarnings: readonly Warning[] = []): Finding[] {
  const findings: Finding[] = [];
  const resolveWarnings: Warning[] = [];
  const abis = targetAbis(policy, arch);
  const ruleWhere = (i: number): string => {
    const r = policy.rules[i]!;
    return [r.label ? `rule "${r.label}"` : `rule #${i + 1}`, describeLocation(r.source)].filter(Boolean).join(' ');
  };
  for (const abi of abis) {
    const resolved = resolvePolicy(policy, abi, resolveWarnings);
    const add = (severity: Severity, message: string, where?: string): void => {
      findings.push({ severity, abi: abi.name, message, ...(where ? { where } : {}) });
    };
    const decide = (name: string, args: bigint[] = []): number | undefined => {
      const nr = syscallNumber(abi, name);
      return nr === undefined ? undefined : evaluatePolicy(policy, [abi], { nr, arch: abi.auditArch, args }).ret;
    };
    const allowedFor = (name: string, args?: bigint[]): boolean => {
      const ret = decide(name, args);
      return ret !== undefined && isAllowed(ret);
    };
    for (const [names, why] of DANGEROUS) {
      const open = names.filter((n) => allowedFor(n));
      if (open.length) add('danger', `${open.join(', ')} allowed: ${why}`);
    }
    for (const cmd of [TIOCSTI, TIOCLINUX]) {
      if (allowedFor('ioctl', [0n, BigInt(cmd) | (1n << 32n)])) add('danger', `ioctl(${cmd === TIOCSTI ? 'TIOCSTI' : 'TIOCLINUX'}) allowed: a jailed program can type into your terminal`);
    }
    if (allowedFor('clone', [BigInt(CLONE_NEWUSER)])) add('danger', 'clone allowed with namespace flags (CLONE_NEWUSER...): check clone_flags with hasNone(CLONE_NAMESPACE_FLAGS)');
    if (allowedFor('personality', [0x0400000n])) add('warning', 'personality allowed with any value: READ_IMPLIES_EXEC and ADDR_NO_RANDOMIZE weaken exploit mitigations');
    if (allowedFor('clone3') && !allowedFor('clone', [BigInt(CLONE_NEWUSER)]) && syscallNumber(abi, 'clone3') !== undefined) {
      add('danger', 'clone is checked for namespace flags but clone3 is allowed: its flags are out of a filter\'s reach (deny it with ENOSYS)');
    }
    for (const group of EQUIVALENTS) {
      const present = group.filter((n) => syscallNumber(abi, n) !== undefined);
      const allowed = present.filter((n) => allowedFor(n));
      const denied = present.filter((n) => !allowedFor(n));
      if (allowed.length && denied.length) add('warning', `${denied.join(', ')} denied but ${allowed.join(', ')} allowed: they do the same job`);
    }
    // socketcall/ipc reach the socket and IPC calls with the arguments in memory.
    for (const [mux, calls] of [['socketcall', SOCKETCALL_CALLS], ['ipc', IPC_CALLS]] as const) {
      if (syscallNumber(abi, mux) === undefined || !allowedFor(mux)) continue;
      const restricted = Object.keys(calls).filter((n) => syscallNumber(abi, n) !== undefined && policy.rules.some((r) => r.syscalls.includes(n) && (r.conditions.length || !isAllowed(decide(n) ?? SECCOMP_RET_ALLOW))));
      if (restricted.length) add('danger', `${mux} is allowed on ${abi.name}, so the rules for ${restricted.join(', ')} can be bypassed through it`);
    }
    if (resolved.newer) {
      const { above, also } = resolved.newer;
      add('info', `syscalls newer than the policy return ENOSYS, so libc falls back: every number above ${above} (${syscallName(abi, above)}) except -1${also.length ? `, and ${also.join(', ')}` : ''}`);
    } else if (((resolved.defaultRet & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ERRNO && (resolved.defaultRet & 0xffff) === 1) {
      add('info', 'the default is EPERM: syscalls newer than the policy fail with EPERM, which programs do not take as "use the fallback"; ENOSYS does that');
    }
    for (const s of resolved.shadowed) add('warning', `${s.syscall}: ${ruleWhere(s.ruleIndex)} never decides: ${ruleWhere(s.by)} matches every call first`);
    for (const n of resolved.neverMatching) add('warning', `${n.syscall}: ${ruleWhere(n.ruleIndex)} can never match (${n.why})`);
  }
  findings.push(...orderFindings(policy, abis));
  for (const w of uniqueWarnings([...loadWarnings, ...resolveWarnings])) findings.push({ severity: 'warning', abi: abis.map((a: Abi) => a.name).join('+'), message: w.message, ...(w.location ? { where: describeLocation(w.location) } : {}) });
  // The same finding on several ABIs once.
  const seen = new Map<string, Finding>();
  for (const f of findings) {
    const key = `${f.severity}|${f.message}|${f.where}`;
    const prev = seen.get(key);
    seen.set(key, prev ? { ...prev, abi: `${prev.abi}, ${f.abi}` } : f);
  }
  const order: Severity[] = ['danger', 'warning', 'info'];
  return [...seen.values()].sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity));
}
