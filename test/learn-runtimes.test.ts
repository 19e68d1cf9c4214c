// learn --format json --for runc|crun|k8s: a profile learned under tsjail runs under the real
// runtimes, which make calls of their own after they load it; without --for runc refuses to start.
// runc and crun need root here (cgroups, mounts): the tests that run them run as root.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { emptyLearned, learnedToOci, readLearned, type Learned } from '../src/jail/learn';
import { ABIS } from '../src/arch/abi';
import { MEASURED, RUNTIMES, runtimeCalls, type Runtime } from '../src/jail/runtimeCalls';
import { builtinAllowsUnconditionally, THREAD_TIMING_SYSCALLS } from '../src/jail/learnClasses';
import { runContainer } from '../scripts/run-container';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-runtimes-'));
chmodSync(work, 0o755);
const asRoot = process.getuid?.() === 0 ? false : 'runc and crun need root on this host';

const tsjail = (args: string[], asNobody = false): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, ...args];
  const [cmd, ...rest] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: '', timeout: 60000 });
};

const PROGRAM = ['sh', '-c', 'echo hi; ls /'];
const ROOT_DIRS = ['bin', 'dev', 'lib', 'lib64', 'proc', 'sys', 'tmp', 'usr'];
const EXPECTED = `hi\n${ROOT_DIRS.join('\n')}\n`;
const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_SETGID', 'CAP_SETUID', 'CAP_KILL'];

/** A bundle of host binaries running PROGRAM under `profile`; noNewPrivileges false is what a pod gets by default. */
function bundle(profile: string, noNewPrivileges: boolean): string {
  const dir = mkdtempSync(join(work, 'b-'));
  chmodSync(dir, 0o755);
  for (const d of ROOT_DIRS) mkdirSync(join(dir, 'rootfs', d), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: PROGRAM, env: ['PATH=/usr/bin:/bin'], cwd: '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS }, noNewPrivileges },
    root: { path: 'rootfs', readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      ...['/usr', '/lib', '/lib64', '/bin'].map((d) => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro'] })),
    ],
    linux: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })), seccomp: JSON.parse(profile) },
  }));
  return dir;
}

