// Learn mode: run a command with every syscall stopping at tsjail, record what it uses per ABI
// with counts and the argument values of the syscalls policies usually constrain, and write the
// allowlist (generalized by learnClasses.ts unless --exact). Calls are let through (SECCOMP_USER_NOTIF_FLAG_CONTINUE) except those the
// built-in policy refuses (its dangerous groups, clone with namespace flags, clone3, calls through
// an ABI other than the host's): those are answered as the built-in policy answers them, decided
// by the same reference evaluator, and reported, never learned.
import { ABIS, hostAbi, type Abi } from '../arch/abi';
import { encodeProgram } from '../kernel/instruction';
import { SECCOMP_DATA_NR, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF } from '../kernel/seccomp';
import { errnoName } from '../kernel/errno';
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
import { learnedValue, profileOf, SYSCALL_CLASSES, THREAD_TIMING_SYSCALLS, type ArgPin, type ProfileCall } from './learnClasses';
import { posix } from 'node:path';
import type { Watch } from './run';
import { runtimeCalls, type Runtime } from './runtimeCalls';
import { inertJson } from './printable';

/** Arguments whose values a learned policy pins down: [syscall, argument name]. */
export const CONSTRAINED_ARGS: readonly (readonly [string, string])[] = [
  ['socket', 'family'], ['ioctl', 'cmd'], ['prctl', 'option'], ['personality', 'personality'], ['clone', 'clone_flags'],
];

/**
 * What a run used: ABI → syscall → count and, for constrained arguments, the values seen. `runs`
 * holds the count per run, in the order of `commands` (learn records its run as commands[0] and
 * merges earlier records after it); records written before it existed have none.
 */
export interface Learned {
  readonly abis: Record<string, Record<string, { count: number; runs?: number[]; values?: Record<string, string[]> }>>;
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
  /** This run's counts are kept apart (as runs[0]): the record merged so far has per-run counts. */
  private readonly perRun: boolean;

