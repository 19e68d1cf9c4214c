// The supervisor under attack: floods of refused calls keep tsjail's memory and output bounded,
// kills reach the caller's whole thread group, a stop request ends the whole jail, and the
// jail's PID 1 holds nothing the command could use.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ABIS } from '../src/arch/abi';
import type { DenialExplanation } from '../src/jail/denial';
import type { Notification } from '../src/jail/helper';
import type { Answer } from '../src/jail/notifications';
import { MAX_DISTINCT_DENIALS, Supervisor, type DenialRecord, type SeenDenial } from '../src/jail/supervisor';
import type { Policy } from '../src/policy/model';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-bounds-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'supervisor-probe');
execFileSync('cc', ['-O2', '-pthread', '-o', PROBE, join(REPO_ROOT, 'test/helpers/supervisor-probe.c')]);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const tsjail = (args: string[], opts: { asNobody?: boolean; node?: string[] } = {}): SpawnSyncReturns<string> => {
  const argv = [...(opts.asNobody ? NOBODY : []), process.execPath, ...(opts.node ?? []), BIN, 'run', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work, input: '', timeout: 120000 });
};
const onX86 = process.arch === 'x64' ? false : 'x86_64 probes';
const killUname = join(work, 'kill-uname.ts');
writeFileSync(killUname, `import { definePolicy, kill } from 'tsjail';

export default definePolicy({ default: 'allow', rules: [kill('uname')] });
`);

/** Feeds synthetic stopped calls to a Supervisor and records what it says and answers. */
function harness(policy: Policy) {
  const firsts: DenialRecord[] = [];
  const repeats: SeenDenial[] = [];
  let overflowed = 0;
  const answers: Answer[] = [];
  const supervisor = new Supervisor(() => policy, 'enforce', {
    first: (r: DenialRecord, _e: DenialExplanation) => firsts.push(r),
    repeated: (e) => repeats.push({ ...e }),
    overflowed: () => overflowed++,
  });
  let id = 0n;
  const call = (nr: number, args: bigint[] = []): void => {
    // No such pid: nothing is read from a live process.
    const n: Notification = { id: id++, pid: 0x3fffffff, nr, arch: ABIS.x86_64.auditArch, args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6) };
    supervisor.handle(n, () => undefined, Object.assign((a: Answer) => { answers.push(a); return undefined; }, { listener: -1 }));
  };
  return { supervisor, firsts, repeats, answers, call, overflowed: () => overflowed };
}

test('past MAX_DISTINCT_DENIALS distinct denials, new ones are refused and counted in one overflow, said once', () => {
  // One rule per value of read's fd: every value is a distinct (syscall, rule) pair.
  const rules = Array.from({ length: MAX_DISTINCT_DENIALS + 100 }, (_, i) => ({
    syscalls: ['read'], action: { kind: 'errno', errno: 1 } as const, conditions: [{ arg: 0, op: 'eq', value: BigInt(i) } as const],
  }));
  const h = harness({ defaultAction: { kind: 'allow' }, arches: ['x86_64'], badArchAction: { kind: 'kill_process' }, rules });
  for (let round = 0; round < 2; round++) for (let i = 0; i < rules.length; i++) h.call(0, [BigInt(i)]);
  assert.equal(h.supervisor.seen.entries.size, MAX_DISTINCT_DENIALS);
  assert.equal(h.firsts.length, MAX_DISTINCT_DENIALS);
  assert.equal(h.supervisor.seen.overflow, 200);
  assert.equal(h.overflowed(), 1);
  // Refused all the same: the cap bounds what is explained, never what is enforced.
  assert.equal(h.answers.length, 2 * rules.length);
  assert.ok(h.answers.every((a) => typeof a === 'object' && a.errno === 1));
});

test('syscall numbers no table names share one entry, which keeps the first few numbers', () => {
  const h = harness({ defaultAction: { kind: 'errno', errno: 38 }, arches: ['x86_64'], badArchAction: { kind: 'kill_process' }, rules: [] });
  for (let nr = 5000; nr < 5000 + 3000; nr++) h.call(nr);
  assert.equal(h.supervisor.seen.entries.size, 1);
  const [entry] = [...h.supervisor.seen.entries.values()];
  assert.equal(entry!.count, 3000);
  assert.deepEqual(entry!.numbers, [5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007]);
  assert.equal(h.firsts.length, 1);
  // Said again at 1000 (and would be at 10000): counted, not printed per call.
  assert.deepEqual(h.repeats.map((r) => r.count), [1000]);
});

