// Imports the OCI runtime-spec `LinuxSeccomp` object (config.json's linux.seccomp) and Docker's
// profile extensions (archMap, includes/excludes) with the semantics runc + libseccomp enforce
// (DESIGN §2 "OCI/Docker import"), so a profile means the same here as in a container.
import { release } from 'node:os';
import { ABIS, hostAbi, isAbiName, type AbiName } from '../arch/abi';
import { didYouMean, isKnownSyscallName, syscallNumber } from '../syscalls/table';
import { PolicyError, type Warning } from '../policy/errors';
import type { Action, ArgCondition, CompareOp, Policy, Rule, SourceLocation } from '../policy/model';
import { multiplexedAs } from '../syscalls/multiplexers';

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export interface OciImportOptions {
  /** Capabilities the container keeps, for includes/excludes.caps. Default: Docker's default set. */
  readonly caps?: readonly string[];
  /** Kernel release for includes.minKernel. Default: the running kernel. */
  readonly kernel?: string;
  /** The host arch as Docker names it (amd64, arm64, ...) for includes.arches and archMap. Default: this host. */
  readonly hostArch?: AbiName;
  /** File name for messages. */
  readonly file?: string;
  /** Read the JSON with OpenWrt procd's meaning instead of runc's. */
  readonly procd?: boolean;
  /** Where a value of the profile stands in its file (formats/json.ts); without it messages name the file only. */
  readonly locate?: (node: unknown, key?: string | number) => SourceLocation;
}

interface OciArg { index: number; value: unknown; valueTwo?: unknown; op: string }
interface OciSyscall {
  names?: string[]; name?: string; action: string; errnoRet?: unknown; args?: OciArg[] | null;
  includes?: OciFilter | null; excludes?: OciFilter | null; comment?: string;
}
interface OciFilter { caps?: string[] | null; arches?: string[] | null; minKernel?: string | null }
interface OciSeccomp {
  defaultAction: string; defaultErrnoRet?: unknown; architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  flags?: string[] | null; listenerPath?: string; listenerMetadata?: string; syscalls?: OciSyscall[] | null;
}

const OPS: Readonly<Record<string, CompareOp>> = {
  SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_EQ: 'eq', SCMP_CMP_GE: 'ge',
  SCMP_CMP_GT: 'gt', SCMP_CMP_MASKED_EQ: 'masked_eq',
};

/** Go's GOARCH names, as used in includes.arches. */
const GO_ARCH: Readonly<Partial<Record<AbiName, string>>> = {
  x86_64: 'amd64', x86: '386', aarch64: 'arm64', arm: 'arm', ppc64le: 'ppc64le', ppc64: 'ppc64', s390x: 's390x',
  s390: 's390', riscv64: 'riscv64', loongarch64: 'loong64', mips: 'mips', mipsel: 'mipsle', mips64: 'mips64', mipsel64: 'mips64le',
};

type Locate = (node: unknown, key?: string | number) => SourceLocation;

function archName(scmp: unknown, loc: SourceLocation): AbiName {
  const name = String(scmp).replace(/^SCMP_ARCH_/, '').toLowerCase();
  if (typeof scmp !== 'string' || !isAbiName(name)) throw new PolicyError(`unknown architecture '${String(scmp)}'`, loc, 'expected SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...');
  return name;
}

const MAX_U64 = (1n << 64n) - 1n;

/**
 * An integer of the profile exactly, as Go reads it into runc's uint64 fields (any JSON integer
 * up to 2^64-1); negative values down to -2^63 are kept as two's complement (libseccomp's int64).
 */
function integer(v: unknown, what: string, loc: SourceLocation, min = -(1n << 63n), max = MAX_U64): bigint {
  const hint = typeof v === 'string' ? 'write the number itself: runc refuses a string here, and tsjail reads integers up to 2^64-1 exactly' : undefined;
  if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isInteger(v))) throw new PolicyError(`${what} ${JSON.stringify(v) ?? String(v)} is not an integer`, loc, hint);
  const b = BigInt(v);
  if (b < min || b > max) throw new PolicyError(`${what} ${b} is out of range ${min}..${max}`, loc);
  return b;
}

