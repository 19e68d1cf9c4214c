// A jail without a PID namespace must not reach the host's other processes of the same uid
// through the calls the kernel allows between them without ptrace's check (Landlock rules
// ptrace and signals, not these): prlimit64, setpriority, ioprio_set, sched_set*. Tested as root
// and rootless, with --no-namespaces and where namespaces are refused, in log mode, against the
// jail's own keeper, and the guard program exactly against its rules.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { hostAbi, machineAbis } from '../src/arch/abi';
import { compileFilter, compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { CLONE_NEWUSER } from '../src/kernel/constants';
import { decodeProgram } from '../src/kernel/instruction';
import { type SeccompData, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF } from '../src/kernel/seccomp';
import { definePolicy, errno, hasAll } from '../src/policy/dsl';
import { evaluatePolicy } from '../src/policy/evaluate';
import { targetAbis } from '../src/policy/resolve';
import { syscallNumber } from '../src/syscalls/table';
import { builtinVariant } from '../src/jail/builtinVariants';
import { guarded, guardPolicy, hostGuard } from '../src/jail/otherProcesses';
import { precompiledGuardPath } from '../src/jail/precompiled';
import { landlockAbi } from '../src/jail/helper';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const noLandlock = landlockAbi() >= 6 ? false : 'this kernel has no Landlock ABI 6';
const haveBwrap = spawnSync('bwrap', ['--version']).status === 0 ? false : 'bubblewrap is not installed (apt-get install bubblewrap)';
const work = mkdtempSync('/var/tmp/tsjail-other-');
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

const EPERM_LINE = /decided by: tsjail: this jail has no PID namespace, and the call names another process/;

function run(argv: readonly string[], asNobody: boolean, timeout = 60_000): SpawnSyncReturns<string> {
  const [cmd, ...rest] = asNobody ? [...NOBODY, ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, timeout });
}

/** A host process of the same uid, to be reached (or not) from the jail. */
function target(asNobody: boolean): { pid: number; end(): void } {
  const [cmd, ...rest] = asNobody ? [...NOBODY, 'sleep', '60'] : ['sleep', '60'];
  const child = spawn(cmd!, rest, { stdio: 'ignore' });
  // setpriv execs sleep in place: the pid is sleep's.
  return { pid: child.pid!, end: () => child.kill('SIGKILL') };
}

function state(pid: number): { nofile: string; cpu: string; nice: string; affinity: string } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    nofile: /^Max open files.*$/m.exec(limits)![0], cpu: /^Max cpu time.*$/m.exec(limits)![0],
    nice: stat[16]!, affinity: /^Cpus_allowed_list:.*$/m.exec(status)![0],
  };
}

const ATTACKS = (pid: number): string => [
  `prlimit --pid ${pid} --nofile=0:0; echo prlimit=$?`,
  `prlimit --pid ${pid} --cpu=0:0; echo cpu=$?`,
  `renice -n 19 -p ${pid} >/dev/null 2>&1; echo renice=$?`,
  `renice -n 19 -u $(id -u) >/dev/null 2>&1; echo renice-user=$?`,
  `taskset -p 1 ${pid} >/dev/null 2>&1; echo taskset=$?`,
  `ionice -c3 -p ${pid}; echo ionice=$?`,
  `chrt -i -p 0 ${pid}; echo chrt=$?`,
  // The jail's own: pid 0 is left to the policy.
  `prlimit --pid ${pid} --nofile >/dev/null; echo read=$?`,
  `ulimit -n 100; echo own-ulimit=$?`,
  'nice -n 5 true; echo own-nice=$?',
].join('; ');

