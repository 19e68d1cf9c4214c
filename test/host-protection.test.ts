// The default jail protects the host: a root-started jail runs as a private id range that owns
// nothing, sees a minimal /dev, a /proc with runc's masks, a read-only /sys and cgroupfs, and
// mount options never reach outside what they name. Each attack runs as root and, where it
// applies, rootless.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-host-'));
chmodSync(work, 0o755);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

const tsjail = (args: string[], opts: { asNobody?: boolean } = {}): SpawnSyncReturns<string> => {
  const argv = [...(opts.asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work, input: '', timeout: 30000 });
};
const sh = (script: string, args: string[] = [], opts: { asNobody?: boolean } = {}): SpawnSyncReturns<string> =>
  tsjail([...args, '--', 'sh', '-c', script], opts);

test('as root, the jail runs as a private id range: the host\'s root-only files are out of reach', async () => {
  const secret = join(work, 'root-only');
  writeFileSync(secret, 'secret\n', { mode: 0o600 });
  const owned = join(work, 'root-owned');
  writeFileSync(owned, 'log\n', { mode: 0o644 });
  // --host-fs: the host's own permissions are what is shown here (the file rules would make it all read-only anyway).
  const r = sh(`id -u; cat /proc/self/uid_map; cat ${secret}; echo x >> ${owned}; touch /etc/tsjail-planted; touch ${work}/planted`, ['--host-fs']);
  const [uid, map] = r.stdout.split('\n');
  assert.equal(uid, '0', 'inside, the command is the root it asked for');
  const [inside, outside, count] = map!.trim().split(/\s+/).map(Number);
  assert.deepEqual([inside, count], [0, 65536]);
  assert.ok(outside! >= 2 ** 31, `the jail's root is host uid ${outside}, a range nobody uses`);
  for (const denied of [`cat: ${secret}: Permission denied`, `${owned}: Permission denied`, '/etc/tsjail-planted\': Permission denied', `${work}/planted': Permission denied`]) {
    assert.ok(r.stderr.includes(denied), `${denied}\n${r.stderr}`);
  }
  assert.equal(readFileSync(owned, 'utf8'), 'log\n');
  assert.ok(!existsSync('/etc/tsjail-planted') && !existsSync(join(work, 'planted')));
  // What it writes where anyone may (/tmp) is owned by its range, not by root, and carries no set-id bit worth having.
  const tmp = join(work, 'tmp');
  mkdirSync(tmp, { mode: 0o1777 });
  chmodSync(tmp, 0o1777);
  sh(`cp /bin/true ${tmp}/t && chmod 4755 ${tmp}/t`, ['--host-fs']);
  assert.ok(statSync(join(tmp, 't')).uid >= 2 ** 31);
  // -u picks a user of the range; two jails at once get different ranges.
  assert.equal(tsjail(['-u', 'nobody', '--', 'id', '-u']).stdout, '65534\n');
  const a = spawn(process.execPath, [BIN, 'run', '--', 'sh', '-c', 'cat /proc/self/uid_map; sleep 20'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const first = await new Promise<string>((resolve) => a.stdout.once('data', (d: Buffer) => resolve(d.toString())));
  const second = sh('cat /proc/self/uid_map').stdout;
  a.kill('SIGKILL');
  assert.notEqual(first.trim().split(/\s+/)[1], second.trim().split(/\s+/)[1], 'jails running at once have distinct ranges');
});

test('--host-ids keeps the old behaviour (host root minus capabilities), loudly', () => {
  const r = sh(`cat /proc/self/uid_map; touch ${work}/host-ids && echo wrote`, ['--host-ids']);
  assert.match(r.stderr, /WARNING: --host-ids/);
  assert.match(r.stdout, /^\s+0\s+0\s+4294967295\nwrote\n$/);
});

test('a writable --bind stays writable, files owned as the host sees them; no set-id file can be left there', () => {
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'f'), 'one\n');
  const r = sh(`ls -ln /mnt/f; echo two >> /mnt/f; cp /bin/true /mnt/tool; chmod u+s /mnt/tool; chmod g+s /mnt/tool;
python3 -c 'import os; os.open("/mnt/suid", os.O_CREAT | os.O_WRONLY, 0o4755)'; echo done`, ['--bind', `${project}:/mnt`]);
  assert.match(r.stdout, /^-rw-r--r-- 1 0 0 4 .* \/mnt\/f\ndone\n$/);
  assert.equal(readFileSync(join(project, 'f'), 'utf8'), 'one\ntwo\n');
  assert.equal(statSync(join(project, 'tool')).uid, 0, 'written as the host user who ran tsjail');
  assert.equal(statSync(join(project, 'tool')).mode & 0o6000, 0, 'no set-id bit');
  assert.ok(!existsSync(join(project, 'suid')) || (statSync(join(project, 'suid')).mode & 0o6000) === 0);
  assert.match(r.stderr, /fchmodat\(.*\) -> EPERM\n {8}decided by: rule "set-id files on host mounts"/);
  // git and gcc work in it as they do on the host.
  const g = sh('cd /mnt && git init -q . && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m x && git log --format=%s && printf "int main(){return 7;}" > m.c && gcc -o m m.c && ./m; echo $?', ['--bind', `${project}:/mnt`]);
  assert.equal(g.stdout, 'x\n7\n', g.stderr);
});

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';

  test(`${who}: /proc/sys, /sys and the cgroup filesystem are read-only, /proc's soft spots masked`, () => {
    // (This kernel may lack some of them: only those the host has are tried.)
    const writable = ['/proc/sys/kernel/core_pattern', '/proc/sysrq-trigger', '/sys/kernel/profiling', '/sys/kernel/mm/ksm/run',
      '/sys/fs/cgroup/cgroup.procs', '/sys/fs/cgroup/pids/cgroup.procs', '/sys/fs/cgroup/unified/cgroup.procs', '/sys/fs/cgroup/memory/cgroup.procs'].filter((p) => existsSync(p));
    const cgdir = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'].find((d) => existsSync(d))!;
    const r = sh(`${writable.map((p) => `echo 1 > ${p};`).join(' ')} mkdir ${cgdir}/tsjail-x; wc -c < /proc/keys; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; cat /proc/self/cgroup`, [], { asNobody });
    assert.ok(writable.length >= 3);
    for (const path of writable) {
      assert.match(r.stderr, new RegExp(`${path.replace(/\//g, '\\/')}: (Read-only file system|Permission denied)`), r.stderr);
    }
    assert.ok(!existsSync(`${cgdir}/tsjail-x`));
    assert.match(r.stdout, /^0\n0\n0\n/, 'masked: empty');
    assert.match(r.stdout, /0::\/\n?$|:\/\n$/m, 'its own cgroup namespace');
  });

  test(`${who}: a minimal /dev with its own /dev/shm; host devices only when bound`, () => {
    const marker = `tsjail-shm-${process.pid}-${asNobody}`;
    const r = sh(`ls /dev; echo x > /dev/shm/${marker}; ls /dev/shm`, [], { asNobody });
    const devs = r.stdout.split('\n');
    for (const d of ['kvm', 'userfaultfd', 'kmsg', 'vcs', 'mem', 'sda', 'vda', 'loop0']) assert.ok(!devs.includes(d), `/dev/${d} is not in the jail`);
    for (const d of ['null', 'zero', 'urandom', 'tty', 'pts', 'shm']) assert.ok(devs.includes(d), d);
    assert.ok(devs.includes(marker), 'the jail writes its /dev/shm');
    assert.ok(!existsSync(`/dev/shm/${marker}`), 'nothing lands in the host\'s /dev/shm');
    if (existsSync('/dev/kmsg')) assert.equal(sh('cat /dev/kmsg', ['--ro-bind', '/dev/kmsg:/dev/kmsg'], { asNobody }).stderr.includes('No such file'), false);
  });

  test(`${who}: read-only binds and --ro-root are read-only all the way down`, (t) => {
    const tree = join(work, `tree-${asNobody}`);
    const sub = join(tree, 'sub');
    mkdirSync(sub, { recursive: true });
    chmodSync(tree, 0o777);
    chmodSync(sub, 0o777);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=1777', 'tsjail-test', sub]);
    t.after(() => spawnSync('umount', ['-l', sub]));
    const r = sh('touch /mnt/sub/x; echo $?', ['--ro-bind', `${tree}:/mnt`], { asNobody });
    assert.equal(r.stdout, '1\n');
    assert.match(r.stderr, /Read-only file system/);
    const ro = sh(`touch ${sub}/y; echo $?`, [...(asNobody ? [] : ['--host-ids']), '--host-fs', '--ro-root'], { asNobody });
    assert.equal(ro.stdout, '1\n', ro.stderr);
    assert.match(ro.stderr, /Read-only file system/);
    assert.equal(sh(`touch ${sub}/z; echo $?`, [...(asNobody ? [] : ['--host-ids']), '--host-fs'], { asNobody }).stdout, '0\n', 'writable without it');
  });
}