function action(name: unknown, errnoRet: unknown, loc: SourceLocation, retLoc: SourceLocation): Action {
  const data = (): number => (errnoRet === undefined || errnoRet === null ? 1 : Number(integer(errnoRet, 'errnoRet', retLoc, 0n, 0xffffn)));
  switch (name) {
    case 'SCMP_ACT_ALLOW': return { kind: 'allow' };
    case 'SCMP_ACT_LOG': return { kind: 'log' };
    case 'SCMP_ACT_KILL': case 'SCMP_ACT_KILL_THREAD': return { kind: 'kill_thread' };
    case 'SCMP_ACT_KILL_PROCESS': return { kind: 'kill_process' };
    case 'SCMP_ACT_TRAP': return { kind: 'trap' };
    case 'SCMP_ACT_NOTIFY': return { kind: 'user_notif' };
    case 'SCMP_ACT_ERRNO': return { kind: 'errno', errno: data() };
    case 'SCMP_ACT_TRACE': return { kind: 'trace', data: data() };
    default: throw new PolicyError(`unknown action '${String(name)}'`, loc, 'expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, ...');
  }
}

const sameAction = (a: Action, b: Action): boolean => JSON.stringify(a) === JSON.stringify(b);

function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string): number[] => v.split(/[.-]/).slice(0, 2).map((x) => Number.parseInt(x, 10) || 0);
  const [a1, a2] = parse(kernel);
  const [b1, b2] = parse(min);
  return a1! > b1! || (a1 === b1 && a2! >= b2!);
}

/** A list member of the profile: absent or null is empty, anything else but an array is an error. */
function list<T>(v: T[] | null | undefined, what: string, loc: SourceLocation): T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PolicyError(`'${what}' must be a list`, loc);
  return v;
}

