// Refused writes explained: which calls stop at tsjail, how their paths resolve as the jail
// sees them, and which refusal the kernel is about to give (unit level; the jail tests run
// real programs against it).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_USER_NOTIF } from '../src/kernel/seccomp';
import { allow, definePolicy } from '../src/policy/dsl';
import { resolveFs } from '../src/jail/fsRules';
import { predictRefusal, resolveInJail, writeIntentRules } from '../src/jail/fsWrites';

const work = mkdtempSync(join(tmpdir(), 'tsjail-fsw-'));

test('only calls that intend to write stop at tsjail: a read-only open stays in the kernel', () => {
  const policy = definePolicy({ default: 'allow', rules: [allow('read'), ...writeIntentRules()] });
  const c = compileProgram(policy);
  const run = (nr: number, args: bigint[]): number => (emulate(c.instructions, { nr, arch: c.abis[0]!.auditArch, args }, c.endian).ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  const OPENAT = 257, MKDIR = 83, READ = 0;
  assert.equal(run(OPENAT, [0n, 0n, 0n, 0n, 0n, 0n]), SECCOMP_RET_ALLOW); // O_RDONLY
  assert.equal(run(OPENAT, [0n, 0n, 0o2000000n, 0n, 0n, 0n]), SECCOMP_RET_ALLOW); // O_CLOEXEC
  for (const flags of [1n, 2n, 0o100n, 0o1000n, 0o101n | 0o2000000n]) assert.equal(run(OPENAT, [0n, 0n, flags, 0n, 0n, 0n]), SECCOMP_RET_USER_NOTIF, `flags ${flags}`);
  assert.equal(run(MKDIR, [0n, 0o755n, 0n, 0n, 0n, 0n]), SECCOMP_RET_USER_NOTIF);
  // openat2's flags are in memory: every openat2 stops (they are read for the report only).
  assert.equal(run(437, [0n, 0n, 0n, 24n, 0n, 0n]), SECCOMP_RET_USER_NOTIF);
  assert.equal(run(READ, [0n, 0n, 0n, 0n, 0n, 0n]), SECCOMP_RET_ALLOW);
});

test('paths resolve as the jail sees them: through its root, following its symlinks', () => {
  mkdirSync(join(work, 'real'));
  writeFileSync(join(work, 'real/file'), 'x');
  symlinkSync(join(work, 'real'), join(work, 'abs-link'));
  symlinkSync('real', join(work, 'rel-link'));
  symlinkSync('../../../../../../../..', join(work, 'up-link'));
  const me = process.pid;
  assert.deepEqual(resolveInJail(me, join(work, 'abs-link/file'), false), { path: join(work, 'real/file'), exists: true });
  assert.deepEqual(resolveInJail(me, join(work, 'rel-link/new'), false), { path: join(work, 'real/new'), exists: false });
  // `..` stops at the jail's root, as the kernel's walk does.
  assert.deepEqual(resolveInJail(me, join(work, 'up-link/etc'), false), { path: '/etc', exists: true });
  // A call on the link itself (unlink, rename) keeps the last component.
  assert.deepEqual(resolveInJail(me, join(work, 'rel-link'), true), { path: join(work, 'rel-link'), exists: true });
});

/** A live process holding `strings` in its memory (its argv), and each one's address there. */
function processWithStrings(strings: string[]): { pid: number; address: (s: string) => bigint; stop: () => void } {
  const argv = ['-c', 'sleep 60', 'sh', ...strings];
  const child = spawn('sh', argv, { stdio: 'ignore' });
  // /proc/PID/stat field 48 is arg_start: argv's strings lie there, NUL-separated.
  let start = 0n;
  for (let i = 0; i < 200 && !start; i++) {
    try {
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
      if (cmdline.includes(strings[strings.length - 1]!)) start = BigInt(readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[45]!);
    } catch { /* not yet */ }
    if (!start) execFileSync('sleep', ['0.01']);
  }
  const all = ['sh', ...argv];
  return {
    pid: child.pid!,
    address: (s) => {
      const i = all.indexOf(s);
      assert.ok(i >= 0 && start, `${s} is in the process's argv`);
      return start + BigInt(Buffer.byteLength(all.slice(0, i).map((a) => `${a}\0`).join('')));
    },
    stop: () => child.kill('SIGKILL'),
  };
}

test('the predicted refusal is the kernel\'s: EEXIST and ENOENT are left to the kernel', () => {
  const fs = resolveFs([{ ro: work }, { rw: join(work, 'real') }], { home: join(work, 'home'), cwd: '/', root: false });
  const paths = [join(work, 'real/new'), join(work, 'new'), '/etc/passwd', '/etc', '/etc/no-such-file', '/dev/null', join(work, 'home/.ssh/id')];
  const p = processWithStrings(paths);
  try {
    const opts = { mountLayer: true, otherMounts: [] };
    const predict = (syscall: string, args: bigint[]) => predictRefusal(fs, syscall, [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6), p.pid, opts);
    const AT_FDCWD = BigInt.asUintN(64, -100n);
    const O_WRONLY_CREAT = 0o101n;
    assert.equal(predict('openat', [AT_FDCWD, p.address(paths[0]!), O_WRONLY_CREAT]), undefined, 'inside a writable path');
    const refused = predict('openat', [AT_FDCWD, p.address(paths[1]!), O_WRONLY_CREAT]);
    assert.equal(refused?.errno, 'EROFS');
    assert.equal(refused?.suggestion, `--rw ${work}`);
    assert.equal(predict('openat', [AT_FDCWD, p.address('/etc/passwd'), 0o100n]), undefined, 'O_RDONLY|O_CREAT of an existing file writes nothing');
    assert.equal(predict('openat', [AT_FDCWD, p.address('/etc/passwd'), 1n])?.path, '/etc/passwd');
    assert.equal(predict('mkdir', [p.address('/etc'), 0o755n]), undefined, 'mkdir -p gets EEXIST from the kernel');
    assert.equal(predict('unlink', [p.address('/etc/no-such-file')]), undefined, 'ENOENT from the kernel');
    assert.equal(predict('unlink', [p.address('/etc/passwd')])?.rule.path, '/');
    assert.equal(predict('openat', [AT_FDCWD, p.address('/dev/null'), 1n]), undefined, 'devices are the kernel\'s to decide');
    assert.equal(predict('rename', [p.address('/etc/passwd'), p.address(paths[0]!)])?.path, '/etc/passwd', 'a rename out of a read-only directory');
  } finally {
    p.stop();
  }
});

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

for (const asNobody of [false, true]) {
  test(`${asNobody ? 'rootless' : 'as root'}: a refused write is explained with its path, the rule and the flag; allowed writes are not`, () => {
    const ws = mkdtempSync(join('/var/tmp', 'tsjail-fsw-ws-'));
    const home = mkdtempSync(join('/var/tmp', 'tsjail-fsw-home-'));
    chmodSync(ws, 0o777);
    chmodSync(home, 0o777);
    writeFileSync(join(home, '.bashrc'), '# rc\n', { mode: 0o666 });
    const report = join(ws, 'report.jsonl');
    const script = `mkdir -p ${ws}/a/b && echo ok > ${ws}/a/b/f && echo planted >> ~/.bashrc; mkdir -p ${ws}/c; echo done`;
    const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--report', report, '--', 'sh', '-c', script];
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ws, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'done\n');
    assert.equal(readFileSync(join(home, '.bashrc'), 'utf8'), '# rc\n', 'the kernel refused the write');
    assert.match(r.stderr, new RegExp(`openat\\(${join(home, '.bashrc')}\\) -> EROFS\\n\\s+decided by: / is read-only \\(default: the host is visible read-only\\)\\n\\s+to allow exactly this: --rw ${join(home, '.bashrc')}`));
    // mkdir -p of existing parents (EEXIST from the kernel) and writes in the workspace are not refusals.
    assert.doesNotMatch(r.stderr, /mkdir\(/);
    assert.equal(readFileSync(join(ws, 'a/b/f'), 'utf8'), 'ok\n');
    const records = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file?: { path: string; rule: string; access: string }; action?: string });
    assert.deepEqual(records.find((x) => x.file)?.file, { path: join(home, '.bashrc'), rule: '/', access: 'ro' });
    assert.equal(records.find((x) => x.file)?.action, 'EROFS');
  });
}

