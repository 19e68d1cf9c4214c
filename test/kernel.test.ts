// The kernel itself as the oracle: filters are loaded for real and real syscalls are made.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ABIS } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { encodeProgram } from '../src/kernel/instruction';
import { describeRet, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF } from '../src/kernel/seccomp';
import { allow, definePolicy } from '../src/policy/dsl';
import type { Action, ArgCondition, Policy, Rule } from '../src/policy/model';
import { syscallNumber } from '../src/syscalls/table';
import { EDGE_VALUES } from './helpers/random';
import { runProbe, type ProbeCall } from './helpers/probe';

const native = ABIS.x86_64;
const onX86 = process.arch === 'x64' ? false : 'these kernel tests call x86_64 syscalls';
/** `ret ALLOW` alone: the unfiltered outcome of every call, on every ABI. */
const ALLOW_ALL = encodeProgram([{ code: 0x06, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW }], 'little');

/** What the kernel will do for a filter return value, given the unfiltered outcome. */
function expectedOutcome(ret: number, baseline: string): string {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  if (action === SECCOMP_RET_ALLOW || action === SECCOMP_RET_LOG) return baseline;
  // ERRNO(0) skips the call and returns 0, which looks like success.
  if (action === SECCOMP_RET_ERRNO) return ret & 0xffff ? `ret=-1 errno=${ret & 0xffff}` : 'ret=0 errno=0';
  // No tracer or listener: the call fails with ENOSYS.
  if (action === SECCOMP_RET_TRACE || action === SECCOMP_RET_USER_NOTIF) return 'ret=-1 errno=38';
  return 'signal=31'; // kill_process, kill_thread (single-threaded) and trap all end in SIGSYS
}

/** The probe itself must be able to report and exit. */
const PROBE_NEEDS: Rule = { syscalls: ['write', 'exit_group', 'exit'], action: { kind: 'allow' }, conditions: [] };

function checkAgainstKernel(policy: Policy, calls: ProbeCall[]): number {
  const compiled = compileProgram({ ...policy, rules: [...policy.rules, PROBE_NEEDS] });
  const baseline = runProbe(ALLOW_ALL, calls);
  const actual = runProbe(compiled.bytes, calls);
  calls.forEach((call, i) => {
    const nr = call.abi === 'x32' ? call.nr | 0x40000000 : call.nr;
    const arch = call.abi === 'i386' ? ABIS.x86.auditArch : native.auditArch;
    const args = call.abi === 'i386' ? (call.args ?? []).map((a) => a & 0xffffffffn) : call.args;
    const ret = emulate(compiled.instructions, { nr, arch, args: args ?? [] }, 'little').ret;
    assert.equal(actual[i], expectedOutcome(ret, baseline[i]!), `${call.abi} nr=${call.nr} args=${call.args?.map((a) => a.toString(16))}: emulator says ${describeRet(ret)}`);
  });
  return calls.length;
}

const nr = (name: string): number => syscallNumber(native, name)!;

test('the kernel agrees with the emulator on hand-picked calls, compat ABIs included', { skip: onX86 }, () => {
  const policy = definePolicy({
    default: { kind: 'errno', errno: 77 },
    arches: ['x86_64', 'x86'],
    rules: [
      allow('getuid', 'getgid', 'close', 'uname'),
      { syscalls: ['ioctl'], action: { kind: 'errno', errno: 1 }, conditions: [{ arg: 'cmd', op: 'eq', value: 0x5412n }] },
      allow('ioctl'),
      { syscalls: ['dup'], action: { kind: 'kill_process' }, conditions: [{ arg: 0, op: 'gt', value: 1000n }] },
      allow('dup'),
    ],
  });
  const calls: ProbeCall[] = [
    { abi: 'native', nr: nr('getuid') },
    { abi: 'native', nr: nr('getgid') },
    { abi: 'native', nr: nr('ioctl'), args: [999n, 0x5412n] },
    { abi: 'native', nr: nr('ioctl'), args: [999n, 0x5412n | (1n << 32n)] },
    { abi: 'native', nr: nr('ioctl'), args: [999n, 0x5413n] },
    { abi: 'native', nr: nr('dup'), args: [2000n] },
    { abi: 'native', nr: nr('dup'), args: [0n] },
    { abi: 'native', nr: nr('umask'), args: [0o22n] },
    { abi: 'i386', nr: syscallNumber(ABIS.x86, 'getuid')! },
    { abi: 'i386', nr: syscallNumber(ABIS.x86, 'umask')!, args: [0o22n] },
    { abi: 'x32', nr: nr('getuid') },
  ];
  checkAgainstKernel(policy, calls);
  // Not targeting x86: int 0x80 is a bad arch.
  checkAgainstKernel({ ...policy, arches: ['x86_64'] }, calls);
});

