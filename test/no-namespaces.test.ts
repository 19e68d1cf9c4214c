// tsjail where user namespaces are refused: inside bubblewrap with a seccomp filter that refuses
// CLONE_NEWUSER (as Docker's default profile does), as root and rootless. It must notice, say
// exactly what holds and what does not, still keep secrets and the host's files (Landlock), and
// refuse what it cannot give.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compileFilter } from '../src/bpf/compile';
import { landlockAbi } from '../src/jail/helper';
import { definePolicy, errno, hasAll } from '../src/policy/dsl';
import { CLONE_NEWUSER } from '../src/kernel/constants';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const haveBwrap = spawnSync('bwrap', ['--version']).status === 0 ? false : 'bubblewrap is not installed (apt-get install bubblewrap)';
const noLandlock = landlockAbi() >= 6 ? false : 'this kernel has no Landlock ABI 6';
const base = mkdtempSync('/var/tmp/tsjail-nons-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

/** Docker's default profile refuses new namespaces to an unprivileged container; this one refuses user namespaces (and, if asked, Landlock). */
function refusingFilter(alsoLandlock: boolean, userns = true, restrict = false): string {
  const file = join(base, `refuse-${alsoLandlock}-${userns}-${restrict}.bpf`);
  writeFileSync(file, compileFilter(definePolicy({
    default: 'allow',
    rules: [
      ...(userns ? [
        errno('EPERM', 'clone', { clone_flags: hasAll(CLONE_NEWUSER) }),
        errno('EPERM', 'unshare', { unshare_flags: hasAll(CLONE_NEWUSER) }),
        errno('ENOSYS', 'clone3'),
      ] : []),
      ...(alsoLandlock ? [errno('ENOSYS', 'landlock_create_ruleset')] : []),
      ...(restrict ? [errno('EPERM', 'landlock_restrict_self')] : []),
    ],
  })));
  return file;
}

function setup(owner: number): { home: string; ws: string } {
  const d = mkdtempSync(join(base, 'jail-'));
  chmodSync(d, 0o755);
  const home = join(d, 'home'), ws = join(d, 'ws');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh/id_ed25519'), 'PRIVATE KEY\n', { mode: 0o644 });
  writeFileSync(join(home, '.bashrc'), '# rc\n', { mode: 0o666 });
  mkdirSync(ws);
  for (const p of [d, home, join(home, '.ssh'), join(home, '.ssh/id_ed25519'), join(home, '.bashrc'), ws]) chownSync(p, owner, owner);
  return { home, ws };
}

/** tsjail run ARGS -- sh -c SCRIPT inside bubblewrap under `filter`, from `ws`, HOME=`home`. */
function inBwrap(filter: string, args: readonly string[], script: string, dirs: { home: string; ws: string }, asNobody: boolean): SpawnSyncReturns<string> {
  const fd = openSync(filter, 'r');
  try {
    const top = join(dirs.home, '..');
    const argv = [...(asNobody ? NOBODY : []), 'bwrap', ...(asNobody ? ['--unshare-user'] : []), '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
      '--tmpfs', '/tmp', '--tmpfs', '/run', '--bind', top, top, '--chdir', dirs.ws, '--setenv', 'HOME', dirs.home, '--seccomp', '3',
      process.execPath, BIN, 'run', ...args, '--', 'sh', '-c', script];
    return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd], timeout: 60000 });
  } finally {
    closeSync(fd);
  }
}

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';

  test(`${who}, inside a jail that refuses user namespaces: tsjail says so, says what holds, and still keeps ~/.ssh and the host's files`, { skip: haveBwrap || noLandlock }, () => {
    const dirs = setup(asNobody ? 65534 : 0);
    const script = `cat ~/.ssh/id_ed25519; echo evil >> ~/.bashrc; touch /tmp/planted; echo built > out && cat out; echo t > "$TMPDIR/t" && cat "$TMPDIR/t"`;
    const r = inBwrap(refusingFilter(false), [], script, dirs, asNobody);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'built\nt\n');
    // The statement: why, then what holds and what does not, line by line.
    assert.match(r.stderr, /tsjail: user namespaces are refused here \(create the namespaces \(clone\): EPERM\): running WITHOUT namespaces\. What holds:/);
    for (const line of [
      /holds: +seccomp: the policy's filter/,
      new RegExp(`holds: +files, by Landlock \\(ABI \\d+\\): the host read-only; writable only ${dirs.ws}, /tmp/tsjail-\\w+; \\d+ secret paths unreadable`),
      /holds: +signals and abstract unix sockets reach only the jail's own processes/,
      /missing: no PID namespace: \/proc shows the host's processes/,
      /holds: +processes: what the command leaves running \(setsid, double fork\) is killed when it ends \(a keeper, a child subreaper, holds the tree\)/,
      /missing: no mount namespace: no private \/tmp \(\/tmp is read-only; TMPDIR=\/tmp\/tsjail-\w+/,
      /missing: no network namespace/,
      asNobody ? /missing: no user namespace: the jail runs as your own uid 65534/ : /missing: no user namespace: the jail runs as the host's root \(uid 0\) without capabilities/,
    ]) assert.match(r.stderr, line);
    assert.ok(r.stderr.includes(`${dirs.home}/.ssh/id_ed25519: Permission denied`), r.stderr);
    assert.ok(r.stderr.includes(`${dirs.home}/.bashrc: Permission denied`), r.stderr);
    assert.match(r.stderr, /\/tmp\/planted.*Permission denied/);
    assert.equal(readFileSync(join(dirs.home, '.bashrc'), 'utf8'), '# rc\n');
  });

  test(`${who}, where user namespaces are refused: an option that needs a namespace is refused (125), never dropped`, { skip: haveBwrap || noLandlock }, () => {
    const dirs = setup(asNobody ? 65534 : 0);
    for (const [args, named] of [[['-n'], /-n\/--no-network needs a network namespace/], [['--hostname', 'x'], /--hostname needs a UTS namespace/],
      [['--bind', `${dirs.ws}:/mnt`], /--bind\/--ro-bind need a mount namespace/], [['-r', '/'], /-r\/--root DIR needs a mount namespace/]] as const) {
      const r = inBwrap(refusingFilter(false), args, 'echo RAN', dirs, asNobody);
      assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /user namespaces are refused here/);
      assert.match(r.stderr, named);
    }
  });

  test(`${who}, where user namespaces and Landlock are both refused: nothing runs (no layer would hold the file rules)`, { skip: haveBwrap }, () => {
    const dirs = setup(asNobody ? 65534 : 0);
    const r = inBwrap(refusingFilter(true), [], 'echo RAN', dirs, asNobody);
    assert.equal(r.status, 125, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /this kernel has no Landlock .*nothing was run \(--host-fs/);
  });
}

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';
  test(`${who}, with namespaces but no Landlock: the jail runs on the mount layer and says once what is missing`, { skip: haveBwrap }, () => {
    const dirs = setup(asNobody ? 65534 : 0);
    // (--no-proc: a root-started jail in bubblewrap's mount namespace may not mount a proc of its own there.)
    const r = inBwrap(refusingFilter(true, false), ['--no-proc'], 'echo RAN', dirs, asNobody);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'RAN\n');
    assert.equal(r.stderr.match(/Landlock is not available on this kernel: the mount layer alone hides secrets, so one created during the run .* is not hidden/g)?.length, 1, r.stderr);
  });

  test(`${who}: Landlock there but refusing to apply: nothing runs (step 62, exit 125)`, { skip: haveBwrap || noLandlock }, () => {
    const dirs = setup(asNobody ? 65534 : 0);
    for (const args of [['--no-proc'], ['--no-namespaces']]) {
      const r = inBwrap(refusingFilter(false, false, true), args, 'echo RAN', dirs, asNobody);
      assert.equal(r.status, 125, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /cannot restrict the command with Landlock: EPERM/);
    }
  });
}

