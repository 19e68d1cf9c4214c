// The supervisor: explains every denial while the jail runs.
//
// Mechanism: the compiled filter's ERRNO and KILL_PROCESS returns are rewritten to
// SECCOMP_RET_USER_NOTIF (same decision tree, so the same calls stop). tsjail receives each
// stopped call, decides it again with the reference evaluator on the policy (the compiler is
// property-tested to agree with it), reports it, and answers: the policy's errno, or SIGKILL
// for a kill. The call never runs in either case, so the jail is exactly as strict as the
// policy; SECCOMP_USER_NOTIF_FLAG_CONTINUE, which the kernel warns cannot enforce anything, is
// used only in log mode, where the policy's denials are to be let through. If tsjail dies, the
// jail dies with it (PR_SET_PDEATHSIG), so no call is left to run unanswered.
import { readFileSync } from 'node:fs';
import { ABIS, type Abi } from '../arch/abi';
import { decodeProgram, encodeProgram } from '../kernel/instruction';
import {
  describeRet, SECCOMP_DATA_NR, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF,
} from '../kernel/seccomp';
import type { Policy } from '../policy/model';
import type { Decision } from '../policy/evaluate';
import type { DenialExplanation } from './denial';
import type { Notification } from './helper';
import type { NetKind } from './helper';
import type { NetRule } from './netRules';
import type { NetRefusal, NetSupervisor } from './netSupervisor';
import type { UnixScope } from './unixRules';
import { decidingRule, type FsRule, type ResolvedFs } from './fsRules';
import type { WriteRefusal } from './fsWrites';
import { DRIFT_LABEL, TSJAIL_STOPS } from '../policy/jailStops';
import { inertJson, oneLine } from './printable';
import type { DriftLevels } from './drift';

/** What the supervisor needs to explain refused writes (fsWrites.ts). */
export interface WriteWatch {
  isWriteCall(syscall: string): boolean;
  predict(syscall: string, n: Notification): WriteRefusal | undefined;
  /** Without a mount layer: tsjail's own answer to a chmod or xattr change (fsMetadata.ts); undefined: the kernel decides. */
  perform(syscall: string, n: Notification): { errno: number } | undefined;
  /** The jail runs without namespaces after all, under these rules (its TMPDIR writable, /tmp not). */
  withoutNamespaces(fs: ResolvedFs): void;
}

/** The write watch of a jail with file rules; `otherMounts` are its --bind/--tmpfs destinations. */
export function writeWatch(fs: ResolvedFs, mountLayer: boolean, otherMounts: readonly string[]): WriteWatch {
  const { isWriteCall, predictRefusal } = require('./fsWrites') as typeof import('./fsWrites');
  let rules = fs, mounts = mountLayer;
  return {
    isWriteCall,
    predict: (syscall, n) => predictRefusal(rules, syscall, n.args, n.pid, { mountLayer: mounts, otherMounts }),
    perform: (syscall, n) => (mounts ? undefined : (require('./fsMetadata') as typeof import('./fsMetadata')).performMetadata(rules, syscall, n.args, n.pid)),
    withoutNamespaces: (jailRules) => { rules = jailRules; mounts = false; },
  };
}
import { HANDSHAKE_NR, MAIN_NR, type Answerer } from './notifications';
import type { Watch } from './run';

const BPF_RET_K = 0x06;
const ENOSYS = 38;


/**
 * The same program, stopping at tsjail instead of failing or killing, behind a prologue that
 * also stops the handshake call (and with --late the preload library's MAIN_NR). Any later use
 * of the handshake number is decided by the policy like every other stopped call, so the
 * prologue changes no decision.
 */
export function notifyingFilter(bytes: Uint8Array, endian: 'little' | 'big', stops: readonly number[] = [HANDSHAKE_NR]): Uint8Array {
  const program = decodeProgram(bytes, endian).map((ins) => {
    const action = (ins.k & SECCOMP_RET_ACTION_FULL) >>> 0;
    const stop = ins.code === BPF_RET_K && (action === SECCOMP_RET_ERRNO || action === SECCOMP_RET_KILL_PROCESS);
    return stop ? { ...ins, k: SECCOMP_RET_USER_NOTIF } : ins;
  });
  const last = stops.length - 1;
  const prologue = [
    { code: 0x20, jt: 0, jf: 0, k: SECCOMP_DATA_NR },                                           // ld [nr]
    ...stops.map((nr, i) => ({ code: 0x15, jt: last - i, jf: i === last ? 1 : 0, k: nr })), // jeq nr -> stop
    { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_USER_NOTIF },                               // stop: ret USER_NOTIF
  ];
  return encodeProgram([...prologue, ...program], endian);
}

export type SupervisionMode = 'enforce' | 'log';
/** What a looping refusal does: reported (counted, said at 1000, 10000...), or 'kill': the jail ends. */
export type OnRepeat = 'report' | 'kill';

