// Inputs read as runc + libseccomp read them: exact integers and line:column in JSON; --arch
// with an OCI profile meaning a machine of that arch; ENOSYS for syscalls newer than the policy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ABIS, machineAbis, type AbiName } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { describeRet } from '../src/kernel/seccomp';
import { formatJson, parseJson } from '../src/formats/json';
import { importOci } from '../src/formats/oci';
import { policyFromText } from '../src/formats/load';
import { lintPolicy } from '../src/analysis/lint';
import { verifyFilter } from '../src/analysis/verify';
import { definePolicy, allow, errno, gt, kill, maskedEq } from '../src/policy/dsl';
import { evaluatePolicy } from '../src/policy/evaluate';
import { exportOci } from '../src/formats/ociExport';
import type { Policy } from '../src/policy/model';
import { decodeProgram } from '../src/kernel/instruction';
import { syscallNumber } from '../src/syscalls/table';
import { REPO_ROOT, hasUpstream, upstreamPath } from '../scripts/upstream';

const MAX_U64 = (1n << 64n) - 1n;

const decide = (p: Policy, name: string, args: bigint[]): string => {
  const c = compileProgram(p, { arch: 'x86_64' });
  return describeRet(emulate(c.instructions, { nr: syscallNumber(ABIS.x86_64, name)!, arch: ABIS.x86_64.auditArch, args }, c.endian).ret);
};

/** An OCI profile with one rule on kill's argument `index`, as text a user would write. */
const profile = (arg: string): string => `{
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64"],
  "syscalls": [
    {
      "names": ["kill"],
      "action": "SCMP_ACT_ERRNO",
      "args": [${arg}]
    }
  ]
}
`;

test('JSON integers are exact at any size: BigInt beyond 2^53, numbers below', () => {
  const { value } = parseJson('[9007199254740991, 9007199254740992, 9007199254740993, 18446744073709551615, -9223372036854775808, 1.5, 1e3, -0]', 'x.json');
  assert.deepEqual(value, [9007199254740991, 9007199254740992n, 9007199254740993n, MAX_U64, -(1n << 63n), 1.5, 1000, -0]);
  assert.deepEqual(parseJson('{"a": [true, false, null, "\\u00e9\\n\\"x"], "b": {}}', 'x.json').value, { a: [true, false, null, 'é\n"x'], b: {} });
  const proto = parseJson('{"__proto__": {"polluted": 1}}', 'x.json').value as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(proto), Object.prototype, 'a member named __proto__ is data');
  assert.deepEqual(Object.keys(proto), ['__proto__']);
  assert.equal(parseJson('{"a": 1, "a": 2}', 'x.json').value && (parseJson('{"a": 1, "a": 2}', 'x.json').value as { a: number }).a, 2, 'the last repeat wins, as in Go');
});

