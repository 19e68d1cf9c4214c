// tsjail verify: every program tsjail compiles is proven to implement its policy, libseccomp's
// programs differ only where libseccomp's meaning is documented to differ, and every
// single-instruction mutation of a compiled Docker program that changes a decision is found.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ABIS, type AbiName } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { diffPrograms, satisfiable } from '../src/bpf/diff';
import { emulate } from '../src/bpf/emulator';
import { verifyProgram } from '../src/bpf/verify';
import { referenceProgram } from '../src/analysis/referenceProgram';
import { ProgramError, decodeFilter, verifyFilter, type VerifyReport } from '../src/analysis/verify';
import { BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, encodeProgram, jump, stmt, type Instruction } from '../src/kernel/instruction';
import {
  describeRet, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRAP,
} from '../src/kernel/seccomp';
import { DOCKER_DEFAULT_CAPS, importOci } from '../src/formats/oci';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { evaluatePolicy } from '../src/policy/evaluate';
import { allow, definePolicy, errno, ge, gt, hasAll, hasNone, kill, le, lt, maskedEq, ne, trace, trap } from '../src/policy/dsl';
import type { Policy } from '../src/policy/model';
import { actionRet, targetAbis } from '../src/policy/resolve';
import { GOLDEN_DIR, goldenCases, policyPath } from '../scripts/golden';
import { hasUpstream, REPO_ROOT, upstreamPath } from '../scripts/upstream';
import { loadPolicyFile } from '../src/formats/load';
import { runProbe, type ProbeCall } from './helpers/probe';
import { callsFor, policyArb } from './helpers/random';

const upstreamSkip = hasUpstream() ? false : 'upstream data not found (../shared/upstream)';
const PYTHON = '/usr/bin/python3';
const haveLibseccomp = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;
const libseccompSkip = upstreamSkip || (haveLibseccomp ? false : 'python3-seccomp is not installed (apt-get install python3-seccomp)');

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const tsjail = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

function loadOci(rel: string, hostArch: AbiName): Policy {
  return importOci(JSON.parse(readFileSync(upstreamPath(rel), 'utf8')), { hostArch, kernel: '6.1' }).policy;
}

/** Each reported region is real: its call gets the reported actions from the program and from the reference evaluator. */
function assertRegionsReal(policy: Policy, program: readonly Instruction[], report: VerifyReport): void {
  const endian = report.abis[0]!.endian;
  for (const d of report.differences) {
    assert.equal(describeRet(emulate(program, d.example, endian).ret), d.program);
    assert.equal(describeRet(evaluatePolicy(policy, report.abis, d.example).ret), d.policy);
    assert.notEqual(d.program, d.policy);
  }
}

