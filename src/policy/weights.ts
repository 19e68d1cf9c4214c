// Syscall weights: how often each syscall runs (as `tsjail learn` counts them), so the compiler
// can put frequent calls on short paths. Text form: one `syscall count` a line, the syscall a
// name or a kernel number (seccomp_data.nr), `#` starts a comment.
import type { Abi } from '../arch/abi';
import { PolicyError } from './errors';
import type { SourceLocation, SyscallWeights } from './model';
import { isKnownSyscallName, syscallNumber, SYSCALL_NAMES } from '../syscalls/table';
import { suggest } from '../syscalls/suggest';

const MAX_NR = 0xffffffff;

/** Why a syscall key is refused, or undefined: a known name or a number in the 32-bit space. */
function keyProblem(key: string): string | undefined {
  if (/^[0-9]+$/.test(key)) return Number(key) <= MAX_NR ? undefined : `syscall number ${key} is over 2^32-1`;
  if (isKnownSyscallName(key)) return undefined;
  return `unknown syscall '${key}'${suggest(key, SYSCALL_NAMES)}`;
}

function countProblem(count: unknown, written = String(count)): string | undefined {
  return Number.isSafeInteger(count) && (count as number) >= 0 ? undefined : `the count ${written} is not a whole number from 0 to 2^53-1`;
}

/** Checks weights given in a policy (`weights: { read: 1200, ... }`). */
export function checkWeights(weights: unknown, loc?: SourceLocation): SyscallWeights {
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) {
    throw new PolicyError(`weights: expected { syscall: count, ... }, not ${JSON.stringify(weights)}`, loc);
  }
  for (const [key, count] of Object.entries(weights)) {
    const problem = keyProblem(key) ?? countProblem(count);
    if (problem) throw new PolicyError(`weights: ${problem}`, loc, 'a syscall name or number, and how often it runs');
  }
  return weights as SyscallWeights;
}

/** Parses a weights file; a syscall listed twice adds up. */
export function parseWeights(text: string, file: string): SyscallWeights {
  const out: Record<string, number> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const loc = { file, line: i + 1 };
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new PolicyError(`expected 'syscall count', found '${line}'`, loc, 'one syscall (a name or number) and its count a line, # for comments');
    const [key, count] = fields as [string, string];
    const problem = keyProblem(key) ?? countProblem(/^[0-9]+$/.test(count) ? Number(count) : NaN, count);
    if (problem) throw new PolicyError(problem, loc, 'one syscall (a name or number) and its count a line');
    out[key] = (out[key] ?? 0) + Number(count);
  });
  return out;
}

/** The weights file for counts by syscall name: the most frequent first, then by name. */
export function formatWeights(counts: Readonly<Record<string, number>>, header: readonly string[] = []): string {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return [...header.map((h) => `# ${h}`), ...rows.map(([name, count]) => `${name} ${count}`), ''].join('\n');
}

/** The weights of one arch section (its ABIs share the number space) by kernel number: a number counts once, a name on each ABI that has it. */
export function weightsByNumber(weights: SyscallWeights, abis: readonly Abi[]): Map<number, number> {
  const out = new Map<number, number>();
  const add = (nr: number, count: number): void => { out.set(nr, (out.get(nr) ?? 0) + count); };
  for (const [key, count] of Object.entries(weights)) {
    if (count <= 0) continue;
    if (/^[0-9]+$/.test(key)) { add(Number(key), count); continue; }
    for (const abi of abis) {
      const nr = syscallNumber(abi, key);
      if (nr !== undefined) add(nr, count);
    }
  }
  return out;
}
