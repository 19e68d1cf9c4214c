// systemd's SystemCallFilter= syntax and groups, as input.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { describeRet } from '../src/kernel/seccomp';
import { ABIS } from '../src/arch/abi';
import { allow, definePolicy, errno, kill, syscallGroup } from '../src/policy/dsl';
import { exportSystemd } from '../src/formats/systemdExport';
import { loadPolicyFile } from '../src/formats/load';
import { importSystemd } from '../src/formats/systemd';
import { expandGroup } from '../src/policy/groups';
import type { Policy } from '../src/policy/model';
import { syscallNumber, syscallsOf } from '../src/syscalls/table';
import { REPO_ROOT } from '../scripts/upstream';

const decide = (p: Policy, name: string): string => {
  const c = compileProgram(p, { arch: 'x86_64' });
  return describeRet(emulate(c.instructions, { nr: syscallNumber(ABIS.x86_64, name)!, arch: ABIS.x86_64.auditArch }, 'little').ret);
};

test('groups expand through their references', () => {
  const service = expandGroup('@system-service');
  for (const n of ['read', 'openat', 'socket', 'setuid', 'futex']) assert.ok(service.includes(n), n);
  assert.ok(!service.includes('mount'));
  assert.ok(expandGroup('@privileged').includes('chown')); // through @chown
  assert.throws(() => expandGroup('@sytem-service'), /unknown syscall group '@sytem-service' — did you mean '@system-service'/);
  assert.equal(decide(definePolicy({ default: 'kill', rules: [allow(syscallGroup('@basic-io'))] }), 'read'), 'ALLOW');
});

test('allow-list mode: @default always, ~ removes, SystemCallErrorNumber is the default', () => {
  const p = loadPolicyFile(join(REPO_ROOT, 'fixtures/systemd/service.conf')).policy;
  assert.equal(decide(p, 'read'), 'ALLOW');
  assert.equal(decide(p, 'brk'), 'ALLOW');          // @default
  assert.equal(decide(p, 'setuid'), 'ERRNO(1)');    // ~@privileged
  assert.equal(decide(p, 'setrlimit'), 'ERRNO(1)'); // ~@resources
  assert.equal(decide(p, 'mount'), 'ERRNO(1)');
  assert.equal(decide(p, 'kexec_load'), 'ERRNO(1)');
});

test('deny-list mode: listed calls get the error number or their own :ERRNO; the rest runs', () => {
  const p = loadPolicyFile(join(REPO_ROOT, 'fixtures/systemd/denylist.conf')).policy;
  assert.equal(decide(p, 'read'), 'ALLOW');
  assert.equal(decide(p, 'mount'), 'ERRNO(1)');
  assert.equal(decide(p, 'keyctl'), 'ERRNO(38)');
  assert.equal(decide(p, 'swapon'), 'ERRNO(1)');
});

test('errors name the line', () => {
  assert.throws(() => importSystemd('[Service]\nSystemCallFilter=@system-service opena\n', 'x.conf'), /x\.conf:2: unknown syscall 'opena' — did you mean/);
  assert.throws(() => importSystemd('SystemCallFilter=@sytem-service\n', 'x.conf'), /unknown syscall group '@sytem-service'/);
  assert.throws(() => importSystemd('SystemCallErrorNumber=EFOO\nSystemCallFilter=read\n', 'x.conf'), /x\.conf:1: unknown errno 'EFOO'/);
  assert.throws(() => importSystemd('[Service]\n', 'x.conf'), /x\.conf: no SystemCallFilter= line/);
});

test('systemd output: a drop-in that reads back to the same decisions, or a clear refusal', () => {
  const check = (p: Policy): void => {
    const back = importSystemd(exportSystemd(p, ['x86_64']), 'exported.conf');
    for (const { name } of syscallsOf(ABIS.x86_64)) assert.equal(decide(back, name), decide(p, name), name);
  };
  check(loadPolicyFile(join(REPO_ROOT, 'fixtures/systemd/denylist.conf')).policy);
  check(loadPolicyFile(join(REPO_ROOT, 'fixtures/systemd/service.conf')).policy);
  check(definePolicy({ default: 'allow', rules: [errno('EPERM', 'mount'), errno(38, 'keyctl'), kill('ptrace')] }));
  assert.match(exportSystemd(definePolicy({ default: 'allow', rules: [errno('EPERM', 'mount')] }), ['x86_64']), /^SystemCallFilter=~mount:EPERM$/m);
  assert.throws(() => exportSystemd(loadPolicyFile(join(REPO_ROOT, 'fixtures/strict.ts')).policy, ['x86_64']), /not expressible as SystemCallFilter=: .* depends on its arguments/);
  assert.throws(() => exportSystemd(definePolicy({ default: 'kill', rules: [allow('read')] }), ['x86_64']), /systemd always allows @default, and this policy denies/);
});