/** One line of `--report`: see "Denial reports" in the README for the schema. */
export interface DenialRecord {
  readonly time: string;
  readonly mode: SupervisionMode;
  readonly pid: number;
  readonly jailPid: number | null;
  readonly abi: string;
  readonly nr: number;
  readonly syscall: string;
  readonly args: { readonly name: string; readonly value: string; readonly decoded: string }[];
  readonly action: string;
  readonly decidedBy: string;
  readonly rule: number | null;
  readonly suggestion: string;
  /** For a connect or send the network rules refused: what it was (see the README's denial reports). */
  readonly net?: Omit<NetRefusal, 'syscall' | 'decidedBy' | 'suggestion'>;
  /** A refused write: the path as the jail resolved it, and the file rule that decides it. */
  readonly file?: { readonly path: string; readonly rule: string; readonly access: string };
  /** A call outside the expected policy that the enforced one let run (drift mode): the two policies. */
  readonly drift?: { readonly expected: string; readonly enforced: string };
}

const NET_CALLS: readonly string[] = ['connect', 'sendto', 'sendmsg', 'sendmmsg'] satisfies NetKind[];

/** The pid inside the jail, from /proc/PID/status (NSpid's last field). */
function jailPid(pid: number): number | null {
  try {
    const line = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return line ? Number(line.trim().split(/\s+/).pop()) : null;
  } catch {
    return null;
  }
}

/** Distinct (syscall, decider) pairs explained; past this, new ones are only counted (tsjail's memory stays bounded). */
export const MAX_DISTINCT_DENIALS = 1024;
/** Numbers an "unknown syscalls" entry remembers (the rest are only counted). */
const UNKNOWN_NUMBERS_KEPT = 8;
/** A denial repeated this often is said once more, then at every tenfold. */
const FIRST_REPEAT_NOTICE = 1000;
/** A refusal repeated REPEAT_LIMIT times within REPEAT_WINDOW_MS is a loop (--on-repeat kill ends the jail then). */
export const REPEAT_LIMIT = 1000;
export const REPEAT_WINDOW_MS = 10_000;

/** One reported (syscall, decider) pair: its first record and how often it was seen. */
export interface SeenDenial {
  readonly record: DenialRecord;
  readonly explanation: DenialExplanation;
  count: number;
  /** When it was first seen (ms, Date.now()). */
  readonly since: number;
  /** The count at which the next repeat notice is printed. */
  nextNotice: number;
  /** For the "unknown syscalls" entry: the first numbers seen. */
  readonly numbers?: number[];
  /** The repeats since windowStart (ms): REPEAT_LIMIT of them within REPEAT_WINDOW_MS make a loop. */
  windowStart: number;
  windowCount: number;
}

/** What the supervisor has seen, bounded: at most MAX_DISTINCT_DENIALS entries plus one overflow count. */
export class DenialTally {
  readonly entries = new Map<string, SeenDenial>();
  /** Denials of pairs beyond the cap: counted, never explained. */
  overflow = 0;
}

/** The key of a stopped call: syscall numbers no table names share one entry. */
const UNKNOWN = 'unknown syscalls';

type Deciders = typeof import('../policy/evaluate') & typeof import('../syscalls/table') & typeof import('./denial');
let loaded: Deciders | undefined;
/** Loaded at the first denial (runs without one never pay for the evaluator), then kept: a flood must not resolve modules per call. */
function deciders(): Deciders {
  return loaded ??= {
    ...(require('../policy/evaluate') as typeof import('../policy/evaluate')),
    ...(require('../syscalls/table') as typeof import('../syscalls/table')),
    ...(require('./denial') as typeof import('./denial')),
  };
}

export class Supervisor {
  private policyCache: { policy: Policy; abis: Abi[] } | undefined;
  /** Set when a kill rule ended the jail's first process (tsjail then exits 128+SIGSYS). */
  killedMain = false;

  constructor(
    private readonly loadPolicy: () => Policy,
    private readonly mode: SupervisionMode,
    private readonly events: SupervisorEvents,
    readonly seen = new DenialTally(),
    /** --late, before main(): `loadPolicy` is the start-up policy, and what it allows runs. */
    private readonly startup = false,
    /** With network rules: decides the connects and sends the policy's user_notif rules stop. */
    private readonly net?: NetSupervisor,
    /** With file rules: the writes the policy's user_notif rules stop, to explain the kernel's refusals. */
    private readonly writes?: WriteWatch,
    /** Drift mode: the policy is composed (policy/drift.ts); the expected level explains the drift. */
    private readonly drift?: DriftLevels,
  ) {}

