import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileProgram } from '../src/bpf/compile';
import { loadPolicyFile } from '../src/formats/load';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const tsjail = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'tsjail-cli-'));

test('compile writes the raw filter (what bwrap --seccomp reads) and --stats reports its size', () => {
  const out = join(dir, 'strict.bpf');
  const r = tsjail('compile', '--policy', 'fixtures/strict.ts', '--arch', 'x86_64', '-o', out, '--stats');
  assert.equal(r.status, 0, r.stderr);
  const expected = compileProgram(loadPolicyFile(join(REPO_ROOT, 'fixtures/strict.ts')).policy, { arch: 'x86_64' }).bytes;
  assert.deepEqual(new Uint8Array(readFileSync(out)), expected);
  assert.match(r.stderr, /\d+ instructions \(\d+ bytes\), worst path \d+; x86_64: mean [\d.]+ executed, \d+\/\d+ cacheable/);
});

test('--format c is a struct sock_filter array a C compiler accepts', () => {
  const r = tsjail('compile', '--policy', 'fixtures/multiarch.ts', '--format', 'c');
  assert.equal(r.status, 0, r.stderr);
  const c = join(dir, 'filter.c');
  writeFileSync(c, `${r.stdout}\nint main(void) { return tsjail_fprog.len > 0 ? 0 : 1; }\n`);
  execFileSync('cc', ['-Wall', '-Werror', '-o', join(dir, 'filter'), c]);
  execFileSync(join(dir, 'filter'));
  assert.match(r.stdout, /\/\* 0001: if \(A == AUDIT_ARCH_X86_64\) goto/);
});

test('--format json and disasm of a raw file', () => {
  const json = JSON.parse(tsjail('compile', '--policy', 'fixtures/bigendian.ts', '--format', 'json').stdout);
  assert.deepEqual(json.arches, ['s390x', 's390']);
  assert.equal(json.endian, 'big');
  assert.equal(json.instructions.length, json.length);
  const raw = join(dir, 'be.bpf');
  assert.equal(tsjail('compile', '--policy', 'fixtures/bigendian.ts', '-o', raw).status, 0);
  const listing = tsjail('disasm', raw, '--arch', 's390x');
  assert.equal(listing.status, 0, listing.stderr);
  assert.match(listing.stdout, /if \(A == AUDIT_ARCH_S390X\) goto/);
  assert.match(listing.stdout, /A = args\[1\]\.lo/);
});

test('explain names the action, the deciding rule and the instructions run', () => {
  const r = tsjail('explain', '--policy', 'fixtures/strict.ts', '--arch', 'x86_64', 'ioctl', '1', String(0x100005412));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^x86_64: ioctl\(0x1, 0x100005412\) \[nr 16\] -> ERRNO\(1\)\ndecided by: rule #\d+ \(fixtures\/strict\.ts:8\): errno\(EPERM\)/);
  assert.match(r.stdout, /instructions executed: \d+\n {2}0000 {2}A = arch/);
  const d = tsjail('explain', '--policy', 'fixtures/strict.ts', '--arch', 'x86_64', 'getpid');
  assert.match(d.stdout, /-> ERRNO\(38\)\ndecided by: the default action: errno\(ENOSYS\)/);
});

test('syscalls looks names and numbers up like scmp_sys_resolver', () => {
  assert.match(tsjail('syscalls', '--arch', 'x86_64', 'openat').stdout, /x86_64: +257 {2}openat\(int dfd \/\* 32-bit \*\/, const char __user \*filename, int flags \/\* 32-bit \*\/, umode_t mode \/\* 16-bit \*\/\)/);
  assert.match(tsjail('syscalls', '--arch', 'mips', '4003').stdout, /4003 {2}read\(/);
  assert.match(tsjail('syscalls', '--arch', 'aarch64').stdout, /^ +0 {2}io_setup\(/);
  const missing = tsjail('syscalls', '--arch', 'aarch64', 'open');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /'open' is not a syscall on aarch64 \(it exists on x86_64/);
});

test('errors: a message with place and hint, never a stack trace', () => {
  const r = tsjail('compile', '--policy', 'fixtures/errors/unknown-syscall.ts', '--format', 'disasm');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tsjail: fixtures\/errors\/unknown-syscall\.ts:5: unknown syscall 'opena' — did you mean 'open' or 'openat'/);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  const usage = tsjail('compile');
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /compile needs --policy FILE/);
  const unknown = tsjail('compiel');
  assert.match(unknown.stderr, /unknown command 'compiel' — did you mean 'compile'/);
  const arch = tsjail('compile', '--policy', 'fixtures/strict.ts', '--arch', 'amd46', '--format', 'disasm');
  assert.match(arch.stderr, /unknown architecture 'amd46'/);
});

