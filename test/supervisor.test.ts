// Every denial explained, once; JSON reports; log mode. The jail's behaviour stays the policy's.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ABIS } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { decodeProgram } from '../src/kernel/instruction';
import { describeRet } from '../src/kernel/seccomp';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { HANDSHAKE_NR } from '../src/jail/notifications';
import { notifyingFilter } from '../src/jail/supervisor';
import { syscallsOf } from '../src/syscalls/table';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-sup-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
const tsjail = (args: string[], env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', cwd: work, input: '', env, timeout: 30000 });
const onX86 = process.arch === 'x64' ? false : 'x86_64 probes';

test('the notifying filter stops exactly the calls the policy denies or kills, and the handshake', () => {
  const compiled = compileProgram(defaultPolicy(), { arch: 'x86_64' });
  const notifying = decodeProgram(notifyingFilter(compiled.bytes, 'little'), 'little');
  for (const { nr } of syscallsOf(ABIS.x86_64)) {
    for (const args of [[], [0x10000000n], [0n, 0x5412n]]) {
      const data = { nr, arch: ABIS.x86_64.auditArch, args };
      const before = describeRet(emulate(compiled.instructions, data, 'little').ret);
      const after = describeRet(emulate(notifying, data, 'little').ret);
      assert.equal(after, /^(ERRNO|KILL_PROCESS)/.test(before) ? 'USER_NOTIF' : before, `nr ${nr}`);
    }
  }
  assert.equal(describeRet(emulate(notifying, { nr: HANDSHAKE_NR, arch: ABIS.x86_64.auditArch }, 'little').ret), 'USER_NOTIF');
});

test('a denial is explained once per syscall and rule, with decoded arguments, the rule and the line to allow it', { skip: onX86 }, () => {
  const r = tsjail(['--', 'sh', '-c', `${PROBE} tiocsti; ${PROBE} tiocsti; ${PROBE} keyctl`]);
  assert.equal(r.stdout, 'blocked EPERM\nblocked EPERM\nblocked EPERM\n'); // errno rules still return their errno
  assert.match(r.stderr, /^tsjail: pid \d+ ioctl\(fd=0, cmd=TIOCSTI, arg=0x[0-9a-f]+\) -> EPERM\n {8}decided by: rule "terminal injection" of the built-in policy \(SYSCALLS\.md\)\n {8}to allow exactly this: allow\('ioctl', \{ cmd: TIOCSTI \}\)$/m);
  assert.equal(r.stderr.match(/ioctl\(/g)?.length, 1);
  assert.match(r.stderr, /keyctl\(cmd=KEYCTL_GET_KEYRING_ID, .*\) -> EPERM\n {8}decided by: rule "keyrings"/);
});

test('kill rules still kill (exit 128+SIGSYS) and are explained; so are calls through another ABI', { skip: onX86 }, () => {
  const policy = join(work, 'kill.ts');
  writeFileSync(policy, `import { definePolicy, kill } from 'tsjail';

export default definePolicy({
  default: 'allow',
  rules: [
    kill('uname'),
  ],
});
`);
  const r = tsjail(['--policy', policy, '--', 'uname']);
  assert.equal(r.status, 128 + 31);
  assert.match(r.stderr, /tsjail: pid 2 uname\(name=0x[0-9a-f]+\) -> killed \(SIGSYS\)\n {8}decided by: a rule \(.*kill\.ts:6\)\n {8}to allow exactly this: allow\('uname'\)/);
  const x86 = tsjail(['--', PROBE, 'int80-getpid']);
  assert.equal(x86.status, 128 + 31);
  assert.match(x86.stderr, /getpid\(\) -> killed \(SIGSYS\)\n {8}decided by: the bad-arch action .*\n {8}to allow exactly this: arches: \[\.\.\., 'x86'\]/);
});

test('--report writes one JSON line per denial, with the documented fields', { skip: onX86 }, () => {
  const file = join(work, 'report.jsonl');
  tsjail(['--report', file, '--', 'sh', '-c', `${PROBE} keyctl; ${PROBE} mount; ${PROBE} keyctl`]);
  const all = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  // The last line sums up: each denial with its count.
  const summary = all.pop()!;
  assert.deepEqual((summary.summary as { syscall: string; count: number }[]).map((e) => [e.syscall, e.count]), [['keyctl', 2], ['mount', 1]]);
  assert.equal(summary.overflow, 0);
  const lines = all;
  assert.deepEqual(lines.map((l) => l.syscall), ['keyctl', 'mount']);
  for (const l of lines) {
    assert.deepEqual(Object.keys(l).sort(), ['abi', 'action', 'args', 'decidedBy', 'jailPid', 'mode', 'nr', 'pid', 'rule', 'suggestion', 'syscall', 'time']);
    assert.equal(l.mode, 'enforce');
    assert.equal(l.abi, 'x86_64');
    assert.equal(l.action, 'EPERM');
    assert.equal(typeof l.pid, 'number');
    assert.equal(typeof l.jailPid, 'number');
    assert.equal(typeof l.nr, 'number');
    assert.equal(typeof l.rule, 'number');
    assert.ok(!Number.isNaN(Date.parse(l.time as string)));
    for (const a of l.args as { name: string; value: string; decoded: string }[]) {
      assert.equal(typeof a.name, 'string');
      assert.match(a.value, /^0x[0-9a-f]+$/);
      assert.equal(typeof a.decoded, 'string');
    }
    assert.match(l.suggestion as string, /^allow\('/);
  }
});

test('log mode: denials are reported and allowed, with a summary and the lines to add', { skip: onX86 }, () => {
  const r = tsjail(['--log', '--', 'sh', '-c', `${PROBE} keyctl; ${PROBE} keyctl; ${PROBE} personality`]);
  assert.equal(r.stdout, 'ESCAPED\nESCAPED\nESCAPED\n');
  assert.match(r.stderr, /keyctl\(.*\) -> would be EPERM \(allowed: log mode\)/);
  assert.match(r.stderr, /log mode: 2 denials would have happened:\n {2}keyctl +x2 +EPERM, by rule "keyrings".*\n {2}personality +x1 +EPERM, by rule "personality".*\nto allow them, add to the policy's rules:\n {2}allow\('keyctl'\),\n {2}allow\('personality', \{ personality: ADDR_NO_RANDOMIZE \}\),/);
});

