// Learn mode: run a command with every syscall stopping at tsjail, record what it uses per ABI
// with counts and the argument values of the syscalls policies usually constrain, and write the
// minimal allowlist. Calls are let through (SECCOMP_USER_NOTIF_FLAG_CONTINUE) except those the
// built-in policy refuses (its dangerous groups, clone with namespace flags, clone3, calls through
// an ABI other than the host's): those are answered as the built-in policy answers them, decided
// by the same reference evaluator, and reported, never learned.
import { ABIS, hostAbi, type Abi } from '../arch/abi';
import { encodeProgram } from '../bpf/instruction';
import { SECCOMP_DATA_NR, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF } from '../bpf/seccomp';
import { errnoName } from '../policy/errno';
import { abiOfCall, evaluatePolicy } from '../policy/evaluate';
import type { Policy } from '../policy/model';
import { syscallArgs, syscallName, syscallNumber } from '../syscalls/table';
import { defaultPolicy } from './defaultPolicy';
import { SET_ID_LABEL, withSetIdRules } from './setIdRules';
import { nameValue } from './denial';
import type { Notification } from './helper';
import { HANDSHAKE_NR, type Answerer } from './notifications';
import { isWriteCall } from './fsWrites';
import { NET_KINDS, type NetKind } from './helper';
import { learnWrites, outermostDirectories, type LearnFiles, type NetLearner } from './learnJail';
import { parseNetRule } from './netRules';
import { posix } from 'node:path';
import type { Watch } from './run';
import { runtimeCalls, type Runtime } from './runtimeCalls';

/** Arguments whose values a learned policy pins down: [syscall, argument name]. */
export const CONSTRAINED_ARGS: readonly (readonly [string, string])[] = [
  ['socket', 'family'], ['ioctl', 'cmd'], ['prctl', 'option'], ['personality', 'personality'], ['clone', 'clone_flags'],
];

/** What a run used: ABI → syscall → count and, for constrained arguments, the values seen. */
export interface Learned {
  readonly abis: Record<string, Record<string, { count: number; values?: Record<string, string[]> }>>;
  readonly commands: string[];
  /** Learned with --late (from main() on): the policy needs `tsjail run --late`. */
  late?: boolean;
  /** Calls refused while learning (ABI → syscall → count): reported, never allowed by the written policy. */
  refused?: Record<string, Record<string, number>>;
  /** Directories written outside the default writable places (learnJail.ts): the policy's `jail.fs` rw rules. */
  writes?: string[];
  /** With --learn-net: the destinations reached, as allowlist rules (`jail.net.allow`). */
  net?: string[];
}

export function emptyLearned(): Learned {
  return { abis: {}, commands: [] };
}

/** Every call stops at tsjail (the handshake too, by the same instruction). */
export function learningFilter(): Uint8Array {
  return encodeProgram([
    { code: 0x20, jt: 0, jf: 0, k: SECCOMP_DATA_NR },
    { code: 0x06, jt: 0, jf: 0, k: SECCOMP_RET_USER_NOTIF },
  ], 'little');
}

/** What learn lets run and record beyond the safe default. */
export interface LearnScope {
  /** --learn-dangerous: the calls the built-in policy refuses by a rule are let through and learned. */
  readonly dangerous?: boolean;
  /** --learn-abi: ABIs besides the host's whose calls are learned (any other ABI is refused as the built-in refuses it). */
  readonly abis?: readonly Abi[];
  /** The jail writes host files as their owners: set-id files are refused, --learn-dangerous or not (setIdRules.ts). */
  readonly setIds?: boolean;
  /** The jail's file rules: the directories written outside the default writable places are learned. */
  readonly files?: LearnFiles;
  /** --learn-net: connects and sends are performed by tsjail and their destinations learned. */
  readonly net?: NetLearner;
}

/** One kind of refused call, for the report: what refused it and how often. */
export interface Refusal {
  readonly abi: string;
  readonly syscall: string;
  /** The built-in rule's label, or undefined for a call through an ABI learn does not target. */
  readonly rule?: string;
  readonly quiet: boolean;
  /** The built-in's seccomp return value (ERRNO | n, or KILL_PROCESS for a bad arch). */
  readonly ret: number;
  count: number;
}

const ENOSYS = 38;

export class Learner {
  seen = 0;
  /** Set when a refusal killed the jail's first process (the exit status then reads SIGSYS, as under run). */
  private killedMain = false;
  private readonly refusals = new Map<string, Refusal>();
  private readonly builtin: Policy;
  private readonly targets: readonly Abi[];

