// Learn mode: run a command with every syscall stopping at tsjail (SECCOMP_RET_USER_NOTIF,
// answered with CONTINUE: observation only), record what it uses per ABI with counts and the
// argument values of the syscalls policies usually constrain, and write the minimal allowlist.
import { ABIS, type Abi } from '../arch/abi';
import { encodeProgram } from '../bpf/instruction';
import { SECCOMP_DATA_NR, SECCOMP_RET_USER_NOTIF } from '../bpf/seccomp';
import { abiOfCall } from '../policy/evaluate';
import { syscallArgs, syscallName } from '../syscalls/table';
import { nameValue } from './denial';
import type { Notification } from './helper';
import { HANDSHAKE_NR } from './notifications';
import type { Watch } from './run';

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

export class Learner {
  seen = 0;

  constructor(private readonly learned: Learned, private readonly progress?: (seen: number, distinct: number) => void) {}

  distinct(): number {
    return Object.values(this.learned.abis).reduce((n, m) => n + Object.keys(m).length, 0);
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
      handle: (n, _mainPid, answer) => {
        this.record(n);
        answer('continue');
      },
      // --late: what runs before main() is let through, not learned.
      late: { filter: learningFilter(), handle: (_n, _mainPid, answer) => answer('continue') },
    };
  }
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
  into.commands.push(...other.commands);
  // A record learned from main() on lacks that command's start-up: the result still needs --late.
  if (other.late) into.late = true;
  return into;
}

const MARKER = 'tsjail-learned:';

const literal = (text: string): string => (/^[A-Z_][A-Z0-9_]*( \| [A-Z0-9_x]+)*$|^-?\d+$|^0x[0-9a-f]+$/.test(text) ? text : JSON.stringify(text));

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

/** A TypeScript policy `tsjail run --policy` accepts, with the raw record kept for --merge. */
export function learnedToTs(l: Learned): string {
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
  return [
    `// Learned by \`tsjail learn\` from: ${l.commands.map((c) => JSON.stringify(c)).join(', ')}`,
    '// Review before use: it allows what these runs did, and nothing else.',
    `import { definePolicy, allow, errno${[...constants].sort().map((c) => `, ${c}`).join('')} } from 'tsjail';`,
    '',
    'export default definePolicy({',
    "  default: errno('EPERM'),",
    `  arches: [${arches.map((a) => `'${a}'`).join(', ')}],`,
    ...(l.late ? ['  // Learned from main() on: the dynamic loader\'s calls are not in it.', '  jail: { late: true },'] : []),
    '  rules: [',
    ...(names.length ? ['    allow(', ...chunks.map((c) => `      ${c},`), '    ),'] : []),
    ...rules,
    '  ],',
    '});',
    '',
    `/* ${MARKER} ${JSON.stringify(l)} */`,
    '',
  ].join('\n');
}

/** The number a learned value stands for: a constant, constants joined with |, or a literal. */
function valueOf(text: string): number {
  const C = require('../policy/constants') as Record<string, number>;
  return text.split(' | ').reduce((acc, part) => (acc | (/^-?\d+$|^0x/.test(part) ? Number(part) : C[part] ?? 0)) >>> 0, 0);
}

/** An OCI profile (`--format json`), with the raw record for --merge. */
export function learnedToOci(l: Learned): string {
  const arches = Object.keys(l.abis).sort();
  const plain = new Set<string>();
  const syscalls: object[] = [];
  for (const abi of arches) {
    for (const [name, e] of Object.entries(withThreadTiming(l.abis[abi]!))) {
      const constrained = Object.entries(e.values ?? {});
      if (!constrained.length) { plain.add(name); continue; }
      const [arg, vals] = constrained[0]!;
      const index = syscallArgs(ABIS[abi as keyof typeof ABIS], name)?.find((a) => a.name === arg)?.index ?? 0;
      syscalls.push({ names: [name], action: 'SCMP_ACT_ALLOW', args: vals.map((v) => ({ index, value: valueOf(v), op: 'SCMP_CMP_EQ' })) });
    }
  }
  return `${JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: arches.map((a) => `SCMP_ARCH_${a.toUpperCase()}`),
    syscalls: [{ names: [...plain].sort(), action: 'SCMP_ACT_ALLOW' }, ...syscalls],
    'x-tsjail-learned': l,
  }, null, 2)}\n`;
}

/** The record inside a file written by learn (for --merge). */
export function readLearned(text: string, file: string): Learned {
  const json = text.trimStart().startsWith('{') ? (JSON.parse(text) as { 'x-tsjail-learned'?: Learned })['x-tsjail-learned'] : undefined;
  const marked = new RegExp(`/\\* ${MARKER} (.*) \\*/`).exec(text)?.[1];
  const found = json ?? (marked ? (JSON.parse(marked) as Learned) : undefined);
  if (!found) throw new Error(`${file}: not written by tsjail learn (no learned record to merge)`);
  return found;
}