test('JSON syntax errors name file:line:column with what was expected; deep nesting is refused, not a stack overflow', () => {
  assert.throws(() => parseJson('{\n  "a": 1,\n  "b" 2\n}', 'p.json'), /^PolicyError: p\.json:3:7: invalid JSON: expected ':', found '2'$/);
  assert.throws(() => parseJson('{"a": [1, 2,]}', 'p.json'), /^PolicyError: p\.json:1:13: invalid JSON: unexpected '\]' \(expected a value/);
  assert.throws(() => parseJson('{"a": "x', 'p.json'), /p\.json:1:7: invalid JSON: unterminated string/);
  assert.throws(() => parseJson('{"a": 1} x', 'p.json'), /p\.json:1:10: invalid JSON: unexpected 'x' after the document/);
  assert.throws(() => parseJson('', 'p.json'), /p\.json:1:1: invalid JSON: unexpected the end of the text/);
  assert.throws(() => parseJson('['.repeat(100000), 'p.json'), /p\.json:1:514: invalid JSON: nested deeper than 512 levels/);
});

test('a located value: objects, members and list items start where the text says', () => {
  const doc = parseJson('{\n  "list": [\n    1,\n    {"k": 2}\n  ]\n}', 'p.json');
  const root = doc.value as { list: [number, { k: number }] };
  assert.deepEqual(doc.locate(root), { file: 'p.json', line: 1, column: 1 });
  assert.deepEqual(doc.locate(root, 'list'), { file: 'p.json', line: 2, column: 11 });
  assert.deepEqual(doc.locate(root.list, 1), { file: 'p.json', line: 4, column: 5 });
  assert.deepEqual(doc.locate(root.list[1], 'k'), { file: 'p.json', line: 4, column: 11 });
  assert.deepEqual(doc.locate({}), { file: 'p.json', line: 0 }, 'a value not read from the text has no place');
});

test('formatJson writes what JSON.stringify writes, and BigInts as exact numbers', () => {
  const plain = { a: [1, 'x', null, true, { b: [] }, {}], c: undefined, d: -1.5, e: 'é"\n' };
  assert.equal(formatJson(plain), JSON.stringify(plain, null, 2));
  assert.equal(formatJson(plain, 0), JSON.stringify(plain));
  assert.equal(formatJson({ v: MAX_U64, w: [9007199254740993n] }, 0), '{"v":18446744073709551615,"w":[9007199254740993]}');
  assert.deepEqual(parseJson(formatJson({ v: MAX_U64 }), 'x').value, { v: MAX_U64 });
});

test('an OCI profile runc accepts is accepted: values up to 2^64-1 read exactly, above 2^53 included', () => {
  for (const v of [9007199254740993n, MAX_U64, 1n << 63n]) {
    const { policy } = policyFromText('p.json', profile(`{"index": 1, "value": ${v}, "op": "SCMP_CMP_EQ"}`));
    assert.equal(decide(policy, 'kill', [0n, v]), 'ERRNO(1)', `${v}`);
    assert.equal(decide(policy, 'kill', [0n, v - 1n]), 'ALLOW', `${v} - 1`);
  }
  // A negative value is the same 64 bits (libseccomp's int64 reading).
  const { policy } = policyFromText('p.json', profile('{"index": 1, "value": -1, "op": "SCMP_CMP_EQ"}'));
  assert.equal(decide(policy, 'kill', [0n, MAX_U64]), 'ERRNO(1)');
  const masked = policyFromText('p.json', profile('{"index": 1, "value": 18446744069414584320, "valueTwo": 9223372036854775808, "op": "SCMP_CMP_MASKED_EQ"}')).policy;
  assert.equal(decide(masked, 'kill', [0n, (1n << 63n) | 5n]), 'ERRNO(1)');
  assert.equal(decide(masked, 'kill', [0n, 5n]), 'ALLOW');
});

test('OCI profile errors carry file:line:column and a hint', () => {
  const check = (arg: string, value: string, message: RegExp): void => {
    const where = `p.json:8:${16 + arg.indexOf('VALUE')}: `;
    assert.throws(() => policyFromText('p.json', profile(arg.replace('VALUE', value))), (e: Error) => {
      assert.ok(e.message.startsWith(`${where}`), `${e.message} starts with ${where}`);
      assert.match(e.message, message);
      return true;
    });
  };
  const arg = '{"index": 1, "op": "SCMP_CMP_EQ", "value": VALUE}';
  check(arg, '18446744073709551616', /syscalls\[0\]: value 18446744073709551616 is out of range -9223372036854775808\.\.18446744073709551615$/);
  check(arg, '-9223372036854775809', /out of range/);
  check(arg, '1.5', /syscalls\[0\]: value 1\.5 is not an integer$/);
  check(arg, '"12"', /value "12" is not an integer \(write the number itself: runc refuses a string here/);
  check('{"index": VALUE, "op": "SCMP_CMP_EQ", "value": 1}', '6', /argument index 6 is out of range 0\.\.5/);
  check('{"index": 1, "op": VALUE, "value": 1}', '"SCMP_CMP_LIKE"', /unknown operator 'SCMP_CMP_LIKE' \(expected one of SCMP_CMP_NE/);
  check('{"index": 1, "op": VALUE, "value": 1}', '"toString"', /unknown operator 'toString'/);
  assert.throws(() => policyFromText('p.json', profile('').replace('"kill"', '"kil"')), /^PolicyError: p\.json:6:17: syscalls\[0\]: unknown syscall 'kil'/);
  assert.throws(() => policyFromText('p.json', profile('').replace('"SCMP_ACT_ERRNO"', '"SCMP_ACT_ERRNO", "errnoRet": 70000')), /^PolicyError: p\.json:7:47: errnoRet 70000 is out of range 0\.\.65535$/);
  assert.throws(() => policyFromText('p.json', profile('').replace('["kill"]', '"kill"')), /^PolicyError: p\.json:6:16: 'names' must be a list$/);
  assert.throws(() => policyFromText('p.json', profile('').replace('"SCMP_ARCH_X86_64"', '"SCMP_ARCH_Z80"')), /^PolicyError: p\.json:3:21: unknown architecture 'SCMP_ARCH_Z80'/);
});

test('the rules an OCI profile gives carry their line, for explain and lint', () => {
  const { policy } = policyFromText('p.json', profile('{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}'));
  assert.deepEqual(policy.rules.map((r) => r.source), [{ file: 'p.json', line: 5, column: 5 }]);
});

test('OCI export writes values above 2^53 exactly, and the profile reads back to the same program', () => {
  const { policy } = policyFromText('p.json', profile('{"index": 1, "value": 9007199254740993, "op": "SCMP_CMP_EQ"}'));
  const text = formatJson(exportOci(policy, ['x86_64']));
  assert.match(text, /"value": 9007199254740993\b/);
  const back = policyFromText('back.json', text).policy;
  assert.deepEqual(compileProgram(back).instructions, compileProgram(policy).instructions);
});

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const tsjail = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
const work = mkdtempSync(join(tmpdir(), 'tsjail-inputs-'));
const DOCKER = hasUpstream() ? upstreamPath('moby/default.json') : '';
const upstream = hasUpstream() ? false : 'upstream data not found';

/** `tsjail compile ARGS` to a raw file; then what the program returns for `name` through `abi`. */
function compiled(...args: string[]): (abi: AbiName, name: string) => string {
  const out = join(work, `p${Math.random().toString(36).slice(2)}.bpf`);
  const r = tsjail('compile', ...args, '-o', out);
  assert.equal(r.status, 0, r.stderr);
  const program = decodeProgram(new Uint8Array(readFileSync(out)), 'little');
  return (abi, name) => describeRet(emulate(program, { nr: syscallNumber(ABIS[abi], name)!, arch: ABIS[abi].auditArch }, 'little').ret);
}

test("a machine of each ABI runs the compat ABIs Docker's archMap lists for it", { skip: upstream }, () => {
  const docker = JSON.parse(readFileSync(DOCKER, 'utf8')) as { archMap: { architecture: string; subArchitectures: string[] | null }[] };
  for (const m of docker.archMap) {
    const name = m.architecture.replace(/^SCMP_ARCH_/, '').toLowerCase() as AbiName;
    assert.deepEqual(machineAbis(name), [name, ...(m.subArchitectures ?? []).map((a) => a.replace(/^SCMP_ARCH_/, '').toLowerCase())], name);
  }
  assert.deepEqual(machineAbis('riscv64'), ['riscv64']);
});

test('--arch ARCH with an OCI profile means an ARCH machine: its compat ABIs follow the profile, not the kill action', { skip: upstream }, () => {
  const x86 = compiled('--policy', DOCKER, '--arch', 'x86_64');
  for (const abi of ['x86_64', 'x86', 'x32'] as const) assert.equal(x86(abi, 'read'), 'ALLOW', abi);
  assert.equal(x86('x86', 'kexec_load'), 'ERRNO(1)', 'the profile decides on the compat ABI');
  assert.equal(x86('aarch64', 'read'), 'KILL_THREAD', 'an ABI the machine does not run');
  // includes.arches and archMap are read for the named machine, not this host.
  const arm = compiled('--policy', DOCKER, '--arch', 'arm64');
  assert.equal(arm('arm', 'arm_fadvise64_64'), 'ALLOW', 'includes.arches arm64');
  assert.equal(arm('aarch64', 'read'), 'ALLOW');
  assert.equal(arm('x86', 'read'), 'KILL_THREAD');
  // Several --arch are exactly those ABIs.
  const two = compiled('--policy', DOCKER, '--arch', 'x86_64', '--arch', 'x86');
  assert.equal(two('x86', 'read'), 'ALLOW');
  assert.equal(two('x32', 'read'), 'KILL_THREAD');
  // A TS policy's --arch is the ABI named.
  assert.equal(compiled('--policy', 'fixtures/strict.ts', '--arch', 'x86_64')('x86', 'read'), 'KILL_PROCESS');
});

test('--arch ARCH with an OCI profile: a profile without archMap keeps those of its architectures the machine runs', () => {
  const file = join(work, 'listed.json');
  writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }));
  const x86 = compiled('--policy', file, '--arch', 'x86_64');
  assert.equal(x86('x86_64', 'read'), 'ALLOW', 'the native ABI is always in the filter (seccomp_init)');
  assert.equal(x86('x86', 'read'), 'ALLOW');
  assert.equal(x86('x32', 'read'), 'KILL_THREAD', 'x32 is not in the profile');
  assert.equal(x86('arm', 'read'), 'KILL_THREAD');
  // --weights shapes the same program: the same decisions.
  const weights = join(work, 'weights.txt');
  writeFileSync(weights, 'read 1000\n');
  const weighted = compiled('--policy', file, '--arch', 'x86_64', '--weights', weights);
  for (const abi of ['x86_64', 'x86', 'x32', 'arm'] as const) assert.equal(weighted(abi, 'read'), x86(abi, 'read'), abi);
});