  constructor(private readonly learned: Learned, private readonly scope: LearnScope = {},
    private readonly progress?: (seen: number, distinct: number) => void) {
    this.targets = [hostAbi(), ...(scope.abis ?? []).filter((a) => a.name !== hostAbi().name)];
    this.builtin = scope.setIds ? withSetIdRules(defaultPolicy()) : defaultPolicy();
  }

  distinct(): number {
    return Object.values(this.learned.abis).reduce((n, m) => n + Object.keys(m).length, 0);
  }

  /** The refused calls, in the order first seen. */
  refused(): readonly Refusal[] {
    return [...this.refusals.values()];
  }

  /**
   * The built-in policy's decision when it refuses the call and learn must too, else undefined.
   * Only registers are looked at (never the caller's memory), so nothing can change under it.
   */
  private refusal(n: Notification): Omit<Refusal, 'count'> | undefined {
    const decision = evaluatePolicy(this.builtin, this.targets, { nr: n.nr, arch: n.arch, args: n.args });
    const abi = decision.abi ?? abiOfCall(Object.values(ABIS), n.arch, n.nr);
    const syscall = decision.syscall ?? (abi && syscallName(abi, n.nr)) ?? `syscall ${n.nr}`;
    const where = { abi: abi?.name ?? `arch 0x${(n.arch >>> 0).toString(16)}`, syscall, ret: decision.ret };
    if (decision.decider.kind === 'bad_arch') return { ...where, quiet: false };
    if (decision.decider.kind !== 'rule' || decision.ret >>> 0 === SECCOMP_RET_ALLOW) return undefined;
    const rule = this.builtin.rules[decision.decider.ruleIndex]!;
    if (this.scope.dangerous && rule.label !== SET_ID_LABEL) return undefined;
    return { ...where, rule: rule.label ?? `rule ${decision.decider.ruleIndex}`, quiet: rule.quiet === true };
  }

  /** What a write-intent call writes; recording never fails the call (it is the kernel's to decide). */
  private writesOf(name: string, n: Notification, files: LearnFiles): ReturnType<typeof learnWrites> {
    try {
      return learnWrites(name, n, files);
    } catch {
      return [];
    }
  }

  /** Written paths the rules refuse to learn, with the reason (reported at the end). */
  readonly unlearned = new Set<string>();
  /** Learned writes that failed in this run (the learning jail's rules refuse them). */
  refusedWrites = 0;

