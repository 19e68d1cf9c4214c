// Exports a policy as an OCI `LinuxSeccomp` profile that runc/crun (libseccomp) enforce with
// exactly tsjail's decisions, or says precisely why it cannot: libseccomp lets the first
// unconditional rule of a syscall win, drops rules with the default action, ORs conditions on
// a repeated argument, and leaves overlapping conditional rules of different actions
// unspecified. Narrow compares become MASKED_EQ on the low bits, which is exact.
import type { Abi } from '../arch/abi';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF } from '../kernel/seccomp';
import { syscallNumber } from '../syscalls/table';
import { widthMask, type ResolvedCondition } from '../policy/condition';
import { PolicyError } from '../policy/errors';
import type { Policy } from '../policy/model';
import { multiplexedAs } from '../syscalls/multiplexers';
import { resolvePolicy, targetAbis, type AbiPolicy, type ChainLink } from '../policy/resolve';

interface OciArg { index: number; value: string | number; valueTwo?: string | number; op: string }
interface OciEntry { names: string[]; action: string; errnoRet?: number; args?: OciArg[] }

const OPS: Readonly<Record<string, string>> = {
  eq: 'SCMP_CMP_EQ', ne: 'SCMP_CMP_NE', lt: 'SCMP_CMP_LT', le: 'SCMP_CMP_LE', gt: 'SCMP_CMP_GT', ge: 'SCMP_CMP_GE', masked_eq: 'SCMP_CMP_MASKED_EQ',
};

function ociAction(ret: number): { action: string; errnoRet?: number } {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = ret & 0xffff;
  switch (action) {
    case SECCOMP_RET_ALLOW: return { action: 'SCMP_ACT_ALLOW' };
    case SECCOMP_RET_LOG: return { action: 'SCMP_ACT_LOG' };
    case SECCOMP_RET_KILL_PROCESS: return { action: 'SCMP_ACT_KILL_PROCESS' };
    case SECCOMP_RET_KILL_THREAD: return { action: 'SCMP_ACT_KILL_THREAD' };
    case SECCOMP_RET_TRAP: return { action: 'SCMP_ACT_TRAP' };
    case SECCOMP_RET_USER_NOTIF: return { action: 'SCMP_ACT_NOTIFY' };
    case SECCOMP_RET_ERRNO: return { action: 'SCMP_ACT_ERRNO', errnoRet: data };
    case SECCOMP_RET_TRACE: return { action: 'SCMP_ACT_TRACE', errnoRet: data };
    default: throw new PolicyError(`return value 0x${ret.toString(16)} has no OCI action`);
  }
}

/** JSON numbers are exact only up to 2^53: larger values go as strings, which runc accepts. */
const num = (v: bigint): string | number => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

/** One condition as libseccomp will compare it on this ABI, or why it cannot be. */
function ociArg(c: ResolvedCondition, abi: Abi, syscall: string): OciArg {
  const native = c.width === abi.libseccompBits;
  if (native) {
    return c.op === 'masked_eq'
      ? { index: c.argIndex, value: num(c.mask), valueTwo: num(c.value), op: OPS.masked_eq! }
      : { index: c.argIndex, value: num(c.value), op: OPS[c.op]! };
  }
  // Narrower than the register: only equality survives, as MASKED_EQ on the low bits.
  if (c.op === 'eq' || c.op === 'masked_eq') {
    return { index: c.argIndex, value: num(c.op === 'eq' ? widthMask(c.width) : c.mask), valueTwo: num(c.value), op: OPS.masked_eq! };
  }
  throw new PolicyError(`${syscall}(${c.argName}): a ${c.width}-bit '${c.op}' compare cannot be written for libseccomp, which compares all ${abi.libseccompBits} bits`,
    undefined, 'use eq or masked_eq on this argument, or load the raw filter (tsjail compile --format raw)');
}

/** The set a condition allows, as an interval, a masked value, or a hole. */
function contradict(a: ResolvedCondition, b: ResolvedCondition): boolean {
  if (a.argIndex !== b.argIndex || a.width !== b.width) return false;
  const all = widthMask(a.width);
  const interval = (c: ResolvedCondition): [bigint, bigint] | undefined => {
    switch (c.op) {
      case 'eq': return [c.value, c.value];
      case 'lt': return [0n, c.value - 1n];
      case 'le': return [0n, c.value];
      case 'gt': return [c.value + 1n, all];
      case 'ge': return [c.value, all];
      default: return undefined;
    }
  };
  const [ia, ib] = [interval(a), interval(b)];
  if (ia && ib) return ia[1] < ib[0] || ib[1] < ia[0];
  const eqOf = (c: ResolvedCondition): bigint | undefined => (c.op === 'eq' ? c.value : undefined);
  const neOf = (c: ResolvedCondition): bigint | undefined => (c.op === 'ne' ? c.value : undefined);
  if (eqOf(a) !== undefined && neOf(b) === eqOf(a)) return true;
  if (eqOf(b) !== undefined && neOf(a) === eqOf(b)) return true;
  const masked = (c: ResolvedCondition): [bigint, bigint] | undefined => (c.op === 'masked_eq' ? [c.mask, c.value] : c.op === 'eq' ? [all, c.value] : undefined);
  const [ma, mb] = [masked(a), masked(b)];
  if (ma && mb) { const common = ma[0] & mb[0]; return (ma[1] & common) !== (mb[1] & common); }
  return false;
}

