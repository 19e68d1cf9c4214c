// Random policies and calls for property tests (fast-check arbitraries).
import fc from 'fast-check';
import { ABIS, type Abi, type AbiName } from '../../src/arch/abi';
import type { SeccompData } from '../../src/kernel/seccomp';
import type { Action, ArgCondition, CompareOp, Policy, Rule } from '../../src/policy/model';
import { syscallArgs, syscallNumber, syscallsOf } from '../../src/syscalls/table';

export const EDGE_VALUES: readonly bigint[] = [
  0n, 1n, 2n, 8n, 0x7fffn, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn,
  0x100000000n, 0x100000001n, 0x1ffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn,
  0xffffffff80000000n, 0xffffffffffffff9cn, 0x100005412n, 0x5412n,
];

export const ARCH_GROUPS: readonly (readonly AbiName[])[] = [
  ['x86_64'], ['x86_64', 'x86', 'x32'], ['x32'], ['x86'], ['aarch64', 'arm'], ['s390x', 's390'], ['mips64', 'mips', 'mips64n32'],
  ['ppc64le'], ['ppc', 'ppc64'], ['riscv64'], ['sheb', 'm68k'], ['mipsel64n32', 'mipsel'], ['parisc64', 'parisc'], ['loongarch64'],
];

const POOL = ['read', 'write', 'openat', 'ioctl', 'socket', 'clone', 'personality', 'mmap', 'kill', 'prctl', 'futex',
  'getpid', 'close', 'mprotect', 'fchmodat', 'chmod', 'open', 'socketcall', 'lseek', 'setuid', 'keyctl', 'dup3'];

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.constant<Action>({ kind: 'allow' }), fc.constant<Action>({ kind: 'log' }), fc.constant<Action>({ kind: 'kill_process' }),
  fc.constant<Action>({ kind: 'kill_thread' }), fc.constant<Action>({ kind: 'trap' }), fc.constant<Action>({ kind: 'user_notif' }),
  fc.integer({ min: 0, max: 4095 }).map<Action>((n) => ({ kind: 'errno', errno: n })),
  fc.constantFrom<Action>({ kind: 'errno', errno: 'EPERM' }, { kind: 'errno', errno: 'ENOSYS' }),
  fc.integer({ min: 0, max: 65535 }).map<Action>((n) => ({ kind: 'trace', data: n })),
);

const OPS: readonly CompareOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq'];

/** The narrowest width and fewest arguments a syscall has over the ABIs that know it. */
function argShape(abis: readonly Abi[], name: string, index: number): { exists: boolean; width: number } {
  let width = 64;
  for (const abi of abis) {
    if (syscallNumber(abi, name) === undefined) continue;
    const args = syscallArgs(abi, name);
    if (args && index >= args.length) return { exists: false, width: 0 };
    width = Math.min(width, args?.[index]?.bits ?? abi.bits);
  }
  return { exists: true, width };
}

const valueArb = fc.oneof(fc.constantFrom(...EDGE_VALUES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));

function conditionArb(abis: readonly Abi[], name: string): fc.Arbitrary<ArgCondition | null> {
  return fc.record({
    index: fc.integer({ min: 0, max: 5 }), op: fc.constantFrom(...OPS), value: valueArb, mask: valueArb, wide: fc.boolean(),
  }).map(({ index, op, value, mask, wide }) => {
    const shape = argShape(abis, name, index);
    if (!shape.exists) return null;
    const width = wide ? 64 : shape.width;
    const fit = (v: bigint): bigint => v & ((1n << BigInt(width)) - 1n);
    const cond: ArgCondition = { arg: index, op, value: fit(value), ...(op === 'masked_eq' ? { mask: fit(mask) } : {}), ...(wide ? { width: 64 } : {}) };
    return cond;
  });
}

export function policyArb(): fc.Arbitrary<{ policy: Policy; abis: Abi[] }> {
  return fc.constantFrom(...ARCH_GROUPS).chain((group) => {
    const abis = group.map((n) => ABIS[n]);
    const names = POOL.filter((n) => abis.some((a) => syscallNumber(a, n) !== undefined));
    const ruleArb: fc.Arbitrary<Rule> = fc.record({
      syscalls: fc.subarray(names, { minLength: 1, maxLength: 2 }),
      action: actionArb,
    }).chain(({ syscalls, action }) =>
      fc.array(conditionArb(abis, syscalls[0]!), { maxLength: syscalls.length === 1 ? 3 : 0 })
        .map((conds) => ({ syscalls, action, conditions: conds.filter((c): c is ArgCondition => c !== null) })));
    return fc.record({
      rules: fc.array(ruleArb, { minLength: 0, maxLength: 10 }),
      defaultAction: actionArb,
      badArchAction: actionArb,
    }).map(({ rules, defaultAction, badArchAction }) => ({
      policy: { rules, defaultAction, badArchAction, arches: [...group] }, abis,
    }));
  });
}

/** Calls that probe a policy: its own syscalls with edge arguments, other numbers, other arches. */
export function callsFor(policy: Policy, abis: readonly Abi[], rand: () => number): SeccompData[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ruleValues = policy.rules.flatMap((r) => r.conditions.flatMap((c) => [c.value, c.value + 1n, c.value - 1n, c.value | (1n << 32n), c.mask ?? 0n]))
    .filter((v) => v >= 0n && v < 1n << 64n);
  const values = [...EDGE_VALUES, ...ruleValues];
  const calls: SeccompData[] = [];
  for (let i = 0; i < 60; i++) {
    const abi = pick(abis);
    let nr: number;
    const r = rand();
    if (r < 0.6 && policy.rules.length) nr = syscallNumber(abi, pick(pick(policy.rules).syscalls)) ?? 0;
    else if (r < 0.8) nr = pick(syscallsOf(abi)).nr;
    else nr = pick([0, 1, 0xffffffff, 0x40000000, 0x40000001, 0x3fffffff, 0x7fffffff, 0x80000000, abi.nrBase + 9999, 4000, 5000, 6000]);
    const arch = rand() < 0.1 ? pick([0xc000003e, 0x40000003, 0xc00000b7, 0x80000016, 0x12345678]) : abi.auditArch;
    const args = Array.from({ length: 6 }, () => pick(values));
    calls.push({ nr, arch, args });
  }
  return calls;
}
