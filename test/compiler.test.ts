import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ABIS } from '../src/arch/abi';
import { cacheReport } from '../src/bpf/cache';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { BPF_ABS, BPF_LD, BPF_W } from '../src/kernel/instruction';
import { SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, describeRet, type SeccompData } from '../src/kernel/seccomp';
import { verifyProgram } from '../src/bpf/verify';
import { allow, definePolicy, eq, errno, ge, hasNone, kill, maskedEq, trace } from '../src/policy/dsl';
import type { ErrnoName } from '../src/kernel/errno';
import { PolicyError } from '../src/policy/errors';
import { evaluatePolicy } from '../src/policy/evaluate';
import { loadPolicyFile } from '../src/formats/load';
import type { Policy } from '../src/policy/model';
import { syscallNumber } from '../src/syscalls/table';
import { CLONE_NEWUSER, TIOCSTI } from '../src/kernel/constants';

const x86_64 = ABIS.x86_64;
const run = (p: Policy, call: Partial<SeccompData> & { nr: number }, arch = 'x86_64'): string => {
  const c = compileProgram(p, { arch });
  return describeRet(emulate(c.instructions, { arch: c.abis[0]!.auditArch, ...call }, c.endian).ret);
};
const nr = (name: string, abi = x86_64): number => syscallNumber(abi, name)!;

test('a 32-bit argument compares only the low word: TIOCSTI with high bits set is still caught', () => {
  const p = definePolicy({ default: 'allow', rules: [errno('EPERM', 'ioctl', { cmd: TIOCSTI })] });
  assert.equal(run(p, { nr: nr('ioctl'), args: [0n, BigInt(TIOCSTI)] }), 'ERRNO(1)');
  assert.equal(run(p, { nr: nr('ioctl'), args: [0n, BigInt(TIOCSTI) | (1n << 32n)] }), 'ERRNO(1)');
  assert.equal(run(p, { nr: nr('ioctl'), args: [0n, 0x5413n] }), 'ALLOW');
  // width: 64 reproduces libseccomp's compare (and its bypass) when asked, with a warning.
  const wide = definePolicy({ default: 'allow', rules: [errno('EPERM', 'ioctl', { cmd: eq(TIOCSTI, { width: 64 }) })] });
  assert.equal(run(wide, { nr: nr('ioctl'), args: [0n, BigInt(TIOCSTI) | (1n << 32n)] }), 'ALLOW');
  assert.match(compileProgram(wide, { arch: 'x86_64' }).warnings[0]!.message, /bypasses this rule/);
});

test('umode_t arguments compare 16 bits', () => {
  const p = definePolicy({ default: 'allow', rules: [errno('EPERM', 'fchmodat', { mode: maskedEq(0o4000, 0o4000) })] });
  assert.equal(run(p, { nr: nr('fchmodat'), args: [0n, 0n, 0o4755n] }), 'ERRNO(1)');
  assert.equal(run(p, { nr: nr('fchmodat'), args: [0n, 0n, 0o4755n | 0x10000n] }), 'ERRNO(1)');
  assert.equal(run(p, { nr: nr('fchmodat'), args: [0n, 0n, 0o755n | 0x10000n] }), 'ALLOW');
});

test('x32 numbers and compat arches take the bad-arch action unless targeted; nr -1 takes the normal path', () => {
  const p = definePolicy({ default: errno('ENOSYS'), badArch: 'kill', rules: [allow('read')] });
  assert.equal(run(p, { nr: 0 }), 'ALLOW');
  assert.equal(run(p, { nr: 0x40000000 }), 'KILL_PROCESS');
  assert.equal(run(p, { nr: 0x40000000 + 512 }), 'KILL_PROCESS');
  assert.equal(run(p, { nr: 0xffffffff }), 'ERRNO(38)');
  assert.equal(run(p, { nr: 3, arch: ABIS.x86.auditArch }), 'KILL_PROCESS');
  const all = compileProgram({ ...p, arches: ['x86_64', 'x86', 'x32'] });
  const on = (data: SeccompData): string => describeRet(emulate(all.instructions, data, 'little').ret);
  assert.equal(on({ nr: 0x40000000, arch: x86_64.auditArch }), 'ALLOW');
  assert.equal(on({ nr: 3, arch: ABIS.x86.auditArch }), 'ALLOW');
  assert.equal(on({ nr: 4, arch: ABIS.x86.auditArch }), 'ERRNO(38)');
  assert.equal(on({ nr: 0, arch: ABIS.aarch64.auditArch }), 'KILL_PROCESS');
});