/** No call can match both links: some argument's conditions contradict. */
function disjoint(a: ChainLink, b: ChainLink): boolean {
  return a.conditions.some((ca) => b.conditions.some((cb) => contradict(ca, cb)));
}

function entriesFor(name: string, links: readonly ChainLink[], defaultRet: number, abi: Abi): OciEntry[] {
  const last = links[links.length - 1]!;
  const why = (msg: string): never => {
    throw new PolicyError(`${name} cannot be exported to OCI: ${msg}`, undefined, 'libseccomp cannot express this order of rules; load the raw filter instead');
  };
  if (links.some((l) => l.ret === defaultRet)) why('a rule with the default action decides part of it (runc drops such rules)');
  if (last.conditions.length === 0 && links.some((l) => l.ret !== last.ret)) why('an unconditional rule sits under conditional ones of other actions (libseccomp keeps only the unconditional one)');
  const overlapping = links.some((a, i) => links.some((b, j) => j > i && a.ret !== b.ret && !disjoint(a, b)));
  if (overlapping) why('conditional rules of different actions that can both match (libseccomp leaves their combination unspecified)');
  if (last.conditions.length === 0) return [{ names: [name], ...ociAction(last.ret) }];
  return links.map((l) => {
    const indexes = l.conditions.map((c) => c.argIndex);
    if (new Set(indexes).size < indexes.length) why('two conditions on one argument in one rule (runc turns them into separate, ORed rules)');
    return { names: [name], ...ociAction(l.ret), args: l.conditions.map((c) => ociArg(c, abi, name)) };
  });
}

/** The OCI profile (runtime-spec `linux.seccomp`) for a policy and its target ABIs. */
export function exportOci(policy: Policy, arch?: readonly string[]): object {
  const abis = targetAbis(policy, arch);
  const resolved: AbiPolicy[] = abis.map((abi) => resolvePolicy(policy, abi));
  const defaults = new Set(resolved.map((r) => r.defaultRet));
  if (defaults.size > 1) throw new PolicyError('the default action differs between the target ABIs (a named errno?)', undefined, 'give the errno as a number, or export one ABI at a time');
  const defaultRet = resolved[0]!.defaultRet;
  const byName = new Map<string, { key: string; entries: OciEntry[] }>();
  for (const r of resolved) {
    for (const chain of r.chains) {
      const via = multiplexedAs(chain.name);
      if (via && syscallNumber(r.abi, via[0]) !== undefined) {
        throw new PolicyError(`${chain.name} cannot be exported for ${r.abi.name}: libseccomp also applies it to ${via[0]}(2) there`, undefined, 'export for ABIs without socketcall/ipc (x86_64, aarch64, ...), or load the raw filter');
      }
      const entries = entriesFor(chain.name, chain.links, defaultRet, r.abi);
      const key = JSON.stringify(entries);
      const seen = byName.get(chain.name);
      if (seen && seen.key !== key) throw new PolicyError(`${chain.name} is decided differently on ${r.abi.name} than on another target ABI`, undefined, 'export one ABI at a time');
      byName.set(chain.name, { key, entries });
    }
  }
  // Names decided on one ABI only still need the default elsewhere: that is what runc does.
  const entries = [...byName.values()].flatMap((v) => v.entries);
  const merged: OciEntry[] = [];
  for (const e of entries) {
    const same = !e.args && merged.find((m) => !m.args && m.action === e.action && m.errnoRet === e.errnoRet);
    if (same) same.names.push(...e.names);
    else merged.push({ ...e, names: [...e.names] });
  }
  return {
    defaultAction: ociAction(defaultRet).action,
    ...(ociAction(defaultRet).errnoRet !== undefined ? { defaultErrnoRet: ociAction(defaultRet).errnoRet } : {}),
    architectures: abis.map((a) => `SCMP_ARCH_${a.name.toUpperCase()}`),
    syscalls: merged,
  };
}