test('--no-namespaces: the private TMPDIR is gone at the end, and so is what the command left running', { skip: noLandlock }, () => {
  const ws = mkdtempSync(join(base, 'ws-'));
  const r = spawnSync(process.execPath, [BIN, 'run', '--no-namespaces', '--', 'sh', '-c', 'sleep 1000 & echo $! $TMPDIR; touch $TMPDIR/x'], { encoding: 'utf8', cwd: ws, input: '' });
  assert.equal(r.status, 0, r.stderr);
  const [pid, tmp] = r.stdout.trim().split(' ');
  assert.match(tmp!, /^\/tmp\/tsjail-\w+$/);
  assert.ok(!existsSync(tmp!), `${tmp} removed`);
  let state: string | undefined;
  try { state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]; } catch { /* gone */ }
  assert.ok(state === undefined || state === 'Z', `the jail's background sleep (pid ${pid}) was killed with it: state ${state}`);
});

test('--no-namespaces: --pidfile holds the command\'s pid, not its keeper\'s (a listener handed over, and none: --insecure)', { skip: noLandlock }, () => {
  const ws = mkdtempSync(join(base, 'pid-'));
  for (const extra of [[], ['--insecure']]) {
    const r = spawnSync(process.execPath, [BIN, 'run', '--no-namespaces', ...extra, '--pidfile', join(ws, 'p'), '--', 'sh', '-c', `echo $$; until [ -s p ]; do sleep 0.05; done; cat p`], { encoding: 'utf8', cwd: ws, input: '' });
    assert.equal(r.status, 0, r.stderr);
    const [own, written] = r.stdout.trim().split('\n');
    assert.equal(written, own, extra.join(' '));
  }
});

