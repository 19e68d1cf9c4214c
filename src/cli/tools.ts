// The compiler's subcommands: compile, disasm, explain, syscalls.
import arg from 'arg';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ABI_NAMES, hostAbi, lookupAbi, machineAbis, type Abi } from '../arch/abi';
import { cacheReport } from '../bpf/cache';
import { meanPerCall, programStats, worstPath } from '../analysis/stats';
import { compileProgram, type CompiledFilter } from '../bpf/compile';
import { disassemble, formatDisassembly } from '../bpf/disasm';
import { verifyProgram } from '../bpf/verify';
import { isRawFilterPath, readRawFilter } from '../formats/rawFilter';
import { targetAbis } from '../policy/resolve';
import { PolicyError, formatWarning } from '../policy/errors';
import { UsageError, usageErrorOf } from './usage';
import { explainCall, explainProgramCall } from '../analysis/explain';
import type { FilterProgram } from '../analysis/diff';
import { loadPolicyFile, type LoadedPolicy } from '../formats/load';
import type { OciImportOptions } from '../formats/oci';
import { didYouMean, syscallArgs, syscallName, syscallNumber, syscallsOf } from '../syscalls/table';
import { formatC } from './formatC';
import type { JailOptions } from '../policy/jailSettings';
import type { SyscallWeights } from '../policy/model';
import { parseWeights, weightsByNumber } from '../policy/weights';

const OCI_FLAGS = { '--caps': String, '--kernel': String, '--procd': Boolean } as const;

/** `--arch`, given once (a string) or repeated. */
const archList = (given: string | readonly string[] | undefined): string[] => (given === undefined ? [] : typeof given === 'string' ? [given] : [...given]);

/** One --arch names the machine an OCI profile's includes.arches and archMap are read for (as Docker reads them there). */
function ociOptions(a: { '--caps'?: string; '--kernel'?: string; '--procd'?: boolean; '--arch'?: string | string[] }): OciImportOptions {
  const arch = archList(a['--arch']);
  return {
    ...(arch.length === 1 ? { hostArch: abiOf(arch[0]).name } : {}),
    ...(a['--procd'] ? { procd: true } : {}),
    ...(a['--caps'] !== undefined ? { caps: a['--caps'].split(',').map((c) => c.trim()).filter(Boolean).map((c) => (c.startsWith('CAP_') ? c : `CAP_${c}`).toUpperCase()) } : {}),
    ...(a['--kernel'] ? { kernel: a['--kernel'] } : {}),
  };
}

function abiOf(name: string | undefined): Abi {
  if (name === undefined) return hostAbi();
  const abi = lookupAbi(name);
  if (!abi) throw new UsageError(`unknown architecture '${name}'${didYouMean(name, ABI_NAMES)}`);
  return abi;
}

function parseArgs<T extends arg.Spec>(spec: T, argv: string[]): arg.Result<T> {
  try {
    return arg(spec, { argv });
  } catch (e) {
    throw usageErrorOf(e, spec);
  }
}

/** Each tool's flags, as arg reads them (explain --fs: explainFs.ts). */
export const TOOL_FLAGS = {
  compile: { '--policy': String, '--arch': [String], '--format': String, '--output': String, '--stats': Boolean, '--name': String, '--weights': String, '--verify': Boolean, '--systemd-version': String, '-o': '--output', '-p': '--policy', ...OCI_FLAGS },
  disasm: { '--arch': String },
  explain: { '--policy': String, '--arch': String, '-p': '--policy', ...OCI_FLAGS },
  lint: { '--policy': String, '-p': '--policy', '--arch': [String], '--json': Boolean, ...OCI_FLAGS },
  diff: { '--arch': [String], '--json': Boolean, ...OCI_FLAGS },
  syscalls: { '--arch': String },
  verify: { '--policy': String, '-p': '--policy', '--arch': [String], '--json': Boolean, ...OCI_FLAGS },
} as const satisfies Record<string, arg.Spec>;