const REFUSED = 'prlimit=1\ncpu=1\nrenice=1\nrenice-user=1\ntaskset=1\nionice=1\nchrt=1\nread=0\nown-ulimit=0\nown-nice=0\n';

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';
  test(`--no-namespaces, ${who}: the jail cannot change the limits, priority or scheduling of your other processes, and each refusal is explained`, { skip: noLandlock }, () => {
    const host = target(asNobody);
    try {
      const before = state(host.pid);
      const r = run(['node', BIN, 'run', '--no-namespaces', '--', 'sh', '-c', ATTACKS(host.pid)], asNobody);
      assert.equal(r.stdout, REFUSED, r.stderr);
      assert.deepEqual(state(host.pid), before, 'the host process is untouched');
      assert.match(r.stderr, /holds: +your other processes: the jail cannot change their limits/);
      for (const call of ['prlimit64', 'setpriority', 'sched_setaffinity', 'ioprio_set', 'sched_setscheduler']) {
        assert.match(r.stderr, new RegExp(`pid \\d+ ${call}\\(.*\\) -> EPERM\\n\\s+${EPERM_LINE.source}`), call);
      }
      // Log mode lets the policy's denials run, never the guard's.
      const logged = run(['node', BIN, 'run', '--no-namespaces', '--log', '--', 'sh', '-c', `prlimit --pid ${host.pid} --nofile=0:0; echo $?`], asNobody);
      assert.equal(logged.stdout, '1\n', logged.stderr);
      assert.deepEqual(state(host.pid), before);
    } finally {
      host.end();
    }
  });
}

test('where namespaces are refused (inside bubblewrap with a filter refusing them, as Docker\'s does) the fallback jail has the guard too', { skip: noLandlock || haveBwrap }, () => {
  const refusing = join(work, 'refuse-userns.bpf');
  writeFileSync(refusing, compileFilter(definePolicy({
    default: 'allow',
    rules: [errno('EPERM', 'clone', { clone_flags: hasAll(CLONE_NEWUSER) }), errno('EPERM', 'unshare', { unshare_flags: hasAll(CLONE_NEWUSER) }), errno('ENOSYS', 'clone3')],
  })));
  const host = target(false);
  try {
    const before = state(host.pid);
    // bwrap shares the host's PID namespace here: the sleep is in reach.
    const inBwrap = (run: readonly string[]): SpawnSyncReturns<string> => {
      const argv = ['bwrap', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', ...run, '--bind', work, work, '--chdir', work, '--seccomp', '3',
        process.execPath, BIN, 'run', '--', 'sh', '-c', `prlimit --pid ${host.pid} --nofile=0:0; echo $?`];
      const fd = openSync(refusing, 'r'); // bwrap reads it to the end
      try {
        return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd], timeout: 60_000 });
      } finally {
        closeSync(fd);
      }
    };
    // A read-only /run (root keeps its id ranges there): a clear refusal, not a crash.
    const ro = inBwrap([]);
    assert.equal(ro.status, 125, ro.stderr);
    assert.match(ro.stderr, /^tsjail: cannot keep the jail's id range in \/run\/tsjail\/ids: cannot lock \S+: EROFS/m);
    assert.doesNotMatch(ro.stderr, /internal error|\n\s+at /);
    const r = inBwrap(['--tmpfs', '/run']);
    assert.equal(r.stdout, '1\n', r.stderr);
    assert.match(r.stderr, /running WITHOUT namespaces/);
    assert.match(r.stderr, EPERM_LINE);
    assert.deepEqual(state(host.pid), before);
  } finally {
    host.end();
  }
});

test('the guard holds in every mode: --log, a policy rule deciding the call, calls through x86\'s int 0x80, and learn', { skip: noLandlock }, () => {
  const probe = join(work, 'compat-probe');
  execFileSync('cc', ['-O2', '-o', probe, join(REPO_ROOT, 'test/helpers/compat-probe.c')]);
  chmodSync(probe, 0o755);
  for (const asNobody of [false, true]) {
    const host = target(asNobody);
    try {
      const before = state(host.pid);
      // Log mode with the call denied by a rule of its own (which log mode would let run), and the compat ABI the policy does not target.
      const logged = run(['node', BIN, 'run', '--no-namespaces', '--log', '--deny', 'prlimit64', '--', 'sh', '-c', `prlimit --pid ${host.pid} --cpu=1:1; echo $?; ${probe} ${host.pid}`], asNobody);
      assert.equal(logged.stdout, '1\nprlimit64=-1 setpriority=-1\n', logged.stderr);
      const learned = run(['node', BIN, 'learn', '--no-namespaces', '-o', '/dev/null', '--', 'sh', '-c', `prlimit --pid ${host.pid} --cpu=1:1; echo $?; ${probe} ${host.pid}`], asNobody);
      assert.equal(learned.stdout, '1\nprlimit64=-1 setpriority=-1\n', learned.stderr);
      assert.match(learned.stderr, /holds: +your other processes: the jail cannot change/);
      assert.deepEqual(state(host.pid), before);
    } finally {
      host.end();
    }
  }
});