  /**
   * Answers a stopped call: refused as the built-in policy would, or let through (and learned,
   * after main() with --late); the jail's writes and destinations are learned throughout, as
   * file and network rules hold throughout.
   */
  private decide(n: Notification, mainPid: () => number | undefined, answer: Answerer, learn: boolean): void {
    if (n.nr === HANDSHAKE_NR) { answer('continue'); return; }
    const refusal = this.refusal(n);
    if (!refusal) {
      if (learn) this.record(n);
      // The write-intent and network calls' argument positions are the host ABI's.
      const name = abiOfCall(Object.values(ABIS), n.arch, n.nr)?.name === hostAbi().name ? syscallName(hostAbi(), n.nr) : undefined;
      if (name && this.scope.files && isWriteCall(name)) {
        for (const w of this.writesOf(name, n, this.scope.files)) {
          if (!('dir' in w)) { this.unlearned.add(w.why); continue; }
          if (!(this.learned.writes ??= []).includes(w.dir)) this.learned.writes.push(w.dir);
          if (w.refused) this.refusedWrites++;
        }
      }
      if (name && this.scope.net && name in NET_KINDS && (name !== 'sendto' || n.args[4] !== 0n)) return this.scope.net.handle(n, name as NetKind, answer);
      answer('continue');
      return;
    }
    const key = `${refusal.abi}|${refusal.syscall}|${refusal.rule ?? ''}`;
    const known = this.refusals.get(key);
    if (known) known.count++;
    else this.refusals.set(key, { ...refusal, count: 1 });
    const byName = abiOfCall(Object.values(ABIS), n.arch, n.nr);
    if (byName && syscallNumber(byName, refusal.syscall) !== undefined) {
      const table = ((this.learned.refused ??= {})[byName.name] ??= {});
      table[refusal.syscall] = (table[refusal.syscall] ?? 0) + 1;
    }
    if (((refusal.ret & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ERRNO) {
      answer({ errno: refusal.ret & SECCOMP_RET_DATA });
      return;
    }
    // A kill (the built-in's bad-arch action): SIGKILL is pending before the call is answered,
    // so the caller never returns to run anything; the call itself fails either way.
    if (n.pid === mainPid()) this.killedMain = true;
    try { process.kill(n.pid, 'SIGKILL'); } catch { /* already gone */ }
    answer({ errno: ENOSYS });
  }

  record(n: Notification): void {
    if (n.nr === HANDSHAKE_NR) return;
    const abi: Abi | undefined = abiOfCall(Object.values(ABIS), n.arch, n.nr);
    if (!abi) return;
    const name = syscallName(abi, n.nr);
    if (!name) return;
    const table = (this.learned.abis[abi.name] ??= {});
    const entry = (table[name] ??= { count: 0 });
    entry.count++;
    this.seen++;
    for (const [sys, argName] of CONSTRAINED_ARGS) {
      if (sys !== name) continue;
      const arg = syscallArgs(abi, name)?.find((a) => a.name === argName);
      if (!arg) continue;
      const raw = n.args[arg.index] ?? 0n;
      const value = arg.bits === 64 ? raw : raw & ((1n << BigInt(arg.bits)) - 1n);
      const values = ((entry.values ??= {})[argName] ??= []);
      const text = nameValue(name, argName, value, arg.signed, arg.bits);
      if (!values.includes(text)) values.push(text);
    }
    this.progress?.(this.seen, this.distinct());
  }

  watch(): Watch {
    return {
      filter: learningFilter(),
      handle: (n, mainPid, answer) => this.decide(n, mainPid, answer, true),
      // --late: what runs before main() is not learned; what the built-in refuses is refused there too.
      late: { filter: learningFilter(), handle: (n, mainPid, answer) => this.decide(n, mainPid, answer, false) },
      // A refusal's SIGKILL stands for the kernel's SIGSYS kill, as under tsjail run.
      exitCode: (code) => (this.killedMain && code === 128 + 9 ? 128 + 31 : code),
    };
  }
}

/** stderr lines for the refused calls: what, how often, who refused it, and how to learn it anyway. */
export function formatRefusals(refused: readonly Refusal[], host: Abi = hostAbi()): string[] {
  return refused.map((r) => {
    const times = `x${r.count}`;
    if (r.rule === undefined) {
      return `learn: killed the caller of ${r.syscall} through the ${r.abi} ABI ${times}: the built-in policy kills calls through ABIs other than ${host.name}, and the written policy targets only the ABIs learned; to learn this ABI: --learn-abi ${r.abi}`;
    }
    const answer = errnoName(r.ret & SECCOMP_RET_DATA) ?? `errno ${r.ret & SECCOMP_RET_DATA}`;
    if (r.quiet) return `learn: refused ${r.syscall} ${times} with ${answer} (built-in rule '${r.rule}': libc falls back, e.g. clone3 to clone, which is learned); the written policy answers it the same way`;
    return `learn: refused ${r.syscall} ${times} with ${answer} (built-in group '${r.rule}'); not in the written policy; to learn them anyway: --learn-dangerous`;
  });
}

/** Widens `into` with another run's record. */
export function mergeLearned(into: Learned, other: Learned): Learned {
  for (const [abi, table] of Object.entries(other.abis)) {
    const mine = (into.abis[abi] ??= {});
    for (const [name, e] of Object.entries(table)) {
      const m = (mine[name] ??= { count: 0 });
      m.count += e.count;
      for (const [arg, vals] of Object.entries(e.values ?? {})) {
        const list = ((m.values ??= {})[arg] ??= []);
        for (const v of vals) if (!list.includes(v)) list.push(v);
      }
    }
  }
  for (const [abi, table] of Object.entries(other.refused ?? {})) {
    const mine = ((into.refused ??= {})[abi] ??= {});
    for (const [name, count] of Object.entries(table)) mine[name] = (mine[name] ?? 0) + count;
  }
  for (const dir of other.writes ?? []) if (!(into.writes ??= []).includes(dir)) into.writes.push(dir);
  if (other.net) for (const r of other.net) if (!(into.net ??= []).includes(r)) into.net.push(r);
  into.commands.push(...other.commands);
  // A record learned from main() on lacks that command's start-up: the result still needs --late.
  if (other.late) into.late = true;
  return into;
}

const MARKER = 'tsjail-learned:';

/**
 * JSON that stays inert wherever it is pasted: only printable ASCII, and none of `*` (a block
 * comment's end), `<` `>` `&` (markup), backtick; everything else, U+2028/U+2029 and lone
 * surrogates included, as a \uXXXX escape. Those characters occur only inside JSON strings, where
 * the escape means the same, so JSON.parse gives back exactly the original.
 */
export function inertJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[^\n\x20-\x7e]|[*<>&`]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const C_VALUES = require('../policy/constants') as Record<string, unknown>;
const isConstant = (name: string): boolean => Object.prototype.hasOwnProperty.call(C_VALUES, name) && typeof C_VALUES[name] === 'number';

/** A recorded argument value: a number, or constants (and a hex rest) joined with ` | `. */
const VALUE = /^(?:-?\d+|0x[0-9a-f]+|[A-Z_][A-Z0-9_]*(?: \| (?:[A-Z_][A-Z0-9_]*|0x[0-9a-f]+))*)$/;
const isValue = (text: string): boolean => VALUE.test(text) && text.split(' | ').every((p) => /^-?\d|^0x/.test(p) || isConstant(p));

/** A value as policy code: only ever a number or constant names, checked (a merged record may be hostile). */
function literal(text: string): string {
  if (!isValue(text)) throw new Error(`internal error: '${inertJson(text)}' is not a learned value`);
  return text;
}

/** Calls a threaded program makes or not depending on timing: added once it starts a thread. */
export const THREAD_TIMING_SYSCALLS = ['futex', 'sched_yield', 'nanosleep', 'clock_nanosleep', 'madvise', 'membarrier'] as const;

const CLONE_THREAD = 0x10000;

/** Fills in the timing-dependent calls of an ABI whose program started threads. */
function withThreadTiming(table: Learned['abis'][string]): Learned['abis'][string] {
  const clone = table.clone?.values?.clone_flags ?? [];
  const threads = table.clone3 !== undefined || clone.some((v) => (valueOf(v) & CLONE_THREAD) !== 0);
  if (!threads) return table;
  const out = { ...table };
  for (const name of THREAD_TIMING_SYSCALLS) out[name] ??= { count: 0 };
  return out;
}

/** clone3 was not learned (learn answered it ENOSYS): the policy answers ENOSYS too, so libc keeps falling back to clone. */
const refusesClone3 = (l: Learned): boolean => Object.values(l.abis).every((t) => t.clone3 === undefined);

/** Comment lines naming what was refused while learning (names checked: only syscall and ABI names). */
function refusedComment(l: Learned): string[] {
  const abis = Object.entries(l.refused ?? {}).filter(([, t]) => Object.keys(t).length);
  if (!abis.length) return [];
  return [
    '// Refused while learning (the built-in policy refuses them; this policy does not allow them):',
    ...abis.map(([abi, t]) => `//   ${abi}${l.abis[abi] ? '' : ' (an ABI this policy does not target)'}: ${Object.entries(t).map(([n, c]) => `${n} x${c}`).join(', ')}`),
  ];
}

/**
 * A TypeScript policy `tsjail run --policy` accepts, with the raw record kept for --merge. Its
 * code is made only of ABI names, syscall names and values from the record, each checked; the
 * commands appear only as inert JSON in comments.
 */
export function learnedToTs(l: Learned): string {
  checkLearned(l, 'the learned record');
  const arches = Object.keys(l.abis).sort();
  const constants = new Set<string>();
  const rules: string[] = [];
  const plain = new Set<string>();
  for (const abi of arches) {
    for (const [name, e] of Object.entries(withThreadTiming(l.abis[abi]!)).sort()) {
      const constrained = Object.entries(e.values ?? {});
      if (!constrained.length) { plain.add(name); continue; }
      const where = constrained.map(([arg, vals]) => {
        for (const v of vals) for (const c of v.split(' | ')) if (/^[A-Z_][A-Z0-9_]*$/.test(c)) constants.add(c);
        return `${arg}: [${vals.map(literal).join(', ')}]`;
      });
      const rule = `    allow('${name}', { ${where.join(', ')} }),`;
      if (!rules.includes(rule)) rules.push(rule);
    }
  }
  const names = [...plain].sort();
  const chunks: string[] = [];
  for (let i = 0; i < names.length; i += 8) chunks.push(names.slice(i, i + 8).map((n) => `'${n}'`).join(', '));
  const clone3 = refusesClone3(l);
  return [
    `// Learned by \`tsjail learn\` from: ${l.commands.map((c) => inertJson(c)).join(', ')}`,
    '// Review before use: it allows what these runs did, and nothing else.',
    ...refusedComment(l),
    `import { definePolicy, allow, errno${clone3 ? ', quiet' : ''}${[...constants].sort().map((c) => `, ${c}`).join('')} } from 'tsjail';`,
    '',
    'export default definePolicy({',
    "  default: errno('EPERM'),",
    `  arches: [${arches.map((a) => `'${a}'`).join(', ')}],`,
    ...jailSection(l),
    '  rules: [',
    ...(names.length ? ['    allow(', ...chunks.map((c) => `      ${c},`), '    ),'] : []),
    ...rules,
    ...(clone3 ? ['    quiet(errno(\'ENOSYS\', \'clone3\')), // as the built-in policy: libc then uses clone'] : []),
    '  ],',
    '});',
    '',
    `/* ${MARKER} ${inertJson(l)} */`,
    '',
  ].join('\n');
}

/** The policy's `jail` section: --late, the learned directories and destinations (JSON strings: inert, checked). */
function jailSection(l: Learned): string[] {
  const late = '// Learned from main() on: the dynamic loader\'s calls are not in it.';
  if (!l.writes?.length && !l.net) return l.late ? [`  ${late}`, '  jail: { late: true },'] : [];
  const entries = [
    ...(l.late ? [`    ${late}`, '    late: true,'] : []),
    ...(l.writes?.length ? ['    // Written outside the default writable places (the working directory, /tmp):', `    fs: [${outermostDirectories(l.writes).map((d) => `{ rw: ${inertJson(d)} }`).join(', ')}],`] : []),
    ...(l.net ? ['    // Reached while learning (--learn-net): nothing else is.', `    net: { allow: [${[...l.net].sort().map((r) => inertJson(r)).join(', ')}] },`] : []),
  ];
  return entries.length ? ['  jail: {', ...entries, '  },'] : [];
}

/** The number a learned value stands for: a constant, constants joined with |, or a literal. */
function valueOf(text: string): number {
  return text.split(' | ').reduce((acc, part) => (acc | (/^-?\d+$|^0x/.test(part) ? Number(part) : isConstant(part) ? C_VALUES[part] as number : 0)) >>> 0, 0);
}

/** The calls the runtimes make under the filter that the learned calls do not already allow unconditionally, sorted. */
function runtimeAdditions(plain: ReadonlySet<string>, runtimes: readonly Runtime[]): string[] {
  const calls = runtimes.flatMap((r) => { const { calls, threaded } = runtimeCalls(r); return [...calls, ...(threaded ? THREAD_TIMING_SYSCALLS : [])]; });
  return [...new Set(calls)].filter((n) => !plain.has(n)).sort();
}

/**
 * An OCI profile (`--format json`), with the raw record for --merge; `runtimes` (--for) adds the
 * calls those runtimes make after they load the filter, unconditionally (a learned pin on one of
 * them would only be shadowed), and names them in `x-tsjail-for`.
 */
export function learnedToOci(l: Learned, runtimes: readonly Runtime[] = []): string {
  checkLearned(l, 'the learned record');
  const arches = Object.keys(l.abis).sort();
  const learnedPlain = new Set(arches.flatMap((abi) => Object.entries(withThreadTiming(l.abis[abi]!)).filter(([, e]) => !Object.keys(e.values ?? {}).length).map(([n]) => n)));
  const added = runtimeAdditions(learnedPlain, runtimes);
  const plain = new Set([...learnedPlain, ...added]);
  const syscalls: object[] = [];
  for (const abi of arches) {
    for (const [name, e] of Object.entries(withThreadTiming(l.abis[abi]!))) {
      const constrained = Object.entries(e.values ?? {});
      if (!constrained.length || plain.has(name)) continue;
      const [arg, vals] = constrained[0]!;
      const index = syscallArgs(ABIS[abi as keyof typeof ABIS], name)?.find((a) => a.name === arg)?.index ?? 0;
      syscalls.push({ names: [name], action: 'SCMP_ACT_ALLOW', args: vals.map((v) => ({ index, value: valueOf(v), op: 'SCMP_CMP_EQ' })) });
    }
  }
  if (refusesClone3(l)) syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  return `${inertJson({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: arches.map((a) => `SCMP_ARCH_${a.toUpperCase()}`),
    syscalls: [{ names: [...plain].sort(), action: 'SCMP_ACT_ALLOW' }, ...syscalls],
    ...(runtimes.length ? { 'x-tsjail-for': { runtimes, added } } : {}),
    'x-tsjail-learned': l,
  }, 2)}\n`;
}

/** Why a parsed record is not one learn wrote, or undefined: a record's names become policy code. */
function recordProblem(x: unknown): string | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  const abiOf = (name: string): Abi | undefined => (Object.prototype.hasOwnProperty.call(ABIS, name) ? ABIS[name as keyof typeof ABIS] : undefined);
  const calls = (field: string, v: unknown, each: (abi: Abi, name: string, entry: unknown) => string | undefined): string | undefined => {
    if (!isObject(v)) return `${field} is not an object`;
    for (const [abiName, table] of Object.entries(v)) {
      const abi = abiOf(abiName);
      if (!abi) return `${field}: unknown ABI ${inertJson(abiName)}`;
      if (!isObject(table)) return `${field}.${abiName} is not an object`;
      for (const [name, entry] of Object.entries(table)) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name) || syscallNumber(abi, name) === undefined) return `${field}.${abiName}: ${inertJson(name)} is not a syscall of ${abiName}`;
        const problem = each(abi, name, entry);
        if (problem) return `${field}.${abiName}.${name}: ${problem}`;
      }
    }
    return undefined;
  };
  if (!isObject(x)) return 'not an object';
  if (!Array.isArray(x.commands) || !x.commands.every((c) => typeof c === 'string')) return 'commands is not a list of strings';
  if (x.late !== undefined && typeof x.late !== 'boolean') return 'late is not a boolean';
  if (x.writes !== undefined && !(Array.isArray(x.writes) && x.writes.every(isLearnedDirectory))) return 'writes is not a list of absolute directories';
  if (x.net !== undefined && !(Array.isArray(x.net) && x.net.every(isLearnedDestination))) return 'net is not a list of HOST:PORT/PROTOCOL destinations';
  if (x.refused !== undefined) {
    const problem = calls('refused', x.refused, (_abi, _name, count) => (isCount(count) ? undefined : 'not a count'));
    if (problem) return problem;
  }
  return calls('abis', x.abis, (_abi, name, entry) => {
    if (!isObject(entry) || !isCount(entry.count)) return 'no count';
    if (entry.values === undefined) return undefined;
    if (!isObject(entry.values)) return 'values is not an object';
    for (const [arg, vals] of Object.entries(entry.values)) {
      if (!CONSTRAINED_ARGS.some(([s, a]) => s === name && a === arg)) return `${inertJson(arg)} is not an argument learn records`;
      if (!Array.isArray(vals) || !vals.every((v) => typeof v === 'string' && isValue(v))) return `values of ${arg} are not numbers or constants`;
    }
    return undefined;
  });
}

