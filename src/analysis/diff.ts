// `tsjail diff A B`: every syscall and argument range on which two policies decide differently,
// computed exactly on their compiled programs (src/bpf/diff.ts).
import type { Abi, Endian } from '../arch/abi';
import { compileProgram } from '../bpf/compile';
import { diffPrograms, satisfiable, type Difference, type WordConstraint } from '../bpf/diff';
import { describeDataOffset, describeRet, SECCOMP_DATA_ARCH, SECCOMP_DATA_IP, SECCOMP_DATA_NR, type SeccompData } from '../kernel/seccomp';
import { syscallsOf } from '../syscalls/table';
import { PolicyError } from '../policy/errors';
import type { Instruction } from '../kernel/instruction';
import type { Policy } from '../policy/model';
import { targetAbis } from '../policy/resolve';

export interface PolicyDifference {
  readonly abi: string;
  /** The syscalls in the region (by name), or a number range where none has a name. */
  readonly syscalls: readonly string[];
  /** The argument constraints of the region, readable. */
  readonly args: readonly string[];
  readonly a: string;
  readonly b: string;
  /** One concrete call in the region. */
  readonly example: SeccompData;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** A word's constraints, readable: `== 0x2`, `>= 0x10`, `& 0x1 != 0x0`. */
export function describeWord(c: WordConstraint): string[] {
  const exact = c.lo === c.hi ? c.lo : c.masked.find(([m]) => m === 0xffffffff)?.[1];
  if (exact !== undefined) return [`== ${hex(exact)}`];
  const parts: string[] = [];
  if (c.lo > 0) parts.push(`>= ${hex(c.lo)}`);
  if (c.hi < 0xffffffff) parts.push(`<= ${hex(c.hi)}`);
  for (const [m, v] of c.masked) parts.push(`& ${hex(m)} == ${hex(v)}`);
  for (const [m, v] of c.notMasked) parts.push(m === 0xffffffff ? `!= ${hex(v)}` : `& ${hex(m)} != ${hex(v)}`);
  for (const [m, lo, hi] of c.maskedRanges ?? []) parts.push(lo > 0 ? `& ${hex(m)} >= ${hex(lo)}` : `& ${hex(m)} <= ${hex(hi)}`);
  return [...new Set(parts)];
}

/** A concrete seccomp_data inside a region: each word's first satisfying value. */
export function example(d: Difference, endian: Endian): SeccompData {
  const buf = new Uint8Array(64);
  const view = new DataView(buf.buffer);
  for (const [offset, c] of d.constraints) view.setUint32(offset, satisfiable(c)!, endian === 'little');
  return {
    nr: view.getUint32(SECCOMP_DATA_NR, endian === 'little'),
    arch: view.getUint32(SECCOMP_DATA_ARCH, endian === 'little'),
    args: Array.from({ length: 6 }, (_, i) => view.getBigUint64(16 + 8 * i, endian === 'little')),
    // Only a program that reads the instruction pointer constrains it.
    ...(d.constraints.has(SECCOMP_DATA_IP) || d.constraints.has(SECCOMP_DATA_IP + 4) ? { instructionPointer: view.getBigUint64(SECCOMP_DATA_IP, endian === 'little') } : {}),
  };
}

/** The syscalls of `abis` on `arch` whose numbers lie in the region, or the number range. */
export function syscallsIn(abis: readonly Abi[], arch: number, c: WordConstraint | undefined): string[] {
  const lo = c?.lo ?? 0;
  const hi = c?.hi ?? 0xffffffff;
  const names = abis.filter((a) => a.auditArch === arch).flatMap((abi) => syscallsOf(abi)
    .filter((e) => e.nr >= lo && e.nr <= hi && (c === undefined || satisfiable({ ...c, lo: e.nr, hi: e.nr }) !== undefined))
    .map((e) => e.name));
  if (names.length) return [...new Set(names)];
  return [lo === hi ? `nr ${hex(lo)}` : `nr ${hex(lo)}..${hex(hi)}`];
}

export function diffPolicies(a: Policy, b: Policy, arch?: readonly string[]): PolicyDifference[] {
  const abisA = targetAbis(a, arch);
  const abisB = targetAbis(b, arch);
  const same = abisA.length === abisB.length && abisA.every((x, i) => x === abisB[i]);
  if (!same) throw new PolicyError(`the policies target different ABIs (${abisA.map((x) => x.name).join('+')} vs ${abisB.map((x) => x.name).join('+')})`, undefined, 'give --arch to compare them on the same ones');
  const names = abisA.map((x) => x.name);
  return diffFilters(compileProgram(a, { arch: names }), compileProgram(b, { arch: names }), abisA);
}

/** A program to compare: compiled from a policy, or a raw filter as it came. */
export interface FilterProgram { readonly instructions: readonly Instruction[]; readonly endian: Endian }

/** The differences of two programs for the ABIs they serve, in the words of `tsjail diff`. */
export function diffFilters(pa: FilterProgram, pb: FilterProgram, abisA: readonly Abi[]): PolicyDifference[] {
  if (pa.endian !== pb.endian) throw new PolicyError(`a ${pa.endian}-endian program cannot be compared with a ${pb.endian}-endian one`, undefined, 'give --arch for the ABI both are for');
  return diffPrograms(pa.instructions, pb.instructions).map((d) => {
    const archWord = d.constraints.get(SECCOMP_DATA_ARCH);
    const ex = example(d, pa.endian);
    const abi = abisA.find((x) => x.auditArch === ex.arch);
    const args = [...d.constraints].filter(([off]) => off >= 16).sort((x, y) => x[0] - y[0])
      .flatMap(([off, c]) => describeWord(c).map((t) => `${describeDataOffset(off, pa.endian)} ${t}`));
    return {
      abi: abi?.name ?? (archWord ? `arch ${describeWord(archWord).join(' ')}` : 'any arch'),
      syscalls: abi ? syscallsIn(abisA, ex.arch, d.constraints.get(SECCOMP_DATA_NR)) : [],
      args, a: describeRet(d.a), b: describeRet(d.b), example: ex,
    };
  });
}

export function formatDifferences(diffs: readonly PolicyDifference[]): string {
  if (!diffs.length) return 'no differences\n';
  return diffs.map((d) => {
    const calls = d.syscalls.length > 6 ? `${d.syscalls.slice(0, 6).join(', ')} and ${d.syscalls.length - 6} more` : d.syscalls.join(', ');
    return `${d.abi}: ${calls || '(any call)'}${d.args.length ? ` where ${d.args.join(', ')}` : ''}: ${d.a} vs ${d.b}`;
  }).join('\n') + '\n';
}

/** Per side, the syscalls it allows where the other does not: for any arguments, or only for some. */
export interface AllowedBeyond {
  readonly whole: readonly string[];
  readonly some: readonly string[];
}

/** What B allows beyond A and A beyond B, per syscall (what a new learned profile needs that the old did not). */
export function allowedBeyond(diffs: readonly PolicyDifference[]): { readonly b: AllowedBeyond; readonly a: AllowedBeyond } {
  const abis = new Set(diffs.map((d) => d.abi));
  const side = (allows: (d: PolicyDifference) => boolean): AllowedBeyond => {
    const whole = new Set<string>();
    const some = new Set<string>();
    for (const d of diffs.filter(allows)) {
      for (const s of d.syscalls) (d.args.length ? some : whole).add(abis.size > 1 ? `${d.abi}:${s}` : s);
    }
    return { whole: [...whole].sort(), some: [...some].filter((s) => !whole.has(s)).sort() };
  };
  return { b: side((d) => d.b === 'ALLOW' && d.a !== 'ALLOW'), a: side((d) => d.a === 'ALLOW' && d.b !== 'ALLOW') };
}

export function formatAllowedBeyond(diffs: readonly PolicyDifference[], nameA: string, nameB: string): string {
  const { a, b } = allowedBeyond(diffs);
  const line = (what: AllowedBeyond): string => {
    const parts = [
      ...(what.whole.length ? [`${what.whole.length} syscall${what.whole.length > 1 ? 's' : ''}: ${what.whole.join(', ')}`] : []),
      ...(what.some.length ? [`for some arguments: ${what.some.join(', ')}`] : []),
    ];
    return parts.length ? parts.join('; ') : 'nothing';
  };
  return `${nameB} allows beyond ${nameA}: ${line(b)}\n${nameA} allows beyond ${nameB}: ${line(a)}\n`;
}