test('explain, lint, verify and diff read --arch as compile does; a raw .bpf compiled so agrees', { skip: upstream }, () => {
  const e = tsjail('explain', '--policy', DOCKER, '--arch', 'x86_64', 'read');
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /^x86_64: read\(\) \[nr 0\] -> ALLOW\n/);
  const machine = compileProgram(policyFromText(DOCKER, readFileSync(DOCKER, 'utf8'), { hostArch: 'x86_64' }).policy, { arch: ['x86_64', 'x86', 'x32'] });
  const path = emulate(machine.instructions, { nr: 0, arch: ABIS.x86_64.auditArch }, 'little').path;
  assert.match(e.stdout, new RegExp(`\ninstructions executed: ${path.length}\n`), 'the program explained is the one for an x86_64 machine');
  const lint = tsjail('lint', '--policy', DOCKER, '--arch', 'x86_64', '--json');
  assert.ok((JSON.parse(lint.stdout) as { abi: string }[]).some((f) => f.abi.includes('x32')), 'lint reads the compat ABIs too');
  const bpf = join(work, 'docker.bpf');
  assert.equal(tsjail('compile', '--policy', DOCKER, '--arch', 'x86_64', '-o', bpf).status, 0);
  const v = tsjail('verify', '--policy', DOCKER, '--arch', 'x86_64', bpf);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /x86/);
  assert.equal(tsjail('diff', bpf, DOCKER, '--arch', 'x86_64').status, 0, 'raw .bpf beside the profile: the same ABIs');
  // A TS policy for x86_64 alone differs from the profile on an x86_64 machine on the compat ABIs (x86 read: killed beside allowed).
  const ts = join(work, 'read.ts');
  writeFileSync(ts, "import { definePolicy, allow, errno } from 'tsjail';\nexport default definePolicy({ default: errno('EPERM'), rules: [allow('read')] });\n");
  const json = join(work, 'read.json');
  writeFileSync(json, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }));
  const d = tsjail('diff', ts, json, '--arch', 'x86_64', '--json');
  assert.equal(d.status, 1, d.stderr);
  const x86 = (JSON.parse(d.stdout) as { abi: string; syscalls: string[]; a: string; b: string }[]).filter((x) => x.abi === 'x86');
  assert.ok(x86.some((x) => x.syscalls.includes('read') && x.a === 'KILL_PROCESS' && x.b === 'ALLOW'), d.stdout);
  // Compiled for the same two ABIs, they differ only in the bad-arch action (kill_process here, kill_thread in
  // OCI) and in runc's ENOSYS above the profile's highest syscall on x86 (read, 3; on x86_64 read is 0 and runc adds none).
  const both = JSON.parse(tsjail('diff', ts, json, '--arch', 'x86_64', '--arch', 'x86', '--json').stdout) as { syscalls: string[]; a: string; b: string }[];
  assert.ok(both.length && both.every((x) => x.b === (x.a === 'KILL_PROCESS' ? 'KILL_THREAD' : 'ERRNO(38)')), JSON.stringify(both));
});