function assertProven(policy: Policy, arch?: readonly string[]): VerifyReport {
  const compiled = compileProgram(policy, arch ? { arch } : {});
  const report = verifyFilter(policy, compiled.instructions, arch ? { arch } : {});
  assert.deepEqual(report.differences, [], `${compiled.abis.map((a) => a.name)}: ${JSON.stringify(report.differences.slice(0, 3), (_, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  assert.ok(report.referenceLength > compiled.instructions.length);
  return report;
}

test('the reference program decides as the reference evaluator does (random policies, 14 ABI groups)', () => {
  fc.assert(fc.property(policyArb(), fc.integer(), ({ policy, abis }, seed) => {
    const reference = referenceProgram(policy, abis);
    let s = seed >>> 0;
    const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const data of callsFor(policy, abis, rand)) {
      assert.equal(emulate(reference, data, abis[0]!.endian).ret, evaluatePolicy(policy, abis, data).ret, `${abis.map((a) => a.name)} nr ${data.nr}`);
    }
  }), { numRuns: 150 });
});

test('every compiled random policy is proven (14 ABI groups)', () => {
  fc.assert(fc.property(policyArb(), ({ policy, abis }) => { assertProven(policy, abis.map((a) => a.name)); }), { numRuns: 150 });
});

test('the built-in policy is proven on the host', () => {
  assertProven(defaultPolicy());
});

test('every reviewed golden program (fixtures/golden/*.hex) is proven against its policy (TS and OCI)', (t) => {
  for (const c of goldenCases()) {
    if (!existsSync(policyPath(c))) { t.diagnostic(`${c.name}: ${policyPath(c)} not found (upstream data)`); continue; }
    const { policy } = loadPolicyFile(policyPath(c), c.oci ?? {});
    const hex = readFileSync(join(GOLDEN_DIR, `${c.name}.hex`), 'utf8').trim().split('\n').join('');
    const endian = targetAbis(policy, c.arch)[0]!.endian;
    const program = decodeFilter(new Uint8Array(Buffer.from(hex, 'hex')), endian, `${c.name}.hex`);
    const report = verifyFilter(policy, program, c.arch ? { arch: c.arch } : {});
    assert.equal(report.regions, 0, `${c.name}: ${JSON.stringify(report.differences[0], (_, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  }
});

test("systemd's SystemCallFilter= policies and OpenWrt procd's (first match wins) are proven", { skip: upstreamSkip }, () => {
  for (const name of ['denylist.conf', 'service.conf']) assertProven(loadPolicyFile(join(REPO_ROOT, 'fixtures/systemd', name)).policy);
  const umdns = loadPolicyFile(upstreamPath('openwrt/umdns.json'), { procd: true, kernel: '6.1' }).policy;
  for (const arch of [['x86_64'], ['mipsel'], ['aarch64', 'arm'], ['ppc64']]) assertProven(umdns, arch);
});

const ARG_POLICY = definePolicy({
  default: errno('ENOSYS'),
  arches: ['x86_64', 'x86', 'x32'],
  rules: [
    allow('read', 'write', 'close', 'exit_group'),
    allow('socket', { family: [1, 2, 10] }),
    errno('EPERM', 'socket', { type: hasAll(0x80000) }),
    allow('clone', { clone_flags: hasNone(0x10000000 | 0x20000) }),
    errno('EPERM', 'ioctl', { cmd: 0x5412 }),
    allow('ioctl', { fd: lt(3) }),
    allow('madvise', { behavior: le(3), len: gt(0x1000), start: ge(0x10000) }),
    trap('mprotect', { prot: maskedEq(0x4, 0x4) }),
    trace(7, 'fchmodat', { mode: gt(0o755) }), // umode_t: a 16-bit compare
    allow('fchmodat', { mode: ne(0o777) }),
    allow('lseek', { offset: ge(1n << 40n) }), // off_t: 64 bits where registers are
    kill('ptrace'),
  ],
});

test('TS policies with argument rules are proven on every ABI they target, in both byte orders', () => {
  assertProven(ARG_POLICY);
  for (const arch of [['aarch64', 'arm'], ['s390x', 's390'], ['mips64', 'mips64n32', 'mips'], ['ppc64'], ['riscv64']]) {
    assertProven(ARG_POLICY, arch);
  }
});

for (const [label, rel] of [['Docker', 'moby/default.json'], ['podman', 'containers-common/seccomp.json']] as const) {
  test(`${label}'s profile compiled by tsjail is proven on every host and its compat ABIs`, { skip: upstreamSkip }, (t) => {
    for (const host of ['x86_64', 'aarch64', 's390x', 'ppc64le', 'mips64'] as const) {
      const r = assertProven(loadOci(rel, host));
      t.diagnostic(`${host}: ${r.abis.map((a) => a.name).join('+')}, ${r.programLength} instructions proven against a ${r.referenceLength}-instruction reference`);
    }
  });
}

/** libseccomp's program for an upstream profile (as runc builds it), the profile as tsjail imports it, and the syscalls libseccomp does not know. */
function libseccompProgram(rel: string, host: AbiName): { program: Instruction[]; policy: Policy; unknown: Set<string> } {
  const out = join(mkdtempSync(join(tmpdir(), 'tsjail-verify-')), 'profile.bpf');
  const kernel = release();
  const r = spawnSync(PYTHON, [join(REPO_ROOT, 'test/helpers/libseccomp_oci.py'), upstreamPath(rel), host, DOCKER_DEFAULT_CAPS.join(','), kernel, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return {
    program: decodeFilter(new Uint8Array(readFileSync(out)), ABIS[host].endian, out),
    // libseccomp's own program: without runc's ENOSYS stub (newerSyscalls) in front of it.
    policy: { ...importOci(JSON.parse(readFileSync(upstreamPath(rel), 'utf8')), { hostArch: host, kernel }).policy, newerSyscalls: undefined },
    unknown: new Set((JSON.parse(r.stdout) as { unknown: [string, string][] }).unknown.map(([abi, name]) => `${abi}:${name}`)),
  };
}

const DOCKER_DEFAULT_RET = SECCOMP_RET_ERRNO | 1;

test("libseccomp's programs for Docker's and podman's profiles differ only on the syscalls libseccomp 2.5.4 does not know", { skip: libseccompSkip }, (t) => {
  for (const [rel, host] of [['moby/default.json', 'x86_64'], ['moby/default.json', 'aarch64'], ['containers-common/seccomp.json', 'x86_64']] as const) {
    const { program, policy, unknown } = libseccompProgram(rel, host);
    const report = verifyFilter(policy, program);
    assertRegionsReal(policy, program, report);
    // Each region is one syscall libseccomp does not know, left to the profile's default.
    for (const d of report.differences) {
      assert.equal(d.syscalls.length, 1, JSON.stringify(d.syscalls));
      assert.ok(unknown.has(`${d.abi}:${d.syscalls[0]}`), `${d.abi}:${d.syscalls[0]} differs: program ${d.program}, policy ${d.policy}`);
      assert.equal(d.program, describeRet(actionRet(policy.defaultAction, ABIS[d.abi as AbiName])));
    }
    assert.ok(report.regions > 0 && report.regions <= unknown.size);
    t.diagnostic(`${rel} on ${host}: ${program.length} libseccomp instructions; differs on ${report.differences.map((d) => `${d.abi}:${d.syscalls[0]}`).join(', ')}`);
  }
});

test("libseccomp's s390x program for Docker's profile: verify finds the ret constants 2.5.4 writes in the wrong byte order", { skip: libseccompSkip }, (t) => {
  const swap32 = (k: number): number => (((k & 0xff) << 24) | ((k & 0xff00) << 8) | ((k >>> 8) & 0xff00) | (k >>> 24)) >>> 0;
  const { program, policy, unknown } = libseccompProgram('moby/default.json', 's390x');
  const report = verifyFilter(policy, program);
  assertRegionsReal(policy, program, report);
  let swapped = 0;
  for (const d of report.differences) {
    const ret = emulate(program, d.example, 'big').ret;
    const meant = evaluatePolicy(policy, report.abis, d.example).ret;
    const where = `${d.abi}:${d.syscalls.join(',')}: program ${d.program}, policy ${d.policy}`;
    if (d.syscalls.length === 1 && unknown.has(`${d.abi}:${d.syscalls[0]}`)) assert.ok(ret === DOCKER_DEFAULT_RET || swap32(ret) === DOCKER_DEFAULT_RET, where);
    else { assert.equal(swap32(ret), meant, where); swapped++; }
  }
  assert.ok(swapped > 100);
  t.diagnostic(`${program.length} libseccomp instructions; ${report.regions} regions differ, ${swapped} of them a byte-swapped return (ALLOW written as 0x0000ff7f: KILL_THREAD)`);
});

test('targets the program leaves out: another arch and the x32 numbers take the bad-arch action', () => {
  const policy = definePolicy({ default: errno('EPERM'), arches: ['x86_64', 'x86', 'x32'], rules: [allow('read', 'write')] });
  const narrow = compileProgram(policy, { arch: 'x86_64' }).instructions;
  const report = verifyFilter(policy, narrow);
  assertRegionsReal(policy, narrow, report);
  const regions = report.differences.map((d) => `${d.abi}|${d.program}|${d.policy}`);
  assert.ok(regions.includes('x86|KILL_PROCESS|ERRNO(1)'), regions.join('\n'));
  assert.ok(regions.includes('x86|KILL_PROCESS|ALLOW'));
  assert.ok(regions.includes('x32|KILL_PROCESS|ALLOW'));
  assert.ok(regions.includes('x32|KILL_PROCESS|ERRNO(1)'));
  assert.ok(report.differences.every((d) => d.abi !== 'x86_64'));
});

test('a program that reads the instruction pointer: the region and its call say where', () => {
  const policy = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [allow('read')] });
  const compiled = compileProgram(policy).instructions;
  // ld [8] (ip, low word); if it is 0x1000 allow, else the compiled program.
  const program = [stmt(BPF_LD | BPF_W | BPF_ABS, 8), jump(BPF_JMP | BPF_JEQ | BPF_K, 0x1000, 0, 1), stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), ...compiled];
  const report = verifyFilter(policy, program);
  assert.ok(report.differences.length > 0);
  for (const d of report.differences) {
    assert.equal(d.example.instructionPointer, 0x1000n);
    assert.ok(d.args.includes('ip.lo == 0x1000'), d.args.join(', '));
    assert.equal(d.program, 'ALLOW');
  }
});

test('16-bit ordered compares (umode_t): the walk follows `and 0xffff; jgt`, and a bound off by one is found at the bound', () => {
  const full = { lo: 0, hi: 0xffffffff, masked: [], notMasked: [] };
  assert.equal(satisfiable({ ...full, maskedRanges: [[0xffff, 0x1ee, 0xffffffff]], hi: 0x1ed }), undefined);
  assert.equal(satisfiable({ ...full, maskedRanges: [[0xffff, 0x1ee, 0xffffffff]], lo: 0x10000 }), 0x101ee);
  assert.equal(satisfiable({ ...full, maskedRanges: [[0xffff, 0, 0x1ed], [0xffff, 0x1ed, 0xffffffff]] }), 0x1ed);
  const policy = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [trace(7, 'fchmodat', { mode: gt(0o755) }), allow('fchmodat')] });
  const compiled = compileProgram(policy).instructions;
  assert.deepEqual(verifyFilter(policy, compiled).differences, []);
  const at = compiled.findIndex((i) => i.code === (BPF_JMP | BPF_JGT | BPF_K) && i.k === 0o755);
  assert.ok(at > 0 && compiled[at - 1]!.k === 0xffff, 'the compiler masks the word before comparing');
  const program = compiled.map((x, i) => (i === at ? { ...x, k: 0o756 } : x));
  const report = verifyFilter(policy, program);
  assertRegionsReal(policy, program, report);
  assert.deepEqual(report.differences.map((d) => [d.syscalls, d.program, d.policy, d.example.args![2]! & 0xffffn]), [[['fchmodat'], 'ALLOW', 'TRACE(7)', 0o756n]]);
});

