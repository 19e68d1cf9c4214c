// The syscall ABIs a filter can target: one entry per (AUDIT_ARCH, number space) pair the
// kernel distinguishes. Values mirror include/uapi/linux/audit.h and elf-em.h.

import { endianness } from 'node:os';

const AUDIT_ARCH_64BIT = 0x80000000;
const AUDIT_ARCH_LE = 0x40000000;
const AUDIT_ARCH_CONVENTION_MIPS64_N32 = 0x20000000;

const EM = {
  I386: 3, M68K: 4, MIPS: 8, PARISC: 15, PPC: 20, PPC64: 21, S390: 22, ARM: 40, SH: 42,
  X86_64: 62, AARCH64: 183, RISCV: 243, LOONGARCH: 258,
} as const;

export type Endian = 'little' | 'big';

export interface Abi {
  /** libseccomp's name for the ABI (the CSV column or its little-endian twin). */
  readonly name: AbiName;
  /** `seccomp_data.arch` for a syscall made through this ABI. */
  readonly auditArch: number;
  /** Register width: 32-bit ABIs only ever carry the low word of an argument. */
  readonly bits: 32 | 64;
  readonly endian: Endian;
  /** Added by the kernel to the table number (x32 bit, MIPS ABI bases). */
  readonly nrBase: number;
  /** Column of ../shared/upstream/libseccomp/syscalls.csv holding this ABI's numbers. */
  readonly csvColumn: string;
  /** Arch family key in syscall-args.json's `arch` and `variant_selection`. */
  readonly argsFamily: string | null;
  readonly variantKey: string | null;
  /** Argument bits libseccomp compares: it treats x32 and MIPS n32 as 32-bit (ARCH_SIZE_32). */
  readonly libseccompBits: 32 | 64;
}

export const ABI_NAMES = [
  'x86_64', 'x86', 'x32', 'arm', 'aarch64', 'loongarch64', 'm68k',
  'mips', 'mipsel', 'mips64', 'mipsel64', 'mips64n32', 'mipsel64n32',
  'parisc', 'parisc64', 'ppc', 'ppc64', 'ppc64le', 'riscv64', 's390', 's390x', 'sh', 'sheb',
] as const;
export type AbiName = (typeof ABI_NAMES)[number];

function abi(
  name: AbiName, em: number, bits: 32 | 64, endian: Endian,
  opts: { nrBase?: number; csv?: string; family?: string | null; variant?: string | null; extra?: number } = {},
): Abi {
  const auditArch = (em | (bits === 64 ? AUDIT_ARCH_64BIT : 0) | (endian === 'little' ? AUDIT_ARCH_LE : 0) | (opts.extra ?? 0)) >>> 0;
  return {
    name, auditArch, bits, endian, nrBase: opts.nrBase ?? 0, csvColumn: opts.csv ?? name,
    argsFamily: opts.family ?? null, variantKey: opts.variant ?? null,
    libseccompBits: name === 'x32' || name.endsWith('n32') ? 32 : bits,
  };
}

export const X32_SYSCALL_BIT = 0x40000000;