test('the most restrictive matching rule wins, independent of order', () => {
  const rules = [allow('socket'), errno('EPERM', 'socket', { family: 16 })];
  for (const order of [rules, [...rules].reverse()]) {
    const p = definePolicy({ default: 'kill', rules: order });
    assert.equal(run(p, { nr: nr('socket'), args: [16n] }), 'ERRNO(1)');
    assert.equal(run(p, { nr: nr('socket'), args: [2n] }), 'ALLOW');
  }
  // Among errno rules, the earlier one wins.
  const tie = definePolicy({ rules: [errno(13, 'kill', { pid: 1 }), errno(1, 'kill')] });
  assert.equal(run(tie, { nr: nr('kill'), args: [1n] }), 'ERRNO(13)');
  assert.equal(run(tie, { nr: nr('kill'), args: [2n] }), 'ERRNO(1)');
});

test('tautologies and contradictions fold away', () => {
  const p = definePolicy({ default: 'kill', rules: [
    allow('read', { fd: ge(0) }),                 // always
    allow('write', { fd: hasNone(0) }),           // always
    allow('close', { fd: maskedEq(1, 2) }),       // never: value outside the mask
  ] });
  const c = compileProgram(p, { arch: 'x86_64' });
  const argLoads = c.instructions.filter((i) => i.code === (BPF_LD | BPF_W | BPF_ABS) && i.k >= 16);
  assert.equal(argLoads.length, 0);
  assert.equal(run(p, { nr: nr('close') }), 'KILL_PROCESS');
  assert.deepEqual(cacheReport(c.instructions, x86_64).cached, ['read', 'write']);
});

test('every unconditional allow is kernel-cacheable; conditional ones are not', () => {
  const p = definePolicy({ default: errno('EPERM'), rules: [
    allow('read', 'write', 'close', 'exit_group'), allow('clone', { clone_flags: hasNone(CLONE_NEWUSER) }), kill('ptrace'),
  ] });
  const c = compileProgram(p, { arch: ['x86_64', 'x86'] });
  assert.deepEqual([...cacheReport(c.instructions, x86_64).cached].sort(), ['close', 'exit_group', 'read', 'write']);
  assert.deepEqual([...cacheReport(c.instructions, ABIS.x86).cached].sort(), ['close', 'exit_group', 'read', 'write']);
});

test('big-endian targets: instructions and argument words in their byte order', () => {
  const p = definePolicy({ default: 'allow', rules: [errno('EPERM', 'ioctl', { cmd: TIOCSTI })] });
  const c = compileProgram(p, { arch: 's390x' });
  assert.equal(c.endian, 'big');
  assert.deepEqual([...c.bytes.slice(0, 8)], [0x00, 0x20, 0, 0, 0, 0, 0, 4]); // ld [4], big-endian
  // args[1] low word sits at offset 24 + 4 on big-endian.
  assert.ok(c.instructions.some((i) => i.code === 0x20 && i.k === 28));
  assert.ok(!c.instructions.some((i) => i.code === 0x20 && i.k === 24));
  assert.equal(describeRet(emulate(c.instructions, { nr: nr('ioctl', ABIS.s390x), arch: ABIS.s390x.auditArch, args: [0n, BigInt(TIOCSTI)] }, 'big').ret), 'ERRNO(1)');
  assert.throws(() => compileProgram(p, { arch: ['x86_64', 's390x'] }), /one byte order/);
});

test('far jumps get trampolines and the program stays exact', () => {
  const values = Array.from({ length: 700 }, (_, i) => i * 3 + 1);
  const p = definePolicy({ default: errno('EPERM'), rules: [allow('read', { fd: values }), allow('write'), kill('ptrace')] });
  const c = compileProgram(p, { arch: 'x86_64' });
  assert.ok(c.instructions.length > 700);
  assert.deepEqual(verifyProgram(c.instructions), []);
  for (const fd of [1n, 4n, 2098n, 2n, 5000n]) {
    const data = { nr: nr('read'), arch: x86_64.auditArch, args: [fd] };
    assert.equal(emulate(c.instructions, data, 'little').ret, evaluatePolicy(p, [x86_64], data).ret);
  }
  assert.equal(emulate(c.instructions, { nr: nr('ptrace'), arch: x86_64.auditArch }, 'little').ret, SECCOMP_RET_KILL_PROCESS);
  assert.equal(emulate(c.instructions, { nr: nr('write'), arch: x86_64.auditArch }, 'little').ret, SECCOMP_RET_ALLOW);
});

