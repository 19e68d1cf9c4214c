// Generates src/syscalls/table.generated.ts from ../shared/upstream: the kernel v7.1 tables
// (libseccomp's CSV for ABIs the kernel no longer ships a table for) and the argument
// prototypes of syscall-args.json. Run with `npm run gen`; test/syscalls-gen.test.ts fails
// when the committed file differs from what this produces.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ABIS, ABI_NAMES, type AbiName } from '../src/arch/abi';
import { REPO_ROOT, upstreamPath } from './upstream';

export const GENERATED_PATH = join(REPO_ROOT, 'src/syscalls/table.generated.ts');

interface TableRow { nr: number; name: string; entry: string | null }
interface CArg { type: string; name: string }
interface ArgsJson {
  syscalls: Record<string, CArg[]>;
  variants: Record<string, { condition: string; args: CArg[] }[]>;
  variant_selection: Record<string, Record<string, string>>;
  arch: Record<string, Record<string, { kind: string; args: CArg[] }[]>>;
  types_lp64: Record<string, { bits: number; signed?: boolean | null; pointer: boolean }>;
}

function readTbl(relPath: string, abiTags: readonly string[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const line of readFileSync(upstreamPath('linux', relPath), 'utf8').split('\n')) {
    const f = line.replace(/#.*/, '').trim().split(/\s+/);
    if (f.length < 3 || !abiTags.includes(f[1]!)) continue;
    rows.push({ nr: Number(f[0]), name: f[2]!, entry: f[3] ?? null });
  }
  return rows;
}

/** ABI tags an arch adds to scripts/syscall.tbl (arch/NAME/kernel/Makefile.syscalls). */
function genericTags(archDir: string): string[] {
  const text = readFileSync(upstreamPath('linux', 'arch', archDir, 'kernel', 'Makefile.syscalls'), 'utf8');
  const extra = /syscall_abis_64\s*\+=(.*)/.exec(text)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
  return ['common', '64', ...extra];
}

type Source = { kind: 'tbl'; path: string; tags: readonly string[] } | { kind: 'csv' };

function sourceOf(abi: AbiName): Source {
  const x86 = 'arch/x86/entry/syscalls/';
  const mips = 'arch/mips/kernel/syscalls/';
  const ppc = 'arch/powerpc/kernel/syscalls/syscall.tbl';
  switch (abi) {
    case 'x86_64': return { kind: 'tbl', path: x86 + 'syscall_64.tbl', tags: ['common', '64'] };
    case 'x32': return { kind: 'tbl', path: x86 + 'syscall_64.tbl', tags: ['common', 'x32'] };
    case 'x86': return { kind: 'tbl', path: x86 + 'syscall_32.tbl', tags: ['i386'] };
    case 'arm': return { kind: 'tbl', path: 'arch/arm/tools/syscall.tbl', tags: ['common', 'eabi'] };
    case 'aarch64': return { kind: 'tbl', path: 'scripts/syscall.tbl', tags: genericTags('arm64') };
    case 'riscv64': return { kind: 'tbl', path: 'scripts/syscall.tbl', tags: genericTags('riscv') };
    case 'loongarch64': return { kind: 'tbl', path: 'scripts/syscall.tbl', tags: genericTags('loongarch') };
    case 'mips': case 'mipsel': return { kind: 'tbl', path: mips + 'syscall_o32.tbl', tags: ['o32', 'common'] };
    case 'mips64': case 'mipsel64': return { kind: 'tbl', path: mips + 'syscall_n64.tbl', tags: ['n64', 'common'] };
    case 'mips64n32': case 'mipsel64n32': return { kind: 'tbl', path: mips + 'syscall_n32.tbl', tags: ['n32', 'common'] };
    case 'ppc': return { kind: 'tbl', path: ppc, tags: ['common', '32', 'nospu'] };
    case 'ppc64': case 'ppc64le': return { kind: 'tbl', path: ppc, tags: ['common', '64', 'nospu'] };
    case 's390x': return { kind: 'tbl', path: 'arch/s390/kernel/syscalls/syscall.tbl', tags: ['common', '64'] };
    default: return { kind: 'csv' };
  }
}

/** libseccomp's CSV: column name → syscall name → number. */
export function readLibseccompCsv(): Map<string, Map<string, number>> {
  const lines = readFileSync(upstreamPath('libseccomp', 'syscalls.csv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const out = new Map<string, Map<string, number>>();
  for (let c = 1; c < header.length; c += 2) out.set(header[c]!, new Map());
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    for (let c = 1; c < header.length; c += 2) {
      if (f[c] !== 'PNR') out.get(header[c]!)!.set(f[0]!, Number(f[c]));
    }
  }
  return out;
}

function rowsFor(abi: AbiName, csv: Map<string, Map<string, number>>): TableRow[] {
  const src = sourceOf(abi);
  const column = csv.get(ABIS[abi].csvColumn)!;
  if (src.kind === 'csv') return [...column].map(([name, nr]) => ({ nr, name, entry: null }));
  const rows = readTbl(src.path, src.tags);
  // ARM's private calls (__ARM_NR_BASE + n) are not in syscall.tbl; libseccomp lists them.
  if (abi === 'arm') {
    for (const [name, nr] of column) if (nr >= 0x0f0000) rows.push({ nr, name, entry: null });
  }
  return rows;
}

function entryKey(entry: string): string {
  return entry.replace(/^__/, '').replace(/^(compat_sys_|sys32_|sys_)/, '');
}

function positiveDefine(condition: string, option: string): boolean {
  return new RegExp(`(^|[^!])defined\\(${option}\\)`).test(condition);
}

function argsFor(abi: AbiName, row: TableRow, json: ArgsJson): CArg[] | null {
  const { argsFamily, variantKey } = ABIS[abi];
  const keys = [row.entry ? entryKey(row.entry) : null, row.name].filter((k): k is string => k !== null);
  for (const key of keys) {
    const selection = variantKey ? json.variant_selection[key]?.[variantKey] : undefined;
    if (selection && selection !== 'primary') {
      const variant = json.variants[key]?.find((v) => positiveDefine(v.condition, selection));
      if (variant) return variant.args;
    }
    const archDef = argsFamily ? json.arch[argsFamily]?.[key]?.find((d) => d.kind === 'definition') : undefined;
    if (archDef && argsFamily !== 'x86') return archDef.args;
    if (json.syscalls[key]) return json.syscalls[key]!;
  }
  return null;
}

/** Produces the source text of table.generated.ts. */
export function generateTableSource(): string {
  const csv = readLibseccompCsv();
  const json = JSON.parse(readFileSync(upstreamPath('linux', 'syscall-args.json'), 'utf8')) as ArgsJson;
  const signatures: string[] = [];
  const signatureIndex = new Map<string, number>();
  const intern = (args: CArg[]): number => {
    const sig = JSON.stringify(args.map((a) => {
      const t = json.types_lp64[a.type];
      const signed = t && !t.pointer && t.signed ? 1 : 0;
      return [a.name, a.type, t?.bits ?? 64, signed];
    }));
    let i = signatureIndex.get(sig);
    if (i === undefined) { i = signatures.length; signatures.push(sig); signatureIndex.set(sig, i); }
    return i;
  };
  const allNames = new Set<string>();
  const argNames = new Map<string, Set<string>>();
  const tables: string[] = [];
  for (const abi of ABI_NAMES) {
    const rows = rowsFor(abi, csv).sort((a, b) => a.nr - b.nr || a.name.localeCompare(b.name));
    const seen = new Set<string>();
    const entries: string[] = [];
    for (const row of rows) {
      // MIPS tables keep numbered placeholders (unused18, reserved82): not syscalls.
      if (seen.has(row.name) || /^(unused|reserved)\d+$/.test(row.name)) continue;
      seen.add(row.name);
      allNames.add(row.name);
      const args = argsFor(abi, row, json);
      const set = argNames.get(row.name) ?? new Set<string>();
      for (const a of args ?? []) set.add(a.name);
      argNames.set(row.name, set);
      entries.push(`${JSON.stringify(row.name)}:[${row.nr},${args ? intern(args) : -1}]`);
    }
    tables.push(`  ${abi}: {${entries.join(',')}},`);
  }
  const names = [...allNames].sort();
  return [
    '// GENERATED by scripts/gen-syscalls.ts from ../shared/upstream (Linux v7.1 tables,',
    '// libseccomp syscalls.csv, syscall-args.json). Do not edit; run `npm run gen`.',
    '/* eslint-disable */',
    '',
    '/** Every syscall name known on at least one ABI. */',
    `export const SYSCALL_NAMES = ${JSON.stringify(names)} as const;`,
    'export type SyscallName = (typeof SYSCALL_NAMES)[number];',
    '',
    '/** The kernel\'s argument names of each syscall, over all ABIs (typed condition keys). */',
    'export interface SyscallArgNames {',
    ...names.map((n) => `  ${JSON.stringify(n)}: ${[...argNames.get(n)!].sort().map((a) => JSON.stringify(a)).join(' | ') || 'never'};`),
    '}',
    '',
    '/** Argument signatures: [name, C type, LP64 width in bits, signed (1) or not (0)]. */',
    'export const SIGNATURES: readonly (readonly (readonly [string, string, number, number])[])[] = [',
    ...signatures.map((s) => `  ${s},`),
    '];',
    '',
    '/** ABI → syscall name → [table number (without ABI base), signature index or -1 when unknown]. */',
    'export const TABLES: Readonly<Record<string, Readonly<Record<string, readonly [number, number]>>>> = {',
    ...tables,
    '};',
    '',
  ].join('\n');
}

if (require.main === module) {
  writeFileSync(GENERATED_PATH, generateTableSource());
  console.log(`wrote ${GENERATED_PATH}`);
}
