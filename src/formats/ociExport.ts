// Exports a policy as an OCI `LinuxSeccomp` profile that runc/crun (libseccomp) enforce with
// exactly tsjail's decisions, or says precisely why it cannot. Each syscall's decision is cut
// into disjoint argument boxes (argumentPatterns.ts), so libseccomp's own rules (the first
// unconditional rule wins, rules with the default action are dropped, overlapping conditional
// rules combine in an unspecified way) never come into play. Then the profile is read back as
// libseccomp reads it (formats/oci.ts, which also routes socket and IPC calls through
// socketcall/ipc on ABIs that have them) and compared with the policy's own program exactly.
import type { Abi } from '../arch/abi';
import { SECCOMP_DATA_ARCH, SECCOMP_DATA_NR, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF, describeRet } from '../kernel/seccomp';
import { compileProgram } from '../bpf/compile';
import { diffPrograms, satisfiable } from '../bpf/diff';
import { widthMask } from '../policy/condition';
import { PolicyError } from '../policy/errors';
import type { Policy } from '../policy/model';
import { resolvePolicy, targetAbis, type AbiPolicy } from '../policy/resolve';
import { syscallName, syscallNumber } from '../syscalls/table';
import { decisionBoxes, type ArgBox } from './argumentPatterns';
import { formatJson } from './json';
import { importOci } from './oci';

interface OciArg { index: number; value: bigint | number; valueTwo?: bigint | number; op: string }
interface OciEntry { names: string[]; action: string; errnoRet?: number; args?: OciArg[] }

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

/** A plain number where a double is exact; larger values stay BigInt, which formats/json.ts writes exactly (Go reads them into uint64). */
const num = (v: bigint): bigint | number => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/**
 * A box as libseccomp conditions: EQ where all 64 bits count, else MASKED_EQ, which reads the
 * same on a 32-bit ABI (an `int` compare is one entry for x86_64 and x86 alike).
 */
function ociArgs(box: ArgBox): OciArg[] {
  return [...box].map(([index, p]) => (p.mask === widthMask(64)
    ? { index, value: num(p.value), op: 'SCMP_CMP_EQ' }
    : { index, value: num(p.mask), valueTwo: num(p.value), op: 'SCMP_CMP_MASKED_EQ' }));
}

function entriesFor(r: AbiPolicy): Map<string, OciEntry[]> {
  const out = new Map<string, OciEntry[]>();
  for (const chain of r.chains) {
    const entries = decisionBoxes(chain.name, chain.links, r.defaultRet).map(({ ret, box }): OciEntry => ({
      names: [chain.name], ...ociAction(ret), ...(box.size ? { args: ociArgs(box) } : {}),
    }));
    if (entries.length) out.set(chain.name, entries);
  }
  return out;
}

const isMultiplexer = (name: string): boolean => name === 'socketcall' || name === 'ipc';

/** Why the read-back differs, in the words of the syscall it differs on. */
function readBackError(abi: Abi, nr: number, ours: number, theirs: number, defaultRet: number): PolicyError {
  const name = syscallName(abi, nr) ?? `syscall ${nr}`;
  if (!isMultiplexer(name)) {
    return new PolicyError(`${name} cannot be exported for ${abi.name}: libseccomp would read the profile as ${describeRet(theirs)} where the policy says ${describeRet(ours)}`,
      undefined, 'load the raw filter instead (tsjail compile --format raw)');
  }
  // A rule for the multiplexer itself must not take the default action: runc drops those.
  const errno = describeRet(defaultRet) === 'ERRNO(1)' ? 'ENOSYS' : 'EPERM';
  return new PolicyError(`${name} cannot be exported for ${abi.name}: libseccomp would read the profile as ${describeRet(theirs)} where the policy says ${describeRet(ours)}`
    + ` (libseccomp also applies the rules of the calls ${name}(2) multiplexes to ${name} itself)`, undefined,
  `give ${name} an unconditional rule that is not the default (libc has used the direct calls since Linux 4.3: errno('${errno}', '${name}')), or export for ABIs without ${name}`);
}