/** What a compiled `policy` returns for a raw number `nr` through `abi`, checked against the reference evaluator. */
function decideNr(policy: Policy, abis: readonly AbiName[], abi: AbiName, nr: number, options: { weights?: Record<string, number> } = {}): string {
  const c = compileProgram(policy, { arch: [...abis], ...options });
  const data = { nr: nr >>> 0, arch: ABIS[abi].auditArch };
  const ret = emulate(c.instructions, data, c.endian).ret;
  assert.equal(describeRet(ret), describeRet(evaluatePolicy(policy, c.abis, data).ret), `${abi} nr ${nr}: program and reference evaluator`);
  return describeRet(ret);
}

const nr = (abi: AbiName, name: string): number => syscallNumber(ABIS[abi], name)!;

test('OCI profiles: numbers above the highest syscall the profile names return ENOSYS, as runc does; -1 and lower numbers keep the default', () => {
  const { policy } = importOci({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [
    { names: ['read', 'openat', 'futex'], action: 'SCMP_ACT_ALLOW' },
    // The default action: no rule, but runc counts it for its bound.
    { names: ['pidfd_open'], action: 'SCMP_ACT_ERRNO' }] });
  const abis = ['x86_64', 'x86', 'x32'] as const;
  for (const abi of abis) {
    const top = nr(abi, 'pidfd_open');
    assert.equal(decideNr(policy, abis, abi, nr(abi, 'read')), 'ALLOW', abi);
    assert.equal(decideNr(policy, abis, abi, top), 'ERRNO(1)', `${abi}: the highest known keeps the default`);
    assert.equal(decideNr(policy, abis, abi, top - 1), 'ERRNO(1)', `${abi}: below it, the default`);
    assert.equal(decideNr(policy, abis, abi, top + 1), 'ERRNO(38)', `${abi}: newer: ENOSYS`);
  }
  assert.equal(decideNr(policy, abis, 'x86_64', 0x3fffffff), 'ERRNO(38)');
  assert.equal(decideNr(policy, abis, 'x32', 0xfffffffe), 'ERRNO(38)');
  assert.equal(decideNr(policy, abis, 'x86', 0xffffffff), 'ERRNO(1)', '-1 (a tracer\'s skip) keeps the default');
  assert.equal(decideNr(policy, abis, 'x86_64', 0xffffffff), 'ERRNO(1)');
  // No stub where runc adds none: a permissive default, a default of ENOSYS, no architectures.
  const plain = (spec: object): Policy => importOci({ syscalls: [{ names: ['read', 'openat'], action: 'SCMP_ACT_KILL_PROCESS' }], ...spec }).policy;
  assert.equal(decideNr(plain({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'] }), ['x86_64'], 'x86_64', 1000), 'ALLOW');
  assert.equal(decideNr(plain({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, architectures: ['SCMP_ARCH_X86_64'] }), ['x86_64'], 'x86_64', 1000), 'ERRNO(38)');
  assert.equal(plain({ defaultAction: 'SCMP_ACT_ERRNO', architectures: [] }).newerSyscalls, undefined);
  assert.equal(decideNr(plain({ defaultAction: 'SCMP_ACT_KILL_PROCESS', architectures: ['SCMP_ARCH_X86_64'] }), ['x86_64'], 'x86_64', 1000), 'ERRNO(38)', 'a kill default too');
});

test('ENOSYS for newer syscalls per ABI: its own errno on MIPS, setup(0) on s390x, a TS policy setting', () => {
  const policy = definePolicy({ default: errno('EPERM'), newerSyscalls: 'enosys', arches: ['mips', 's390x'], rules: [allow('read', 'openat'), kill('ptrace')] });
  const x86 = definePolicy({ default: errno('EPERM'), newerSyscalls: 'enosys', arches: ['x86_64', 'x86', 'x32'], rules: [allow('read', 'openat'), kill('ptrace')] });
  assert.equal(decideNr(policy, ['mips'], 'mips', nr('mips', 'openat') + 1), 'ERRNO(89)', 'ENOSYS is 89 on MIPS');
  assert.equal(decideNr(policy, ['s390x'], 's390x', 0), 'ERRNO(38)', 'setup(2): where s390 puts unknown large numbers');
  assert.equal(decideNr(policy, ['s390x'], 's390x', nr('s390x', 'openat') + 1), 'ERRNO(38)');
  assert.equal(decideNr(x86, ['x86_64'], 'x86_64', nr('x86_64', 'openat') + 1), 'ERRNO(38)');
  assert.equal(decideNr(x86, ['x86_64'], 'x86_64', nr('x86_64', 'openat') - 1), 'ERRNO(1)');
  const without = definePolicy({ default: errno('EPERM'), rules: [allow('read', 'openat')] });
  assert.equal(decideNr(without, ['x86_64'], 'x86_64', 1000), 'ERRNO(1)', 'off unless asked');
  assert.throws(() => definePolicy({ default: errno('EPERM'), newerSyscalls: 'yes' as 'enosys', rules: [] }), /inputs\.test\.js:\d+: newerSyscalls: expected 'enosys', not "yes"/);
  // Weights reshape the tree, not the decisions; verify proves both programs on every ABI.
  for (const p of [policy, x86]) {
    for (const weights of [undefined, { openat: 1000, read: 10, '1000': 5 }]) {
      const c = compileProgram(p, weights ? { weights } : {});
      assert.equal(verifyFilter(p, c.instructions).regions, 0, `${p.arches.join('+')}: proven${weights ? ' with weights' : ''}`);
      assert.equal(decideNr(p, p.arches, p.arches[0]!, nr(p.arches[0]!, 'openat') + 1000, weights ? { weights } : {}), p.arches[0] === 'mips' ? 'ERRNO(89)' : 'ERRNO(38)');
    }
  }
});

test('verify proves the ENOSYS region of Docker\'s profile on an x86_64 machine, and finds it missing', { skip: upstream }, () => {
  const { policy } = policyFromText(DOCKER, readFileSync(DOCKER, 'utf8'), { hostArch: 'x86_64' });
  const c = compileProgram(policy);
  assert.equal(verifyFilter(policy, c.instructions).regions, 0);
  const { newerSyscalls: _, ...withoutStub } = policy;
  const report = verifyFilter(policy, compileProgram(withoutStub).instructions);
  assert.deepEqual(report.differences.map((d) => [d.abi, d.program, d.policy]).sort(), [['x32', 'ERRNO(1)', 'ERRNO(38)'], ['x86', 'ERRNO(1)', 'ERRNO(38)'], ['x86_64', 'ERRNO(1)', 'ERRNO(38)']]);
});

test('lint says which numbers get ENOSYS; explain names it', () => {
  const policy = definePolicy({ default: errno('EPERM'), newerSyscalls: 'enosys', arches: ['x86_64', 's390x'], rules: [allow('read', 'openat')] });
  const info = lintPolicy(policy).filter((f) => /newer than the policy/.test(f.message)).map((f) => `${f.abi}: ${f.message}`);
  assert.deepEqual(info, [
    'x86_64: syscalls newer than the policy return ENOSYS, so libc falls back: every number above 257 (openat) except -1',
    `s390x: syscalls newer than the policy return ENOSYS, so libc falls back: every number above ${nr('s390x', 'openat')} (openat) except -1, and 0`,
  ]);
  assert.ok(!lintPolicy(policy).some((f) => /the default is EPERM/.test(f.message)), 'no advice to do what it does');
  const file = join(work, 'newer.ts');
  writeFileSync(file, "import { definePolicy, allow, errno } from 'tsjail';\nexport default definePolicy({ default: errno('EPERM'), newerSyscalls: 'enosys', rules: [allow('read', 'openat')] });\n");
  const e = tsjail('explain', '--policy', file, '--arch', 'x86_64', 'pidfd_open');
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /-> ERRNO\(38\)\ndecided by: a number above the highest syscall the policy knows \(newerSyscalls\): ENOSYS/);
});

test('lint: two rules of one action with different values that both match are a warning; the README table\'s cases are reported', () => {
  const both = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [allow('read'), errno('EACCES', 'kill', { sig: gt(5) }), errno('EINVAL', 'kill', { sig: gt(10) })] });
  assert.deepEqual(lintPolicy(both).filter((f) => /same action/.test(f.message)).map((f) => `${f.abi}: ${f.message}`), [
    'x86_64: kill (args[1].lo >= 0xb): two rules of the same action with different values both match; the earlier decides (ERRNO(13), not ERRNO(22)), where libseccomp would take the rule with the tighter bound: give the calls of one rule a condition the other excludes',
  ]);
  // Disjoint conditions, or the same value: nothing to say.
  const apart = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [errno('EACCES', 'kill', { sig: gt(10) }), errno('EINVAL', 'kill', { sig: 3 }), errno('EACCES', 'kill', { sig: gt(5) })] });
  assert.deepEqual(lintPolicy(apart).filter((f) => /same action/.test(f.message)), []);
  // Different actions: the most restrictive wins, as meant.
  const meant = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [allow('socket'), errno('EPERM', 'socket', { family: 16 })] });
  assert.deepEqual(lintPolicy(meant).filter((f) => /same action/.test(f.message)), []);
  const stray = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [allow('close', { fd: maskedEq(1, 2) })] });
  assert.ok(lintPolicy(stray).some((f) => f.severity === 'warning' && /can never match \(value 0x2 has bits outside mask 0x1\)/.test(f.message)));
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.match(readme, /### Where tsjail's meaning differs from libseccomp's on purpose/);
  for (const example of ["errno('EINVAL', 'kill', { sig: gt(10) })", 'maskedEq(1, 2)', "errno('EPERM', 'socket', { family: AF_NETLINK })"]) assert.ok(readme.includes(example), example);
});