test('OCI profiles take --caps and --kernel, as Docker decides includes/excludes', () => {
  const denied = tsjail('explain', '--policy', 'fixtures/oci/small.json', '--arch', 'x86_64', 'mount');
  assert.match(denied.stdout, /-> ERRNO\(1\)/);
  const admin = tsjail('explain', '--policy', 'fixtures/oci/small.json', '--arch', 'x86_64', '--caps', 'SYS_ADMIN', 'mount');
  assert.match(admin.stdout, /-> ALLOW\ndecided by: rule "syscalls\[1\]" \(fixtures\/oci\/small\.json:7:5\): allow/);
  const old = tsjail('explain', '--policy', 'fixtures/oci/small.json', '--arch', 'x86_64', '--kernel', '4.4', 'ptrace');
  assert.match(old.stdout, /-> ERRNO\(1\)/);
  assert.match(tsjail('explain', '--policy', 'fixtures/oci/small.json', '--arch', 'x86_64', 'ptrace').stdout, /-> ALLOW/);
});

test('--format oci writes a runtime-spec profile, or says why the policy cannot be one', () => {
  const r = tsjail('compile', '--policy', 'fixtures/oci/small.json', '--arch', 'x86_64', '--format', 'oci');
  assert.equal(r.status, 0, r.stderr);
  const profile = JSON.parse(r.stdout);
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64']);
  assert.ok(profile.syscalls.some((s: { names: string[]; args?: unknown[] }) => s.names.includes('personality') && s.args));
  const k8s = JSON.parse(tsjail('compile', '--policy', 'fixtures/oci/small.json', '--arch', 'x86_64', '--format', 'k8s').stdout);
  assert.equal(k8s.kind, 'SeccompProfile');
  assert.equal(k8s.apiVersion, 'security-profiles-operator.x-k8s.io/v1beta1');
  assert.equal(k8s.metadata.name, 'small');
  assert.deepEqual(k8s.spec, profile);
  assert.equal(JSON.parse(tsjail('compile', '--policy', '@builtin', '--format', 'k8s').stdout).metadata.name, 'builtin');
  assert.equal(tsjail('compile', '--policy', 'fixtures/strict.ts', '--arch', 'x86_64', '--format', 'oci').status, 0);
  const refused = tsjail('compile', '--policy', 'fixtures/multiarch.ts', '--format', 'oci');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^tsjail: socketcall cannot be exported for x86: libseccomp would read the profile as ERRNO\(97\) where the policy says ERRNO\(1\) .*errno\('ENOSYS', 'socketcall'\)/);
});

test('lint: findings with severities, exit 1 on danger', () => {
  const clean = tsjail('lint', '--policy', '@builtin');
  assert.equal(clean.stdout, 'no findings\n');
  assert.equal(clean.status, 0);
  const r = tsjail('lint', '--policy', 'fixtures/lint/gaps.ts', '--arch', 'x86_64');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^danger: ptrace allowed: reads and steers other processes/m);
  assert.match(r.stdout, /^danger: ioctl\(TIOCSTI\) allowed/m);
  assert.match(r.stdout, /^danger: clone allowed with namespace flags/m);
  assert.match(r.stdout, /^warning: execve denied but execveat allowed: they do the same job/m);
  assert.match(r.stdout, /^warning: write: rule #\d+ fixtures\/lint\/gaps\.ts:7 never decides: rule #\d+ fixtures\/lint\/gaps\.ts:10 matches every call first/m);
  assert.match(r.stdout, /^warning: kill: rule #\d+ fixtures\/lint\/gaps\.ts:9 can never match \(value 0x2 has bits outside mask 0x1\)/m);
  assert.match(r.stdout, /^info: the default is EPERM/m);
  const json = JSON.parse(tsjail('lint', '--policy', 'fixtures/lint/gaps.ts', '--arch', 'x86_64', '--json').stdout);
  assert.ok(json.every((f: { severity: string; abi: string; message: string }) => ['danger', 'warning', 'info'].includes(f.severity) && f.abi === 'x86_64' && f.message));
  // OCI profiles are linted as Docker would apply them: ptrace comes in with minKernel 4.8.
  assert.match(tsjail('lint', '--policy', 'fixtures/oci/small.json', '--kernel', '6.1').stdout, /^danger: ptrace allowed/m);
  assert.doesNotMatch(tsjail('lint', '--policy', 'fixtures/oci/small.json', '--kernel', '4.4').stdout, /ptrace/);
});