test('a program over 4096 instructions is a clear error', () => {
  const values = Array.from({ length: 5000 }, (_, i) => i * 2);
  const p = definePolicy({ rules: [allow('read', { fd: values })] });
  assert.throws(() => compileProgram(p, { arch: 'x86_64' }), (e: Error) =>
    e instanceof PolicyError && /needs \d+ instructions, \d+ over the kernel's limit of 4096/.test(e.message));
});

test('errors name the place and give a hint', () => {
  assert.throws(() => compileProgram(definePolicy({ rules: [allow('opena' as 'open')] })),
    /compiler\.test\.js:\d+: unknown syscall 'opena' — did you mean 'open' or 'openat'/);
  assert.throws(() => compileProgram(definePolicy({ rules: [errno(4096, 'read')] })), /errno 4096 is out of range \(the kernel takes 0 to 4095/);
  assert.throws(() => compileProgram(definePolicy({ rules: [errno('EFOO' as ErrnoName, 'read')] })), /unknown errno 'EFOO'/);
  assert.throws(() => compileProgram(definePolicy({ rules: [trace(70000, 'read')] })), /trace data 70000 is out of range/);
  assert.throws(() => compileProgram(definePolicy({ rules: [allow('read', { arg4: 1 })] }), { arch: 'x86_64' }), /'read' has 3 arguments, so argument 4 does not exist/);
  assert.throws(() => compileProgram(definePolicy({ rules: [allow('read', { flags: 1 } as never)] }), { arch: 'x86_64' }), /'read' has no argument named 'flags' \(its arguments: fd, buf, count\)/);
  assert.throws(() => compileProgram(definePolicy({ rules: [allow('read')] }), { arch: 'vax' }), /unknown architecture 'vax'/);
});

test('policy files: errors point at the line in the .ts file', () => {
  assert.throws(() => loadPolicyFile('fixtures/errors/unknown-syscall.ts') && compileProgram(loadPolicyFile('fixtures/errors/unknown-syscall.ts').policy),
    (e: Error) => e instanceof PolicyError && e.message.startsWith("fixtures/errors/unknown-syscall.ts:5: unknown syscall 'opena' — did you mean"));
  assert.throws(() => compileProgram(loadPolicyFile('fixtures/errors/wide-value.ts').policy, { arch: 'x86_64' }),
    (e: Error) => e instanceof PolicyError && e.message.startsWith('fixtures/errors/wide-value.ts:6: value 0x100005412 does not fit the 32-bit argument ioctl(cmd: unsigned int)') && /low 32 bits \(0x5412\)/.test(e.message));
  assert.throws(() => loadPolicyFile('fixtures/errors/syntax.ts'), (e: Error) => e instanceof PolicyError && /syntax\.ts:5: syntax error/.test(e.message));
  assert.throws(() => loadPolicyFile('fixtures/nope.ts'), /cannot read policy file fixtures\/nope\.ts: ENOENT/);
});

test('named errnos follow the ABI: ENOSYS is 89 on MIPS', () => {
  const p = definePolicy({ default: errno('ENOSYS'), rules: [] });
  assert.equal(run(p, { nr: 4003 }, 'mipsel'), 'ERRNO(89)');
  assert.equal(run(p, { nr: 0 }, 'x86_64'), 'ERRNO(38)');
});

test('the verifier applies the kernel\'s rules', () => {
  const ret = { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 };
  assert.deepEqual(verifyProgram([ret]), []);
  assert.match(verifyProgram([])[0]!, /empty/);
  assert.match(verifyProgram([{ code: 0x20, jt: 0, jf: 0, k: 64 }, ret]).join(), /outside seccomp_data/);
  assert.match(verifyProgram([{ code: 0x20, jt: 0, jf: 0, k: 2 }, ret]).join(), /not 4-byte aligned/);
  assert.match(verifyProgram([{ code: 0x30, jt: 0, jf: 0, k: 0 }, ret]).join(), /not allowed in a seccomp filter/); // ld b abs
  assert.match(verifyProgram([{ code: 0x15, jt: 5, jf: 0, k: 0 }, ret]).join(), /jumps past the end/);
  assert.match(verifyProgram([{ code: 0x05, jt: 0, jf: 0, k: 1 }, ret]).join(), /jumps past the end/);
  assert.match(verifyProgram([{ code: 0x34, jt: 0, jf: 0, k: 0 }, ret]).join(), /division by constant 0/);
  assert.match(verifyProgram([{ code: 0x60, jt: 0, jf: 0, k: 3 }, ret]).join(), /scratch word 3 is read before it is written/);
  assert.deepEqual(verifyProgram([{ code: 0x02, jt: 0, jf: 0, k: 3 }, { code: 0x60, jt: 0, jf: 0, k: 3 }, ret]), []);
  assert.match(verifyProgram([{ code: 0x20, jt: 0, jf: 0, k: 0 }]).join(), /last instruction is not a ret/);
  assert.match(verifyProgram(Array.from({ length: 4097 }, () => ret)).join(), /exceed the kernel's limit of 4096/);
});