/** -o OUT, or stdout for none or -. */
function writeOutput(out: string | undefined, data: string | Uint8Array): void {
  if (!out || out === '-') { process.stdout.write(data); return; }
  try { writeFileSync(out, data); } catch (e) { throw new PolicyError(`cannot write -o ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, undefined, 'choose another -o, or -o - for stdout'); }
}

function compileCommand(argv: string[]): number | void {
  const a = parseArgs(TOOL_FLAGS.compile, argv);
  if (!a['--policy']) throw new UsageError('compile needs --policy FILE');
  const format = a['--format'] ?? 'raw';
  if (!['raw', 'c', 'disasm', 'json', 'oci', 'k8s', 'systemd'].includes(format)) throw new UsageError(`unknown format '${format}': use raw, c, disasm, json, oci, k8s or systemd`);
  if (a['--weights'] !== undefined && ['oci', 'k8s', 'systemd'].includes(format)) throw new UsageError(`--weights shapes tsjail's own program: --format ${format} writes rules that the runtime compiles (use raw, c, disasm or json)`);
  if (a['--verify'] && ['oci', 'k8s', 'systemd'].includes(format)) throw new UsageError(`--verify proves a compiled program: --format ${format} writes a profile, not a program`);
  const loaded = loadPolicyArg(a['--policy'], ociOptions(a));
  if (format === 'systemd') {
    const { exportSystemd } = require('../formats/systemdExport') as typeof import('../formats/systemdExport');
    const given = a['--systemd-version'];
    const version = given === undefined ? undefined : Number(given.replace(/^v/, ''));
    if (version !== undefined && !(Number.isInteger(version) && version > 0)) throw new UsageError(`--systemd-version ${given}: expected a release number such as 245 or v245`);
    const text = exportSystemd(loaded.policy, a['--arch'], { ...(version !== undefined ? { systemdVersion: version } : {}), note: (m) => process.stderr.write(`tsjail: note: ${m}\n`) });
    writeOutput(a['--output'], text);
    return;
  }
  if (format === 'oci' || format === 'k8s') {
    const { exportOci } = require('../formats/ociExport') as typeof import('../formats/ociExport');
    // An export's --arch is the `architectures` it writes: exactly those.
    const profile = exportOci(loaded.policy, a['--arch']);
    // k8s: a Security Profiles Operator resource; the plain `oci` profile is what kubelet reads
    // from /var/lib/kubelet/seccomp/ for `localhostProfile`.
    const name = (a['--name'] ?? basename(a['--policy']).replace(/\.[^.]*$/, '')).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
    const doc = format === 'oci' ? profile : {
      apiVersion: 'security-profiles-operator.x-k8s.io/v1beta1', kind: 'SeccompProfile', metadata: { name }, spec: profile,
    };
    const { formatJson } = require('../formats/json') as typeof import('../formats/json');
    const text = `${formatJson(doc)}\n`;
    writeOutput(a['--output'], text);
    return;
  }
  const weights = a['--weights'] !== undefined ? readWeights(a['--weights']) : loaded.policy.weights;
  const arch = archFor(loaded, a['--arch']);
  const compiled = compileProgram(loaded.policy, { ...(arch ? { arch } : {}), ...(weights ? { weights } : {}) });
  for (const w of [...loaded.warnings, ...compiled.warnings]) process.stderr.write(`tsjail: ${formatWarning(w)}\n`);
  if (a['--verify']) {
    // Proven before anything is written: a program that differs from its policy never reaches -o.
    const { verifyFilter, formatVerifyReport } = require('../analysis/verify') as typeof import('../analysis/verify');
    const report = verifyFilter(loaded.policy, compiled.instructions, { arch: compiled.abis.map((x) => x.name) });
    process.stderr.write(`tsjail: ${formatVerifyReport(report, { program: 'the compiled program', policy: a['--policy'] })}`);
    if (report.regions) { process.stderr.write('tsjail: nothing written: this is a bug in tsjail\'s compiler, please report it\n'); return 1; }
  }
  let out: string | Uint8Array;
  if (format === 'raw') {
    if ((!a['--output'] || a['--output'] === '-') && process.stdout.isTTY) throw new UsageError('refusing to write a binary filter to a terminal: use -o FILE or --format disasm');
    out = compiled.bytes;
  } else if (format === 'disasm') out = formatDisassembly(disassemble(compiled.instructions, { endian: compiled.endian, abis: compiled.abis }));
  else if (format === 'c') out = formatC(compiled);
  else out = JSON.stringify(jsonReport(compiled), null, 2) + '\n';
  writeOutput(a['--output'], out);
  if (a['--stats']) process.stderr.write(statsLine(compiled, weights) + '\n');
}

/** --weights FILE: the call mix the number trees are shaped for. */
function readWeights(file: string): SyscallWeights {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new PolicyError(`cannot read --weights ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, undefined, 'a file of `syscall count` lines, as tsjail learn --weights-out writes');
  }
  return parseWeights(text, file);
}

function statsLine(c: CompiledFilter, weights: SyscallWeights | undefined): string {
  const per = c.abis.map((abi) => {
    const s = programStats(c.instructions, abi);
    const mix = weights && weightsByNumber(weights, [abi]).size ? `, ${meanPerCall(c.instructions, abi, weights).toFixed(2)} per call of the weights' mix` : '';
    return `${abi.name}: mean ${s.meanExecuted.toFixed(1)} executed${mix}, ${s.cacheable}/${s.syscalls} cacheable`;
  });
  return `tsjail: ${c.instructions.length} instructions (${c.bytes.length} bytes), worst path ${worstPath(c.instructions)}; ${per.join('; ')}`;
}

function jsonReport(c: CompiledFilter): object {
  return {
    arches: c.abis.map((a) => a.name),
    endian: c.endian,
    length: c.instructions.length,
    instructions: c.instructions.map((i) => [i.code, i.jt, i.jf, i.k]),
    cacheable: Object.fromEntries(c.abis.map((abi) => [abi.name, cacheReport(c.instructions, abi).cached])),
    warnings: c.warnings.map((w) => formatWarning(w)),
  };
}

function disasmCommand(argv: string[]): void {
  const a = parseArgs(TOOL_FLAGS.disasm, argv);
  const file = a._[0];
  if (!file) throw new UsageError('disasm needs a file: tsjail disasm FILE.bpf [--arch ARCH]');
  const abi = abiOf(a['--arch']);
  const { program } = readRawFilter(file, abi.endian, true);
  // Listed all the same: reading a filter the kernel refuses is how one learns why.
  for (const problem of verifyProgram(program)) process.stderr.write(`tsjail: ${file}: the kernel would refuse this filter: ${problem}\n`);
  const sameArch = Object.values(ABI_NAMES).map((n) => lookupAbi(n)!).filter((x) => x.endian === abi.endian);
  process.stdout.write(formatDisassembly(disassemble(program, { endian: abi.endian, abis: sameArch })));
}

function parseArgValue(s: string): bigint {
  try {
    return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
  } catch {
    throw new UsageError(`argument '${s}' is not a number (use decimal, 0x hex or 0o octal)`);
  }
}

function explainCommand(argv: string[]): void {
  if (argv.includes('--fs')) {
    const { explainFs } = require('./explainFs') as typeof import('./explainFs');
    process.stdout.write(`${explainFs(argv).join('\n')}\n`);
    return;
  }
  const a = parseArgs(TOOL_FLAGS.explain, argv);
  if (!a['--policy'] || !a._[0]) throw new UsageError('explain needs --policy FILE and a syscall: tsjail explain --policy p.ts openat 0 0');
  const [syscall, ...rest] = a._;
  const args = rest.map(parseArgValue);
  const file = a['--policy'];
  const rawAbi = isRawFilterPath(file) ? abiOf(a['--arch']) : undefined;
  const e = rawAbi
    ? explainProgramCall(readRawFilter(file, rawAbi.endian).program, rawAbi.endian, rawAbi, syscall!, args)
    : explainPolicyCall(loadPolicyArg(file, ociOptions(a)), syscall!, args, a['--arch']);
  const argText = args.map((v) => `0x${BigInt.asUintN(64, v).toString(16)}`).join(', ');
  process.stdout.write([
    `${e.abi.name}: ${e.syscall}(${argText}) [nr ${e.nr}] -> ${e.action}`,
    `decided by: ${e.decidedBy}`,
    `instructions executed: ${e.path.length}`,
    ...e.path.map((l) => `  ${l.pc.toString().padStart(4, '0')}  ${l.pseudo}`),
    '',
  ].join('\n'));
}

function syscallsCommand(argv: string[]): void {
  const a = parseArgs(TOOL_FLAGS.syscalls, argv);
  const abi = abiOf(a['--arch']);
  const query = a._[0];
  const describe = (name: string, nr: number): string => {
    const args = syscallArgs(abi, name);
    const sig = args ? args.map((x) => `${x.ctype}${x.ctype.endsWith('*') ? '' : ' '}${x.name}${x.bits < 64 ? ` /* ${x.bits}-bit */` : ''}`).join(', ') : '?';
    return `${String(nr).padStart(5)}  ${name}(${sig})`;
  };
  if (query === undefined) {
    process.stdout.write(syscallsOf(abi).map((e) => describe(e.name, e.nr)).join('\n') + '\n');
    return;
  }
  if (/^(0x)?[0-9a-f]+$/i.test(query)) {
    const nr = Number(query);
    const name = syscallName(abi, nr);
    if (!name) throw new PolicyError(`no syscall ${nr} on ${abi.name}`);
    process.stdout.write(`${abi.name}: ${describe(name, nr)}\n`);
    return;
  }
  const nr = syscallNumber(abi, query);
  if (nr === undefined) {
    const elsewhere = ABI_NAMES.filter((n) => syscallNumber(lookupAbi(n)!, query) !== undefined);
    throw new PolicyError(`'${query}' is not a syscall on ${abi.name}${elsewhere.length ? ` (it exists on ${elsewhere.join(', ')})` : didYouMean(query)}`);
  }
  process.stdout.write(`${abi.name}: ${describe(query, nr)}\n`);
}

/**
 * The ABIs `--arch` means for a loaded policy. One ARCH with an OCI profile means an ARCH
 * machine: ARCH and the profile's ABIs that such a machine also runs (x86 and x32 on x86_64),
 * the filter runc + libseccomp build there. Otherwise exactly the ABIs named.
 */
function archFor(loaded: LoadedPolicy, given: string | readonly string[] | undefined): string[] | undefined {
  const names = archList(given);
  if (!names.length) return undefined;
  if (names.length > 1 || loaded.format !== 'oci') return names;
  const machine = machineAbis(abiOf(names[0]).name);
  return machine.filter((n, i) => i === 0 || loaded.policy.arches.includes(n));
}

/** The built-in policy of `tsjail run`, or a file. */
function loadPolicyArg(path: string, oci: OciImportOptions): ReturnType<typeof loadPolicyFile> {
  if (path === '@builtin') {
    const { defaultPolicy } = require('../jail/defaultPolicy') as typeof import('../jail/defaultPolicy');
    return { policy: defaultPolicy(), warnings: [], format: 'ts' };
  }
  return loadPolicyFile(path, oci);
}

function lintCommand(argv: string[]): number {
  const a = parseArgs(TOOL_FLAGS.lint, argv);
  if (!a['--policy']) throw new UsageError('lint needs --policy FILE');
  const loaded = loadPolicyArg(a['--policy'], ociOptions(a));
  const { lintPolicy } = require('../analysis/lint') as typeof import('../analysis/lint');
  const findings = lintPolicy(loaded.policy, archFor(loaded, a['--arch']), loaded.warnings);
  const fsLines = (require('./explainFs') as typeof import('./explainFs')).lintFs(loaded.policy.jail as JailOptions | undefined);
  if (!a['--json']) for (const line of fsLines) process.stdout.write(`${line}\n`);
  if (a['--json']) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  else process.stdout.write(findings.map((f) => `${f.severity}: ${f.message}${f.where ? ` [${f.where}]` : ''} (${f.abi})`).join('\n') + (findings.length ? '\n' : 'no findings\n'));
  return findings.some((f) => f.severity === 'danger') ? 1 : 0;
}

function diffCommand(argv: string[]): number {
  const a = parseArgs(TOOL_FLAGS.diff, argv);
  if (a._.length !== 2) throw new UsageError('diff needs two policies: tsjail diff A B [--arch ARCH]');
  const { diffPolicies, diffFilters, formatDifferences, formatAllowedBeyond } = require('../analysis/diff') as typeof import('../analysis/diff');
  const diffs = a._.some(isRawFilterPath) ? diffRawFilters(a._[0]!, a._[1]!, a['--arch'], ociOptions(a), diffFilters)
    : diffLoaded(loadPolicyArg(a._[0]!, ociOptions(a)), loadPolicyArg(a._[1]!, ociOptions(a)), a['--arch'], diffPolicies, diffFilters);
  if (a['--json']) process.stdout.write(`${JSON.stringify(diffs, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`);
  else process.stdout.write(formatDifferences(diffs) + (diffs.length ? formatAllowedBeyond(diffs, a._[0]!, a._[1]!) : ''));
  return diffs.length ? 1 : 0;
}

function verifyCommand(argv: string[]): number {
  const a = parseArgs(TOOL_FLAGS.verify, argv);
  if (!a['--policy'] || a._.length !== 1) throw new UsageError('verify needs --policy FILE and one program: tsjail verify --policy p.ts prog.bpf');
  const file = a._[0]!;
  const { verifyFilterFile, formatVerifyReport, ProgramError } = require('../analysis/verify') as typeof import('../analysis/verify');
  let bytes: Buffer;
  try { bytes = readFileSync(file); } catch (e) { throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  try {
    const loaded = loadPolicyArg(a['--policy'], ociOptions(a));
    const arch = archFor(loaded, a['--arch']);
    const report = verifyFilterFile(loaded.policy, new Uint8Array(bytes), { ...(arch ? { arch } : {}), file });
    if (a['--json']) process.stdout.write(`${JSON.stringify({ proven: !report.regions, ...report, abis: report.abis.map((x) => x.name) }, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`);
    else process.stdout.write(formatVerifyReport(report, { program: file, policy: a['--policy'] }));
    return report.regions ? 1 : 0;
  } catch (e) {
    // Neither proven nor refuted (a program or a policy verify cannot take): exit 2, so that 1 always means a difference.
    if (!(e instanceof ProgramError || e instanceof PolicyError)) throw e;
    process.stderr.write(`tsjail: ${e.message}\n`);
    return 2;
  }
}

/** explain for a policy: the call goes through the first ABI of --arch (archFor). */
function explainPolicyCall(loaded: LoadedPolicy, syscall: string, args: readonly bigint[], given: string | undefined): ReturnType<typeof explainCall> {
  const arch = archFor(loaded, given);
  return explainCall(loaded.policy, syscall, args, arch ? { arch } : {});
}

/**
 * diff of two policies. When one --arch means different ABIs for the two (an OCI profile on an
 * ARCH machine beside a policy for ARCH alone), each is compiled for its own and the programs are
 * compared on all of them: what the machine would run under each.
 */
function diffLoaded(a: LoadedPolicy, b: LoadedPolicy, given: readonly string[] | undefined,
  diffPolicies: typeof import('../analysis/diff').diffPolicies, diffFilters: typeof import('../analysis/diff').diffFilters): ReturnType<typeof diffFilters> {
  const [archA, archB] = [archFor(a, given), archFor(b, given)];
  if (archA?.join() === archB?.join()) return diffPolicies(a.policy, b.policy, archA);
  const abis = [...new Set([...archA!, ...archB!])].map(abiOf);
  return diffFilters(compileProgram(a.policy, { arch: archA! }), compileProgram(b.policy, { arch: archB! }), abis);
}

/**
 * diff with a raw .bpf on either side: a policy is compiled for its ABIs (or --arch), a raw
 * filter taken as it is for the same ones (or the host's).
 */
function diffRawFilters(fileA: string, fileB: string, arch: readonly string[] | undefined, oci: OciImportOptions,
  diffFilters: typeof import('../analysis/diff').diffFilters): ReturnType<typeof diffFilters> {
  const loaded = [fileA, fileB].filter((f) => !isRawFilterPath(f)).map((f) => loadPolicyArg(f, oci))[0];
  const policy = loaded?.policy;
  const abis = loaded ? targetAbis(loaded.policy, archFor(loaded, arch)) : (arch ?? [hostAbi().name]).map(abiOf);
  const endian = abis[0]!.endian;
  const side = (file: string): FilterProgram => (isRawFilterPath(file)
    ? { instructions: readRawFilter(file, endian).program, endian }
    : compileProgram(policy!, { arch: abis.map((x) => x.name) }));
  const [a, b] = [side(fileA), side(fileB)];
  try {
    return diffFilters(a, b, abis);
  } catch (e) {
    // The exact walk follows what filter compilers emit; a hand-written program may use more.
    if (e instanceof PolicyError || !/^pc \d+/.test((e as Error).message)) throw e;
    throw new PolicyError(`diff cannot follow ${[fileA, fileB].filter(isRawFilterPath).join(' or ')}: ${(e as Error).message}`, undefined,
      'diff follows ld [k], and #k, jeq/jgt/jge/jset #k, ja and ret #k; tsjail explain still runs single calls through it');
  }
}

export const TOOL_COMMANDS: Record<string, (argv: string[]) => number | void> = {
  lint: lintCommand,
  diff: diffCommand,
  verify: verifyCommand,
  compile: compileCommand, disasm: disasmCommand, explain: explainCommand, syscalls: syscallsCommand,
};