test('on the running kernel, the call verify gives for a wrong program gets the program\'s action, not the policy\'s', { skip: process.arch === 'x64' ? false : 'the probe makes x86_64 calls' }, () => {
  const policy = definePolicy({
    default: errno(77), arches: ['x86_64'],
    rules: [allow('write', 'exit_group', 'exit', 'getuid'), errno('EPERM', 'ioctl', { cmd: 0x5412 }), allow('ioctl')],
  });
  const compiled = compileProgram(policy).instructions;
  // The TIOCSTI compare off by one: TIOCSTI itself is let through.
  const at = compiled.findIndex((i) => i.code === (BPF_JMP | BPF_JEQ | BPF_K) && i.k === 0x5412);
  const program = compiled.map((x, i) => (i === at ? { ...x, k: 0x5413 } : x));
  const report = verifyFilter(policy, program);
  assert.deepEqual(report.differences.map((d) => [d.syscalls, d.program, d.policy]).sort(), [[['ioctl'], 'ALLOW', 'ERRNO(1)'], [['ioctl'], 'ERRNO(1)', 'ALLOW']]);
  const letThrough = report.differences.find((d) => d.program === 'ALLOW')!.example; // cmd == TIOCSTI
  const refused = report.differences.find((d) => d.program === 'ERRNO(1)')!.example; // cmd == 0x5413
  assert.equal(letThrough.args![1]! & 0xffffffffn, 0x5412n);
  assert.equal(refused.args![1]! & 0xffffffffn, 0x5413n);
  const calls: ProbeCall[] = [letThrough, refused].map((c) => ({ abi: 'native', nr: c.nr, args: c.args! }));
  const [mutantLets, mutantRefuses] = runProbe(encodeProgram(program, 'little'), calls);
  const [correctRefuses, correctLets] = runProbe(encodeProgram(compiled, 'little'), calls);
  // On the real kernel: the policy's EPERM where the correct program gives it, not where the mutant does.
  assert.equal(correctRefuses, 'ret=-1 errno=1');
  assert.notEqual(mutantLets, 'ret=-1 errno=1');
  assert.equal(mutantRefuses, 'ret=-1 errno=1');
  assert.notEqual(correctLets, 'ret=-1 errno=1');
});

