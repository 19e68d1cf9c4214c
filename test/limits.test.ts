// Default resource limits: tasks (pids cgroup, else RLIMIT_NPROC), open files, core dumps,
// memory; each overridable, all lifted by --no-limits. A fork bomb ends without hurting the host.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_NOFILE, DEFAULT_TASKS, withDefaultLimits } from '../src/jail/limits';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-limits-'));
chmodSync(work, 0o777);

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const tsjail = (args: string[], asNobody = false, timeout = 30000): SpawnSyncReturns<string> => {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work, input: '', timeout, maxBuffer: 64 << 20 });
};
/** The same command outside the jail, as the same user. */
const outside = (cmd: string[], asNobody: boolean): string => {
  const argv = [...(asNobody ? NOBODY : []), ...cmd];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work }).stdout;
};
/** A limit from /proc/self/limits as the jail's command sees it: [soft, hard]. */
const limit = (r: SpawnSyncReturns<string>, name: string): [string, string] => {
  const m = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(r.stdout);
  assert.ok(m, `${name} in ${r.stdout}${r.stderr}`);
  return [m[1]!, m[2]!];
};
const hostHard = (name: string): string => new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(readFileSync('/proc/self/limits', 'utf8'))![1]!;
/** The default open-file limit, lowered to tsjail's own hard limit (the same for root and nobody under setpriv). */
const DEFAULT_NOFILE_HERE = String(Math.min(DEFAULT_NOFILE, Number(hostHard('Max open files'))));