function peakRss(args: string[]): { kb: number; r: SpawnSyncReturns<string> } {
  // The wrapper's wait4 gives tsjail's peak RSS (the kernel's VmHWM at exit) on fd 3. A small
  // V8 heap keeps its sizing out of the comparison: anything kept per call would exhaust it.
  const argv = [PROBE, 'rss', process.execPath, '--max-old-space-size=24', '--max-semi-space-size=1', BIN, 'run', ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work, input: '', timeout: 300000, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  return { kb: Number((r.output[3] as unknown as string).trim()), r };
}

test('a flood of refused calls with distinct numbers: tsjail\'s stderr, report and memory stay bounded', { skip: onX86 }, () => {
  const report = join(work, 'flood.jsonl');
  const small = peakRss(['--', PROBE, 'flood', '20000']);
  const large = peakRss(['--report', report, '--', PROBE, 'flood', '200000']);
  assert.equal(small.r.stdout, 'refused 20000\n');
  assert.equal(large.r.stdout, 'refused 200000\n');
  assert.equal(large.r.status, 0);
  assert.ok(large.r.stderr.length < 4096, `stderr is ${large.r.stderr.length} bytes:\n${large.r.stderr.slice(0, 2000)}`);
  assert.equal(large.r.stderr.match(/decided by:/g)?.length, 1); // one explanation, for the first number
  assert.match(large.r.stderr, /denied more than once:\n {2}unknown syscalls \(nr 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, \.\.\.\) +x200000 ENOSYS, by the default action/);
  assert.ok(large.kb - small.kb < 8 * 1024, `peak RSS ${small.kb} KB for 20000 calls, ${large.kb} KB for 200000`);
  const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.syscall, 'syscall 1000');
  assert.deepEqual(lines[1]!.summary, [{
    syscall: 'syscall 1000', action: 'ENOSYS', decidedBy: 'the default action (no rule allows this syscall)', rule: null, count: 200000,
    unknownNumbers: [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007],
  }]);
});

test('a refused call retried in a loop is said at 1000 and 10000 times and summed up at exit, in enforce and log mode', { skip: onX86 }, () => {
  for (const mode of [[], ['--log']]) {
    const r = tsjail([...mode, '--', PROBE, 'repeat', '20000']);
    assert.equal(r.stdout, mode.length ? 'refused 0\n' : 'refused 20000\n'); // EPERM only when enforced
    assert.ok(r.stderr.length < 4096, `stderr is ${r.stderr.length} bytes`);
    const verb = mode.length ? 'would have been refused' : 'refused';
    for (const n of [1000, 10000]) {
      assert.match(r.stderr, new RegExp(`tsjail: keyctl ${verb} ${n} times in \\d+ s.*: the program retries it; to allow: allow\\('keyctl'\\)`));
    }
    assert.doesNotMatch(r.stderr, /100000 times/);
    assert.match(r.stderr, /keyctl +x20000 EPERM, by rule "keyrings"/);
  }
});

test('a kill rule kills the caller\'s whole thread group by pidfd: a second thread\'s call ends the command (159)', { skip: onX86 }, () => {
  const r = tsjail(['--policy', killUname, '--', PROBE, 'thread-uname']);
  assert.equal(r.status, 128 + 31);
  assert.equal(r.stdout, ''); // the main thread never went on
  assert.match(r.stderr, /uname\(.*\) -> killed \(SIGSYS\)/);
});

test('a kill rule that ends a child leaves the command to go on and exit with its own status', { skip: onX86 }, () => {
  const r = tsjail(['--policy', killUname, '--', PROBE, 'child-uname']);
  assert.equal(r.stdout, 'child signal 9\n');
  assert.equal(r.status, 7);
});