  private driftRemoved: Policy | undefined;
  /** The expected policy's targets, for explaining drift. */
  private expectedAbis: Abi[] | undefined;
  /** The policy without its drift rules (kept as rules that match nothing: the indexes stay). */
  private withoutDrift(): Policy {
    const { policy } = this.policy();
    return this.driftRemoved ??= { ...policy, rules: policy.rules.map((r) => (r.label === DRIFT_LABEL ? { ...r, syscalls: [] } : r)) };
  }

  private ownStopsRemoved: Policy | undefined;
  /** The policy as given: without the rules tsjail adds to stop calls of its own. */
  private withoutOwnStops(): Policy {
    const { policy } = this.policy();
    return this.ownStopsRemoved ??= { ...policy, rules: policy.rules.filter((r) => !TSJAIL_STOPS.includes(r.label ?? '')) };
  }

  private policy(): { policy: Policy; abis: Abi[] } {
    if (!this.policyCache) {
      const policy = this.loadPolicy();
      const { targetAbis } = require('../policy/resolve') as typeof import('../policy/resolve');
      this.policyCache = { policy, abis: targetAbis(policy) };
    }
    return this.policyCache;
  }

  /**
   * Decisions that depend on the syscall alone (no rule for it has conditions), by arch and nr:
   * the network stops come often, and the policy says the same for each. null: not constant.
   */
  private readonly constant = new Map<string, StoppedDecision | null>();

  /** What the policy says of a stopped call: its decision and action, with tsjail's own stops yielding to the policy's refusals. */
  private decide(n: Notification): StoppedDecision {
    const key = `${n.arch}:${n.nr}`;
    const known = this.constant.get(key);
    if (known) return known;
    const { abiOfCall, evaluatePolicy, syscallName } = deciders();
    const { policy, abis } = this.policy();
    const data = { nr: n.nr, arch: n.arch, args: n.args };
    let decision = evaluatePolicy(policy, abis, data);
    // A call through an ABI the policy does not target is named from that ABI's own table.
    const abi = abiOfCall(abis, n.arch, n.nr) ?? abiOfCall(Object.values(ABIS), n.arch, n.nr) ?? abis[0]!;
    const name = decision.syscall ?? syscallName(abi, n.nr);
    let action = (decision.ret & SECCOMP_RET_ACTION_FULL) >>> 0;
    // Drift stops every call the expected policy does not allow: the enforced policy then decides
    // (what it allows runs, its own stops are handled as such; a trace, tracer-less, fails).
    const drift = this.drift !== undefined && action === SECCOMP_RET_USER_NOTIF && decision.decider.kind === 'rule' && policy.rules[decision.decider.ruleIndex]!.label === DRIFT_LABEL;
    if (drift) {
      decision = evaluatePolicy(this.withoutDrift(), abis, data);
      action = (decision.ret & SECCOMP_RET_ACTION_FULL) >>> 0;
      if (action === SECCOMP_RET_TRACE) {
        decision = { ...decision, ret: (SECCOMP_RET_ERRNO | ENOSYS) >>> 0 };
        action = SECCOMP_RET_ERRNO;
      }
    }
    // tsjail's own stops (network rules, write explanations) match wherever the call is made:
    // where the policy without them refuses it, the policy's refusal holds.
    if (action === SECCOMP_RET_USER_NOTIF && decision.decider.kind === 'rule' && TSJAIL_STOPS.includes(policy.rules[decision.decider.ruleIndex]!.label ?? '')) {
      const own = evaluatePolicy(this.withoutOwnStops(), abis, data);
      const ownAction = (own.ret & SECCOMP_RET_ACTION_FULL) >>> 0;
      // A trace rule (outranked by user_notif) hands the call to a tracer, and without one it does
      // not run: tsjail has none to hand it to, so it fails as the kernel fails it then.
      if (ownAction === SECCOMP_RET_TRACE) {
        decision = { ...own, ret: (SECCOMP_RET_ERRNO | ENOSYS) >>> 0 };
        action = SECCOMP_RET_ERRNO;
      } else if (ownAction === SECCOMP_RET_ERRNO || ownAction === SECCOMP_RET_KILL_PROCESS || ownAction === SECCOMP_RET_KILL_THREAD) {
        decision = own;
        action = ownAction === SECCOMP_RET_KILL_THREAD ? SECCOMP_RET_KILL_PROCESS : ownAction;
      }
    }
    const result: StoppedDecision = { decision, action, abi, drift, ...(name !== undefined ? { name } : {}) };
    // Kept only for syscalls a targeted table names (a bounded set: a flood of unknown numbers keeps nothing).
    const named = decision.syscall;
    if (named !== undefined) this.constant.set(key, policy.rules.every((r) => r.conditions.length === 0 || !r.syscalls.includes(named)) ? result : null);
    return result;
  }

  /** A jail without a PID namespace: the guard's rules (otherProcesses.ts), on every ABI of the machine. */
  guard: Policy | undefined;
  private guardAbis: Abi[] | undefined;