/** libseccomp's reading of the profile decides every call of every target ABI as the policy does. */
function checkReadBack(profile: object, policy: Policy, abis: readonly Abi[], resolved: AbiPolicy): void {
  const back = importOci(profile, { hostArch: abis[0]!.name, file: 'exported profile' }).policy;
  const names = abis.map((a) => a.name);
  // runc answers the numbers above a profile's highest syscall with ENOSYS whatever the policy says (newerSyscalls.ts).
  const ours = compileProgram({ ...policy, newerSyscalls: 'enosys' }, { arch: names }).instructions;
  const theirs = compileProgram(back, { arch: names }).instructions;
  for (const abi of abis) {
    const only = new Map([[SECCOMP_DATA_ARCH, { lo: abi.auditArch, hi: abi.auditArch, masked: [], notMasked: [] }]]);
    for (const d of diffPrograms(ours, theirs, only)) {
      // Numbers of an ABI not targeted (x32 on x86_64) take each side's bad-arch action, which OCI cannot set.
      if (d.a === resolved.badArchRet) continue;
      const nr = d.constraints.get(SECCOMP_DATA_NR);
      throw readBackError(abi, nr ? satisfiable(nr) ?? 0 : 0, d.a, d.b, resolved.defaultRet);
    }
  }
}

/** The OCI profile (runtime-spec `linux.seccomp`) for a policy and its target ABIs; values above 2^53 are BigInt (write it with formatJson). */
export function exportOci(policy: Policy, arch?: readonly string[]): object {
  const abis = targetAbis(policy, arch);
  const resolved: AbiPolicy[] = abis.map((abi) => resolvePolicy(policy, abi));
  const defaults = new Set(resolved.map((r) => r.defaultRet));
  if (defaults.size > 1) throw new PolicyError('the default action differs between the target ABIs (a named errno?)', undefined, 'give the errno as a number, or export one ABI at a time');
  const defaultRet = resolved[0]!.defaultRet;
  // An entry applies on every target ABI, so a syscall must come out the same on each that knows it.
  const byName = new Map<string, { key: string; entries: OciEntry[]; abi: string }>();
  for (const r of resolved) {
    for (const [name, entries] of entriesFor(r)) {
      const key = formatJson(entries, 0);
      const seen = byName.get(name);
      if (seen && seen.key !== key) {
        throw new PolicyError(`${name} is decided differently on ${r.abi.name} than on ${seen.abi} (argument widths differ)`, undefined, 'export one ABI at a time');
      }
      byName.set(name, { key, entries, abi: seen?.abi ?? r.abi.name });
    }
  }
  // socketcall and ipc go first: once they have an unconditional rule, libseccomp adds no
  // multiplexed copies of the socket/IPC rules after it (which could clash: EEXIST).
  const muxFirst = [...byName].sort(([a], [b]) => Number(isMultiplexer(b)) - Number(isMultiplexer(a)));
  const merged: OciEntry[] = [];
  for (const e of muxFirst.flatMap(([, v]) => v.entries)) {
    const same = !e.args && merged.find((m) => !m.args && m.action === e.action && m.errnoRet === e.errnoRet);
    if (same) same.names.push(...e.names);
    else merged.push({ ...e, names: [...e.names] });
  }
  // The syscalls the policy knows but leaves to the default, as an entry with the default action:
  // libseccomp adds no rule for it, and runc's ENOSYS stub starts above the same number as the policy.
  const exported = new Set(merged.flatMap((e) => e.names));
  const known = [...new Set([...policy.rules.flatMap((r) => r.syscalls), ...(policy.knownSyscalls ?? [])])]
    .filter((n) => !exported.has(n) && abis.some((a) => syscallNumber(a, n) !== undefined)).sort();
  if (known.length) merged.push({ names: known, ...ociAction(defaultRet) });
  const profile = {
    defaultAction: ociAction(defaultRet).action,
    ...(ociAction(defaultRet).errnoRet !== undefined ? { defaultErrnoRet: ociAction(defaultRet).errnoRet } : {}),
    architectures: abis.map((a) => `SCMP_ARCH_${a.name.toUpperCase()}`),
    syscalls: merged,
  };
  checkReadBack(profile, policy, abis, resolved[0]!);
  return profile;
}