/** Every single-field change of one instruction, among the opcodes, offsets and targets that matter. */
function mutants(program: readonly Instruction[]): { pc: number; ins: Instruction }[] {
  const out: { pc: number; ins: Instruction }[] = [];
  const rets = [SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO | 38];
  const conditional = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].map((op) => BPF_JMP | op | BPF_K);
  program.forEach((ins, pc) => {
    const ks = new Set<number>();
    if (ins.code === (BPF_LD | BPF_W | BPF_ABS)) for (let o = 0; o < 64; o += 4) ks.add(o);
    else if (ins.code === (BPF_RET | BPF_K)) for (const r of [...rets, ins.k ^ 1]) ks.add(r);
    else for (const k of [ins.k ^ 1, ins.k + 1, ins.k - 1, ins.k ^ 0x80000000, 0, 0xffffffff]) ks.add(k >>> 0);
    for (const k of ks) if (k !== ins.k) out.push({ pc, ins: { ...ins, k } });
    if (!conditional.includes(ins.code)) return;
    for (const code of conditional) if (code !== ins.code) out.push({ pc, ins: { ...ins, code } });
    for (const jt of new Set([ins.jt - 1, ins.jt + 1, 0, ins.jf])) if (jt >= 0 && jt <= 255 && jt !== ins.jt) out.push({ pc, ins: { ...ins, jt } });
    for (const jf of new Set([ins.jf - 1, ins.jf + 1, 0, ins.jt])) if (jf >= 0 && jf <= 255 && jf !== ins.jf) out.push({ pc, ins: { ...ins, jf } });
  });
  return out;
}