  /**
   * A call the guard refuses: EPERM in every mode, whatever the policy says (a kill it decides
   * stays a kill), reported once. False when the guard does not refuse it.
   */
  private refusedByGuard(n: Notification, answer: Answerer): boolean {
    const { abiOfCall, evaluatePolicy, explainDenial, syscallName } = deciders();
    const abis = (this.guardAbis ??= (require('../policy/resolve') as typeof import('../policy/resolve')).targetAbis(this.guard!));
    const refusal = evaluatePolicy(this.guard!, abis, { nr: n.nr, arch: n.arch, args: n.args });
    if (((refusal.ret & SECCOMP_RET_ACTION_FULL) >>> 0) !== SECCOMP_RET_ERRNO || refusal.decider.kind !== 'rule') return false;
    if (this.mode === 'enforce' && !this.startup && this.decide(n).action === SECCOMP_RET_KILL_PROCESS) return false;
    answer({ errno: refusal.ret & 0xffff });
    const abi = abiOfCall(abis, n.arch, n.nr) ?? abis[0]!;
    const syscall = refusal.syscall ?? syscallName(abi, n.nr) ?? `syscall ${n.nr}`;
    const key = `guard|${abi.name}|${syscall}`;
    const inJail = this.seen.entries.has(key) ? null : jailPid(n.pid);
    this.count(key, n.nr, () => {
      const explanation = explainDenial(this.guard!, refusal, abi, syscall, n.args);
      return { record: callRecord(n, 'enforce', inJail, abi, syscall, explanation, null), explanation };
    });
    return true;
  }

  /** Decides a stopped call as the policy does, answers it, and reports it the first time. */
  handle(n: Notification, mainPid: () => number | undefined, answer: Answerer): void | Promise<void> {
    if (this.guard && this.refusedByGuard(n, answer)) return;
    const { explainDenial } = deciders();
    const { policy } = this.policy();
    const { decision, action, abi, name, drift } = this.decide(n);
    const syscall = name ?? `syscall ${n.nr}`;
    // Drift: decided on the registers alone, so letting it go on is safe (nothing read from memory).
    if (drift && !this.startup) this.reportDrift(n, abi, syscall);
    if (drift && action !== SECCOMP_RET_USER_NOTIF && action !== SECCOMP_RET_ERRNO && action !== SECCOMP_RET_KILL_PROCESS) {
      answer('continue');
      return;
    }
    // A connect or send the network rules stop (also before main() with --late, and in log mode).
    if (action === SECCOMP_RET_USER_NOTIF && this.net && name && NET_CALLS.includes(name)) return this.net.handle(n, name as NetKind, answer);
    // A write through a path: predicted, reported if the kernel is about to refuse it, then let
    // go on for the kernel (mounts, Landlock) to decide. Nothing is decided on the copy read here,
    // except where no kernel layer rules the call (a chmod without a mount layer): tsjail answers it.
    if (action === SECCOMP_RET_USER_NOTIF && this.writes && name && this.writes.isWriteCall(name)) {
      const refusal = this.writes.predict(name, n);
      if (refusal) this.reportWrite(n, refusal); // before the call fails, so the report comes first
      answer(this.writes.perform(name, n) ?? 'continue');
      return;
    }
    const key = `${name ?? UNKNOWN}|${JSON.stringify(decision.decider)}`;
    if (this.startup && action !== SECCOMP_RET_ERRNO && action !== SECCOMP_RET_KILL_PROCESS) {
      // A start-up call the policy stops but the start-up policy allows: it runs, unreported.
      answer('continue');
      return;
    }
    const known = this.seen.entries.get(key);
    const full = !known && this.seen.entries.size >= MAX_DISTINCT_DENIALS;
    // Read what only a live caller can tell before answering lets it go on.
    const inJail = known || full ? null : jailPid(n.pid);
    if (this.mode === 'log') {
      answer('continue');
    } else if (action !== SECCOMP_RET_ERRNO && action !== SECCOMP_RET_KILL_PROCESS) {
      // The filter stopped a call the policy does not deny: never let it run on a disagreement
      // (the loop fails an unanswered call with EPERM).
      throw new Error(`internal error: the filter stopped ${syscall} but the policy says ${describeRet(decision.ret)}`);
    } else if (action === SECCOMP_RET_ERRNO) {
      answer({ errno: decision.ret & 0xffff });
    } else {
      // The whole thread group of the caller, by pidfd, if it is still in this call.
      const main = mainPid(); // read while the command still lives
      const group = answer('kill');
      if (group !== undefined && group === main) this.killedMain = true;
    }
    if (decision.decider.kind === 'rule' && policy.rules[decision.decider.ruleIndex]!.quiet) return;
    this.count(key, n.nr, () => {
      const explanation = explainDenial(policy, decision, abi, syscall, n.args);
      const record = callRecord(n, this.mode, inJail, abi, syscall, explanation, explanation.ruleIndex ?? null);
      return { record, explanation, ...(name ? {} : { numbers: [n.nr] }) };
    });
  }