const containerId = (): string => `tsjail-rt-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const viaRunc = (dir: string) => runContainer('runc', dir, containerId());
const viaCrun = (dir: string) => runContainer('crun', dir, containerId());

test('learned once --for runc, the profile runs the program under runc and crun; the same profile without --for does not start under runc', { skip: asRoot }, () => {
  const file = join(work, 'for-runc.json');
  const learned = tsjail(['learn', '--format', 'json', '--for', 'runc', '-o', file, '--', ...PROGRAM]);
  assert.equal(learned.status, 0, learned.stderr);
  assert.match(learned.stdout, /^hi\nbin\n/);
  assert.match(learned.stderr, /learn: --for runc: the profile also allows the calls runc makes after loading it/);
  const forRunc = readFileSync(file, 'utf8');
  const record = readLearned(forRunc, file);
  // The program's own calls (--exact: the generalized profile may happen to cover runc's, fstatfs
  // by the disk-state rule): what runc's init needs and the program never made is missing.
  const without = learnedToOci(record, { exact: true });
  for (const nnp of [true, false]) {
    const runc = viaRunc(bundle(forRunc, nnp));
    assert.equal(runc.stdout, EXPECTED, `runc, noNewPrivileges ${nnp}: ${runc.stderr}`);
    assert.equal(runc.status, 0);
    const bare = viaRunc(bundle(without, nnp));
    assert.notEqual(bare.status, 0, 'runc ran the profile without --for');
    assert.equal(bare.stdout, '');
    // runc's init checks /proc/self/fd with fstatfs after the load (EPERM here) and gives up.
    assert.match(bare.stderr, /ensure \/proc\/self\/fd is on procfs: operation not permitted/);
  }
  // crun loads the filter right before execve when no_new_privs is set: runc's calls cover it.
  const crun = viaCrun(bundle(forRunc, true));
  assert.equal(crun.stdout, EXPECTED, crun.stderr);
  // Without no_new_privs crun drops capabilities and changes ids under the filter: --for crun.
  const crunOnly = viaCrun(bundle(forRunc, false));
  assert.notEqual(crunOnly.status, 0);
  const both = learnedToOci(record, {}, ['runc', 'crun']);
  for (const run of [viaRunc, viaCrun]) {
    const r = run(bundle(both, false));
    assert.equal(r.stdout, EXPECTED, r.stderr);
  }
});

test('k8s is runc as containerd runs it for a kubelet localhost profile: the same calls', () => {
  const record: Learned = { ...emptyLearned(), abis: { x86_64: { read: { count: 1 } } }, commands: ['x'] };
  const forRunc = JSON.parse(learnedToOci(record, {}, ['runc']));
  const forK8s = JSON.parse(learnedToOci(record, {}, ['k8s']));
  assert.deepEqual(forK8s.syscalls, forRunc.syscalls);
  assert.deepEqual(forK8s['x-tsjail-for'], { runtimes: ['k8s'], added: forRunc['x-tsjail-for'].added });
  assert.notDeepEqual(forRunc.syscalls, JSON.parse(learnedToOci(record, {}, ['crun'])).syscalls);
});

test('every call --for adds is one the built-in policy allows whatever its arguments; x-tsjail-for names exactly the added ones', () => {
  // The check itself can say no: for a refused call, a pinned one, a conditional one.
  for (const name of ['mount', 'ioctl', 'clone', 'personality', 'clone3', 'no_such_call']) assert.equal(builtinAllowsUnconditionally(ABIS.x86_64, name), false, name);
  assert.equal(builtinAllowsUnconditionally(ABIS.x86_64, 'read'), true);
  for (const runtime of Object.keys(MEASURED) as (keyof typeof MEASURED)[]) {
    for (const name of MEASURED[runtime]) assert.ok(builtinAllowsUnconditionally(ABIS.x86_64, name), `${runtime}: ${name}`);
  }
  for (const name of THREAD_TIMING_SYSCALLS) assert.ok(builtinAllowsUnconditionally(ABIS.x86_64, name), name);
  const record: Learned = { ...emptyLearned(), abis: { x86_64: { read: { count: 1 }, write: { count: 2 }, exit_group: { count: 1 } } }, commands: ['x'] };
  for (const runtime of RUNTIMES) {
    const profile = JSON.parse(learnedToOci(record, { exact: true }, [runtime]));
    const allowed: string[] = profile.syscalls[0].names;
    const { calls, threaded } = runtimeCalls(runtime);
    const expected = [...new Set([...calls, ...(threaded ? THREAD_TIMING_SYSCALLS : [])])].filter((n) => !['read', 'write'].includes(n)).sort();
    assert.deepEqual(profile['x-tsjail-for'], { runtimes: [runtime], added: expected });
    assert.deepEqual(allowed, [...new Set([...expected, 'read', 'write', 'exit_group'])].sort());
  }
  // Without --for the profile is the learned calls alone, and names no runtime.
  const plain = JSON.parse(learnedToOci(record, { exact: true }));
  assert.deepEqual(plain.syscalls[0].names, ['exit_group', 'read', 'write']);
  assert.equal(plain['x-tsjail-for'], undefined);
});

test('--for widens a learned pin only on a call the runtime makes (prctl), never another (ioctl stays pinned)', () => {
  const record: Learned = {
    ...emptyLearned(), commands: ['x'],
    abis: { x86_64: { prctl: { count: 1, values: { option: ['PR_SET_NAME'] } }, ioctl: { count: 1, values: { cmd: ['TCGETS'] } } } },
  };
  const pinned = JSON.parse(learnedToOci(record, { exact: true })).syscalls;
  assert.deepEqual(pinned.find((s: { names: string[] }) => s.names[0] === 'prctl').args, [{ index: 0, value: 15, op: 'SCMP_CMP_EQ' }]);
  for (const runtime of ['runc', 'crun'] as Runtime[]) {
    const profile = JSON.parse(learnedToOci(record, { exact: true }, [runtime]));
    assert.ok(profile.syscalls[0].names.includes('prctl'), runtime);
    assert.equal(profile.syscalls.filter((s: { names: string[] }) => s.names.includes('prctl')).length, 1, 'no rule left shadowed');
    assert.ok(profile['x-tsjail-for'].added.includes('prctl'));
    assert.ok(!profile.syscalls[0].names.includes('ioctl'));
    assert.deepEqual(profile.syscalls.find((s: { names: string[] }) => s.names[0] === 'ioctl').args, [{ index: 1, value: 0x5401, op: 'SCMP_CMP_EQ' }]);
  }
});

test('--for is refused before anything runs (a usage error, 2): with the TypeScript format (a hint), an unknown runtime (did you mean), hostile names', () => {
  for (const asNobody of [false, true]) {
    const ts = tsjail(['learn', '--for', 'runc', '--', 'sh', '-c', 'echo RAN'], asNobody);
    assert.equal(ts.status, 2);
    assert.equal(ts.stdout, '');
    assert.match(ts.stderr, /--for runc adds the calls a container runtime makes after it loads the filter to an OCI profile: use it with --format json \(the TypeScript policy is for tsjail run/);
    const byName = tsjail(['learn', '-o', join(work, 'p.ts'), '--for', 'crun', '--', 'true'], asNobody);
    assert.equal(byName.status, 2);
    assert.match(byName.stderr, /use it with --format json/);
    const typo = tsjail(['learn', '--format', 'json', '--for', 'runc,crum', '--', 'sh', '-c', 'echo RAN'], asNobody);
    assert.equal(typo.status, 2);
    assert.equal(typo.stdout, '');
    assert.match(typo.stderr, /unknown runtime 'crum' for --for — did you mean 'crun'\? \(known: runc, crun, k8s\)/);
    const hostile = tsjail(['learn', '--format', 'json', '--for', '../runc', '--for', '', '--', 'true'], asNobody);
    assert.equal(hostile.status, 2);
    assert.match(hostile.stderr, /unknown runtime '\.\.\/runc' for --for/);
  }
  // Rootless, --for works as learning does (the runtimes are only needed to run the profile).
  const rootless = tsjail(['learn', '--format', 'json', '--for', 'crun', '--', 'true'], true);
  assert.equal(rootless.status, 0, rootless.stderr);
  assert.deepEqual(JSON.parse(rootless.stdout)['x-tsjail-for'].runtimes, ['crun']);
});