for (const asNobody of [false, true]) {
  test(`${asNobody ? 'rootless' : 'as root'}: openat2 with write flags (in its struct open_how) is explained too, a read-only one is not (as root the set-id rules refuse openat2: ENOSYS)`, () => {
    const ws = mkdtempSync(join('/var/tmp', 'tsjail-fsw-ws-'));
    const home = mkdtempSync(join('/var/tmp', 'tsjail-fsw-home-'));
    chmodSync(ws, 0o777);
    chmodSync(home, 0o777);
    const rc = join(home, '.bashrc');
    writeFileSync(rc, '# rc\n');
    chmodSync(rc, 0o666); // writable by anyone: the mount, not the file's mode, refuses the write
    const openat2 = (flags: string): string => `python3 -c 'import ctypes,os,struct,sys; c=ctypes.CDLL(None,use_errno=True); r=c.syscall(437,-100,sys.argv[1].encode(),struct.pack("QQQ",${flags},0,0),24); print(r if r<0 else "fd", os.strerror(ctypes.get_errno()) if r<0 else "")' ${rc}`;
    const script = `${openat2('os.O_RDONLY')}; ${openat2('os.O_WRONLY|os.O_APPEND')}`;
    const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--', 'sh', '-c', script];
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ws, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    if (!asNobody) {
      // As root the set-id rules refuse every openat2 (its mode is in memory): ENOSYS, glibc falls back to openat.
      assert.equal(r.stdout, '-1 Function not implemented\n-1 Function not implemented\n');
      assert.doesNotMatch(r.stderr, /openat2\(.*-> EROFS/);
      return;
    }
    assert.equal(r.stdout, 'fd \n-1 Read-only file system\n', 'the read opens, the write is refused by the kernel');
    const reports = r.stderr.match(/openat2\(/g) ?? [];
    assert.equal(reports.length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`openat2\\(${rc}\\) -> EROFS\\n\\s+decided by: / is read-only`));
  });
}

for (const asNobody of [false, true]) {
  test(`${asNobody ? 'rootless' : 'as root'}: a write through /proc/self (a link only the jail can read) is left to the kernel, not failed by tsjail`, () => {
    const ws = mkdtempSync(join('/var/tmp', 'tsjail-fsw-self-'));
    chmodSync(ws, 0o777);
    const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--', 'sh', '-c', 'echo via-self > /proc/self/cwd/out.txt && echo done'];
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ws, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.stdout, 'done\n', r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(readFileSync(join(ws, 'out.txt'), 'utf8'), 'via-self\n');
  });
}