test("mutation: verify finds exactly the single-instruction mutations of Docker's x86_64 program that change a decision", { skip: upstreamSkip }, (t) => {
  const policy = loadOci('moby/default.json', 'x86_64');
  const original = compileProgram(policy, { arch: 'x86_64' }).instructions;
  const counts = { changed: 0, same: 0, refusedByKernel: 0, undecided: 0 };
  for (const { pc, ins } of mutants(original)) {
    const program = original.map((x, i) => (i === pc ? ins : x));
    const where = `pc ${pc} -> ${JSON.stringify(ins)}`;
    if (verifyProgram(program).length) {
      counts.refusedByKernel++;
      assert.throws(() => verifyFilter(policy, program, { arch: ['x86_64'] }), (e) => e instanceof ProgramError && /the kernel would refuse/.test(e.message), where);
      continue;
    }
    let changes: boolean;
    try {
      changes = diffPrograms(original, program).length > 0;
    } catch {
      counts.undecided++; // outside what the exact walk follows (a test before any load)
      assert.throws(() => verifyFilter(policy, program, { arch: ['x86_64'] }), ProgramError, where);
      continue;
    }
    const report = verifyFilter(policy, program, { arch: ['x86_64'], limit: 1 });
    assert.equal(report.regions > 0, changes, where);
    if (changes) {
      counts.changed++;
      const d = report.differences[0]!;
      assert.equal(describeRet(emulate(program, d.example, 'little').ret), d.program, where);
      assert.equal(describeRet(evaluatePolicy(policy, report.abis, d.example).ret), d.policy, where);
    } else counts.same++;
  }
  t.diagnostic(`${original.length} instructions: ${counts.changed} mutants change a decision (all found), ${counts.same} do not (all proven), ${counts.refusedByKernel} refused by the kernel's checks, ${counts.undecided} outside the walk`);
  assert.ok(counts.changed > 300 && counts.same > 20, JSON.stringify(counts));
});