test('withDefaultLimits: each default yields to its explicit option; --no-limits leaves the options as given', () => {
  const quiet = (): void => {};
  const logged: string[] = [];
  const d = withDefaultLimits({}, (m) => logged.push(m));
  assert.equal(d.rlimits!.core, 0n);
  assert.ok(BigInt(d.rlimits!.nofile!) <= BigInt(DEFAULT_NOFILE));
  // Exactly one task limit: the pids cgroup, or RLIMIT_NPROC where no cgroup can be made.
  // (None only for host root with no pids cgroup, which RLIMIT_NPROC does not count: then a warning says so.)
  assert.equal([d.pids !== undefined, d.rlimits!.nproc !== undefined].filter(Boolean).length, logged.length ? 0 : 1);
  for (const m of logged) assert.match(m, /^WARNING: no default task limit/);
  const given = withDefaultLimits({ rlimits: { RLIMIT_NOFILE: 64, core: 1024 }, pids: 10, memory: 1n << 30n }, quiet);
  assert.deepEqual([given.rlimits!.RLIMIT_NOFILE, given.rlimits!.nofile, given.rlimits!.core, given.rlimits!.nproc, given.pids, given.memory], [64, undefined, 1024, undefined, 10, 1n << 30n]);
  assert.equal(withDefaultLimits({ rlimits: { nproc: 7 } }, quiet).pids, undefined);
  // A uid map that makes the jail's root another host id: it could not join a root-owned cgroup, so RLIMIT_NPROC.
  const mapped = withDefaultLimits({ unshare: ['user'], uidMap: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMap: [{ containerID: 0, hostID: 100000, size: 65536 }] }, quiet);
  assert.deepEqual([mapped.pids, mapped.memory, mapped.rlimits!.nproc], [undefined, undefined, BigInt(DEFAULT_TASKS)]);
  const none = { noLimits: true, rlimits: { nofile: 64 } } as const;
  assert.equal(withDefaultLimits(none, quiet), none);
});

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';

  test(`${who}: the defaults are in force (open files, core dumps, tasks, memory), explicit values and --no-limits override them`, () => {
    const r = tsjail(['--', 'sh', '-c', 'cat /proc/self/limits; cat /proc/self/cgroup'], asNobody);
    assert.equal(r.status, 0, r.stderr);
    const nofile = DEFAULT_NOFILE_HERE;
    assert.deepEqual(limit(r, 'Max open files'), [nofile, nofile]);
    assert.deepEqual(limit(r, 'Max core file size'), ['0', '0']);
    const cgroupPids = /^\d+:pids:.*\/tsjail-/m.test(r.stdout);
    if (asNobody) {
      // No cgroup can be made rootless here: the task limit is RLIMIT_NPROC, counted in the jail's user namespace.
      assert.equal(cgroupPids, false);
      assert.deepEqual(limit(r, 'Max processes'), [String(DEFAULT_TASKS), String(DEFAULT_TASKS)]);
    } else {
      assert.ok(cgroupPids, r.stdout);
      assert.match(r.stdout, /^\d+:memory:.*\/tsjail-/m);
      // The memory cgroup's limit: half the host's memory (the kernel rounds it to pages).
      const path = /^\d+:memory:(.*)$/m.exec(r.stdout)![1]!;
      // The jail has its own cgroup namespace: its /proc/self/cgroup is relative to tsjail's cgroup (this process's).
      const own = (/^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/').replace(/\/$/, '');
      const mem = tsjail(['--', 'sh', '-c', `cat /sys/fs/cgroup/memory${own}"$(grep :memory: /proc/self/cgroup | cut -d: -f3)"/memory.limit_in_bytes`]);
      assert.equal(BigInt(mem.stdout.trim()), (BigInt(Math.floor(totalmem() / 2)) / 4096n) * 4096n, `${path}: ${mem.stderr}`);
    }
    const shown = tsjail(['--', 'sh', '-c', 'ulimit -n'], asNobody);
    assert.equal(shown.stdout, `${nofile}\n`);
    assert.equal(tsjail(['--rlimit', 'nofile=100', '--', 'sh', '-c', 'ulimit -n'], asNobody).stdout, '100\n');
    const lifted = tsjail(['--no-limits', '--', 'sh', '-c', 'ulimit -n; cat /proc/self/limits; cat /proc/self/cgroup'], asNobody);
    assert.equal(lifted.stdout.split('\n')[0], outside(['sh', '-c', 'ulimit -n'], asNobody).trim());
    assert.deepEqual(limit(lifted, 'Max core file size'), limit({ ...lifted, stdout: outside(['cat', '/proc/self/limits'], asNobody) }, 'Max core file size'));
    assert.doesNotMatch(lifted.stdout, /tsjail-/);
    // Explicit limits still apply with --no-limits.
    assert.equal(tsjail(['--no-limits', '--rlimit', 'nofile=99', '--', 'sh', '-c', 'ulimit -n'], asNobody).stdout, '99\n');
  });

  test(`${who}: the jail cannot raise its limits (no CAP_SYS_RESOURCE in the host's namespace)`, () => {
    const raise = "import resource as r\nfor n in ('RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_CORE'):\n    k = getattr(r, n)\n    try:\n        r.setrlimit(k, (r.RLIM_INFINITY, r.RLIM_INFINITY)); print(n, 'RAISED')\n    except (ValueError, OSError) as e:\n        print(n, 'refused')\n";
    const r = tsjail(['--', 'python3', '-c', raise], asNobody);
    assert.equal(r.stdout, 'RLIMIT_NOFILE refused\nRLIMIT_NPROC refused\nRLIMIT_CORE refused\n', r.stderr);
    assert.equal(tsjail(['--', 'sh', '-c', 'ulimit -n 100000 2>/dev/null; ulimit -n'], asNobody).stdout, `${DEFAULT_NOFILE_HERE}\n`);
  });

  test(`${who}: ordinary programs run under the defaults (sh, python3, node with threads, git, gcc)`, () => {
    const src = join(work, `hello-${asNobody ? 'nobody' : 'root'}.c`);
    writeFileSync(src, '#include <stdio.h>\nint main(void) { puts("compiled"); return 0; }\n');
    const out = join(work, `hello-${asNobody ? 'nobody' : 'root'}`);
    const gcc = tsjail(['--', 'sh', '-c', `gcc -O2 -o ${out} ${src} && ${out}`], asNobody);
    assert.equal(gcc.stdout, 'compiled\n', gcc.stderr);
    const node = tsjail(['--', process.execPath, '-e', "const { Worker } = require('worker_threads'); const ws = Array.from({ length: 8 }, () => new Worker('require(\"worker_threads\").parentPort.postMessage(Buffer.alloc(64 << 20).length)', { eval: true })); Promise.all(ws.map((w) => new Promise((r) => w.once('message', r)))).then((v) => console.log(v.length))"], asNobody);
    assert.equal(node.stdout, '8\n', node.stderr);
    assert.equal(tsjail(['--', 'python3', '-c', 'import concurrent.futures as f; print(sum(f.ThreadPoolExecutor(32).map(lambda x: x, range(100))))'], asNobody).stdout, '4950\n');
    assert.match(tsjail(['--', 'git', '--version'], asNobody).stdout, /^git version/);
  });

  test(`${who}: a fork bomb ends at the task limit, tsjail returns, the host keeps its processes`, () => {
    // The bomb, then a count taken with every other process stopped (a readdir of /proc while
    // the bomb churns sees more pids than ever lived at once).
    const bomb = join(work, 'bomb.sh');
    writeFileSync(bomb, ':(){ :|:& };: 2>/dev/null\nsleep 2; kill -STOP -1; shopt -s nullglob; t=(/proc/[0-9]*); echo "tasks=${#t[@]}"; kill -KILL -1; exit 7\n');
    chmodSync(bomb, 0o644);
    const tasks = (r: SpawnSyncReturns<string>): number => {
      assert.equal(r.status, 7, `tsjail returned ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(-500)}`);
      return Number(/^tasks=(\d+)$/m.exec(r.stdout)![1]);
    };
    // A small explicit limit first; the default only once that one held.
    const small = tsjail([asNobody ? '--rlimit' : '--pids', asNobody ? 'nproc=64' : '64', '--timeout', '30', '--', 'bash', bomb], asNobody, 90000);
    assert.ok(tasks(small) <= 64, small.stdout);
    const r = tsjail(['--timeout', '30', '--', 'bash', bomb], asNobody, 90000);
    const n = tasks(r);
    assert.ok(n <= DEFAULT_TASKS, `${n} tasks`);
    if (!asNobody) assert.match(r.stderr, new RegExp(`the pids limit \\(${DEFAULT_TASKS}\\) was hit`));
    // Nothing of the bomb is left: the host can still start processes, and none of them is bash running bomb.sh.
    const left = spawnSync('pgrep', ['-f', bomb], { encoding: 'utf8' });
    assert.equal(left.stdout, '');
  });
}

