// Argument conditions resolved for one syscall on one ABI: index, effective width, value
// normalized to that width. Shared by the compiler and the reference evaluator.
import type { Abi } from '../arch/abi';
import { syscallArgs, type SyscallArg } from '../syscalls/table';
import { PolicyError, type Warning } from './errors';
import type { ArgCondition, CompareOp, SourceLocation } from './model';

export type Width = 64 | 32 | 16;

export interface ResolvedCondition {
  readonly argIndex: number;
  /** Bits that count: the kernel's width for the argument, capped by the ABI's register width. */
  readonly width: Width;
  readonly op: CompareOp;
  /** Normalized to [0, 2^width). */
  readonly value: bigint;
  /** For masked_eq, normalized to the width; for other ops, all ones of the width. */
  readonly mask: bigint;
  readonly argName: string;
}

/** A condition that always or never holds on this ABI is folded away. */
export type ConditionOutcome =
  | { readonly kind: 'test'; readonly condition: ResolvedCondition }
  | { readonly kind: 'always' }
  | { readonly kind: 'never'; readonly why: string };

export function widthMask(width: Width): bigint {
  return (1n << BigInt(width)) - 1n;
}

export function formatValue(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function findArg(args: SyscallArg[] | null, cond: ArgCondition, syscall: string, loc?: SourceLocation): { index: number; arg?: SyscallArg } {
  if (typeof cond.arg === 'number') {
    if (!Number.isInteger(cond.arg) || cond.arg < 0 || cond.arg > 5) {
      throw new PolicyError(`argument index ${cond.arg} of '${syscall}' is out of range`, loc, 'syscalls take arguments 0 to 5');
    }
    if (args && cond.arg >= args.length) {
      throw new PolicyError(`'${syscall}' has ${args.length} argument${args.length === 1 ? '' : 's'}, so argument ${cond.arg} does not exist`, loc,
        args.length ? `its arguments are ${args.map((a) => `${a.index}:${a.name}`).join(', ')}` : 'it takes no arguments');
    }
    return { index: cond.arg, ...(args?.[cond.arg] ? { arg: args[cond.arg]! } : {}) };
  }
  const m = /^arg([0-5])$/.exec(cond.arg);
  if (m) return findArg(args, { ...cond, arg: Number(m[1]) }, syscall, loc);
  const arg = args?.find((a) => a.name === cond.arg);
  if (!arg) {
    const known = args ? args.map((a) => a.name).join(', ') : 'unknown here: use arg0..arg5';
    throw new PolicyError(`'${syscall}' has no argument named '${cond.arg}'`, loc, `its arguments: ${known}`);
  }
  return { index: arg.index, arg };
}

/**
 * Resolves a condition for `syscall` on `abi`. Out-of-range values are errors when the width is
 * the kernel's (or the user's) choice; when only the ABI's 32-bit registers make a 64-bit value
 * unreachable, the condition folds to always/never, which is exactly what the kernel would see.
 */
export function resolveCondition(
  abi: Abi, syscall: string, cond: ArgCondition, loc: SourceLocation | undefined, warnings?: Warning[],
): ConditionOutcome {
  const args = syscallArgs(abi, syscall);
  const asLibseccomp = cond.width === 'libseccomp';
  if (asLibseccomp) cond = truncateForLibseccomp(cond, abi);
  const { index, arg } = findArg(asLibseccomp ? null : args, cond, syscall, loc);
  const known = asLibseccomp ? args?.[index] : arg;
  const argName = known?.name ?? `arg${index}`;
  const kernelWidth: Width = known?.bits ?? (abi.bits as Width);
  const declared: Width = asLibseccomp ? abi.libseccompBits : (cond.width as Width | undefined) ?? known?.typeBits ?? 64;
  const width = Math.min(declared, abi.bits) as Width;
  if (asLibseccomp && args && index >= args.length && warnings) {
    warnings.push({ location: loc, message: `compares argument ${index} of ${syscall}, which has ${args.length}: the register holds leftovers` });
  }
  if (cond.width !== undefined && declared > kernelWidth && abi.bits > kernelWidth && warnings) {
    warnings.push({
      location: loc,
      message: `${declared}-bit compare on ${syscall}(${argName}), a ${kernelWidth}-bit ${known?.ctype ?? ''} argument: the kernel ignores the high bits, so setting them bypasses this rule`,
    });
  }
  const all = widthMask(width);
  const normalize = (v: bigint, what: string): bigint | 'beyond' => {
    if (v < 0n) {
      if (v < -(1n << BigInt(width - 1))) throw new PolicyError(`${what} ${v} of ${syscall}(${argName}) is below the ${width}-bit range`, loc);
      return v + (1n << BigInt(width));
    }
    if (v <= all) return v;
    if (declared > width) return 'beyond';
    if (v > widthMask(64)) throw new PolicyError(`${what} ${formatValue(v)} of ${syscall}(${argName}) does not fit in 64 bits`, loc);
    throw new PolicyError(
      `${what} ${formatValue(v)} does not fit the ${width}-bit argument ${syscall}(${argName}${arg ? `: ${arg.ctype}` : ''})`, loc,
      `the kernel only sees the low ${width} bits (${formatValue(v & all)}); write that, or set width: 64 to compare all 64 bits`);
  };
  const value = normalize(cond.value, 'value');
  const mask = cond.op === 'masked_eq' ? normalize(cond.mask ?? all, 'mask') : all;
  if (cond.op === 'masked_eq' && cond.mask === undefined) throw new PolicyError(`masked_eq on ${syscall}(${argName}) needs a mask`, loc);
  const never = (why: string): ConditionOutcome => ({ kind: 'never', why });
  const always: ConditionOutcome = { kind: 'always' };
  if (mask === 'beyond') return resolveBeyondMask(cond, value, width, index, argName);
  if (value === 'beyond') {
    // The register cannot hold the value: compares against it are decided statically.
    switch (cond.op) {
      case 'eq': case 'gt': case 'ge': case 'masked_eq': return never(`${formatValue(cond.value)} exceeds the ${width}-bit register`);
      default: return always;
    }
  }
  const test = (op: CompareOp, v: bigint, m: bigint): ConditionOutcome =>
    ({ kind: 'test', condition: { argIndex: index, width, op, value: v, mask: m, argName } });
  switch (cond.op) {
    case 'ge': return value === 0n ? always : test('ge', value, all);
    case 'gt': return value === all ? never(`nothing is above ${formatValue(all)}`) : test('gt', value, all);
    case 'lt': return value === 0n ? never('nothing is below 0') : test('lt', value, all);
    case 'le': return value === all ? always : test('le', value, all);
    case 'masked_eq':
      if ((value & ~mask) !== 0n) return never(`value ${formatValue(value)} has bits outside mask ${formatValue(mask)}`);
      if (mask === 0n) return always;
      return mask === all ? test('eq', value, all) : test('masked_eq', value, mask);
    default: return test(cond.op, value, all);
  }
}

/** libseccomp on a 32-bit ABI compares the low words and drops the high half of the value and mask. */
function truncateForLibseccomp(cond: ArgCondition, abi: Abi): ArgCondition {
  if (abi.libseccompBits === 64) return cond;
  const low = (v: bigint): bigint => BigInt.asUintN(32, v);
  return { ...cond, value: low(cond.value), ...(cond.mask !== undefined ? { mask: low(cond.mask) } : {}) };
}

function resolveBeyondMask(cond: ArgCondition, value: bigint | 'beyond', width: Width, index: number, argName: string): ConditionOutcome {
  // A mask wider than the register: only its low bits can ever match.
  const all = widthMask(width);
  if (value === 'beyond') return { kind: 'never', why: `${formatValue(cond.value)} exceeds the ${width}-bit register` };
  const mask = (cond.mask ?? 0n) & all;
  if ((value & ~mask) !== 0n) return { kind: 'never', why: 'value has bits outside the mask' };
  if (mask === 0n) return { kind: 'always' };
  const op: CompareOp = mask === all ? 'eq' : 'masked_eq';
  return { kind: 'test', condition: { argIndex: index, width, op, value, mask, argName } };
}

/** Evaluates a resolved condition on a 64-bit argument value, exactly as the kernel would. */
export function conditionHolds(c: ResolvedCondition, arg: bigint): boolean {
  const x = arg & widthMask(c.width);
  switch (c.op) {
    case 'eq': return x === c.value;
    case 'ne': return x !== c.value;
    case 'lt': return x < c.value;
    case 'le': return x <= c.value;
    case 'gt': return x > c.value;
    case 'ge': return x >= c.value;
    case 'masked_eq': return (x & c.mask) === c.value;
  }
}
