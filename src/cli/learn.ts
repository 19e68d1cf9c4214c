// `tsjail learn [-o FILE] [--weights-out FILE] [--format ts|json [--for RUNTIME,...]] [--merge FILE] [--exact] [--learn-dangerous] [--learn-abi ABI] [JAIL OPTIONS] -- CMD [ARGS...]`
import type arg from 'arg';
import { accessSync, closeSync, constants as fsConstants, existsSync, readFileSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { hostAbi, lookupAbi, ABI_NAMES, type Abi } from '../arch/abi';
import { emptyLearned, formatRefusals, learnedToOci, learnedToTs, Learner, mergeLearned, readLearned, type Learned } from '../jail/learn';
import { formatWeights } from '../policy/weights';
import { runJailed } from '../jail/run';
import { JailError } from '../jail/errors';
import { oneLine } from '../jail/printable';
import { writesHostFilesAsOwner } from '../jail/spec';
import { fsContext, jailFs, type ResolvedFs } from '../jail/fsRules';
import { NetLearner, outermostDirectories, unlearnable } from '../jail/learnJail';
import { parseFlags, RunUsageError } from './run';
import { RUNTIMES, type Runtime } from '../jail/runtimeCalls';
import { suggest } from '../syscalls/suggest';
import { helpHint } from './usage';

/** learn's own flags beside the jail's (run's). */
export const LEARN_FLAGS = {
  '--output': String, '-o': '--output', '--format': String, '--merge': String, '--learn-dangerous': Boolean, '--learn-abi': [String],
  '--learn-net': Boolean, '--for': [String], '--exact': Boolean, '--weights-out': String,
} satisfies arg.Spec;

/** --for: only for an OCI profile; the TypeScript policy is run by tsjail, which loads it right before execve. */
function learnRuntimes(values: readonly string[], format: string): Runtime[] {
  const names = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const name of names) {
    if (!(RUNTIMES as readonly string[]).includes(name)) throw new RunUsageError(`unknown runtime '${name}' for --for${suggest(name, RUNTIMES)} (known: ${RUNTIMES.join(', ')})`);
  }
  if (names.length && format !== 'json') throw new RunUsageError(`--for ${names.join(',')} adds the calls a container runtime makes after it loads the filter to an OCI profile: use it with --format json (the TypeScript policy is for tsjail run, which makes no calls between loading it and execve)`);
  return [...new Set(names)] as Runtime[];
}

function learnAbis(names: readonly string[]): Abi[] {
  return names.map((name) => {
    const abi = lookupAbi(name);
    if (!abi) throw new RunUsageError(`unknown ABI '${name}' for --learn-abi (known: ${ABI_NAMES.join(', ')})`);
    return abi;
  });
}