  /** A call outside the expected policy that runs: reported once per syscall and expected rule, then counted. */
  private reportDrift(n: Notification, abi: Abi, syscall: string): void {
    const levels = this.drift!;
    const { evaluatePolicy, explainDenial } = deciders();
    const { targetAbis } = require('../policy/resolve') as typeof import('../policy/resolve');
    const expected = evaluatePolicy(levels.expected, (this.expectedAbis ??= targetAbis(levels.expected)), { nr: n.nr, arch: n.arch, args: n.args });
    const key = `drift|${syscall}|${JSON.stringify(expected.decider)}`;
    const inJail = this.seen.entries.has(key) ? null : jailPid(n.pid);
    this.count(key, n.nr, () => {
      const explanation = explainDenial(levels.expected, expected, abi, syscall, n.args);
      const decidedBy = `${levels.expectedName} does not allow it (${explanation.decidedBy}); the enforced ${levels.enforcedName} does`;
      const record: DenialRecord = {
        ...callRecord(n, this.mode, inJail, abi, syscall, explanation, null),
        action: 'ran (drift)', decidedBy, drift: { expected: levels.expectedName, enforced: levels.enforcedName },
      };
      return { record, explanation: { ...explanation, decidedBy } };
    });
  }

  /** A connect or send the network rules refused: reported like a policy's denial, once per call and destination. */
  reportNet(n: Notification, r: NetRefusal): void {
    const { syscall, decidedBy, suggestion, action = 'EPERM', ...net } = r;
    // --log lets only inet destinations through (netSupervisor.ts): the rest is refused in it too.
    this.reportRefusal(n, `net|${syscall}|${r.destination}`, { syscall, action, decidedBy, suggestion }, r.protocol === null ? 'enforce' : this.mode, { net });
  }

  /** A write the kernel refuses by the file rules: reported once per call and path, then counted. */
  private reportWrite(n: Notification, r: WriteRefusal): void {
    const decidedBy = fileRuleText(r.rule);
    this.reportRefusal(n, `file|${r.syscall}|${r.path}`, { syscall: r.syscall, action: r.errno, decidedBy, suggestion: r.suggestion }, this.mode,
      { file: { path: r.path, rule: r.rule.path, access: r.rule.access } });
  }

  /**
   * An open of a hidden path (hiddenReads.ts): reported once per path, then counted. It decided
   * nothing (the program read the empty mask); `pid` is 0 where the kernel does not say who.
   */
  reportHiddenRead(path: string, pid: number, rule: FsRule): void {
    const key = `file|open|${path}`;
    const inJail = pid > 0 && !this.seen.entries.has(key) ? jailPid(pid) : null;
    this.count(key, -1, () => {
      const decidedBy = fileRuleText(rule);
      const suggestion = (require('./fsWrites') as typeof import('./fsWrites')).hideSuggestion(rule);
      const record: DenialRecord = {
        time: new Date().toISOString(), mode: 'enforce', pid, jailPid: inJail, abi: 'unknown', nr: -1, syscall: 'open', args: [],
        action: 'hidden', decidedBy, rule: null, suggestion, file: { path, rule: rule.path, access: 'read' },
      };
      return { record, explanation: { syscall: 'open', args: [], action: 'hidden', decidedBy, suggestion } };
    });
  }

  /** A refusal of tsjail's own rules (network, files): a record without arguments or a policy rule, counted like a policy's denial. */
  private reportRefusal(
    n: Notification, key: string, e: Omit<DenialExplanation, 'args'>, mode: SupervisionMode, what: Pick<DenialRecord, 'net' | 'file'>,
  ): void {
    const known = this.seen.entries.has(key) || this.seen.entries.size >= MAX_DISTINCT_DENIALS;
    const inJail = known ? null : jailPid(n.pid);
    this.count(key, n.nr, () => {
      const record: DenialRecord = {
        time: new Date().toISOString(), mode, pid: n.pid, jailPid: inJail, abi: deciders().abiOfCall(Object.values(ABIS), n.arch, n.nr)?.name ?? 'unknown', nr: n.nr,
        syscall: e.syscall, args: [], action: e.action, decidedBy: e.decidedBy, rule: null, suggestion: e.suggestion, ...what,
      };
      return { record, explanation: { ...e, args: [] } };
    });
  }

