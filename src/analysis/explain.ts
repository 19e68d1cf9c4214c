// Explains one call: the action, the rule (or default) that decided it, and the instructions
// the compiled program executed to get there. The compiled result and the reference evaluator
// must agree; a disagreement is reported as a compiler bug, never hidden.
import { ABIS, type Abi, type Endian } from '../arch/abi';
import { compileProgram, type CompileOptions } from '../bpf/compile';
import { disassemble, type DisassemblyLine } from '../bpf/disasm';
import { emulate } from '../bpf/emulator';
import { describeRet } from '../kernel/seccomp';
import type { Instruction } from '../kernel/instruction';
import { didYouMean, isKnownSyscallName, syscallName, syscallNumber } from '../syscalls/table';
import { PolicyError } from '../policy/errors';
import { evaluatePolicy, type Decider } from '../policy/evaluate';
import { describeAction, describeLocation, type Policy } from '../policy/model';

export interface Explanation {
  readonly abi: Abi;
  readonly syscall: string;
  readonly nr: number;
  readonly args: readonly bigint[];
  readonly ret: number;
  readonly action: string;
  readonly decider: Decider;
  /** "rule 3 (policy.ts:14): errno(EPERM)" or "the default action". */
  readonly decidedBy: string;
  readonly path: readonly DisassemblyLine[];
}

/** The syscall number of `syscall` (a name or a number) on `abi`. */
function numberOf(abi: Abi, syscall: string): number {
  const nr = /^\d+$/.test(syscall) ? Number(syscall) : syscallNumber(abi, syscall);
  if (nr === undefined) throw new PolicyError(`'${syscall}' is not a syscall on ${abi.name}${isKnownSyscallName(syscall) ? '' : didYouMean(syscall)}`);
  return nr;
}

export function explainCall(policy: Policy, syscall: string, args: readonly bigint[], options: CompileOptions = {}): Explanation {
  const compiled = compileProgram(policy, options);
  const abi = compiled.abis[0]!;
  const nr = numberOf(abi, syscall);
  const data = { nr, arch: abi.auditArch, args };
  const run = emulate(compiled.instructions, data, compiled.endian);
  const ref = evaluatePolicy(policy, compiled.abis, data);
  if (ref.ret !== run.ret) {
    throw new Error(`internal error: the program returns ${describeRet(run.ret)} but the policy says ${describeRet(ref.ret)}`);
  }
  const listing = disassemble(compiled.instructions, { endian: compiled.endian, abis: compiled.abis });
  let decidedBy: string;
  if (ref.decider.kind === 'rule') {
    const rule = policy.rules[ref.decider.ruleIndex]!;
    const where = describeLocation(rule.source);
    decidedBy = `rule ${rule.label ? `"${rule.label}"` : `#${ref.decider.ruleIndex + 1}`}${where ? ` (${where})` : ''}: ${describeAction(rule.action)}`;
  } else if (ref.decider.kind === 'default') decidedBy = `the default action: ${describeAction(policy.defaultAction)}`;
  else if (ref.decider.kind === 'newer') decidedBy = 'a number above the highest syscall the policy knows (newerSyscalls): ENOSYS, so libc falls back';
  else decidedBy = `the bad-arch action: ${describeAction(policy.badArchAction)}`;
  return {
    abi, syscall: ref.syscall ?? syscall, nr, args, ret: run.ret, action: describeRet(run.ret), decider: ref.decider, decidedBy,
    path: run.path.map((pc) => listing[pc]!),
  };
}

/** The same for a program without its policy (a raw .bpf file): the `ret` it reached decides. */
export function explainProgramCall(program: readonly Instruction[], endian: Endian, abi: Abi, syscall: string, args: readonly bigint[]): Omit<Explanation, 'decider'> {
  const nr = numberOf(abi, syscall);
  const run = emulate(program, { nr, arch: abi.auditArch, args }, endian);
  const listing = disassemble(program, { endian, abis: Object.values(ABIS).filter((a) => a.endian === endian) });
  const last = run.path[run.path.length - 1]!;
  return {
    abi, syscall: syscallName(abi, nr) ?? syscall, nr, args, ret: run.ret, action: describeRet(run.ret),
    decidedBy: `the program's instruction ${last.toString().padStart(4, '0')} (${listing[last]!.asm.trim()})`, path: run.path.map((pc) => listing[pc]!),
  };
}
