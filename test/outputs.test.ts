// Outputs other tools consume: the OCI export read back by libseccomp (python3-seccomp builds
// the filter from the profile the way runc does) and compared with tsjail's own program by an
// exact walk of both programs, and the export run in real containers by runc and crun.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ABIS, type Abi } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { diffPrograms } from '../src/bpf/diff';
import { AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, CLONE_NEWUSER, TIOCSTI } from '../src/kernel/constants';
import { decodeProgram, encodeProgram, type Instruction } from '../src/kernel/instruction';
import { SECCOMP_DATA_ARCH, SECCOMP_DATA_NR, describeRet } from '../src/kernel/seccomp';
import { decisionBoxes, type ArgBox } from '../src/formats/argumentPatterns';
import { exportOci } from '../src/formats/ociExport';
import { exportSystemd } from '../src/formats/systemdExport';
import { importSystemd } from '../src/formats/systemd';
import { loadPolicyFile } from '../src/formats/load';
import { emulate } from '../src/bpf/emulator';
import { conditionHolds, widthMask, type ResolvedCondition, type Width } from '../src/policy/condition';
import type { CompareOp } from '../src/policy/model';
import { EDGE_VALUES } from './helpers/random';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { allow, definePolicy, errno, hasNone, kill, lt, syscallGroup } from '../src/policy/dsl';
import type { Policy } from '../src/policy/model';
import { syscallsOf } from '../src/syscalls/table';
import { REPO_ROOT } from '../scripts/upstream';
import type { ContainerRuntime } from '../scripts/run-container';
import { probeBundle } from './helpers/probeBundle';

const PYTHON = '/usr/bin/python3';
const noLibseccomp = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0
  ? false : 'python3-seccomp is not installed (apt-get install python3-seccomp)';
const work = mkdtempSync(join(tmpdir(), 'tsjail-outputs-'));
chmodSync(work, 0o755); // a root-started jail runs as a private id range: the probe must be reachable by others

