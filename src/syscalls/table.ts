// Lookups over the generated syscall tables: name ↔ number per ABI and argument signatures.
import type { Abi } from '../arch/abi';
import { SIGNATURES, SYSCALL_NAMES, TABLES, type SyscallName } from './table.generated';
import { suggest } from './suggest';

export { SYSCALL_NAMES, type SyscallName };

export interface SyscallArg {
  readonly index: number;
  readonly name: string;
  readonly ctype: string;
  /** Bits the kernel keeps after converting the register to the C type, on this ABI. */
  readonly bits: 64 | 32 | 16;
  /** The C type's width on LP64; more than `bits` where a 32-bit ABI's register cuts it. */
  readonly typeBits: 64 | 32 | 16;
  readonly signed: boolean;
}

export interface SyscallEntry {
  readonly name: string;
  /** The number as the kernel reports it in seccomp_data.nr (ABI base included). */
  readonly nr: number;
}

const numberIndex = new Map<string, Map<number, string>>();

function table(abi: Abi): Readonly<Record<string, readonly [number, number]>> {
  const t = TABLES[abi.name];
  if (!t) throw new Error(`no syscall table for ABI '${abi.name}'`);
  return t;
}

const KNOWN = new Set<string>(SYSCALL_NAMES);

export function isKnownSyscallName(name: string): name is SyscallName {
  return KNOWN.has(name);
}

const nameIndex = new Map<string, Map<string, number>>();

/** The kernel's number for a syscall on an ABI, or undefined when the ABI lacks it. */
export function syscallNumber(abi: Abi, name: string): number | undefined {
  let byName = nameIndex.get(abi.name);
  if (!byName) {
    byName = new Map(Object.entries(table(abi)).map(([n, [nr]]) => [n, (abi.nrBase + nr) >>> 0]));
    nameIndex.set(abi.name, byName);
  }
  return byName.get(name);
}

/** The syscall name for a kernel number on an ABI, or undefined. */
export function syscallName(abi: Abi, nr: number): string | undefined {
  let byNr = numberIndex.get(abi.name);
  if (!byNr) {
    byNr = new Map();
    for (const [name, [n]] of Object.entries(table(abi))) {
      const full = (abi.nrBase + n) >>> 0;
      if (!byNr.has(full)) byNr.set(full, name);
    }
    numberIndex.set(abi.name, byNr);
  }
  return byNr.get(nr >>> 0);
}

/** Every syscall of an ABI, ordered by number. */
export function syscallsOf(abi: Abi): SyscallEntry[] {
  return Object.entries(table(abi))
    .map(([name, [n]]) => ({ name, nr: (abi.nrBase + n) >>> 0 }))
    .sort((a, b) => a.nr - b.nr || a.name.localeCompare(b.name));
}

/** The C arguments of a syscall on an ABI; null when the kernel gives no prototype. */
export function syscallArgs(abi: Abi, name: string): SyscallArg[] | null {
  const row = Object.prototype.hasOwnProperty.call(table(abi), name) ? table(abi)[name] : undefined;
  if (!row || row[1] < 0) return null;
  return SIGNATURES[row[1]]!.map(([argName, ctype, bits, signed], index) => ({
    index, name: argName, ctype, signed: signed === 1,
    bits: Math.min(bits, abi.bits) as 64 | 32 | 16,
    typeBits: bits as 64 | 32 | 16,
  }));
}

/** "did you mean" for syscall names (or any other candidates). */
export function didYouMean(name: string, candidates: readonly string[] = SYSCALL_NAMES): string {
  return suggest(name, candidates);
}
