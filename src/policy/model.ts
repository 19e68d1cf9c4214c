// The normalized policy model (DESIGN §2). Every policy source (TS DSL, OCI JSON, ...) produces
// a Policy; the compiler and the reference evaluator consume it.
import type { AbiName } from '../arch/abi';

export type Action =
  | { readonly kind: 'allow' }
  | { readonly kind: 'log' }
  | { readonly kind: 'kill_process' }
  | { readonly kind: 'kill_thread' }
  | { readonly kind: 'trap' }
  | { readonly kind: 'user_notif' }
  /** `errno` is a number or an errno name resolved per ABI (ENOSYS differs on MIPS). */
  | { readonly kind: 'errno'; readonly errno: number | string }
  | { readonly kind: 'trace'; readonly data: number };

export type ActionKind = Action['kind'];

/** The kernel's precedence, most restrictive first (kernel/seccomp.c, seccomp_run_filters). */
export const ACTION_PRECEDENCE: readonly ActionKind[] = [
  'kill_process', 'kill_thread', 'trap', 'errno', 'user_notif', 'trace', 'log', 'allow',
];

export function actionSeverity(a: Action): number {
  return ACTION_PRECEDENCE.indexOf(a.kind);
}

export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked_eq';

export interface ArgCondition {
  /** Argument index 0–5, or the kernel's name for it (resolved per syscall and ABI). */
  readonly arg: number | string;
  readonly op: CompareOp;
  /** Compared value; negative values are taken as two's complement at the argument's width. */
  readonly value: bigint;
  /** Only for masked_eq: (arg & mask) == value. */
  readonly mask?: bigint;
  /**
   * Overrides the width from the kernel prototype. 'libseccomp' compares as libseccomp does
   * (OCI import): all 64 bits on 64-bit ABIs, the low 32 with the value truncated on 32-bit
   * ABIs and x32, any argument index 0–5.
   */
  readonly width?: 64 | 32 | 16 | 'libseccomp';
}

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column?: number;
}

export interface Rule {
  readonly syscalls: readonly string[];
  readonly action: Action;
  /** ANDed. An empty list matches every call of the syscalls. */
  readonly conditions: readonly ArgCondition[];
  readonly source?: SourceLocation;
  /** A human name shown in explanations (e.g. "keyrings"). */
  readonly label?: string;
  /** A denial programs expect and handle (clone3 → ENOSYS makes libc use clone): not reported. */
  readonly quiet?: boolean;
}

/** Syscall name, or kernel number in decimal, → how often it runs (policy/weights.ts). */
export type SyscallWeights = Readonly<Record<string, number>>;

export interface Policy {
  readonly defaultAction: Action;
  /** Target ABIs; empty means the host's native ABI. */
  readonly arches: readonly AbiName[];
  readonly badArchAction: Action;
  readonly rules: readonly Rule[];
  /** How often each syscall runs: frequent ones get short paths (the decisions stay the same). */
  readonly weights?: SyscallWeights;
  /**
   * 'enosys': numbers above the highest syscall the policy knows on an ABI return ENOSYS, not
   * the default, so libc falls back from syscalls newer than the policy (policy/newerSyscalls.ts).
   */
  readonly newerSyscalls?: 'enosys';
  /** Syscalls the policy knows without a rule for them (an OCI entry with the default action), for newerSyscalls. */
  readonly knownSyscalls?: readonly string[];
  /** Where the policy came from, for messages. */
  readonly origin?: string;
}

export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'errno': return `errno(${typeof a.errno === 'string' ? a.errno : a.errno})`;
    case 'trace': return `trace(${a.data})`;
    default: return a.kind;
  }
}

export function describeLocation(loc: SourceLocation | undefined): string {
  if (!loc) return '';
  return loc.line ? `${loc.file}:${loc.line}${loc.column ? `:${loc.column}` : ''}` : loc.file;
}