  /** Counts a denial; the first of its key is explained (at most MAX_DISTINCT_DENIALS keys, then an overflow count). */
  private count(key: string, nr: number, first: () => { record: DenialRecord; explanation: DenialExplanation; numbers?: number[] }): void {
    const known = this.seen.entries.get(key);
    const full = !known && this.seen.entries.size >= MAX_DISTINCT_DENIALS;
    if (known) {
      known.count++;
      if (known.numbers && known.numbers.length < UNKNOWN_NUMBERS_KEPT && !known.numbers.includes(nr)) known.numbers.push(nr);
      if (known.count >= known.nextNotice) {
        known.nextNotice *= 10;
        this.events.repeated(known);
      }
      const now = Date.now();
      if (now - known.windowStart > REPEAT_WINDOW_MS) { known.windowStart = now; known.windowCount = 0; }
      if (++known.windowCount === REPEAT_LIMIT && !known.record.drift) this.events.looping?.(known);
      return;
    }
    if (full) {
      if (this.seen.overflow++ === 0) this.events.overflowed();
      return;
    }
    const { record, explanation, numbers } = first();
    const since = Date.now();
    this.seen.entries.set(key, { record, explanation, count: 1, since, nextNotice: FIRST_REPEAT_NOTICE, windowStart: since, windowCount: 1, ...(numbers ? { numbers } : {}) });
    this.events.first(record, explanation);
  }
}

/** The --report record of a stopped call, from its explanation; `rule` is the deciding rule's index in the policy. */
function callRecord(n: Notification, mode: SupervisionMode, jailPid: number | null, abi: Abi, syscall: string, e: DenialExplanation, rule: number | null): DenialRecord {
  return {
    time: new Date().toISOString(), mode, pid: n.pid, jailPid, abi: abi.name, nr: n.nr, syscall,
    args: e.args.map((a) => ({ name: a.name, value: `0x${a.value.toString(16)}`, decoded: a.text })),
    action: e.action, decidedBy: e.decidedBy, rule, suggestion: e.suggestion,
  };
}

/** A stopped call as the policy decides it. */
interface StoppedDecision {
  readonly decision: Decision;
  /** The decision's action class, a kill_thread counted as kill_process. */
  readonly action: number;
  readonly abi: Abi;
  readonly name?: string;
  /** Stopped as drift: outside the expected policy; `decision` is then the enforced policy's. */
  readonly drift: boolean;
}

/** What the supervisor tells: a first denial, a denial repeated past a threshold, the cap reached. */
export interface SupervisorEvents {
  first(record: DenialRecord, explanation: DenialExplanation): void;
  repeated(entry: SeenDenial): void;
  overflowed(): void;
  /** A refusal repeated REPEAT_LIMIT times within REPEAT_WINDOW_MS (once per such window). */
  looping?(entry: SeenDenial): void;
}

/** "/home/me/.ssh is hidden (default: SSH keys...)": a file rule as the decider of a refusal. */
function fileRuleText(rule: FsRule): string {
  return `${rule.path} is ${rule.access === 'hide' ? 'hidden' : 'read-only'} (${rule.source}${rule.reason ? `: ${rule.reason}` : ''})`;
}

/** stderr text for a denial, as in DESIGN §5. */
export function formatDenial(r: DenialRecord, e: DenialExplanation): string {
  const who = r.jailPid !== null ? `pid ${r.jailPid}` : r.pid ? `host pid ${r.pid}` : 'the jail';
  const verb = r.mode === 'log' ? `would be ${r.action} (allowed: log mode)` : r.action;
  const call = r.net ? r.net.destination : r.file ? r.file.path : e.args.map((a) => `${a.name}=${a.text}`).join(', ');
  // Each line may hold what the jail chose (a path, a name): it stays one line.
  return [
    `${who} ${r.syscall}(${oneLine(call)}) -> ${verb}`,
    `        decided by: ${oneLine(r.decidedBy)}`,
    `        to allow exactly this: ${oneLine(r.suggestion)}`,
  ].join('\n');
}

/** stderr text for drift: the call runs, and the line that would make the expected policy expect it. */
export function formatDrift(r: DenialRecord, e: DenialExplanation): string {
  const who = r.jailPid !== null ? `pid ${r.jailPid}` : `host pid ${r.pid}`;
  return [
    `drift: ${who} ${r.syscall}(${oneLine(e.args.map((a) => `${a.name}=${a.text}`).join(', '))}) -> ran`,
    `        decided by: ${oneLine(r.decidedBy)}`,
    `        to expect it, add: ${oneLine(r.suggestion)}`,
  ].join('\n');
}

/** How an entry is named in notices and summaries: "unknown syscalls" list the first numbers. */
function entryName(e: SeenDenial): string {
  if (!e.numbers) return e.record.syscall;
  return `unknown syscalls (nr ${e.numbers.join(', ')}${e.numbers.length >= UNKNOWN_NUMBERS_KEPT ? ', ...' : ''})`;
}

