import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ABIS } from '../src/arch/abi';
import { cacheReport } from '../src/bpf/cache';
import { compileProgram } from '../src/bpf/compile';
import { worstPath } from '../src/analysis/stats';
import { emulate } from '../src/bpf/emulator';
import { describeRet } from '../src/kernel/seccomp';
import { PolicyError } from '../src/policy/errors';
import { importOci } from '../src/formats/oci';
import type { Policy } from '../src/policy/model';
import { syscallNumber } from '../src/syscalls/table';
import { hasUpstream, upstreamPath } from '../scripts/upstream';

const skip = hasUpstream() ? false : 'upstream data not found';
const decide = (p: Policy, abiName: keyof typeof ABIS, name: string, args: bigint[] = []): string => {
  const c = compileProgram(p);
  const abi = ABIS[abiName];
  return describeRet(emulate(c.instructions, { nr: syscallNumber(abi, name)!, arch: abi.auditArch, args }, c.endian).ret);
};

test("Docker's profile: archMap targets x86_64 + x86 + x32 on an x86_64 host", { skip }, () => {
  const json = JSON.parse(readFileSync(upstreamPath('moby/default.json'), 'utf8'));
  const { policy } = importOci(json, { hostArch: 'x86_64', kernel: '6.1' });
  assert.deepEqual(policy.arches, ['x86_64', 'x86', 'x32']);
  assert.equal(decide(policy, 'x86_64', 'read'), 'ALLOW');
  assert.equal(decide(policy, 'x86_64', 'ptrace'), 'ALLOW'); // minKernel 4.8 satisfied
  assert.equal(decide(policy, 'x86_64', 'mount'), 'ERRNO(1)');
  assert.equal(decide(policy, 'x86_64', 'clone3'), 'ERRNO(38)'); // excludes CAP_SYS_ADMIN
  assert.equal(decide(policy, 'x86_64', 'personality', [8n]), 'ALLOW');
  assert.equal(decide(policy, 'x86_64', 'personality', [9n]), 'ERRNO(1)');
  assert.equal(decide(policy, 'x86_64', 'socket', [40n]), 'ERRNO(1)'); // AF_VSOCK
  assert.equal(decide(policy, 'x86_64', 'arch_prctl'), 'ALLOW');    // includes.arches amd64
  assert.equal(decide(policy, 'x86', 'arch_prctl'), 'ALLOW');       // host arch decides, as in moby
  // Old kernel: the minKernel 4.8 rule drops out.
  const old = importOci(json, { hostArch: 'x86_64', kernel: '4.4.0' }).policy;
  assert.equal(decide(old, 'x86_64', 'ptrace'), 'ERRNO(1)');
  // CAP_SYS_ADMIN brings mount in and clone3 back.
  const admin = importOci(json, { hostArch: 'x86_64', kernel: '6.1', caps: ['CAP_SYS_ADMIN'] }).policy;
  assert.equal(decide(admin, 'x86_64', 'mount'), 'ALLOW');
  assert.equal(decide(admin, 'x86_64', 'clone3'), 'ALLOW');
});

test("podman's profile: the first unconditional rule wins (setns is allowed), with a warning", { skip }, () => {
  const json = JSON.parse(readFileSync(upstreamPath('containers-common/seccomp.json'), 'utf8'));
  const { policy, warnings } = importOci(json, { hostArch: 'x86_64', kernel: '6.1', caps: [] });
  assert.equal(decide(policy, 'x86_64', 'setns'), 'ALLOW');
  assert.ok(warnings.some((w) => /'setns' is shadowed by the unconditional rule/.test(w.message)));
  assert.equal(decide(policy, 'x86_64', 'socket', [16n, 0n, 9n]), 'ERRNO(22)');
});

test('conditions on a repeated index become separate rules (runc)', () => {
  const { policy } = importOci({
    defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [
      { index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 0, value: 2, op: 'SCMP_CMP_EQ' }, { index: 1, value: 9, op: 'SCMP_CMP_EQ' }] }],
  });
  assert.equal(decide(policy, 'x86_64', 'kill', [1n, 0n]), 'ALLOW');
  assert.equal(decide(policy, 'x86_64', 'kill', [2n, 0n]), 'ALLOW');
  assert.equal(decide(policy, 'x86_64', 'kill', [3n, 9n]), 'ALLOW');
  assert.equal(decide(policy, 'x86_64', 'kill', [3n, 8n]), 'ERRNO(1)');
});