export const ABIS: Readonly<Record<AbiName, Abi>> = {
  x86_64: abi('x86_64', EM.X86_64, 64, 'little', { family: 'x86', variant: 'x86_64' }),
  x86: abi('x86', EM.I386, 32, 'little', { family: 'x86', variant: 'i386' }),
  x32: abi('x32', EM.X86_64, 64, 'little', { nrBase: X32_SYSCALL_BIT, family: 'x86', variant: 'x32' }),
  arm: abi('arm', EM.ARM, 32, 'little', { family: 'arm', variant: 'arm' }),
  aarch64: abi('aarch64', EM.AARCH64, 64, 'little', { family: 'arm64', variant: 'arm64' }),
  loongarch64: abi('loongarch64', EM.LOONGARCH, 64, 'little', { family: 'loongarch', variant: 'loongarch64' }),
  m68k: abi('m68k', EM.M68K, 32, 'big'),
  mips: abi('mips', EM.MIPS, 32, 'big', { nrBase: 4000, family: 'mips', variant: 'mips64' }),
  mipsel: abi('mipsel', EM.MIPS, 32, 'little', { nrBase: 4000, csv: 'mips', family: 'mips', variant: 'mips64' }),
  mips64: abi('mips64', EM.MIPS, 64, 'big', { nrBase: 5000, family: 'mips', variant: 'mips64' }),
  mipsel64: abi('mipsel64', EM.MIPS, 64, 'little', { nrBase: 5000, csv: 'mips64', family: 'mips', variant: 'mips64' }),
  mips64n32: abi('mips64n32', EM.MIPS, 64, 'big', { nrBase: 6000, family: 'mips', variant: 'mips64', extra: AUDIT_ARCH_CONVENTION_MIPS64_N32 }),
  mipsel64n32: abi('mipsel64n32', EM.MIPS, 64, 'little', { nrBase: 6000, csv: 'mips64n32', family: 'mips', variant: 'mips64', extra: AUDIT_ARCH_CONVENTION_MIPS64_N32 }),
  parisc: abi('parisc', EM.PARISC, 32, 'big'),
  parisc64: abi('parisc64', EM.PARISC, 64, 'big'),
  ppc: abi('ppc', EM.PPC, 32, 'big', { family: 'powerpc', variant: 'ppc' }),
  ppc64: abi('ppc64', EM.PPC64, 64, 'big', { family: 'powerpc', variant: 'ppc64' }),
  ppc64le: abi('ppc64le', EM.PPC64, 64, 'little', { csv: 'ppc64', family: 'powerpc', variant: 'ppc64' }),
  riscv64: abi('riscv64', EM.RISCV, 64, 'little', { family: 'riscv', variant: 'riscv64' }),
  s390: abi('s390', EM.S390, 32, 'big', { family: 's390', variant: 's390x' }),
  s390x: abi('s390x', EM.S390, 64, 'big', { family: 's390', variant: 's390x' }),
  sh: abi('sh', EM.SH, 32, 'little'),
  sheb: abi('sheb', EM.SH, 32, 'big', { csv: 'sh' }),
};

/**
 * The other ABIs a machine of each native ABI runs (the kernel's compat entry points), as
 * Docker's archMap lists them; a machine of any ABI not named runs only its own.
 */
const COMPAT_ABIS: Readonly<Partial<Record<AbiName, readonly AbiName[]>>> = {
  x86_64: ['x86', 'x32'], aarch64: ['arm'], s390x: ['s390'], ppc64: ['ppc'], parisc64: ['parisc'],
  mips64: ['mips', 'mips64n32'], mips64n32: ['mips', 'mips64'], mipsel64: ['mipsel', 'mipsel64n32'], mipsel64n32: ['mipsel', 'mipsel64'],
};

/** What a machine of ABI `native` runs: its own ABI first, then its compat ABIs. */
export function machineAbis(native: AbiName): AbiName[] {
  return [native, ...(COMPAT_ABIS[native] ?? [])];
}

/** Names people use for the same ABI (uname -m, Docker/OCI, Go). */
const ALIASES: Readonly<Record<string, AbiName>> = {
  amd64: 'x86_64', x86_64: 'x86_64', i386: 'x86', i686: 'x86', ia32: 'x86', x86: 'x86',
  arm64: 'aarch64', aarch64: 'aarch64', armv7l: 'arm', armhf: 'arm', riscv64: 'riscv64',
  loong64: 'loongarch64', ppc64le: 'ppc64le', powerpc64le: 'ppc64le', s390x: 's390x',
};

export function isAbiName(name: string): name is AbiName {
  return (ABI_NAMES as readonly string[]).includes(name);
}

/** Resolves an ABI name or alias; undefined when unknown. */
export function lookupAbi(name: string): Abi | undefined {
  const key = name.toLowerCase();
  if (isAbiName(key)) return ABIS[key];
  const alias = ALIASES[key];
  return alias ? ABIS[alias] : undefined;
}

/** The ABI of the running Node process. */
export function hostAbi(): Abi {
  const byNodeArch: Record<string, AbiName> = {
    x64: 'x86_64', ia32: 'x86', arm: 'arm', arm64: 'aarch64', loong64: 'loongarch64',
    mips: 'mips', mipsel: 'mipsel', ppc: 'ppc', riscv64: 'riscv64', s390: 's390', s390x: 's390x',
    ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64',
  };
  const name = byNodeArch[process.arch];
  if (!name) throw new Error(`unsupported host architecture '${process.arch}'`);
  return ABIS[name];
}