test('the jail cannot disarm its keeper: --timeout still ends a jail that tried (no PID namespace)', { skip: noLandlock }, () => {
  // The keeper (the command's parent) holds the tree; with RLIMIT_NOFILE=0 it could not end it.
  const r = run(['node', BIN, 'run', '--no-namespaces', '--timeout', '1', '--', 'sh', '-c', 'prlimit --pid $PPID --nofile=0:0 --nproc=0:0; echo $?; exec sleep 100'], true, 30_000);
  assert.equal(r.error, undefined, 'tsjail ended by itself');
  assert.equal(r.stdout, '1\n', r.stderr);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /timeout|timed out/i);
});

test('a raw filter in a jail without namespaces runs behind the guard (refused as EPERM, there is no policy to explain it)', { skip: noLandlock }, () => {
  const raw = join(work, 'allow-all.bpf');
  writeFileSync(raw, compileProgram({ defaultAction: { kind: 'allow' }, badArchAction: { kind: 'allow' }, arches: [], rules: [] }).bytes);
  const host = target(true);
  try {
    const r = run(['node', BIN, 'run', '--no-namespaces', '--host-fs', '--policy', raw, '--', 'sh', '-c', `prlimit --pid ${host.pid} --nofile=0:0; echo $?; ulimit -n 64; echo $?`], true);
    assert.equal(r.stdout, '1\n0\n', r.stderr);
  } finally {
    host.end();
  }
});

test('the guard program decides exactly as its rules on every ABI of this machine, and then as the policy it guards', () => {
  const abi = hostAbi();
  const policy = builtinVariant({ setIds: false, writes: false });
  const bytes = compileProgram(policy).bytes;
  const policyProgram = decodeProgram(bytes, abi.endian);
  const guardRules = guardPolicy(abi);
  const guardAbis = targetAbis(guardRules);
  assert.deepEqual(guardAbis.map((a) => a.name), machineAbis(abi.name));
  const values = [0n, 1n, 2n, 3n, 0xffffffffn, 0x100000000n, 0xffffffffffffffffn];
  const names = ['prlimit64', 'setpriority', 'ioprio_set', 'sched_setaffinity', 'sched_setscheduler', 'sched_setparam', 'sched_setattr', 'getpid', 'setrlimit', 'getpriority', 'kill'];
  for (const notify of [false, true]) {
    const program = decodeProgram(guarded(hostGuard(notify), bytes, abi.endian), abi.endian);
    let refused = 0;
    for (const a of guardAbis) {
      for (const name of names) {
        const nr = syscallNumber(a, name);
        if (nr === undefined) continue;
        for (const x of values) for (const y of values) {
          const data: SeccompData = { nr, arch: a.auditArch, args: [x, y, y, 0n, 0n, 0n] };
          const rule = evaluatePolicy(guardRules, guardAbis, data);
          const byRules = ((rule.ret & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ERRNO;
          const expected: number = byRules ? (notify ? SECCOMP_RET_USER_NOTIF : rule.ret) : emulate(policyProgram, data, abi.endian).ret;
          assert.equal(emulate(program, data, abi.endian).ret, expected, `${a.name} ${name}(${x}, ${y}) notify=${notify}`);
          if (byRules) refused++;
        }
      }
    }
    assert.ok(refused > 100, 'the rules refuse calls on every ABI');
  }
});

test('the shipped guard is byte-identical to a fresh compile', () => {
  assert.deepEqual(new Uint8Array(readFileSync(precompiledGuardPath(hostAbi().name))), compileProgram(guardPolicy()).bytes);
});
