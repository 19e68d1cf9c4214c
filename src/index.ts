// tsjail's library API: compile policies to seccomp filters, the tools around them, and jails run from code.
export { compileFilter, compileProgram, type CompileOptions, type CompiledFilter } from './bpf/compile';
export { emulate, type EmulationResult } from './bpf/emulator';
export { verifyProgram } from './bpf/verify';
export { disassemble, formatDisassembly, type DisassemblyLine } from './bpf/disasm';
export { cacheReport, isConstAllow, type CacheReport } from './bpf/cache';
export { encodeProgram, decodeProgram, type Instruction } from './kernel/instruction';
export { describeRet, type SeccompData } from './kernel/seccomp';
export { ABIS, ABI_NAMES, hostAbi, lookupAbi, type Abi, type AbiName } from './arch/abi';
export { syscallNumber, syscallName, syscallArgs, syscallsOf, SYSCALL_NAMES, type SyscallName, type SyscallArg } from './syscalls/table';
export * from './policy/model';
export { PolicyError, type Warning } from './policy/errors';
export { parseWeights, formatWeights } from './policy/weights';
export { evaluatePolicy, type Decision } from './policy/evaluate';
export { explainCall, type Explanation } from './analysis/explain';
export { verifyFilter, ProgramError, type VerifyReport, type VerifyDifference, type VerifyOptions } from './analysis/verify';
export { loadPolicyFile, type LoadedPolicy } from './formats/load';
export { importOci, type OciImportOptions } from './formats/oci';
export { exportOci } from './formats/ociExport';
export { importSystemd } from './formats/systemd';
export { expandGroup } from './policy/groups';
export {
  definePolicy, allow, errno, kill, killProcess, killThread, log, trap, trace, userNotif, rule, named, quiet, syscallGroup,
  eq, ne, lt, le, gt, ge, maskedEq, hasAll, hasNone, noneOf,
  type Predicate, type Where, type PolicySpec, type DefinedPolicy, type RuleGroup, type ClosedJail,
} from './policy/dsl';
export * from './kernel/constants';
// The jail from code, loaded at the first call: a policy file's `import ... from 'tsjail'` need not load the runner.
export type { JailedProcess, SpawnOptions, RunOptions, RunResult, StdioOption } from './jail/spawn';
export type { LoadFilterOptions } from './jail/loadFilter';
type SpawnModule = typeof import('./jail/spawn');
export const spawn: SpawnModule['spawn'] = (...args) => (require('./jail/spawn') as SpawnModule).spawn(...args);
export const run: SpawnModule['run'] = (...args) => (require('./jail/spawn') as SpawnModule).run(...args);
export const loadFilter: typeof import('./jail/loadFilter').loadFilter = (...args) => (require('./jail/loadFilter') as typeof import('./jail/loadFilter')).loadFilter(...args);
export type { JailOptions } from './policy/jailSettings';
export type { DenialRecord } from './jail/supervisor';
export { JailError } from './jail/errors';
export type { ErrnoName } from './kernel/errno';