  constructor(private readonly learned: Learned, private readonly scope: LearnScope = {},
    private readonly progress?: (seen: number, distinct: number) => void) {
    this.targets = [hostAbi(), ...(scope.abis ?? []).filter((a) => a.name !== hostAbi().name)];
    this.builtin = scope.setIds ? withSetIdRules(defaultPolicy()) : defaultPolicy();
    this.perRun = learned.commands.length > 0 && hasRunCounts(learned);
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
    const entry = (table[name] ??= { count: 0, ...(this.perRun ? { runs: this.learned.commands.map(() => 0) } : {}) });
    entry.count++;
    if (entry.runs) entry.runs[0]!++;
    this.seen++;
    for (const [sys, argName] of CONSTRAINED_ARGS) {
      if (sys !== name) continue;
      const arg = syscallArgs(abi, name)?.find((a) => a.name === argName);
      if (!arg) continue;
      const raw = n.args[arg.index] ?? 0n;
      const value = arg.bits === 64 ? raw : raw & ((1n << BigInt(arg.bits)) - 1n);
      const values = ((entry.values ??= {})[argName] ??= []);
      const text = name === 'clone' ? cloneFlagsText(value) : nameValue(name, argName, value, arg.signed, arg.bits);
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

/** clone's flags with their low byte, the signal sent to the parent at exit, by name: `CLONE_VM | SIGCHLD`. */
function cloneFlagsText(value: bigint): string {
  const flags = value & ~0xffn;
  const signal = value & 0xffn;
  const parts = [...(flags ? [nameValue('clone', 'clone_flags', flags, false, 64)] : []), ...(signal ? [nameValue('kill', 'sig', signal, false, 32)] : [])];
  // A value not led by a constant name stays one number, as the record's grammar has it.
  if (!parts.length || /^\d|^0x/.test(parts[0]!)) return nameValue('clone', 'clone_flags', value, false, 64);
  return parts.join(' | ');
}

/** Every entry of the record has its per-run counts. */
const hasRunCounts = (l: Learned): boolean => Object.values(l.abis).every((t) => Object.values(t).every((e) => e.runs !== undefined));

/** Widens `into` with another run's record; per-run counts are kept when both records have them. */
export function mergeLearned(into: Learned, other: Learned): Learned {
  const perRun = hasRunCounts(into) && hasRunCounts(other);
  const [mineRuns, otherRuns] = [into.commands.length, other.commands.length];
  for (const table of Object.values(into.abis)) {
    for (const e of Object.values(table)) {
      if (perRun) e.runs = [...(e.runs ?? []), ...Array<number>(otherRuns).fill(0)];
      else delete e.runs;
    }
  }
  for (const [abi, table] of Object.entries(other.abis)) {
    const mine = (into.abis[abi] ??= {});
    for (const [name, e] of Object.entries(table)) {
      const m = (mine[name] ??= { count: 0, ...(perRun ? { runs: Array<number>(mineRuns + otherRuns).fill(0) } : {}) });
      m.count += e.count;
      if (perRun) m.runs!.splice(mineRuns, otherRuns, ...e.runs!);
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

const C_VALUES = require('../kernel/constants') as Record<string, unknown>;
const isConstant = (name: string): boolean => Object.prototype.hasOwnProperty.call(C_VALUES, name) && typeof C_VALUES[name] === 'number';

/** A recorded argument value: a number, or constants (and a hex rest) joined with ` | `. */
const VALUE = /^(?:-?\d+|0x[0-9a-f]+|[A-Z_][A-Z0-9_]*(?: \| (?:[A-Z_][A-Z0-9_]*|0x[0-9a-f]+))*)$/;
const isValue = (text: string): boolean => VALUE.test(text) && text.split(' | ').every((p) => /^-?\d|^0x/.test(p) || isConstant(p));

/** A value as policy code: only ever a number or constant names, checked (a merged record may be hostile). */
function literal(text: string): string {
  if (!isValue(text)) throw new Error(`internal error: '${inertJson(text)}' is not a learned value`);
  return text;
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

/** How a learned policy is written. */
export interface WriteOptions {
  /** --exact: the calls the runs made and nothing else (no classes, implied calls or widened arguments). */
  readonly exact?: boolean;
}

/** A written rule: its code (`allow(...)`), the concern it is listed under, and its comment. */
interface WrittenRule { readonly code: string; readonly group: string | undefined; readonly comment: string }

const OTHER_CALLS = 'other calls';

/** How often a call was seen: `seen 3 times, only in run 2` (runs counted from 1, in the header's order). */
function seenText(count: number, runs: readonly number[] | undefined): string {
  const times = `seen ${count} time${count === 1 ? '' : 's'}`;
  if (!runs || runs.length < 2) return times;
  const inRuns = runs.flatMap((n, i) => (n ? [i + 1] : []));
  return inRuns.length === runs.length ? `${times}, in every run` : `${times}, only in run${inRuns.length > 1 ? 's' : ''} ${inRuns.join(', ')}`;
}

/** The pin of a call as the argument's condition in policy code (values checked: a record may be hostile). */
function pinCode(pin: ArgPin, constants: Set<string>): string {
  if ('noBitsOf' in pin) { constants.add(pin.noBitsOf); return `${pin.arg}: hasNone(${pin.noBitsOf})`; }
  for (const v of pin.values) for (const c of v.split(' | ')) if (/^[A-Z_][A-Z0-9_]*$/.test(c)) constants.add(c);
  return `${pin.arg}: [${pin.values.map(literal).join(', ')}]`;
}

/** What a widened pin allows beyond the values seen. */
function pinComment(pin: ArgPin | undefined): string {
  return pin?.widened ? `; widened to ${pin.widened} (seen: ${pin.seen.map(literal).join(', ')})` : '';
}

/** Every ABI's profile, one rule per call and pin, in the order: classes as in the table, then the other calls; by name within. */
function writtenRules(l: Learned, exact: boolean, constants: Set<string>): WrittenRule[] {
  const byCode = new Map<string, { call: ProfileCall; count: number; runs?: number[] }>();
  for (const abi of Object.keys(l.abis).sort()) {
    for (const call of profileOf(ABIS[abi as keyof typeof ABIS], l.abis[abi]!, exact)) {
      const code = `allow('${call.name}'${call.pin ? `, { ${pinCode(call.pin, constants)} }` : ''})`;
      const known = byCode.get(code);
      if (!known) { byCode.set(code, { call, count: call.count, ...(call.runs ? { runs: [...call.runs] } : {}) }); continue; }
      known.count += call.count;
      if (known.runs && call.runs) known.runs = known.runs.map((n, i) => n + (call.runs![i] ?? 0));
    }
  }
  const order = (g: string | undefined): number => (g === undefined ? SYSCALL_CLASSES.length : SYSCALL_CLASSES.findIndex((c) => c.name === g));
  return [...byCode].map(([code, { call, count, runs }]) => ({
    code, group: call.group,
    comment: count || !call.added ? `${seenText(count, runs)}${pinComment(call.pin)}` : `added: ${call.added}`,
  })).sort((a, b) => order(a.group) - order(b.group) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/** The rules under a heading per concern: a class with its reason, or the other calls. */
function groupedRules(rules: readonly WrittenRule[]): string[] {
  const lines: string[] = [];
  let heading: string | undefined;
  for (const r of rules) {
    const cls = SYSCALL_CLASSES.find((c) => c.name === r.group);
    const next = cls ? `${cls.name}: ${cls.reason}` : OTHER_CALLS;
    if (next !== heading) lines.push(`    // ${(heading = next)}`);
    lines.push(`    ${r.code}, // ${r.comment}`);
  }
  return lines;
}

/** The header's list of runs: the commands as inert JSON, numbered when there are several. */
function commandsText(l: Learned): string {
  const each = l.commands.map((c) => inertJson(c));
  return each.length > 1 ? each.map((c, i) => `run ${i + 1} ${c}`).join(', ') : each.join(', ');
}

/**
 * A TypeScript policy `tsjail run --policy` accepts, with the raw record kept for --merge. Its
 * code is made only of ABI names, syscall names and values from the record, each checked, and
 * constants of the generalizing tables; the commands appear only as inert JSON in comments.
 */
export function learnedToTs(l: Learned, options: WriteOptions = {}): string {
  checkLearned(l, 'the learned record');
  const arches = Object.keys(l.abis).sort();
  const constants = new Set<string>();
  const rules = writtenRules(l, options.exact === true, constants);
  const clone3 = refusesClone3(l);
  const hasNone = rules.some((r) => r.code.includes('hasNone('));
  return [
    `// Learned by \`tsjail learn\` from: ${commandsText(l)}`,
    options.exact
      ? '// Review before use: it allows exactly what these runs did (--exact), and nothing else.'
      : '// Review before use: it allows what these runs did, and what the built-in policy allows of the same class,\n// implied by timing or the disk\'s state, or widened (marked `added:`, `widened`); tsjail learn --exact writes only what the runs did.',
    ...refusedComment(l),
    `import { definePolicy, allow, errno${hasNone ? ', hasNone' : ''}${clone3 ? ', quiet' : ''}${[...constants].sort().map((c) => `, ${c}`).join('')} } from 'tsjail';`,
    '',
    'export default definePolicy({',
    "  default: errno('EPERM'),",
    `  arches: [${arches.map((a) => `'${a}'`).join(', ')}],`,
    ...jailSection(l),
    '  rules: [',
    ...groupedRules(rules),
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

/** The calls the runtimes make under the filter that the profile does not already allow unconditionally, sorted. */
function runtimeAdditions(plain: ReadonlySet<string>, runtimes: readonly Runtime[]): string[] {
  const calls = runtimes.flatMap((r) => { const { calls, threaded } = runtimeCalls(r); return [...calls, ...(threaded ? THREAD_TIMING_SYSCALLS : [])]; });
  return [...new Set(calls)].filter((n) => !plain.has(n)).sort();
}

/**
 * An OCI profile (`--format json`), with the raw record for --merge; `runtimes` (--for) adds the
 * calls those runtimes make after they load the filter, unconditionally (a learned pin on one of
 * them would only be shadowed), and names them in `x-tsjail-for`.
 */
export function learnedToOci(l: Learned, options: WriteOptions = {}, runtimes: readonly Runtime[] = []): string {
  checkLearned(l, 'the learned record');
  const arches = Object.keys(l.abis).sort();
  const profiles = arches.map((abi) => [abi, profileOf(ABIS[abi as keyof typeof ABIS], l.abis[abi]!, options.exact === true)] as const);
  const learnedPlain = new Set(profiles.flatMap(([, calls]) => calls.filter((c) => !c.pin).map((c) => c.name)));
  const added = runtimeAdditions(learnedPlain, runtimes);
  const plain = new Set([...learnedPlain, ...added]);
  const syscalls: object[] = [];
  const written = new Set<string>();
  for (const [abi, calls] of profiles) {
    for (const call of calls) {
      if (!call.pin || plain.has(call.name)) continue;
      const index = syscallArgs(ABIS[abi as keyof typeof ABIS], call.name)?.find((a) => a.name === call.pin!.arg)?.index ?? 0;
      const args = 'noBitsOf' in call.pin
        ? [{ index, value: C_VALUES[call.pin.noBitsOf] as number, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]
        : call.pin.values.map((v) => ({ index, value: learnedValue(literal(v)), op: 'SCMP_CMP_EQ' }));
      const entry = { names: [call.name], action: 'SCMP_ACT_ALLOW', args };
      const key = JSON.stringify(entry);
      if (!written.has(key)) { written.add(key); syscalls.push(entry); }
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
    const runs = entry.runs;
    if (runs !== undefined && !(Array.isArray(runs) && runs.length === (x.commands as unknown[]).length && runs.every(isCount) && runs.reduce((a: number, n: number) => a + n, 0) === entry.count)) {
      return 'runs is not one count per command adding up to count';
    }
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