/** The line for a denial that keeps coming back: it is counted, and said at 1000, 10000, ... */
export function formatRepeat(e: SeenDenial, now = Date.now()): string {
  const secs = Math.max(0, Math.round((now - e.since) / 1000));
  if (e.record.drift) return `drift: ${e.record.syscall} ran ${e.count} times in ${secs} s outside the expected policy; to expect it, add: ${oneLine(e.record.suggestion)}`;
  const verb = e.record.mode === 'log' ? 'would have been refused' : 'refused';
  const run = e.record.mode === 'log' ? ' (log mode lets it run)' : '';
  const why = e.numbers ? 'the program tries numbers no syscall table names' : `the program retries it; to allow: ${oneLine(e.record.suggestion)}`;
  return `${entryName(e)} ${verb} ${e.count} times in ${secs} s${run}: ${why}`;
}

function overflowLine(tally: DenialTally): string[] {
  return tally.overflow
    ? [`  and ${tally.overflow} denial${tally.overflow === 1 ? '' : 's'} of calls beyond the first ${MAX_DISTINCT_DENIALS} distinct ones (counted, not explained)`]
    : [];
}

function countLines(entries: readonly SeenDenial[]): string[] {
  const width = Math.max(...entries.map((e) => entryName(e).length));
  return entries.map((e) => `  ${entryName(e).padEnd(width)}  x${String(e.count).padEnd(5)} ${e.record.action}, by ${oneLine(e.record.decidedBy)}`);
}

/** The log-mode summary: what would have been denied, how often, and the lines to add. */
export function formatLogSummary(s: Supervisor): string {
  const all = [...s.seen.entries.values()].filter((e) => !e.record.drift);
  // What log mode still refuses (the guard of a jail without a PID namespace, unix sockets, hidden files) did happen.
  const entries = all.filter((e) => e.record.mode === 'log');
  const refused = all.filter((e) => e.record.mode !== 'log');
  const also = refused.length ? ['refused in log mode too (they would reach beyond the jail):', ...countLines(refused)] : [];
  if (!entries.length) return ['log mode: nothing would have been denied', ...also].join('\n');
  return [
    `log mode: ${entries.length} denial${entries.length === 1 ? '' : 's'} would have happened:`,
    ...countLines(entries),
    ...overflowLine(s.seen),
    'to allow them, add to the policy\'s rules:',
    ...[...new Set(entries.map((e) => e.record.suggestion))].map((l) => `  ${oneLine(l)},`),
    ...also,
  ].join('\n');
}

/** The enforce-mode summary: the denials that happened more than once, with their counts; undefined if none. */
export function formatRepeatSummary(s: Supervisor): string | undefined {
  const entries = [...s.seen.entries.values()].filter((e) => e.count > 1 && !e.record.drift);
  if (!entries.length && !s.seen.overflow) return undefined;
  return ['denied more than once:', ...(entries.length ? countLines(entries) : []), ...overflowLine(s.seen)].join('\n');
}

/** The drift summary: each call outside the expected policy with its count, and the lines to add; undefined if none. */
export function formatDriftSummary(s: Supervisor): string | undefined {
  const entries = [...s.seen.entries.values()].filter((e) => e.record.drift);
  if (!entries.length) return undefined;
  return `drift: ${entries.map((e) => `${e.record.syscall} x${e.count}`).join(', ')}; add: ${oneLine([...new Set(entries.map((e) => e.record.suggestion))].join(', '))}`;
}

/** The --report file's last line: every entry with its count, and the overflow count. */
function reportSummary(s: Supervisor, mode: SupervisionMode): Record<string, unknown> {
  return {
    time: new Date().toISOString(), mode,
    summary: [...s.seen.entries.values()].map((e) => ({
      syscall: e.record.syscall, action: e.record.action, decidedBy: e.record.decidedBy, rule: e.record.rule, count: e.count,
      ...(e.numbers ? { unknownNumbers: e.numbers } : {}), ...(e.record.drift ? { drift: true, suggestion: e.record.suggestion } : {}),
    })),
    overflow: s.seen.overflow,
  };
}

/**
 * The denial supervisor as a Watch for runJailed: explains, reports, and for --log summarizes.
 * With --late, calls before main() are decided by the start-up policy.
 */