test('OCI compares are 64-bit, as libseccomp makes them, and a warning says where that is bypassable', () => {
  const { policy, warnings } = importOci({
    defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0x5412, op: 'SCMP_CMP_EQ' }] }],
  });
  const c = compileProgram(policy);
  assert.ok(c.warnings.some((w) => /64-bit compare on ioctl\(cmd\).*bypasses this rule/.test(w.message)));
  assert.equal(decide(policy, 'x86_64', 'ioctl', [0n, 0x5412n]), 'ERRNO(1)');
  assert.equal(decide(policy, 'x86_64', 'ioctl', [0n, 0x5412n | (1n << 32n)]), 'ALLOW');
  assert.deepEqual(warnings, []);
});

test('bad profiles are clear errors', () => {
  assert.throws(() => importOci({ syscalls: [] }, { file: 'p.json' }), /p\.json: not an OCI seccomp profile: no defaultAction/);
  assert.throws(() => importOci({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['opena'], action: 'SCMP_ACT_ERRNO' }] }, { file: 'p.json' }),
    (e: Error) => e instanceof PolicyError && /syscalls\[0\]: unknown syscall 'opena' — did you mean 'open'/.test(e.message));
  assert.throws(() => importOci({ defaultAction: 'SCMP_ACT_NOPE' }), /unknown action 'SCMP_ACT_NOPE'/);
  assert.throws(() => importOci({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }] }),
    /unknown operator 'SCMP_CMP_LIKE'/);
  assert.throws(() => importOci({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: null }] }),
    /both 'architectures' and 'archMap' are set/);
  // Names unknown on a target arch are skipped there; names unknown everywhere are errors.
  const { policy } = importOci({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_AARCH64'], syscalls: [{ names: ['open', 'openat'], action: 'SCMP_ACT_ALLOW' }] });
  assert.equal(decide(policy, 'aarch64', 'openat'), 'ALLOW');
});

test('on x86, a rule for connect also covers socketcall(SYS_CONNECT), as libseccomp does', () => {
  const { policy } = importOci({
    defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86'],
    syscalls: [{ names: ['connect'], action: 'SCMP_ACT_ALLOW' }],
  });
  assert.equal(decide(policy, 'x86', 'connect'), 'ALLOW');
  assert.equal(decide(policy, 'x86', 'socketcall', [3n]), 'ALLOW');
  assert.equal(decide(policy, 'x86', 'socketcall', [1n]), 'ERRNO(1)');
});

test("Docker's profile compiles small: ≤ 100 instructions, worst path ≤ 20 on x86_64; ≤ 300 for three ABIs; every unconditional allow cacheable", { skip }, () => {
  const json = JSON.parse(readFileSync(upstreamPath('moby/default.json'), 'utf8'));
  const { policy } = importOci(json, { hostArch: 'x86_64', kernel: '6.1' });
  const one = compileProgram(policy, { arch: 'x86_64' });
  assert.ok(one.instructions.length <= 100, `${one.instructions.length} instructions`);
  assert.ok(worstPath(one.instructions) <= 20, `worst path ${worstPath(one.instructions)}`);
  const three = compileProgram(policy);
  assert.ok(three.instructions.length <= 300, `${three.instructions.length} instructions`);
  for (const [i, abi] of three.abis.entries()) {
    if (abi.name === 'x32') continue; // the kernel's cache never covers x32 numbers
    const unconditional = three.resolved[i]!.chains.filter((c) => c.links.length === 1 && !c.links[0]!.conditions.length && c.links[0]!.ret === 0x7fff0000).map((c) => c.name);
    const defaultAllows = three.resolved[i]!.defaultRet === 0x7fff0000;
    assert.ok(!defaultAllows);
    assert.deepEqual([...cacheReport(three.instructions, abi).cached].sort(), unconditional.sort(), abi.name);
  }
});