/** A learned directory: absolute, normal, not `/`, printable. */
const isLearnedDirectory = (d: unknown): boolean => typeof d === 'string' && d !== '/' && /^\/[\x21-\x7e ]*$/.test(d) && posix.normalize(d) === d && !d.endsWith('/');

/** A learned destination: what destinationText writes (an address or a name, a port, a protocol), a rule that parses. */
function isLearnedDestination(r: unknown): boolean {
  if (typeof r !== 'string' || !/^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5}\/(?:tcp|udp))?$/.test(r)) return false;
  try { parseNetRule(r); return true; } catch { return false; }
}

function checkLearned(x: unknown, what: string): asserts x is Learned {
  const problem = recordProblem(x);
  if (problem) throw new Error(`${what} is not one tsjail learn writes (${problem})`);
}

/** The record inside a file written by learn (for --merge), checked: the file may come from anyone. */
export function readLearned(text: string, file: string): Learned {
  let found: unknown;
  try {
    found = text.trimStart().startsWith('{')
      ? (JSON.parse(text) as { 'x-tsjail-learned'?: unknown })['x-tsjail-learned']
      : ((m) => (m ? JSON.parse(m) : undefined))(new RegExp(`^/\\* ${MARKER} (.*) \\*/$`, 'm').exec(text)?.[1]);
  } catch (e) {
    throw new Error(`${file}: its learned record is not valid JSON (${(e as Error).message})`);
  }
  if (found === undefined) throw new Error(`${file}: not written by tsjail learn (no learned record to merge)`);
  checkLearned(found, `${file}: its learned record`);
  return found;
}