export function supervise(
  filter: Uint8Array, loadPolicy: () => Policy, mode: SupervisionMode, log: (msg: string) => void,
  options: {
    readonly reportFile?: string; readonly name?: string; readonly writes?: WriteWatch;
    /** An inherited fd the report is written to (and left open), instead of reportFile. */
    readonly reportFd?: number;
    /** With file rules: opens of hidden paths are reported (hiddenReads.ts). */
    readonly hidden?: ResolvedFs;
    /** The IP allowlist (undefined: the host's network). */
    readonly net?: readonly NetRule[];
    /** With file rules or unix rules: unix connects and sends are decided (unixRules.ts). */
    readonly unix?: UnixScope;
    /** Drift mode: `loadPolicy` is the composed policy (policy/drift.ts). */
    readonly drift?: DriftLevels;
    /** --on-repeat kill: a refusal looping (REPEAT_LIMIT within REPEAT_WINDOW_MS) ends the jail. */
    readonly onRepeat?: OnRepeat;
    /** Given each first denial (and drift) record, as --report writes it (the library's 'denial' events). */
    readonly onRecord?: (record: DenialRecord) => void;
  } = {},
): Watch {
  const { closeSync, writeSync } = require('node:fs') as typeof import('node:fs');
  const ownReportFd = options.reportFile ? (require('./outputFile') as typeof import('./outputFile')).openOutputFile(options.reportFile, '--report') : undefined;
  const reportFd = ownReportFd ?? options.reportFd;
  let reportFailed = false;
  const writeReport = (line: object): void => {
    if (reportFd === undefined || reportFailed) return;
    try {
      writeSync(reportFd, `${inertJson(options.name ? { ...line, name: options.name } : line)}\n`);
    } catch (e) {
      // A reader gone (EPIPE) or a full non-blocking pipe ends the report, not the jail's supervision.
      reportFailed = true;
      log(`cannot write the denial report (${options.reportFile ?? `fd ${reportFd}`}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; no further records are written`);
    }
  };
  let endJail: (() => void) | undefined;
  let endedByRepeat = false;
  const events: SupervisorEvents = {
    first: (record, explanation) => { log(record.drift ? formatDrift(record, explanation) : formatDenial(record, explanation)); writeReport(record); options.onRecord?.(record); },
    repeated: (entry) => log(formatRepeat(entry)),
    overflowed: () => log(`more than ${MAX_DISTINCT_DENIALS} distinct calls denied: new ones are counted from now on, not explained`),
    looping: (entry) => {
      if (options.onRepeat !== 'kill' || endedByRepeat || !endJail) return;
      endedByRepeat = true;
      log(`--on-repeat kill: ${entryName(entry)} refused ${REPEAT_LIMIT} times within ${REPEAT_WINDOW_MS / 1000} s: the jail is ended (exit status 159); to allow: ${oneLine(entry.record.suggestion)}`);
      endJail();
    },
  };
  let reportNet = (_n: Notification, _r: NetRefusal): void => undefined;
  const net = options.net || options.unix
    ? new (require('./netSupervisor') as typeof import('./netSupervisor')).NetSupervisor(options.net, (n, r) => reportNet(n, r), mode === 'log', undefined, options.unix)
    : undefined;
  const supervisor = new Supervisor(loadPolicy, mode, events, new DenialTally(), false, net, options.writes, options.drift);
  reportNet = (n, r) => supervisor.reportNet(n, r);
  const startup = new Supervisor(() => (require('./late') as typeof import('./late')).startupPolicy(loadPolicy()), mode, events, supervisor.seen, true, net, options.writes, options.drift);
  return {
    filter: notifyingFilter(filter, 'little'),
    handle: (n, mainPid, answer) => supervisor.handle(n, mainPid, answer),
    late: {
      filter: notifyingFilter(filter, 'little', [HANDSHAKE_NR, MAIN_NR]),
      handle: (n, mainPid, answer) => startup.handle(n, mainPid, answer),
    },
    ...(options.hidden ? { hiddenRead: (path: string, pid: number) => supervisor.reportHiddenRead(path, pid, decidingRule(options.hidden!.rules, path)) } : {}),
    explainsOtherProcesses: () => {
      const guard = (require('./otherProcesses') as typeof import('./otherProcesses')).guardPolicy();
      supervisor.guard = guard;
      startup.guard = guard;
    },
    ...(options.writes ? { withoutNamespaces: (fs: ResolvedFs | undefined) => { if (fs) options.writes!.withoutNamespaces(fs); } } : {}),
    ...(net ? { readDns: (without?: string) => net.startDns(log, without) } : {}),
    ending: (end) => { endJail = end; },
    // A kill rule ends the process with SIGKILL from tsjail; report it as the kernel would (and so a loop --on-repeat ended).
    exitCode: (code) => (((supervisor.killedMain || startup.killedMain) && code === 128 + 9) || endedByRepeat ? 128 + 31 : code),
    finish: () => {
      if (mode === 'log') log(formatLogSummary(supervisor));
      else { const repeats = formatRepeatSummary(supervisor); if (repeats) log(repeats); }
      const drift = formatDriftSummary(supervisor);
      if (drift) log(drift);
      if (supervisor.seen.entries.size) writeReport(reportSummary(supervisor, mode));
      if (ownReportFd !== undefined) closeSync(ownReportFd);
    },
  };
}