export async function learnCommand(argv: string[], log: (msg: string) => void): Promise<number> {
  let parsed;
  let abis: Abi[];
  try {
    parsed = parseFlags(argv, LEARN_FLAGS);
    abis = learnAbis(((parsed.extra['--learn-abi'] as string[] | undefined) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean));
  } catch (e) {
    if (e instanceof RunUsageError) { log(`${e.message}\n${helpHint('learn')}`); return 2; }
    throw e;
  }
  const { command, extra } = parsed;
  let { options } = parsed;
  // The learner answers every stopped call itself: network rules would not be enforced (fail closed).
  if (options.net !== undefined && options.net !== 'host' && options.net !== 'none') {
    log('tsjail learn does not enforce network rules (--net loopback, --allow-net): learn without them, or with --net none');
    return 2;
  }
  const learnNet = extra['--learn-net'] === true;
  if (learnNet && (options.net === 'none' || options.network === false)) {
    log('--learn-net learns where the command connects: with --net none / -n it reaches nothing; drop one');
    return 2;
  }
  const format = (extra['--format'] as string | undefined) ?? ((extra['--output'] as string | undefined)?.endsWith('.json') ? 'json' : 'ts');
  if (!['ts', 'json'].includes(format)) { log(`unknown --format '${format}': use ts or json\n${helpHint('learn')}`); return 2; }
  if (!command.length) { log(`no command given: tsjail learn [OPTIONS] -- CMD [ARGS...]\n${helpHint('learn')}`); return 2; }
  let runtimes: Runtime[];
  try { runtimes = learnRuntimes((extra['--for'] as string[] | undefined) ?? [], format); } catch (e) { log(`${(e as Error).message}\n${helpHint('learn')}`); return 2; }
  // -o - is stdout, as no -o.
  const out = extra['--output'] === '-' ? undefined : extra['--output'] as string | undefined;
  const weightsOut = extra['--weights-out'] as string | undefined;
  if (weightsOut === '-' || weightsOut === '') { log(`--weights-out needs a file (the policy goes to -o or stdout)\n${helpHint('learn')}`); return 2; }
  // Checked before the run: a long learning run is not to be lost to an unwritable output.
  for (const [file, flag] of [[out, '-o'], [weightsOut, '--weights-out']] as const) {
    if (!file) continue;
    const target = existsSync(file) ? file : dirname(resolve(file));
    try { accessSync(target, fsConstants.W_OK); } catch (e) { log(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (choose another ${flag})`); return 125; }
  }
  const dangerous = extra['--learn-dangerous'] === true;
  const learned = emptyLearned();
  learned.commands.push(command.join(' '));
  if (options.late) learned.late = true;
  const merge = extra['--merge'] as string | undefined;
  if (merge) {
    try {
      mergeLearned(learned, readLearned(readFileSync(merge, 'utf8'), merge));
    } catch (e) {
      log((e as Error).message);
      return 125;
    }
    // A record with network rules stays complete only if this run's destinations are learned too.
    if (learned.net && !learnNet) {
      log(`${merge} has network rules (jail.net): learn this run with --learn-net too, or its destinations would be refused`);
      return 125;
    }
    // An earlier record never widens the policy to another ABI unasked.
    const foreign = Object.keys(learned.abis).filter((a) => a !== hostAbi().name && !abis.some((b) => b.name === a));
    if (foreign.length) {
      log(`${merge} allows calls through the ${foreign.join(', ')} ABI (not the host's ${hostAbi().name}): to keep ${foreign.length > 1 ? 'them' : 'it'}, add --learn-abi ${foreign.join(',')}`);
      return 125;
    }
  }
  // What earlier runs wrote is writable now, so this run gets past those writes.
  if (learned.writes?.length) {
    let given: ResolvedFs | undefined;
    try { given = jailFs(options); } catch (e) { if (e instanceof JailError) { log(e.message); return 125; } throw e; }
    const bad = given ? learned.writes.flatMap((d) => unlearnable(d, { fs: given!, ctx: fsContext(), otherMounts: [] }) ?? []) : [];
    if (bad.length) { log(`${merge}: its learned writes are not ones learn writes (${bad.join('; ')}): nothing was run`); return 125; }
    options = { ...options, fs: [...(options.fs ?? []), ...learned.writes.map((rw) => ({ rw }))] };
    log(`learn: writable as learned before (${merge}): ${outermostDirectories(learned.writes).join(' ')}`);
  }
  if (dangerous) {
    log('WARNING: --learn-dangerous: the calls the built-in policy refuses (mount, unshare, ptrace, keyctl, bpf, io_uring, ...) RUN while learning and are ALLOWED by the written policy');
  }
  for (const abi of abis) if (abi.name !== hostAbi().name) log(`--learn-abi ${abi.name}: calls through the ${abi.name} ABI are learned, and the written policy allows them through it`);
  let last = 0;
  const live = process.stderr.isTTY
    ? (seen: number, distinct: number): void => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      process.stderr.write(`\rtsjail learn: ${seen} syscalls seen, ${distinct} distinct `);
    }
    : undefined;
  let setIds: boolean;
  let fs: ResolvedFs | undefined;
  try {
    fs = jailFs(options);
    setIds = writesHostFilesAsOwner(options, fs);
  } catch (e) {
    if (e instanceof JailError) { log(e.message); return 125; }
    throw e;
  }
  const files = fs ? { fs, ctx: fsContext(), otherMounts: [...(options.binds ?? []).map((b) => b.dst), ...(options.tmpfs ?? [])] } : undefined;
  const net = learnNet ? new NetLearner() : undefined;
  if (learnNet) learned.net ??= [];
  const learner = new Learner(learned, { dangerous, abis, setIds, ...(files ? { files } : {}), ...(net ? { net } : {}) }, live);
  let code: number;
  try {
    code = await runJailed(command, undefined, options, log, learner.watch(), fs);
  } catch (e) {
    if (e instanceof JailError) { log(e.message); return 125; }
    throw e;
  }
  if (live) process.stderr.write('\n');
  for (const line of formatRefusals(learner.refused())) log(line);
  for (const why of learner.unlearned) log(`learn: ${why}`);
  if (learner.refusedWrites) log(`learn: ${learner.refusedWrites} write${learner.refusedWrites > 1 ? 's' : ''} outside the writable places failed while learning (as the default jail refuses them) and ${learner.refusedWrites > 1 ? 'are' : 'is'} learned; to learn what the command does after ${learner.refusedWrites > 1 ? 'them' : 'it'}: learn again with --merge ${out ?? 'FILE'}`);
  if (net) {
    for (const what of net.refused) log(`learn: refused a connect or send to ${oneLine(what)}, as network rules refuse it; not in the written policy`);
    for (const r of await net.rules()) if (!learned.net!.includes(r)) learned.net!.push(r);
  }
  if (format === 'json' && (learned.writes?.length || learned.net)) log('learn: the OCI format has no jail section: the learned fs/net rules are only in its record (use --format ts for a policy that has them)');
  const written = { exact: extra['--exact'] === true };
  const text = format === 'json' ? learnedToOci(learned, written, runtimes) : learnedToTs(learned, written);
  if (runtimes.length) log(`learn: --for ${runtimes.join(',')}: the profile also allows the calls ${runtimes.map((r) => (r === 'k8s' ? 'runc (which containerd runs for a kubelet)' : r)).join(' and ')} ${runtimes.length > 1 ? 'make' : 'makes'} after loading it (listed in x-tsjail-for)`);
  if (out) {
    try {
      writeLearnedFile(out, '--output', text);
    } catch (e) { log(`${e instanceof JailError ? e.message : `cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`}; the policy:`); process.stdout.write(text); return 125; }
  } else process.stdout.write(text);
  if (weightsOut) {
    try { writeLearnedFile(weightsOut, '--weights-out', learnedWeights(learned)); } catch (e) { log(e instanceof JailError ? e.message : `cannot write ${weightsOut}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); return 125; }
  }
  log(`learned ${learner.distinct()} distinct syscalls from ${learner.seen} calls${options.late ? ' after start-up (--late)' : ''}${out ? ` -> ${out}` : ''}${code ? ` (the command exited ${code})` : ''}`);
  return code;
}

/** The jail may have written where the file is (its working directory): never through its symlink. */
function writeLearnedFile(file: string, flag: string, text: string): void {
  const fd = (require('../jail/outputFile') as typeof import('../jail/outputFile')).openOutputFile(file, flag);
  try { writeSync(fd, text); } finally { closeSync(fd); }
}

/** --weights-out: how often each syscall ran in the learned runs (every ABI's calls by name), for compile --weights. */
function learnedWeights(l: Learned): string {
  const counts: Record<string, number> = {};
  for (const table of Object.values(l.abis)) for (const [name, e] of Object.entries(table)) counts[name] = (counts[name] ?? 0) + e.count;
  return formatWeights(counts, ['Syscall weights recorded by `tsjail learn` (name count), for tsjail compile --weights, from:', ...l.commands.map((c) => JSON.stringify(c))]);
}
