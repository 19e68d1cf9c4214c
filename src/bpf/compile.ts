// The compiler's entry point: Policy → verified seccomp program for one or more ABIs.
import type { Abi, Endian } from '../arch/abi';
import { PolicyError, uniqueWarnings, type Warning } from '../policy/errors';
import type { Policy, SyscallWeights } from '../policy/model';
import { resolvePolicy, targetAbis, type AbiPolicy } from '../policy/resolve';
import { generate } from './codegen';
import { BPF_MAXINSNS, encodeProgram, type Instruction } from '../kernel/instruction';
import { layout } from './layout';
import { verifyProgram } from './verify';

export interface CompileOptions {
  /** Target ABIs (names or aliases such as amd64); default: the policy's, else the host's. */
  readonly arch?: string | readonly string[];
  /** How often each syscall runs (policy/weights.ts), instead of the policy's own `weights`. */
  readonly weights?: SyscallWeights;
}

export interface CompiledFilter {
  readonly instructions: readonly Instruction[];
  /** `struct sock_filter[]` in the targets' byte order: what `bwrap --seccomp` reads. */
  readonly bytes: Uint8Array;
  readonly abis: readonly Abi[];
  readonly endian: Endian;
  readonly resolved: readonly AbiPolicy[];
  readonly warnings: readonly Warning[];
}

/**
 * The program, its number trees shaped by the weights unless that makes it longer: a weighted
 * tree has one jge per boundary too, but may share fewer subtrees across arch sections or need
 * more hops for far jumps.
 */
function withWeights(resolved: readonly AbiPolicy[], weights: SyscallWeights | undefined, warnings: Warning[]): Instruction[] {
  const balanced = layout(generate(resolved));
  if (!weights) return balanced;
  const weighted = layout(generate(resolved, weights));
  if (weighted.length <= balanced.length) return weighted;
  warnings.push({ message: `the weights were not used: their program would be ${weighted.length - balanced.length} instruction${weighted.length - balanced.length > 1 ? 's' : ''} longer than the balanced one` });
  return balanced;
}

export function compileProgram(policy: Policy, options: CompileOptions = {}): CompiledFilter {
  const archOpt = options.arch === undefined ? undefined : typeof options.arch === 'string' ? [options.arch] : options.arch;
  const abis = targetAbis(policy, archOpt);
  const endian = abis[0]!.endian;
  const mixed = abis.find((a) => a.endian !== endian);
  if (mixed) {
    throw new PolicyError(`cannot put ${abis[0]!.name} (${endian}-endian) and ${mixed.name} (${mixed.endian}-endian) in one program`, undefined,
      'a kernel runs filters in one byte order: compile one program per byte order');
  }
  const warnings: Warning[] = [];
  const resolved = abis.map((abi) => resolvePolicy(policy, abi, warnings));
  const instructions = withWeights(resolved, options.weights ?? policy.weights, warnings);
  if (instructions.length > BPF_MAXINSNS) {
    throw new PolicyError(`the program needs ${instructions.length} instructions, ${instructions.length - BPF_MAXINSNS} over the kernel's limit of ${BPF_MAXINSNS}`,
      undefined, 'target fewer ABIs per program, or merge argument conditions (e.g. one masked compare instead of many equalities)');
  }
  const problems = verifyProgram(instructions);
  if (problems.length) throw new Error(`internal error: the compiler produced an invalid program: ${problems.join('; ')}`);
  return { instructions, bytes: encodeProgram(instructions, endian), abis, endian, resolved, warnings: uniqueWarnings(warnings) };
}

/** Compiles a policy to the raw bytes of a seccomp filter (`struct sock_filter[]`). */
export function compileFilter(policy: Policy, options: CompileOptions = {}): Uint8Array {
  return compileProgram(policy, options).bytes;
}