const POOL = ['getuid', 'getgid', 'close', 'dup', 'ioctl', 'uname', 'umask', 'getuid', 'lseek', 'getpgid'];

const actions: Action[] = [
  { kind: 'allow' }, { kind: 'log' }, { kind: 'errno', errno: 1 }, { kind: 'errno', errno: 4095 }, { kind: 'errno', errno: 0 },
  { kind: 'kill_process' }, { kind: 'kill_thread' }, { kind: 'trap' }, { kind: 'trace', data: 7 }, { kind: 'user_notif' },
];

test('the kernel agrees with the emulator on random policies over harmless syscalls', { skip: onX86 }, () => {
  const cond = fc.record({
    arg: fc.integer({ min: 0, max: 2 }), op: fc.constantFrom('eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq' as const),
    value: fc.constantFrom(...EDGE_VALUES), mask: fc.constantFrom(...EDGE_VALUES), wide: fc.boolean(),
  });
  const ruleArb = fc.record({ name: fc.constantFrom(...POOL), action: fc.constantFrom(...actions), conds: fc.array(cond, { maxLength: 2 }) });
  const samples = fc.sample(fc.tuple(fc.array(ruleArb, { maxLength: 8 }), fc.constantFrom(...actions)), { numRuns: 25, seed: 42 });
  let total = 0;
  for (const [specs, def] of samples) {
    const rules: Rule[] = specs.map(({ name, action, conds }) => ({
      syscalls: [name], action,
      conditions: conds.filter((c) => c.arg < (name === 'getgid' || name === 'getuid' ? 0 : name === 'close' || name === 'dup' || name === 'umask' || name === 'getpgid' || name === 'uname' ? 1 : 3))
        .map((c): ArgCondition => {
          const w = c.wide ? 64 : (name === 'lseek' && c.arg === 1) || (name === 'ioctl' && c.arg === 2) || name === 'uname' ? 64 : name === 'umask' ? 32 : 32;
          const fit = (v: bigint): bigint => v & ((1n << BigInt(w)) - 1n);
          return { arg: c.arg, op: c.op, value: fit(c.value), ...(c.op === 'masked_eq' ? { mask: fit(c.mask) } : {}), ...(c.wide ? { width: 64 } : {}) };
        }),
    }));
    const policy: Policy = { defaultAction: def, badArchAction: { kind: 'kill_process' }, arches: ['x86_64'], rules };
    const calls: ProbeCall[] = [];
    for (const r of rules) {
      for (const v of [...EDGE_VALUES.slice(0, 8), ...r.conditions.map((c) => c.value)]) {
        const name = r.syscalls[0]!;
        // Keep the calls harmless: fds that do not exist, no pointers.
        const args = name === 'uname' ? [0n] : name === 'umask' ? [v & 0o777n] : [1000n + (v & 0xffn), v, 0n];
        calls.push({ abi: 'native', nr: nr(name), args: name === 'ioctl' ? [1000n, v, 0n] : args });
      }
    }
    calls.push({ abi: 'native', nr: nr('getuid') }, { abi: 'i386', nr: 24 });
    total += checkAgainstKernel(policy, calls);
  }
  assert.ok(total > 300, `made ${total} real calls`);
});