/** Processes whose command line holds `marker` (a sleep's unique duration), with their state. */
function running(marker: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker)) continue;
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0];
      if (state !== 'Z') out.push(`${pid} (${state})`);
    } catch { /* gone meanwhile */ }
  }
  return out;
}

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';
  // --no-limits: no cgroup either (its cgroup.kill would end the tree too): the keeper alone holds it.
  const run = (script: string, extra: readonly string[] = []): SpawnSyncReturns<string> => {
    const ws = mkdtempSync(join(base, 'tree-'));
    chmodSync(ws, 0o777);
    const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--no-namespaces', '--no-limits', ...extra, '--', 'sh', '-c', script];
    return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: ws, input: '', timeout: 60000 });
  };

  test(`${who}, --no-namespaces: a setsid'd or double-forked process does not outlive the jail`, { skip: noLandlock }, () => {
    const marker = `313.${process.pid}${asNobody ? 1 : 0}`;
    const r = run(`setsid sleep ${marker} & (setsid sh -c 'sleep ${marker} & sleep ${marker}' &) ; (sleep ${marker} &); sleep 0.2; echo started`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'started\n');
    assert.deepEqual(running(marker), []);
  });

  test(`${who}, --no-namespaces: the jail cannot kill its keeper (Landlock scopes signals) to let its processes escape`, { skip: noLandlock }, () => {
    const marker = `311.${process.pid}${asNobody ? 1 : 0}`;
    const r = run(`kill -KILL $PPID 2>/dev/null; echo kill=$?; kill -PWR $PPID 2>/dev/null; echo pwr=$?; setsid sleep ${marker} & sleep 0.2`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'kill=1\npwr=1\n');
    assert.deepEqual(running(marker), []);
  });

  test(`${who}, --no-namespaces: a process forking orphans in a loop while the jail ends does not escape it`, { skip: noLandlock }, () => {
    const marker = `317.${process.pid}${asNobody ? 1 : 0}`;
    // Each round leaves an orphan (its subshell exits at once), so new ones keep coming while the jail is being ended.
    const r = run(`setsid sh -c 'while :; do (sleep ${marker} &); done' & sleep 0.5; echo started`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'started\n');
    assert.deepEqual(running(marker), []);
  });

  test(`${who}, --no-namespaces: a jail ended by --timeout takes its escaped processes with it; the exit status still passes through`, { skip: noLandlock }, () => {
    const marker = `319.${process.pid}${asNobody ? 1 : 0}`;
    const r = run(`setsid sleep ${marker} & sleep ${marker}`, ['--timeout', '1']);
    assert.equal(r.status, 124, r.stderr);
    assert.deepEqual(running(marker), []);
    assert.equal(run('exit 7').status, 7);
    assert.equal(run('kill -9 $$').status, 128 + 9);
  });
}