test('verify on the command line: proven (0), a difference with its call (1), bad input (2), compile --verify', { skip: upstreamSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-verify-cli-'));
  const docker = upstreamPath('moby/default.json');
  const good = join(dir, 'docker.bpf');
  const c = tsjail('compile', '--policy', docker, '--verify', '-o', good);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /proven: the compiled program \(\d+ instructions\) implements .* on x86_64, x86, x32/);
  const ok = tsjail('verify', '--policy', docker, good);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^proven: .*docker\.bpf \(237 instructions\) implements .* on x86_64, x86, x32, on every path/);

  // One return changed: ERRNO(1) where the policy allows.
  const bytes = readFileSync(good);
  const program = decodeFilter(new Uint8Array(bytes), 'little', good);
  const allowAt = program.findIndex((i) => i.code === (BPF_RET | BPF_K) && i.k === SECCOMP_RET_ALLOW);
  const bad = join(dir, 'mutant.bpf');
  writeFileSync(bad, encodeProgram(program.map((x, i) => (i === allowAt ? { ...x, k: SECCOMP_RET_ERRNO | 1 } : x)), 'little'));
  const differs = tsjail('verify', '--policy', docker, bad);
  assert.equal(differs.status, 1, differs.stderr);
  assert.match(differs.stdout, /differs from .* in \d+ regions?:\n(x86_64|x86|x32): .* and \d+ more: program ERRNO\(1\), policy ALLOW\n {2}e\.g\. \w+\(0x0, .*\) \[arch 0x[0-9a-f]+, nr 0x[0-9a-f]+\]/);
  const json = tsjail('verify', '--policy', docker, '--json', bad);
  assert.equal(json.status, 1);
  assert.equal((JSON.parse(json.stdout) as { proven: boolean }).proven, false);

  const hostile: [string, Uint8Array, RegExp][] = [
    ['empty.bpf', new Uint8Array(0), /empty.bpf: empty \(a seccomp program has 1 to 4096 instructions\)/],
    ['odd.bpf', new Uint8Array(13), /odd.bpf: 13 bytes, not a multiple of 8/],
    ['huge.bpf', encodeProgram(Array.from({ length: 4097 }, () => stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)), 'little'), /huge.bpf: 4097 instructions, over the kernel's limit of 4096/],
    ['jump.bpf', encodeProgram([stmt(BPF_LD | BPF_W | BPF_ABS, 0), jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 200, 0), stmt(BPF_RET | BPF_K, 0)], 'little'), /jump.bpf: the kernel would refuse this program: pc 1: branch jumps past the end/],
    ['back.bpf', encodeProgram([stmt(BPF_JMP, 0xffffffff), stmt(BPF_RET | BPF_K, 0)], 'little'), /back.bpf: the kernel would refuse this program: pc 0: ja 4294967295 jumps past the end/],
    ['load.bpf', encodeProgram([stmt(BPF_LD | BPF_W | BPF_ABS, 64), stmt(BPF_RET | BPF_K, 0)], 'little'), /load.bpf: the kernel would refuse this program: pc 0: load of offset 64 is outside seccomp_data/],
    ['noload.bpf', encodeProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), stmt(BPF_RET | BPF_K, 0)], 'little'), /noload.bpf: pc 0: test before load: verify cannot decide this program/],
    ['alu.bpf', encodeProgram([stmt(BPF_LD | BPF_W | BPF_ABS, 0), stmt(0x04 | 0x40, 1), stmt(BPF_RET | 0x10, 0)], 'little'), /alu.bpf: pc 1: opcode 0x44 is outside what verify follows/],
  ];
  for (const [name, data, message] of hostile) {
    const file = join(dir, name);
    writeFileSync(file, data);
    const r = tsjail('verify', '--policy', docker, file);
    assert.equal(r.status, 2, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // A big-endian target: the file is read in the targets' byte order.
  const s390x = join(dir, 'builtin-s390x.bpf');
  assert.equal(tsjail('compile', '--policy', '@builtin', '--arch', 's390x', '-o', s390x).status, 0);
  const be = tsjail('verify', '--policy', '@builtin', '--arch', 's390x', s390x);
  assert.equal(be.status, 0, be.stdout + be.stderr);
  assert.match(be.stdout, /^proven: .* on s390x, on every path/);
  const badPolicy = join(dir, 'bad.json');
  writeFileSync(badPolicy, '{"defaultAction": "SCMP_ACT_NOPE"}');
  const policyError = tsjail('verify', '--policy', badPolicy, good);
  assert.equal(policyError.status, 2, policyError.stderr);
  assert.match(policyError.stderr, /bad\.json/);
  const usage = tsjail('verify', good);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /verify needs --policy FILE and one program/);
  const oci = tsjail('compile', '--policy', docker, '--format', 'oci', '--verify');
  assert.equal(oci.status, 2);
  assert.match(oci.stderr, /--verify proves a compiled program: --format oci writes a profile/);
});

test('the reference program is deterministic', () => {
  const abis = targetAbis(ARG_POLICY);
  assert.deepEqual(encodeProgram(referenceProgram(ARG_POLICY, abis), 'little'), encodeProgram(referenceProgram(ARG_POLICY, abis), 'little'));
});
