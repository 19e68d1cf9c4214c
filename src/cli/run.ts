// `tsjail run [OPTIONS] [--policy FILE] -- CMD [ARGS...]`: flags → JailOptions, merged over a
// policy file's `jail` section; the built-in default policy when no file is given.
import arg from 'arg';
import { readFileSync } from 'node:fs';
import { JailError } from '../jail/errors';
import { prepareJail, startJail } from '../jail/prepare';
import { netFromFlags } from '../jail/netRules';
import { NAMESPACES } from '../jail/spec';
import type { DefinedPolicy } from '../policy/dsl';
import { helpHint, UsageError, usageErrorOf } from './usage';
import { type FsRuleInput, type NetOption, type NamespaceName, CAPABILITY_SETS, type CapabilitySet, type CapabilitySets, type JailOptions } from '../policy/jailSettings';

/** A bad flag or value of run/learn: exit 2. */
export class RunUsageError extends UsageError {}

function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(/[,:]/)).map((s) => s.trim()).filter(Boolean);
}

function parseBind(spec: string, readonly: boolean): { src: string; dst: string; readonly: boolean } {
  const [src, dst] = spec.split(':');
  if (!src) throw new RunUsageError(`bad bind '${spec}': expected SRC[:DST]`);
  return { src, dst: dst ?? src, readonly };
}

/** --join-ns TYPE=PATH. */
function parseJoin(spec: string): [string, string] {
  const m = /^([a-z]+)=(.+)$/.exec(spec);
  if (!m) throw new RunUsageError(`bad --join-ns '${spec}': expected TYPE=PATH, e.g. net=/run/netns/blue`);
  return [m[1]!, m[2]!];
}

/** 64M, 1G, 512k or plain bytes. */
function parseSize(s: string): bigint {
  const m = /^(\d+)([kmgt]?)b?$/i.exec(s.trim());
  if (!m) throw new RunUsageError(`bad size '${s}': expected e.g. 256M or 1G`);
  const shift = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return BigInt(m[1]!) << shift;
}