/** libseccomp's program for an OCI profile, and the [arch, name] pairs it does not know. */
function libseccompProgram(profile: object, host: Abi): { program: Instruction[]; unknown: Set<string> } {
  const file = join(work, 'profile.json');
  const out = join(work, 'libseccomp.bpf');
  writeFileSync(file, JSON.stringify(profile));
  const r = spawnSync(PYTHON, [join(REPO_ROOT, 'test/helpers/libseccomp_oci.py'), file, host.name, '', release(), out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(r.stdout) as { unknown: [string, string][]; errors: [string, string][] };
  assert.deepEqual(meta.errors, [], 'libseccomp refused entries of the export');
  return { program: decodeProgram(new Uint8Array(readFileSync(out)), host.endian), unknown: new Set(meta.unknown.map(([a, n]) => `${a}:${n}`)) };
}

/** Number intervals of an ABI, leaving out the syscalls libseccomp 2.5.4 is too old to know. */
function numberIntervals(abi: Abi, unknown: Set<string>, hi: number): [number, number][] {
  const skipped = syscallsOf(abi).filter(({ name }) => unknown.has(`${abi.name}:${name}`)).map(({ nr }) => nr).sort((a, b) => a - b);
  const out: [number, number][] = [];
  let lo = 0;
  for (const nr of skipped) { if (nr > lo) out.push([lo, nr - 1]); lo = nr + 1; }
  out.push([lo, hi]);
  return out;
}

/**
 * Walks tsjail's program and libseccomp's together over every call of `abi`: every nr, every
 * argument value. Returns how many syscalls libseccomp did not know (left out of the walk).
 */
function assertSameDecisions(policy: Policy, profile: object, abis: readonly Abi[]): number {
  const ours = compileProgram(policy, { arch: abis.map((a) => a.name) }).instructions;
  const { program: theirs, unknown } = libseccompProgram(profile, abis[0]!);
  for (const abi of abis) {
    const x32Guard = abi.name === 'x86_64' && !abis.some((a) => a.name === 'x32');
    const intervals = [...numberIntervals(abi, unknown, x32Guard ? 0x3fffffff : 0xffffffff), ...(x32Guard ? [[0xffffffff, 0xffffffff] as [number, number]] : [])];
    for (const [lo, hi] of intervals) {
      const only = new Map([[SECCOMP_DATA_ARCH, { lo: abi.auditArch, hi: abi.auditArch, masked: [], notMasked: [] }], [SECCOMP_DATA_NR, { lo, hi, masked: [], notMasked: [] }]]);
      const d = diffPrograms(ours, theirs, only)[0];
      assert.equal(d, undefined, d && `${abi.name} nr ${JSON.stringify(d.constraints.get(SECCOMP_DATA_NR))}: tsjail ${describeRet(d.a)}, libseccomp ${describeRet(d.b)}`);
    }
    if (x32Guard) {
      // x32 numbers: both kill (OCI cannot name the bad-arch action; libseccomp kills the thread).
      const x32 = new Map([[SECCOMP_DATA_ARCH, { lo: abi.auditArch, hi: abi.auditArch, masked: [], notMasked: [] }], [SECCOMP_DATA_NR, { lo: 0x40000000, hi: 0xfffffffe, masked: [], notMasked: [] }]]);
      for (const d of diffPrograms(ours, theirs, x32)) assert.match(`${describeRet(d.a)} ${describeRet(d.b)}`, /^KILL_\w+ KILL_\w+$/);
    }
  }
  return [...unknown].filter((k) => abis.some((a) => k.startsWith(`${a.name}:`))).length;
}

test('argument boxes: disjoint across actions, and a call lands in the box of the action the chain gives it', (t) => {
  let refused = 0;
  const width = fc.constantFrom<Width>(64, 32, 16);
  const condition = fc.record({
    argIndex: fc.integer({ min: 0, max: 2 }), width, op: fc.constantFrom<CompareOp>('eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq'),
    value: fc.constantFrom(...EDGE_VALUES), mask: fc.constantFrom(...EDGE_VALUES),
  }).map((c): ResolvedCondition => {
    const all = widthMask(c.width);
    const mask = c.op === 'masked_eq' ? c.mask & all : all;
    const value = c.op === 'masked_eq' ? c.value & mask : c.value & all;
    return { argIndex: c.argIndex, width: c.width, op: c.op, value, mask, argName: `arg${c.argIndex}` };
  }).filter((c) => !(c.op === 'lt' && c.value === 0n) && !(c.op === 'gt' && c.value === widthMask(c.width)));
  const link = fc.record({ ruleIndex: fc.constant(0), ret: fc.constantFrom(0x7fff0000, 0x00050001, 0x80000000), conditions: fc.array(condition, { maxLength: 2 }) });
  const args = fc.array(fc.constantFrom(...EDGE_VALUES), { minLength: 3, maxLength: 3 });
  const inBox = (box: ArgBox, a: readonly bigint[]): boolean => [...box].every(([i, p]) => (a[i]! & p.mask) === p.value);
  fc.assert(fc.property(fc.array(link, { minLength: 1, maxLength: 4 }), fc.array(args, { minLength: 20, maxLength: 20 }), (links, calls) => {
    let boxes: ReturnType<typeof decisionBoxes>;
    try { boxes = decisionBoxes('test', links, 0x00050026); } catch (e) {
      // Too many entries for libseccomp is a refusal, not a wrong answer.
      if (/more than 512 OCI entries/.test((e as Error).message)) { refused++; return; }
      throw e;
    }
    for (const a of calls) {
      const expected = links.find((l) => l.conditions.every((c) => conditionHolds(c, a[c.argIndex]!)))?.ret ?? 0x00050026;
      const hits = new Set(boxes.filter((b) => inBox(b.box, a)).map((b) => b.ret));
      assert.deepEqual([...hits], expected === 0x00050026 ? [] : [expected], `${a.map((x) => x.toString(16))}`);
    }
  }), { numRuns: 300, seed: 1414 });
  t.diagnostic(`${300 - refused} chains checked, ${refused} refused as too many entries`);
  assert.ok(refused < 100);
});

const x86Policy = (): Policy => definePolicy({
  default: errno('ENOSYS'),
  arches: ['x86_64', 'x86'],
  rules: [
    allow('read', 'write', 'close', 'exit_group', 'connect', 'sendto', 'recvfrom', 'shmget', 'shmat'),
    allow('socket', { family: [AF_UNIX, AF_INET, AF_INET6] }),
    errno('EACCES', 'socket', { family: AF_NETLINK }),
    allow('ioctl'),
    errno('EPERM', 'ioctl', { cmd: TIOCSTI }),
    allow('clone', { clone_flags: hasNone(CLONE_NEWUSER) }),
    allow('kill', { sig: lt(32) }),
    kill('ptrace'),
    // The direct socket and IPC calls exist on i386 since Linux 4.3 and 5.1: the multiplexers go.
    errno('EPERM', 'socketcall', 'ipc'),
  ],
});

test('OCI export of the built-in policy: libseccomp reads it back to exactly tsjail\'s decisions', { skip: noLibseccomp }, (t) => {
  const policy = defaultPolicy();
  const abi = ABIS[policy.arches[0]!];
  const profile = exportOci(policy) as { syscalls: { names: string[]; args?: unknown[] }[] };
  assert.ok(profile.syscalls.some((e) => e.names.includes('ioctl') && e.args), 'ioctl is exported with its argument rules');
  const tooNew = assertSameDecisions(policy, profile, [abi]);
  t.diagnostic(`${profile.syscalls.length} entries; every nr and argument compared on ${abi.name}; ${tooNew} syscalls newer than libseccomp 2.5.4 left out`);
  assert.equal(JSON.stringify(exportOci(policy)), JSON.stringify(profile), 'the same bytes every time');
});

test('OCI export of an x86_64 + x86 policy with argument rules and socket calls: exact on both ABIs in libseccomp', { skip: noLibseccomp }, () => {
  const policy = x86Policy();
  const profile = exportOci(policy) as { architectures: string[] };
  assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assertSameDecisions(policy, profile, [ABIS.x86_64, ABIS.x86]);
});

test('OCI export refuses what libseccomp would read differently, naming the call and the way out', () => {
  // libseccomp also routes connect through socketcall(SYS_CONNECT) on i386; this policy leaves socketcall to the default.
  const leaky = definePolicy({ default: errno('ENOSYS'), arches: ['x86_64', 'x86'], rules: [allow('read'), errno('EPERM', 'connect')] });
  assert.throws(() => exportOci(leaky), /socketcall cannot be exported for x86: libseccomp would read the profile as ERRNO\(1\) where the policy says ERRNO\(38\).*errno\('EPERM', 'socketcall'\)/s);
  // A long is 64 bits on x86_64 and 32 on x86: one entry cannot say both.
  const wide = definePolicy({ default: 'allow', arches: ['x86_64', 'x86'], rules: [errno('EPERM', 'prctl', { arg1: lt(0x100) })] });
  assert.throws(() => exportOci(wide), /prctl is decided differently on x86 than on x86_64/);
});

const noRuntime = (r: ContainerRuntime): string | false =>
  process.arch !== 'x64' ? 'x86_64 probe' : spawnSync(r, ['--version']).status === 0 ? false : `${r} is not installed (apt-get install ${r})`;

for (const runtime of ['runc', 'crun'] as const) {
  test(`${runtime} runs a container under the exported built-in policy and enforces it as tsjail does`, { skip: noRuntime(runtime) }, () => {
    const probe = join(work, 'escape-probe');
    if (!existsSync(probe)) execFileSync('cc', ['-O2', '-o', probe, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
    const run = probeBundle(probe, exportOci(defaultPolicy()), runtime);
    for (const [args, expected] of [
      [['keyctl'], 'blocked EPERM\n'], [['tiocsti'], 'blocked EPERM\n'], [['tioclinux'], 'blocked EPERM\n'], [['vsock'], 'blocked EPERM\n'],
      [['clone-newuser'], 'blocked EPERM\n'], [['personality'], 'blocked EPERM\n'], [['read', '/usr/bin/env'], 'ESCAPED\n'],
    ] as const) {
      const r = run(args);
      assert.equal(r.stdout, expected, `${runtime} ${args.join(' ')}: ${r.stderr}`);
    }
  });
}

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const tsjail = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

test('a raw program from libseccomp: disasm names it, explain runs a call through it, diff walks it, run --policy loads it', { skip: noLibseccomp || (process.arch === 'x64' ? false : 'x86_64 probe') }, () => {
  const policy = definePolicy({ default: 'allow', rules: [errno('EPERM', 'keyctl', 'add_key'), errno('EACCES', 'ioctl', { cmd: TIOCSTI }), kill('ptrace')] });
  const file = join(work, 'libseccomp-export.bpf');
  const { program } = libseccompProgram(exportOci(policy, ['x86_64']), ABIS.x86_64);
  writeFileSync(file, Buffer.from(encodeProgram(program, 'little')));

  const listing = tsjail('disasm', file);
  assert.equal(listing.status, 0, listing.stderr);
  assert.match(listing.stdout, /if \(A != AUDIT_ARCH_X86_64\) goto/);
  assert.match(listing.stdout, /jge 0x40000000 \d+ \d+ +if \(A < X32_SYSCALL_BIT\) goto/); // libseccomp's x32 guard
  assert.match(listing.stdout, /if \(A != keyctl\) goto/);

  const explained = tsjail('explain', '--policy', file, 'ioctl', '0', String(0x100005412));
  assert.equal(explained.status, 0, explained.stderr);
  assert.match(explained.stdout, /^x86_64: ioctl\(0x0, 0x100005412\) \[nr 16\] -> ERRNO\(13\)\ndecided by: the program's instruction \d{4} \(ret #0x0005000d\)/);

  // Against the policy it came from: libseccomp kills x32 calls and bad arches by thread, tsjail
  // by process; nothing else differs.
  writeFileSync(join(work, 'same.ts'), `import { definePolicy, allow, errno, kill, TIOCSTI } from 'tsjail';\n`
    + `export default definePolicy({ default: 'allow', rules: [errno('EPERM', 'keyctl', 'add_key'), errno('EACCES', 'ioctl', { cmd: TIOCSTI }), kill('ptrace')] });\n`);
  const d = tsjail('diff', file, join(work, 'same.ts'), '--json');
  const regions = JSON.parse(d.stdout) as { syscalls: string[]; a: string; b: string }[];
  assert.ok(regions.length > 0 && regions.every((r) => r.a === 'KILL_THREAD' && r.b === 'KILL_PROCESS'), d.stdout);

  const probe = join(work, 'escape-probe');
  if (!existsSync(probe)) execFileSync('cc', ['-O2', '-o', probe, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
  const run = (args: string[]) => tsjail('run', '-q', '--host-fs', '--policy', file, '--', probe, ...args);
  assert.equal(run(['keyctl']).stdout, 'blocked EPERM\n');
  assert.equal(run(['tiocsti']).stdout, 'blocked EACCES\n'); // the high half set: still caught
  assert.equal(run(['read', '/etc/hostname']).stdout, 'ESCAPED\n');
  assert.equal(run(['ptrace', '1']).status, 128 + 31);
});

test('hostile .bpf files: a clear error with the file and the reason, never a stack trace', () => {
  const ret = (k: number) => ({ code: 0x06, jt: 0, jf: 0, k });
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /empty\.bpf: empty: a seccomp filter has 1 to 4096 instructions/],
    ['odd', new Uint8Array(13), /odd\.bpf: 13 bytes is not a whole number of instructions \(1 and 5 bytes over\)/],
    ['long', encodeProgram(Array.from({ length: 4097 }, () => ret(0x7fff0000)), 'little'), /long\.bpf: 4097 instructions, over the kernel's limit of 4096/],
    ['jump', encodeProgram([{ code: 0x15, jt: 7, jf: 0, k: 0 }, ret(0x7fff0000)], 'little'), /jump\.bpf: pc 0: branch jumps past the end \(the kernel would refuse this filter \(EINVAL\)/],
    ['noret', encodeProgram([{ code: 0x20, jt: 0, jf: 0, k: 0 }], 'little'), /noret\.bpf: the last instruction is not a ret/],
  ];
  for (const [name, bytes, message] of cases) {
    const file = join(work, `${name}.bpf`);
    writeFileSync(file, bytes);
    for (const args of [['explain', '--policy', file, 'read'], ['diff', file, '@builtin'], ['run', '--host-fs', '--policy', file, '--', '/bin/true']]) {
      const r = tsjail(...args);
      assert.equal(r.status, args[0] === 'run' ? 125 : 1, `${args[0]} ${name}: ${r.stderr}`);
      assert.match(r.stderr, message, `${args[0]} ${name}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${args[0]} ${name}: a stack trace`);
    }
    // disasm lists what the kernel would refuse, saying so; it refuses only what is no program.
    const listing = tsjail('disasm', file);
    if (['jump', 'noret'].includes(name)) {
      assert.equal(listing.status, 0, listing.stderr);
      assert.match(listing.stderr, /the kernel would refuse this filter: /);
    } else assert.match(listing.stderr, message);
  }
});

test('systemd export for a new and an old release: groups each one reads as tsjail does, the rest as calls with a note', () => {
  const service = loadPolicyFile(join(REPO_ROOT, 'fixtures/systemd/service.conf')).policy;
  const decide = (p: Policy, nr: number): number => emulate(compileProgram(p, { arch: 'x86_64' }).instructions, { nr, arch: ABIS.x86_64.auditArch }, 'little').ret;
  const exported = (version: number): { text: string; notes: string[] } => {
    const notes: string[] = [];
    return { text: exportSystemd(service, ['x86_64'], { systemdVersion: version, note: (m) => notes.push(m) }), notes };
  };
  const current = exported(261);
  assert.deepEqual(current.notes, []);
  assert.match(current.text, /^SystemCallFilter=@file-system @default @ipc @process @network-io @basic-io /m);
  const old = exported(245);
  // v245's @file-system has other calls than v261's (same from v258 on): written as its calls.
  assert.doesNotMatch(old.text, /@file-system|@basic-io|@default|@ipc|@process|@io-event/);
  assert.match(old.text, /^SystemCallFilter=@network-io @timer @aio @signal @sync @memlock @keyring read write open /m);
  assert.ok(old.notes.includes('@file-system left out for systemd v245: systemd v245 has other calls in it (v258 has these); its calls are written without it'), old.notes.join('\n'));
  // Both read back (groups as v261 has them) to the policy's decisions on every x86_64 syscall.
  for (const text of [current.text, old.text]) {
    const back = importSystemd(text, 'exported.conf');
    for (const { nr } of syscallsOf(ABIS.x86_64)) assert.equal(decide(back, nr), decide(service, nr), `nr ${nr}`);
  }
  // A group a release does not know at all, and per-call errnos before v236.
  const sandboxed = definePolicy({ default: 'allow', rules: [errno('EPERM', syscallGroup('@sandbox'))] });
  assert.match(exportSystemd(sandboxed, ['x86_64'], { systemdVersion: 261 }), /^SystemCallFilter=~@sandbox:EPERM$/m);
  const notes: string[] = [];
  assert.match(exportSystemd(sandboxed, ['x86_64'], { systemdVersion: 253, note: (m) => notes.push(m) }), /^SystemCallFilter=~seccomp:EPERM landlock_create_ruleset:EPERM landlock_add_rule:EPERM landlock_restrict_self:EPERM$/m);
  assert.deepEqual(notes, ['@sandbox left out for systemd v253: systemd v253 does not know it (v254 added it); its calls are written without it']);
  assert.throws(() => exportSystemd(sandboxed, ['x86_64'], { systemdVersion: 235 }), /systemd v235 takes no per-call errno \(name:ERRNO came with v236\)/);
});
