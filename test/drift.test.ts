// Drift mode (--enforce, enforce:) and looping refusals (--on-repeat): a call outside the expected
// policy that the enforced one allows runs and is reported; the enforced policy's refusals hold;
// the composed filter decides as the three-way rule says; a refused call in a loop is counted and
// --on-repeat kill ends the jail. Root and rootless.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ABIS } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_USER_NOTIF, type SeccompData } from '../src/kernel/seccomp';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { composeDrift, DRIFT_LABEL } from '../src/policy/drift';
import { evaluatePolicy } from '../src/policy/evaluate';
import type { Action, ArgCondition, CompareOp, Policy, Rule } from '../src/policy/model';
import { syscallArgs, syscallNumber, syscallsOf } from '../src/syscalls/table';
import { REPO_ROOT } from '../scripts/upstream';
import { EDGE_VALUES } from './helpers/random';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-drift-'));
chmodSync(work, 0o755);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const tsjail = (args: string[], opts: { asNobody?: boolean; cwd?: string } = {}): SpawnSyncReturns<string> => {
  const argv = [...(opts.asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: opts.cwd ?? work, input: '', timeout: 60000 });
};
const policyFile = (name: string, text: string): string => {
  const file = join(work, name);
  writeFileSync(file, text, { mode: 0o644 });
  return file;
};

// --- The composition against the reference evaluator ---

const x86_64 = ABIS.x86_64;
const POOL = ['read', 'write', 'openat', 'ioctl', 'socket', 'clone', 'prctl', 'mmap', 'kill', 'fstatfs', 'rmdir', 'getpid', 'dup3', 'unshare', 'ptrace'];
const OPS: readonly CompareOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq'];
const ACTIONS: readonly Action[] = [
  { kind: 'allow' }, { kind: 'log' }, { kind: 'errno', errno: 'EPERM' }, { kind: 'errno', errno: 38 }, { kind: 'kill_process' },
  { kind: 'trap' }, { kind: 'user_notif' }, { kind: 'trace', data: 7 },
];
const SMALL_MASKS = [1n, 0x3n, 0x80000000n, 0x10000000n | 0x20000n, 0xf00n, 0x1n << 40n];

/** A small seeded generator (xorshift): the same policies and calls on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
}

function randomPolicy(rand: () => number, allowing: boolean): Policy {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const rules: Rule[] = [];
  for (let i = Math.floor(rand() * 10); i > 0; i--) {
    const syscall = pick(POOL);
    const args = syscallArgs(x86_64, syscall) ?? [];
    const conditions: ArgCondition[] = [];
    for (let c = args.length ? Math.floor(rand() * 3) : 0; c > 0; c--) {
      const arg = pick(args);
      const all = (1n << BigInt(arg.bits)) - 1n;
      const op = pick(OPS);
      const value = pick(EDGE_VALUES) & all;
      if (op === 'masked_eq') {
        const mask = pick(SMALL_MASKS) & all;
        conditions.push({ arg: arg.index, op, mask, value: rand() < 0.5 ? value & mask : 0n });
      } else conditions.push({ arg: arg.index, op, value });
    }
    rules.push({ syscalls: [syscall], action: allowing && rand() < 0.7 ? { kind: 'allow' } : pick(ACTIONS), conditions });
  }
  return { defaultAction: pick(ACTIONS), badArchAction: { kind: 'kill_process' }, arches: ['x86_64'], rules };
}

function callsOf(policies: readonly Policy[], rand: () => number): SeccompData[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const values = [...EDGE_VALUES, ...policies.flatMap((p) => p.rules.flatMap((r) => r.conditions.flatMap((c) => [c.value, c.value + 1n, c.value ^ (c.mask ?? 0n)])))]
    .filter((v) => v >= 0n && v < 1n << 64n);
  const all = syscallsOf(x86_64);
  return Array.from({ length: 300 }, () => ({
    nr: rand() < 0.7 ? syscallNumber(x86_64, pick(POOL))! : pick(all).nr,
    arch: x86_64.auditArch,
    args: Array.from({ length: 6 }, () => pick(values)),
  }));
}

const REFUSING = ['kill_process', 'kill_thread', 'trap', 'errno'];
/** The three-way rule, straight from the two policies. */
function threeWay(expected: Policy, enforced: Policy, call: SeccompData): number {
  const enforcedRet = evaluatePolicy(enforced, [x86_64], call);
  const kind = (p: Policy, ret: ReturnType<typeof evaluatePolicy>): string =>
    ret.decider.kind === 'rule' ? p.rules[ret.decider.ruleIndex]!.action.kind : ret.decider.kind === 'default' ? p.defaultAction.kind : p.badArchAction.kind;
  if (REFUSING.includes(kind(enforced, enforcedRet))) return enforcedRet.ret;
  const e = kind(expected, evaluatePolicy(expected, [x86_64], call));
  return e === 'allow' || e === 'log' ? enforcedRet.ret : SECCOMP_RET_USER_NOTIF;
}