/** The jail cgroups of tsjail process `pid` below this process's own (v1 hierarchies and v2). */
function cgroupsOf(pid: number): string[] {
  const found: string[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    const dir = controllers === '' ? join('/sys/fs/cgroup', path) : join('/sys/fs/cgroup', controllers.split(',')[0]!, path);
    try { found.push(...readdirSync(dir).filter((n) => n.startsWith(`tsjail-${pid}-`)).map((n) => join(dir, n))); } catch { /* not mounted */ }
  }
  return found;
}

test('as root: the cgroups of a tsjail killed with SIGKILL (which cannot remove them) are removed by the next run', { skip: process.getuid!() !== 0 && 'needs root' }, async () => {
  const child = spawn(process.execPath, [BIN, 'run', '--', 'sleep', '30'], { stdio: 'ignore' });
  const pid = child.pid!;
  // Wait until its jail has its cgroups (a bounded poll: 30 s at most).
  for (let i = 0; i < 300 && cgroupsOf(pid).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(cgroupsOf(pid).length >= 2, 'the jail should have its pids and memory cgroups');
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  // The jail dies with tsjail; its cgroups empty out but stay.
  for (let i = 0; i < 300 && cgroupsOf(pid).some((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8') !== ''); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(cgroupsOf(pid).length >= 2, 'nothing removed them yet');
  assert.equal(tsjail(['--no-limits', '--', 'true']).status, 0);
  assert.deepEqual(cgroupsOf(pid), []);
});