/** --caps FILE (the five sets as JSON) joined by --cap-SET lists; undefined when neither is given. */
function capabilitySets(file: string | undefined, flag: (set: CapabilitySet) => string[] | undefined): CapabilitySets | undefined {
  const sets: Partial<Record<string, string[]>> = {};
  if (file) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new RunUsageError(`cannot read --caps ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new RunUsageError(`${file}: expected an object of capability sets, e.g. {"ambient": ["CAP_NET_BIND_SERVICE"]}`);
    for (const [set, names] of Object.entries(json)) {
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new RunUsageError(`${file}: "${set}" must be a list of capability names`);
      sets[set] = names as string[];
    }
  }
  for (const set of CAPABILITY_SETS) if (flag(set)) sets[set] = [...(sets[set] ?? []), ...splitList(flag(set))];
  return Object.keys(sets).length ? sets : undefined;
}

const FS_FLAGS = ['--ro', '--rw', '--hide', '--show', '--noexec'] as const;

/**
 * The file-rule flags in command-line order (arg groups values per flag, but a later rule for a
 * path overrides an earlier one): argv is walked as arg walks it, skipping every flag's value.
 */
export function fsFlagsInOrder(argv: readonly string[], spec: arg.Spec, parsed: Record<string, unknown>): FsRuleInput[] {
  const out: FsRuleInput[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--' || !tok.startsWith('-') || tok === '-') break;
    const eq = tok.indexOf('=');
    let name = tok.startsWith('--') && eq > 0 ? tok.slice(0, eq) : tok;
    while (typeof spec[name] === 'string') name = spec[name] as string;
    // A group of short flags (-nI) or a boolean takes no value; any other flag takes the next word unless given with '='.
    const takesValue = spec[name] !== undefined && spec[name] !== Boolean && !(tok.startsWith('--') && eq > 0);
    const value = tok.startsWith('--') && eq > 0 ? tok.slice(eq + 1) : takesValue ? argv[i + 1] : undefined;
    if (takesValue) i++;
    if ((FS_FLAGS as readonly string[]).includes(name)) out.push({ [name.slice(2)]: value! } as FsRuleInput);
  }
  // The same rules as arg's, flag by flag: only their order is ours.
  for (const flag of FS_FLAGS) {
    const mine = out.filter((r) => flag.slice(2) in r).map((r) => Object.values(r)[0]);
    if (JSON.stringify(mine) !== JSON.stringify(parsed[flag] ?? [])) throw new RunUsageError(`cannot tell the order of the ${flag} flags: give each as ${flag} PATH before the command`);
  }
  return out;
}

/** The flags of run and learn (the jail's settings) with a subcommand's `extra`, as arg reads them. */
export function jailFlagSpec(extra: arg.Spec = {}) {
  const unshareFlags = Object.fromEntries(Object.keys(NAMESPACES).map((n) => [`--unshare-${n}`, Boolean]));
  return {
      '--policy': String, '-p': '--policy', '--allow': [String], '--deny': [String],
      '--no-network': Boolean, '-n': '--no-network', '--root': String, '-r': '--root', '--user': String, '-u': '--user',
      '--cwd': String, '-d': '--cwd', '--insecure': Boolean, '-I': '--insecure', '--hostname': String,
      '--bind': [String], '--ro-bind': [String], '--tmpfs': [String], '--dev': Boolean, '--proc': Boolean, '--no-proc': Boolean,
      '--env': [String], '--clear-env': Boolean, '--inherit-env': Boolean, '--no-limits': Boolean, '--keep-env': [String], '--rlimit': [String], '--timeout': Number,
      '--kill-after': Number,
      '--cap-keep': [String], '--group': String, '-g': '--group', '--log': Boolean, '--report': String, '--procd': Boolean,
      '--ro-root': Boolean, '--pidfile': String, '--name': String, '--json-status-fd': Number,
      '--memory': String, '--pids': Number, '--cpu': Number, '--bundle': String, '--overlay': String, '--tmp-overlay': String,
      '--stage': [String], '--stage-rw': [String], '--late': Boolean, '--caps': String, '--join-ns': [String],
      '--policy-format': String, '--report-fd': Number, '--tty': Boolean, '-t': '--tty', '--quiet': Boolean, '-q': '--quiet',
      '--host-ids': Boolean, '--host-dev': Boolean, '--no-namespaces': Boolean, '--net': String, '--allow-net': [String],
      ...Object.fromEntries(CAPABILITY_SETS.map((set) => [`--cap-${set}`, [String]])),
      '--ro': [String], '--rw': [String], '--hide': [String], '--show': [String], '--noexec': [String], '--host-fs': Boolean,
      ...unshareFlags,
      ...extra,
    } satisfies arg.Spec;
}

/** run's own flags beside the jail's. */
export const RUN_FLAGS = { '--preset': String, '--enforce': String, '--on-repeat': String, '--no-cache': Boolean } satisfies arg.Spec;

export function parseFlags(argv: string[], extra: arg.Spec = {}): { options: JailOptions; policyFile?: string; command: string[]; extra: Record<string, unknown> } {
  const spec = jailFlagSpec(extra);
  let a;
  try {
    a = arg(spec, { argv, stopAtPositional: true });
  } catch (e) {
    throw new RunUsageError(usageErrorOf(e, spec).message);
  }
  const env: Record<string, string> = {};
  for (const kv of a['--env'] ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new RunUsageError(`bad --env '${kv}': expected K=V`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const rlimits: Record<string, bigint> = {};
  for (const kv of a['--rlimit'] ?? []) {
    const m = /^([a-zA-Z_]+)=(\d+|unlimited)$/.exec(kv);
    if (!m) throw new RunUsageError(`bad --rlimit '${kv}': expected NAME=N (e.g. nofile=256)`);
    rlimits[m[1]!] = m[2] === 'unlimited' ? (1n << 64n) - 1n : BigInt(m[2]!);
  }
  if (a['--timeout'] !== undefined && !(a['--timeout'] > 0)) throw new RunUsageError('--timeout takes a positive number of seconds');
  if (a['--kill-after'] !== undefined && !(a['--kill-after'] >= 0)) throw new RunUsageError(`--kill-after takes a number of seconds (0 or more), not '${a['--kill-after']}'`);
  const unshare = (Object.keys(NAMESPACES) as NamespaceName[]).filter((n) => (a as Record<string, unknown>)[`--unshare-${n}`]);
  const fsFlags = fsFlagsInOrder(argv, spec, a);
  const capabilities = capabilitySets(a['--caps'], (set) => (a as Record<string, unknown>)[`--cap-${set}`] as string[] | undefined);
  let net: NetOption | undefined;
  try {
    net = netFromFlags(a['--net'], a['--allow-net'] ?? []);
  } catch (e) {
    throw new RunUsageError((e as Error).message);
  }
  const options: JailOptions = {
    ...(a['--no-network'] ? { network: false } : {}),
    ...(net !== undefined ? { net } : {}),
    ...(a['--root'] ? { root: a['--root'] } : {}),
    ...(a['--user'] !== undefined ? { user: a['--user'] } : {}),
    ...(a['--cwd'] ? { cwd: a['--cwd'] } : {}),
    ...(a['--insecure'] ? { insecure: true } : {}),
    ...(a['--hostname'] ? { hostname: a['--hostname'] } : {}),
    ...(unshare.length ? { unshare } : {}),
    ...(a['--bind'] || a['--ro-bind'] ? { binds: [...(a['--bind'] ?? []).map((b) => parseBind(b, false)), ...(a['--ro-bind'] ?? []).map((b) => parseBind(b, true))] } : {}),
    ...(a['--tmpfs'] ? { tmpfs: a['--tmpfs'] } : {}),
    ...(a['--dev'] ? { dev: true } : a['--host-dev'] ? { dev: false } : {}),
    ...(a['--host-ids'] ? { hostIds: true } : {}),
    ...(a['--host-fs'] ? { hostFs: true } : {}),
    ...(fsFlags.length ? { fsFlags } : {}),
    ...(a['--no-namespaces'] ? { noNamespaces: true } : {}),
    ...(a['--no-proc'] ? { proc: false } : a['--proc'] ? { proc: true } : {}),
    ...(Object.keys(env).length ? { env } : {}),
    ...(a['--clear-env'] ? { clearEnv: true } : {}),
    ...(a['--inherit-env'] ? { inheritEnv: true } : {}),
    ...(a['--no-limits'] ? { noLimits: true } : {}),
    ...(a['--keep-env'] ? { keepEnv: splitList(a['--keep-env']) } : {}),
    ...(Object.keys(rlimits).length ? { rlimits } : {}),
    ...(a['--timeout'] ? { timeoutSeconds: a['--timeout'] } : {}),
    ...(a['--kill-after'] !== undefined ? { killAfterSeconds: a['--kill-after'] } : {}),
    ...(a['--allow'] ? { allow: splitList(a['--allow']) } : {}),
    ...(a['--deny'] ? { deny: splitList(a['--deny']) } : {}),
    ...(a['--cap-keep'] ? { capKeep: splitList(a['--cap-keep']) } : {}),
    ...(capabilities ? { capabilities } : {}),
    ...(a['--group'] !== undefined ? { group: a['--group'] } : {}),
    ...(a['--log'] ? { log: true } : {}),
    ...(a['--report'] ? { report: a['--report'] } : {}),
    ...(a['--ro-root'] ? { readonlyRoot: true } : {}),
    ...(a['--overlay'] ? { overlay: a['--overlay'] } : {}),
    ...(a['--stage'] || a['--stage-rw'] ? { stage: [...(a['--stage'] ?? []).map((path) => ({ path, writable: false })), ...(a['--stage-rw'] ?? []).map((path) => ({ path, writable: true }))] } : {}),
    ...(a['--tmp-overlay'] ? { tmpOverlay: a['--tmp-overlay'] } : {}),
    ...(a['--pidfile'] ? { pidfile: a['--pidfile'] } : {}),
    ...(a['--name'] ? { name: a['--name'] } : {}),
    ...(a['--json-status-fd'] !== undefined ? { jsonStatusFd: a['--json-status-fd'] } : {}),
    ...(a['--memory'] ? { memory: parseSize(a['--memory']) } : {}),
    ...(a['--pids'] !== undefined ? { pids: a['--pids'] } : {}),
    ...(a['--cpu'] !== undefined ? { cpu: a['--cpu'] } : {}),
    ...(a['--late'] ? { late: true } : {}),
    ...(a['--tty'] ? { tty: true } : {}),
    ...(a['--join-ns'] ? { join: Object.fromEntries(a['--join-ns'].map(parseJoin)) } : {}),
  };
  if (a['--policy-format'] !== undefined && a['--policy'] !== '-') throw new RunUsageError(`--policy-format ${a['--policy-format']} names the format of a policy read from stdin: use it with --policy -`);
  for (const flag of ['--report-fd', '--json-status-fd'] as const) {
    const fd = a[flag];
    if (fd !== undefined && !(Number.isInteger(fd) && fd >= 0)) throw new RunUsageError(`bad ${flag} '${fd}': expected an open file descriptor number`);
  }
  if (options.pids !== undefined && !(Number.isInteger(options.pids) && options.pids > 0)) throw new RunUsageError('--pids takes a positive whole number');
  if (options.cpu !== undefined && !(options.cpu > 0)) throw new RunUsageError('--cpu takes a positive number of CPUs (e.g. 0.5)');
  return { options, ...(a['--policy'] ? { policyFile: a['--policy'] } : {}), command: a._[0] === '--' ? a._.slice(1) : a._, extra: a };
}

export async function runCommand(argv: string[], log: (msg: string) => void): Promise<number> {
  try {
    return await runParsed(argv, log);
  } catch (e) {
    // A jail that cannot be what was asked (file rules with -r, a missing --rw PATH...) is a message, not a trace.
    if (e instanceof JailError) { log(e.message); return 125; }
    throw e;
  }
}

async function runParsed(argv: string[], log: (msg: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(argv, RUN_FLAGS);
  } catch (e) {
    if (e instanceof RunUsageError) { log(`${e.message}\n${helpHint('run')}`); return 2; }
    throw e;
  }
  const { policyFile, extra } = parsed;
  let { options, command } = parsed;
  const onRepeat = extra['--on-repeat'] as string | undefined;
  if (onRepeat !== undefined && onRepeat !== 'report' && onRepeat !== 'kill') { log(`bad --on-repeat '${onRepeat}': expected report or kill`); return 2; }
  if (extra['--enforce'] !== undefined && (!policyFile || options.insecure)) {
    log(`--enforce ${String(extra['--enforce'])} needs --policy FILE (the policy the program is expected to keep) and a filter (no --insecure)`);
    return 2;
  }
  let bundlePolicy: DefinedPolicy<JailOptions> | undefined;
  if (extra['--bundle']) {
    // An OCI bundle brings its command, its settings and its seccomp profile; flags override.
    const { loadBundle } = require('../jail/bundle') as typeof import('../jail/bundle');
    const bundle = loadBundle(extra['--bundle'] as string);
    if (command.length) { log('--bundle runs the bundle\'s process.args: give no command'); return 2; }
    command = bundle.command;
    options = { ...bundle.options, ...options };
    if (bundle.policy) bundlePolicy = bundle.policy;
  }
  if (!command.length) { log(`no command given: tsjail run [OPTIONS] -- CMD [ARGS...]\n${helpHint('run')}`); return 2; }
  const jail = prepareJail({
    command, options, sandboxEnvironment: process.env,
    ...(policyFile ? { policyFile } : {}), ...(bundlePolicy ? { policy: bundlePolicy, policyName: "the bundle's seccomp" } : {}),
    ...(extra['--procd'] ? { procd: true } : {}), ...(extra['--no-cache'] ? { noCache: true } : {}),
    ...(extra['--policy-format'] !== undefined ? { policyFormat: extra['--policy-format'] as string } : {}),
    ...(extra['--enforce'] !== undefined ? { enforce: extra['--enforce'] as string } : {}),
    ...(onRepeat === 'kill' ? { onRepeat } : {}),
    ...(extra['--preset'] !== undefined ? { preset: extra['--preset'] as string } : {}),
    ...(extra['--quiet'] ? { quiet: true } : {}),
    ...(extra['--report-fd'] !== undefined ? { reportFd: extra['--report-fd'] as number } : {}),
    addNetRules: extra['--net'] === undefined && Boolean(extra['--allow-net']),
  }, log);
  return await startJail(jail, log);
}