/** Starts tsjail on a shell script that prints "ready" once set up; resolves to its exit status and stderr. */
function stopped(args: string[], script: string, asNobody: boolean): Promise<{ status: number | null; stderr: string; before: string }> {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args, '--', 'sh', '-c', script];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let before = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout.on('data', (d: Buffer) => {
    if (!d.toString().includes('ready')) return;
    before = spawnSync('pgrep', ['-f', MARKER], { encoding: 'utf8' }).stdout;
    // The pid of tsjail itself (setpriv execs it).
    child.kill('SIGTERM');
  });
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, stderr, before })));
}
const MARKER = `tsjail-grandchild-${process.pid}`;
// A grandchild that double-forks out of the command's way (its name is put together by the
// shell, so that only it matches, not the command line that starts it).
const ORPHAN = `(setsid sh -c 'sleep 1000; :' tsjail-grand"child-${process.pid}" &); sleep 0.2`;

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';

  test(`${who}: SIGTERM to tsjail is forwarded; a jail that ignores it is killed after --kill-after, grandchildren too (137)`, async () => {
    const r = await stopped(['--kill-after', '1'], `trap '' TERM; ${ORPHAN}; echo ready; while :; do sleep 1; done`, asNobody);
    assert.match(r.before, /\d+/); // the grandchild was there to be killed
    assert.equal(r.status, 128 + 9);
    assert.match(r.stderr, /the jail was still running 1 s after it was asked to stop: killed \(--kill-after\)/);
    assert.equal(spawnSync('pgrep', ['-f', MARKER], { encoding: 'utf8' }).stdout, '');
  });

  test(`${who}: a command that ends on SIGTERM reports it (143), grandchildren gone with the jail`, async () => {
    const r = await stopped(['--kill-after', '60'], `${ORPHAN}; echo ready; exec sleep 1000`, asNobody);
    assert.equal(r.status, 128 + 15);
    assert.doesNotMatch(r.stderr, /kill-after/);
    assert.equal(spawnSync('pgrep', ['-f', MARKER], { encoding: 'utf8' }).stdout, '');
  });

  test(`${who}: the jail's PID 1 has no capabilities, no_new_privs, no fds, and the command cannot read its memory or environment`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsjail-pid1-'));
    chmodSync(dir, 0o1777); // tsjail as nobody writes its pidfile here
    const pidfile = join(dir, 'pid');
    const script = [
      "grep -E '^(Cap|NoNewPrivs)' /proc/1/status",
      'cat /proc/1/environ >/dev/null 2>&1 && echo environ-read',
      "sh -c 'exec 3</proc/1/mem' 2>/dev/null && echo mem-open",
      // Listable as the same uid without a user namespace, but empty.
      'echo fds $(ls -A /proc/1/fd 2>/dev/null | wc -l)',
      'sleep 2', // while the host looks (below)
    ].join('; ');
    const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--pidfile', pidfile, '--', 'sh', '-c', script];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    // From the host: the fds PID 1 holds, once the command has started.
    let hostFds: string[] | undefined;
    const look = setInterval(() => {
      if (!out.includes('fds')) return;
      clearInterval(look);
      // The pidfile holds the command's pid; PID 1 is its parent.
      const init = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${readFileSync(pidfile, 'utf8').trim()}/status`, 'utf8'))![1];
      hostFds = readdirSync(`/proc/${init}/fd`);
    }, 20);
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearInterval(look);
    assert.equal(status, 0, err);
    assert.equal(out, `${['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map((c) => `${c}:\t0000000000000000\n`).join('')}NoNewPrivs:\t1\nfds 0\n`);
    assert.deepEqual(hostFds, []);
  });
}

for (const asNobody of [false, true]) {
  test(`${asNobody ? 'rootless' : 'as root'}: --json-status-fd still names the jail's namespaces, though PID 1 is not dumpable`, () => {
    const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--json-status-fd', '3', '--', 'true'];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const first = JSON.parse((r.output[3] as unknown as string).split('\n')[0]!) as Record<string, number>;
    for (const ns of ['pid', 'mnt', 'ipc', 'uts', 'user']) assert.equal(typeof first[`${ns}-namespace`], 'number', ns);
  });
}

test('as root with --user: PID 1 keeps CAP_KILL alone, so it still forwards signals to the command', async () => {
  const r = tsjail(['-u', 'nobody', '--', 'sh', '-c', "grep -E '^CapEff' /proc/1/status"]);
  assert.equal(r.stdout, 'CapEff:\t0000000000000020\n');
  const argv = [BIN, 'run', '-u', 'nobody', '--', 'sh', '-c', "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done"];
  const child = spawn(process.execPath, argv, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', sent = false;
  // One SIGTERM: each further one would run the trap again while it exits.
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready') && !sent) { sent = true; child.kill('SIGTERM'); } });
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(out, 'ready\ngot-term\n');
  assert.equal(status, 3);
});

test('--kill-after takes a number of seconds', () => {
  const r = tsjail(['--kill-after', '-1', '--', 'true']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--kill-after takes a number of seconds \(0 or more\), not '-1'/);
});