export function importOci(json: unknown, options: OciImportOptions = {}): { policy: Policy; warnings: Warning[] } {
  const file = options.file ?? 'profile.json';
  const at: Locate = options.locate ?? (() => ({ file, line: 0 }));
  const spec = ((json as { linux?: { seccomp?: unknown } })?.linux?.seccomp ?? json) as OciSeccomp;
  const loc = at(spec);
  if (!spec || typeof spec !== 'object' || typeof spec.defaultAction !== 'string') {
    throw new PolicyError('not an OCI seccomp profile: no defaultAction', loc, 'expected {"defaultAction": "SCMP_ACT_...", "syscalls": [...]}');
  }
  const warnings: Warning[] = [];
  const host = options.hostArch ?? hostAbi().name;
  const caps = new Set(options.caps ?? DOCKER_DEFAULT_CAPS);
  const kernel = options.kernel ?? release();
  const defaultAction = action(spec.defaultAction, spec.defaultErrnoRet, at(spec, 'defaultAction'), at(spec, 'defaultErrnoRet'));

  let arches: AbiName[];
  const archMap = list(spec.archMap, 'archMap', at(spec, 'archMap'));
  const architectures = list(spec.architectures, 'architectures', at(spec, 'architectures'));
  if (archMap.length && architectures.length) {
    throw new PolicyError("both 'architectures' and 'archMap' are set", loc, 'Docker refuses this too: keep one');
  }
  if (archMap.length) {
    const entry = archMap.find((m) => archName(m.architecture, at(m, 'architecture')) === host);
    const subs = entry ? list(entry.subArchitectures, 'subArchitectures', at(entry, 'subArchitectures')) : [];
    arches = [host, ...subs.map((a, i) => archName(a, at(subs, i)))];
  } else arches = architectures.map((a, i) => archName(a, at(architectures, i)));

  const goArch = GO_ARCH[host] ?? host;
  const applies = (f: OciFilter | null | undefined, include: boolean): boolean => {
    if (!f) return true;
    const archHit = f.arches?.length ? f.arches.includes(goArch) || f.arches.includes(host) : undefined;
    const capHit = f.caps?.length ? f.caps.some((c) => caps.has(c)) : undefined;
    if (include) {
      if (archHit === false || capHit === false) return false;
      if (f.minKernel && !kernelAtLeast(kernel, f.minKernel)) return false;
      return true;
    }
    return !(archHit === true || capHit === true);
  };

  // Entries that survive includes/excludes and are not the default action, expanded to the
  // rules runc adds: if one arg index repeats, every condition becomes its own rule (ORed).
  interface Entry { names: string[]; action: Action; conditionSets: ArgCondition[][]; where: string; loc: SourceLocation }
  const entries: Entry[] = [];
  const known: string[] = []; // entries with the default action: no rule, but runc counts them for its ENOSYS stub
  const syscalls = list(spec.syscalls, 'syscalls', at(spec, 'syscalls'));
  syscalls.forEach((s, i) => {
    const where = `syscalls[${i}]`;
    const sLoc = at(syscalls, i);
    if (typeof s !== 'object' || s === null) throw new PolicyError(`${where} must be an object`, sLoc, 'expected {"names": [...], "action": "SCMP_ACT_..."}');
    const names = s.names !== undefined && s.names !== null ? list(s.names, 'names', at(s, 'names')) : s.name ? [s.name] : [];
    names.forEach((n, j) => {
      if (typeof n !== 'string' || !isKnownSyscallName(n)) throw new PolicyError(`${where}: unknown syscall '${String(n)}'${typeof n === 'string' ? didYouMean(n) : ''}`, at(names, j));
    });
    if (!applies(s.includes, true) || !applies(s.excludes, false)) return;
    const act = action(s.action, s.errnoRet, at(s, 'action'), at(s, 'errnoRet'));
    if (sameAction(act, defaultAction)) { known.push(...names); return; }
    const args = list(s.args, 'args', at(s, 'args'));
    const conds = args.map((a): ArgCondition => {
      const aLoc = at(a);
      const op = typeof a?.op === 'string' && Object.hasOwn(OPS, a.op) ? OPS[a.op] : undefined;
      if (!op) throw new PolicyError(`${where}: unknown operator '${String(a?.op)}'`, at(a, 'op'), `expected one of ${Object.keys(OPS).join(', ')}`);
      const index = Number(integer(a.index, `${where}: argument index`, at(a, 'index'), 0n, 5n));
      if (op !== 'masked_eq') return { arg: index, op, value: a.value === undefined ? 0n : integer(a.value, `${where}: value`, at(a, 'value')), width: 'libseccomp' };
      // libseccomp compares (arg & mask) with (value & mask): bits of the value outside the mask never count.
      const mask = a.value === undefined ? 0n : integer(a.value, `${where}: mask`, at(a, 'value'));
      const value = a.valueTwo === undefined ? 0n : integer(a.valueTwo, `${where}: valueTwo`, at(a, 'valueTwo'));
      if ((value & ~mask) !== 0n) warnings.push({ location: aLoc, message: `${where}: MASKED_EQ value 0x${value.toString(16)} has bits outside mask 0x${mask.toString(16)}; libseccomp ignores them` });
      return { arg: a.index, op, mask, value: value & mask, width: 'libseccomp' };
    });
    const repeated = new Set(conds.map((c) => c.arg)).size < conds.length;
    entries.push({ names, action: act, conditionSets: repeated ? conds.map((c) => [c]) : [conds], where, loc: sLoc });
  });

  // libseccomp: once a syscall has an unconditional rule, the first such rule decides it alone.
  const firstUnconditional = new Map<string, number>();
  entries.forEach((e, i) => {
    if (e.conditionSets.some((c) => c.length === 0)) for (const n of e.names) if (!firstUnconditional.has(n)) firstUnconditional.set(n, i);
  });
  const rules: Rule[] = [];
  entries.forEach((e, i) => {
    const kept = e.names.filter((n) => {
      const owner = firstUnconditional.get(n);
      if (owner === undefined || owner === i) return true;
      warnings.push({ location: e.loc, message: `${e.where}: rule for '${n}' is shadowed by the unconditional rule at ${entries[owner]!.where} (libseccomp ignores it)` });
      return false;
    });
    if (!kept.length) return;
    for (const conditions of e.conditionSets) rules.push({ syscalls: kept, action: e.action, conditions, source: e.loc, label: e.where });
    // libseccomp also routes each socket/IPC call through socketcall/ipc where those exist: it
    // replaces the condition on argument 0 with the call number and keeps the others, which
    // then test socketcall's own registers (abi_rule_add in libseccomp's arch.c).
    for (const n of kept) {
      const via = multiplexedAs(n);
      if (!via || firstUnconditional.has(via[0])) continue;
      if (!(arches.length ? arches : [host]).some((a) => syscallNumber(ABIS[a], via[0]) !== undefined)) continue;
      if (e.conditionSets.some((c) => c.length)) {
        warnings.push({ location: e.loc, message: `${e.where}: on ABIs with ${via[0]}(2), ${n} is also reachable as ${via[0]}(${via[1]}, ...), where libseccomp applies its argument conditions to ${via[0]}'s own arguments` });
      }
      const callNumber: ArgCondition = { arg: 0, op: 'eq', value: BigInt(via[1]), width: 'libseccomp' };
      for (const conditions of e.conditionSets) {
        rules.push({ syscalls: [via[0]], action: e.action, conditions: [callNumber, ...conditions.filter((c) => c.arg !== 0)], source: e.loc, label: `${e.where} (${n} via ${via[0]})` });
      }
    }
  });
  return {
    policy: {
      defaultAction, arches, badArchAction: { kind: 'kill_thread' }, rules, origin: file,
      // runc answers numbers above the highest syscall of the profile with ENOSYS (patchbpf), on the ABIs it lists.
      ...(arches.length ? { newerSyscalls: 'enosys' as const } : {}),
      ...(known.length ? { knownSyscalls: [...new Set(known)] } : {}),
    },
    warnings,
  };
}