test('the composed policy and its compiled filter decide every call as the three-way rule says (random policies, the built-in one)', () => {
  const rand = rng(12);
  let drifts = 0, compared = 0;
  for (let round = 0; round < 120; round++) {
    const expected = randomPolicy(rand, true);
    const enforced = round % 4 === 0 ? defaultPolicy() : randomPolicy(rand, false);
    const composed = composeDrift(expected, enforced);
    assert.ok(composed.rules.slice(enforced.rules.length).every((r) => r.label === DRIFT_LABEL && r.action.kind === 'user_notif'), 'only drift rules are added, after the enforced ones');
    const program = compileProgram(composed, { arch: 'x86_64' }).instructions;
    for (const call of callsOf([expected, enforced], rand)) {
      const want = threeWay(expected, enforced, call);
      const where = `round ${round}, nr ${call.nr}, args ${call.args!.map((a) => `0x${a.toString(16)}`).join(',')}`;
      assert.equal(evaluatePolicy(composed, [x86_64], call).ret >>> 0, want >>> 0, `evaluator, ${where}`);
      assert.equal(emulate(program, call, 'little').ret >>> 0, want >>> 0, `filter, ${where}`);
      if (((want & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_USER_NOTIF) drifts++;
      compared++;
    }
  }
  assert.ok(drifts > compared / 20 && drifts < compared, `both kinds of decision are tried (${drifts} of ${compared} stop)`);
});

test('argument conditions are complemented exactly: the expected policy\'s pins, masks and ranges', () => {
  const expected: Policy = {
    defaultAction: { kind: 'errno', errno: 'EPERM' }, badArchAction: { kind: 'kill_process' }, arches: [],
    rules: [
      { syscalls: ['ioctl'], action: { kind: 'allow' }, conditions: [{ arg: 'cmd', op: 'eq', value: 0x5401n }] },
      { syscalls: ['ioctl'], action: { kind: 'allow' }, conditions: [{ arg: 'cmd', op: 'eq', value: 0x5413n }] },
      { syscalls: ['clone'], action: { kind: 'allow' }, conditions: [{ arg: 'clone_flags', op: 'masked_eq', mask: 0x7e020000n, value: 0n }] },
      { syscalls: ['read'], action: { kind: 'allow' }, conditions: [{ arg: 'count', op: 'lt', value: 4096n }] },
    ],
  };
  const enforced: Policy = { defaultAction: { kind: 'allow' }, badArchAction: { kind: 'kill_process' }, arches: ['x86_64'], rules: [] };
  const composed = composeDrift(expected, enforced);
  const stops = (name: string, args: bigint[]): boolean => evaluatePolicy(composed, [x86_64], { nr: syscallNumber(x86_64, name)!, arch: x86_64.auditArch, args }).ret === SECCOMP_RET_USER_NOTIF;
  assert.equal(stops('ioctl', [1n, 0x5401n]), false);
  assert.equal(stops('ioctl', [1n, 0x5413n]), false);
  assert.equal(stops('ioctl', [1n, 0x5412n]), true);
  assert.equal(stops('ioctl', [1n, 0x1_0000_5401n]), false, 'cmd is 32 bits wide: the high half does not count in either policy');
  assert.equal(stops('clone', [0x11n]), false);
  assert.equal(stops('clone', [0x10000000n | 0x11n]), true, 'a namespace flag');
  assert.equal(stops('read', [0n, 0n, 4095n]), false);
  assert.equal(stops('read', [0n, 0n, 4096n]), true);
  assert.equal(stops('getpid', []), true, 'no rule in the expected policy: its default refuses');
});

test('an expected policy too tangled to complement in one filter is an error naming the syscall, never a partial filter', () => {
  const masked = (bits: bigint): Rule => ({ syscalls: ['prctl'], action: { kind: 'allow' }, conditions: [{ arg: 0, op: 'masked_eq', mask: bits, value: 0n }] });
  const expected: Policy = {
    defaultAction: { kind: 'errno', errno: 'EPERM' }, badArchAction: { kind: 'kill_process' }, arches: [],
    rules: [masked(0xffn), masked(0xff00n), masked(0xff0000n), masked(0xff000000n)],
  };
  assert.throws(() => composeDrift(expected, defaultPolicy()), /the rules for prctl are too many to tell apart in one filter \(more than 256 combinations/);
});

// --- The jail ---

const EXPECTED = policyFile('expected.ts', `import { definePolicy, errno, AF_UNIX } from 'tsjail';

export default definePolicy({
  default: 'allow',
  rules: [
    errno('EPERM', 'fstatfs', 'rmdir', 'mkdir'),
    errno('EPERM', 'socket', { family: AF_UNIX }),
  ],
});
`);
const PROGRAM = `
import ctypes, os, socket
os.mkdir("d"); os.fstatvfs(0); os.fstatvfs(0); os.rmdir("d")
socket.socket(socket.AF_UNIX).close(); socket.socket(socket.AF_INET).close()
try: os.mkdir("/usr/tsjail-drift")
except OSError as e: print("mkdir /usr:", e.strerror)
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
print("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())
print("ok")`;

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';
  const cwd = join(work, `cwd-${asNobody}`);
  mkdirSync(cwd, { mode: 0o777 });
  chmodSync(cwd, 0o777);

  test(`${who}: drift is reported and the program unharmed; the enforced policy's refusals hold`, () => {
    const report = join(cwd, 'report.jsonl');
    const r = tsjail(['--policy', EXPECTED, '--enforce', '@builtin', '--report', report, '--', 'python3', '-c', PROGRAM], { asNobody, cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'mkdir /usr: Read-only file system\nunshare -1 1\nmount -1 1\nok\n', 'calls outside the expected policy ran; the built-in refusals held');
    assert.ok(!existsSync(join(cwd, 'd')), 'mkdir and rmdir ran');
    for (const [call, line] of [['fstatfs', "allow('fstatfs')"], ['rmdir', "allow('rmdir')"], ['mkdir', "allow('mkdir')"], ['socket', "allow('socket', { family: AF_UNIX })"]] as const) {
      assert.match(r.stderr, new RegExp(`^tsjail: drift: pid \\d+ ${call}\\(.*\\) -> ran\\n {8}decided by: .*expected\\.ts does not allow it \\(a rule \\(.*expected\\.ts:\\d+\\)\\); the enforced @builtin does\\n {8}to expect it, add: ${line.replace(/[(){}]/g, '\\$&')}$`, 'm'), call);
      assert.equal(r.stderr.match(new RegExp(`drift: pid \\d+ ${call}\\(`, 'g'))?.length, 1, `${call} once`);
    }
    assert.doesNotMatch(r.stderr, /drift: pid \d+ socket\(family=AF_INET/, 'the expected policy allows an inet socket');
    // The enforced policy's answer, explained as always; a write refused by the file rules too (mkdir is drift and a write stop).
    assert.match(r.stderr, /unshare\(unshare_flags=0x10000000\) -> EPERM\n {8}decided by: rule "namespaces" of the built-in policy/);
    assert.match(r.stderr, /mount\(.*\) -> EPERM\n {8}decided by: rule "mounts and roots" of the built-in policy/);
    assert.match(r.stderr, /mkdir\(\/usr\/tsjail-drift\) -> (EROFS|EACCES)/);
    assert.match(r.stderr, /^tsjail: drift: mkdir x2, fstatfs x2, rmdir x1, socket x1; add: allow\('mkdir'\), allow\('fstatfs'\), allow\('rmdir'\), allow\('socket', \{ family: AF_UNIX \}\)$/m);
    const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fstatfs = lines.find((l) => l.syscall === 'fstatfs')!;
    assert.equal(fstatfs.action, 'ran (drift)');
    assert.deepEqual(fstatfs.drift, { expected: EXPECTED, enforced: '@builtin' });
    assert.equal(fstatfs.suggestion, "allow('fstatfs')");
    const summary = lines.at(-1)!.summary as Record<string, unknown>[];
    assert.deepEqual(summary.find((e) => e.syscall === 'fstatfs'), {
      syscall: 'fstatfs', action: 'ran (drift)', decidedBy: fstatfs.decidedBy, rule: null, count: 2, drift: true, suggestion: "allow('fstatfs')",
    });
    assert.equal(summary.find((e) => e.syscall === 'unshare')?.action, 'EPERM');
  });

  test(`${who}: enforce: in the policy file names the enforced level, a file relative to it`, () => {
    const base = policyFile(`base-${asNobody}.ts`, `import { definePolicy, errno } from 'tsjail';

export default definePolicy({ default: 'allow', rules: [errno('EPERM', 'rmdir')] });
`);
    const file = policyFile(`self-${asNobody}.ts`, `import { definePolicy, errno } from 'tsjail';

export default definePolicy({ default: 'allow', enforce: './${base.split('/').pop()}', rules: [errno('EPERM', 'fstatfs', 'rmdir')] });
`);
    const r = tsjail(['--policy', file, '--', 'python3', '-c', 'import os\nos.fstatvfs(0)\nos.mkdir("e")\ntry: os.rmdir("e")\nexcept OSError as e: print(e.strerror)'], { asNobody, cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Operation not permitted\n', 'the enforced file refuses rmdir');
    assert.match(r.stderr, /drift: pid \d+ fstatfs\(.*\) -> ran\n.*the enforced \.\/base-(true|false)\.ts does/);
    assert.match(r.stderr, /rmdir\(.*\) -> EPERM\n {8}decided by: a rule \(.*base-(true|false)\.ts:3\)/);
    assert.doesNotMatch(r.stderr, /drift: pid \d+ rmdir/);
  });

  test(`${who}: a refused call in a loop is counted and said; --on-repeat kill ends the jail at the threshold`, () => {
    const policy = policyFile(`loop-${asNobody}.ts`, `import { definePolicy, errno } from 'tsjail';

export default definePolicy({ default: 'allow', rules: [errno('EPERM', 'rt_sigsuspend')] });
`);
    // dash waits for its job in rt_sigsuspend with SIGCHLD blocked: refused, it retries forever.
    const looping = ['--', 'sh', '-c', 'sleep 0.2 & wait; echo never'];
    const reported = tsjail(['--policy', policy, '--timeout', '5', ...looping], { asNobody, cwd });
    assert.equal(reported.status, 124, 'it loops until the timeout');
    assert.match(reported.stderr, /^tsjail: pid \d+ rt_sigsuspend\(.*\) -> EPERM$/m);
    assert.match(reported.stderr, /^tsjail: rt_sigsuspend refused 1000 times in \d+ s: the program retries it; to allow: allow\('rt_sigsuspend'\)$/m);
    assert.match(reported.stderr, /^ {2}rt_sigsuspend +x\d{4,} +EPERM, by a rule/m);
    assert.ok(reported.stderr.split('\n').length < 20, `a few lines:\n${reported.stderr}`);

    const killed = tsjail(['--policy', policy, '--on-repeat', 'kill', '--timeout', '60', ...looping], { asNobody, cwd });
    assert.equal(killed.status, 159, killed.stderr);
    assert.equal(killed.stdout, '');
    assert.match(killed.stderr, /^tsjail: --on-repeat kill: rt_sigsuspend refused 1000 times within 10 s: the jail is ended \(exit status 159\); to allow: allow\('rt_sigsuspend'\)$/m);
    // Ended at the threshold (plus the calls already stopped), not by the timeout.
    const count = Number(/^ {2}rt_sigsuspend +x(\d+)/m.exec(killed.stderr)?.[1]);
    assert.ok(count >= 1000 && count < 1100, `${count} refusals`);
  });
}

test('a drift stop that is also a network stop is decided by the network rules', () => {
  const file = policyFile('noconnect.ts', `import { definePolicy, errno } from 'tsjail';

export default definePolicy({ default: 'allow', rules: [errno('EPERM', 'connect')] });
`);
  const r = tsjail(['--policy', file, '--enforce', '@builtin', '--net', 'loopback', '--', 'python3', '-c', `import socket
for a in ["127.0.0.1", "10.1.2.3"]:
    s = socket.socket()
    try: s.connect((a, 9))
    except OSError as e: print(a, e.strerror)`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '127.0.0.1 Connection refused\n10.1.2.3 Operation not permitted\n', 'loopback reached, the rest refused');
  assert.match(r.stderr, /drift: pid \d+ connect\(.*\) -> ran\n/);
  assert.match(r.stderr, /connect\(10\.1\.2\.3:9\/tcp\) -> EPERM\n {8}decided by: network rules/);
  assert.match(r.stderr, /^tsjail: drift: connect x2; add: allow\('connect'\)$/m);
});

test('escape probes stay refused under drift, whether the expected policy allows nothing or allows them', () => {
  const probe = join(work, 'escape-probe');
  execFileSync('cc', ['-O2', '-o', probe, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
  const probes = ['ptrace', 'mount', 'unshare', 'clone-newuser', 'keyctl', 'bpf', 'userfaultfd', 'io_uring_setup', 'tiocsti', 'setns', 'int80-getpid', 'int80-mount'];
  const nothing = policyFile('nothing.ts', `import { definePolicy, errno } from 'tsjail';

export default definePolicy({ default: errno('EPERM'), rules: [] });
`);
  const everything = policyFile('everything.ts', `import { definePolicy, allow, errno } from 'tsjail';

export default definePolicy({ default: errno('EPERM'), rules: [allow('ptrace', 'mount', 'unshare', 'clone', 'keyctl', 'bpf', 'userfaultfd', 'io_uring_setup', 'ioctl', 'setns')] });
`);
  for (const expected of [nothing, everything]) {
    const r = tsjail(['--policy', expected, '--enforce', '@builtin', '--', 'sh', '-c', probes.map((p) => `${probe} ${p} 1; echo "${p} $?"`).join('; ')]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /ESCAPED/);
    for (const p of probes) {
      const verdict = new RegExp(`^blocked E[A-Z]+\\n${p} 0$|^${p} (137|159)$`, 'm');
      assert.match(r.stdout, verdict, `${p} under ${expected}:\n${r.stdout}`);
    }
    assert.match(r.stderr, /ptrace\(.*\) -> EPERM\n {8}decided by: rule "process inspection" of the built-in policy/);
  }
});

test('drift stops are not loops: --on-repeat kill lets a drifting call repeat', () => {
  const file = policyFile('nogetpid.ts', `import { definePolicy, errno } from 'tsjail';

export default definePolicy({ default: 'allow', rules: [errno('EPERM', 'getppid')] });
`);
  const r = tsjail(['--policy', file, '--enforce', '@builtin', '--on-repeat', 'kill', '--', 'python3', '-c', 'import os\nfor i in range(3000): os.getppid()\nprint("ok")']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ok\n');
  assert.match(r.stderr, /^tsjail: drift: getppid ran 1000 times in \d+ s outside the expected policy; to expect it, add: allow\('getppid'\)$/m);
  assert.match(r.stderr, /^tsjail: drift: getppid x3000; add: allow\('getppid'\)$/m);
});

test('bad --enforce and --on-repeat values and enforce: entries are clear errors, and nothing runs', () => {
  const marker = join(work, 'ran');
  const run = ['--', 'touch', marker];
  const nested = policyFile('nested.ts', `import { definePolicy } from 'tsjail';

export default definePolicy({ default: 'allow', enforce: '@builtin', rules: [] });
`);
  const badKey = policyFile('badkey.ts', `import { definePolicy } from 'tsjail';

export default definePolicy({ default: 'allow', enforce: 42 as unknown as string, rules: [] });
`);
  const fifo = join(work, 'enforce.fifo');
  execFileSync('mkfifo', [fifo]);
  const cases: [string[], RegExp][] = [
    [['--policy', EXPECTED, '--enforce', fifo, ...run], /cannot read policy file .*enforce\.fifo: not a regular file/],
    [['--policy', EXPECTED, '--enforce', work, ...run], /cannot read policy file .*: (not a regular file|EISDIR)/],
    [['--policy', fifo, ...run], /cannot read policy file .*enforce\.fifo: not a regular file/],
    [['--policy', EXPECTED, '--enforce', '@nope', ...run], /--enforce: unknown built-in policy '@nope' \(the built-in one is @builtin/],
    [['--policy', EXPECTED, '--enforce', join(work, 'missing.ts'), ...run], /cannot read policy file .*missing\.ts: ENOENT/],
    [['--policy', EXPECTED, '--enforce', nested, ...run], /--enforce: .*nested\.ts names an enforced policy of its own/],
    [['--enforce', '@builtin', ...run], /--enforce @builtin needs --policy FILE/],
    [['--policy', EXPECTED, '--enforce', '@builtin', '--insecure', ...run], /needs --policy FILE .* \(no --insecure\)/],
    [['--policy', EXPECTED, '--on-repeat', 'sometimes', ...run], /bad --on-repeat 'sometimes': expected report or kill/],
    [['--policy', badKey, ...run], /badkey\.ts:3: enforce: expected '@builtin' or a policy file, not 42/],
  ];
  // A flag missing or with a bad value is a usage error (2); a policy that cannot be had, tsjail's (125).
  const usage = [/needs --policy FILE/, /bad --on-repeat/];
  for (const [args, message] of cases) {
    const r = tsjail(args);
    assert.equal(r.status, usage.some((u) => u.test(message.source)) ? 2 : 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    assert.ok(!existsSync(marker), `${args.join(' ')}: nothing ran`);
  }
});