test('mount destinations resolve inside -r DIR: a symlink never leads a mount or a created directory out; a FIFO never hangs', () => {
  const root = join(work, 'evil-root');
  const victim = join(work, 'victim');
  mkdirSync(root);
  mkdirSync(victim);
  symlinkSync(victim, join(root, 'abs'));
  symlinkSync(`../../../../../../..${victim}`, join(root, 'rel'));
  symlinkSync('/etc', join(root, 'etc'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  const base = ['-r', root, ...['/usr', '/lib', '/lib64', '/bin'].flatMap((d) => ['--ro-bind', d])];
  for (const mount of [['--tmpfs', '/abs/x'], ['--tmpfs', '/rel/y'], ['--bind', `${work}:/abs`], ['--tmpfs', '/etc/z'], ['--ro-bind', '/etc/hostname:/fifo'], ['--tmpfs', '/fifo/w']]) {
    const r = tsjail([...base, ...mount, '--', 'true']);
    assert.equal(r.status, 125, `${mount.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^tsjail: cannot (bind|mount) /, r.stderr);
    assert.doesNotMatch(r.stderr, /\n {4}at /, 'no stack trace');
  }
  assert.deepEqual(readdirSync(victim), [], 'nothing created through a symlink');
  assert.ok(!existsSync('/etc/z'));
  // A symlink inside DIR pointing inside it is followed as the jail would see it.
  mkdirSync(join(root, 'data'));
  symlinkSync('/data', join(root, 'inside'));
  const ok = tsjail([...base, '--tmpfs', '/inside/t', '--', 'sh', '-c', 'ls -d /data/t']);
  assert.equal(ok.stdout, '/data/t\n', ok.stderr);
  assert.ok(existsSync(join(root, 'data/t')) && !existsSync(join(victim, 't')));
  // -r with a symlink as DIR itself: the link's target is the root, nothing is made beside it.
  rmSync(join(root, 'inside'));
});

test('--overlay: its upper and work directories are made inside DIR, never through a symlink planted there', () => {
  const lower = join(work, 'ov-lower');
  const upperDir = join(work, 'ov-upper');
  const victim = join(work, 'ov-victim');
  for (const d of [lower, upperDir, victim]) mkdirSync(d);
  for (const d of ['usr', 'lib', 'lib64', 'bin']) mkdirSync(join(lower, d));
  symlinkSync(victim, join(upperDir, 'upper'));
  const binds = ['/usr', '/lib', '/lib64', '/bin'].flatMap((d) => ['--ro-bind', d]);
  const r = tsjail(['-r', lower, '--overlay', upperDir, ...binds, '--', 'sh', '-c', 'echo hi > /f']);
  assert.equal(r.status, 125, r.stderr);
  assert.deepEqual(readdirSync(victim), []);
  rmSync(join(upperDir, 'upper'));
  const ok = tsjail(['-r', lower, '--overlay', upperDir, ...binds, '--', 'sh', '-c', 'echo hi > /f && cat /f']);
  assert.equal(ok.stdout, 'hi\n', ok.stderr);
  assert.equal(readFileSync(join(upperDir, 'upper/f'), 'utf8'), 'hi\n');
  assert.equal(statSync(join(upperDir, 'upper/f')).uid, 0, 'written as the host user who ran tsjail (idmapped)');
});

test('--stage builds its root in the jail: nothing is created on the host', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tsjail-stage-tmp-'));
  const r = spawnSync(process.execPath, [BIN, 'run', '--stage', '/bin/true', '--', 'true'], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(tmp), []);
});

test('learn in a jail that writes host files as their owners refuses set-id files too, --learn-dangerous or not', () => {
  const project = join(work, 'learn-project');
  mkdirSync(project);
  for (const extra of [[], ['--learn-dangerous']]) {
    const out = join(work, `learned-${extra.length}.ts`);
    const r = spawnSync(process.execPath, [BIN, 'learn', '-o', out, ...extra, '--bind', `${project}:/mnt`, '--', 'sh', '-c', 'cp /bin/true /mnt/t && chmod 4755 /mnt/t'], { encoding: 'utf8', cwd: work });
    assert.match(r.stderr, /fchmodat|chmod/, r.stderr);
    assert.equal(statSync(join(project, 't')).mode & 0o6000, 0, `no set-id bit ${extra.join(' ')}`);
  }
});

test('a --pidfile tsjail cannot write is a clear error before the jail starts', () => {
  const r = tsjail(['--pidfile', '/nonexistent-dir/jail.pid', '--', 'true']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /^tsjail: cannot write --pidfile \/nonexistent-dir\/jail.pid: \/nonexistent-dir: ENOENT\n$/);
  // A jail that fails to start leaves no pidfile behind either.
  const pidfile = join(work, 'failed.pid');
  assert.equal(tsjail(['--pidfile', pidfile, '-d', '/no/such/dir', '--', 'true']).status, 125);
  assert.ok(!existsSync(pidfile));
});
