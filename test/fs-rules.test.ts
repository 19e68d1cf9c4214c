// The default file rules of a jail on the host's root, enforced by its mount namespace: the host
// read-only, the working directory writable (owned as before by whoever ran tsjail), a private
// /tmp, secrets hidden; --ro/--rw/--hide/--show/--noexec in command-line order; --host-fs.
// Each runs as root and rootless (setpriv to uid 65534 with a HOME of its own).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { spawnJailed, STEP_MOUNT_BASE, waitFor } from '../src/jail/helper';
import { buildSpawnSpec } from '../src/jail/spec';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: the jail's /tmp is its own.
const base = mkdtempSync('/var/tmp/tsjail-fs-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

interface Who { readonly name: string; readonly nobody: boolean; readonly uid: number; readonly home: string; readonly proj: string }

function person(name: string, nobody: boolean): Who {
  const home = join(base, `${name}-home`), proj = join(home, 'proj');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(proj);
  writeFileSync(join(home, '.ssh/id_ed25519'), 'PRIVATE KEY\n', { mode: 0o600 });
  // Readable by all: a root-started jail (a private id range) reads as "other"; hidden is what stops it here.
  writeFileSync(join(home, '.netrc'), 'machine example.com password hunter2\n', { mode: 0o644 });
  // Writable by all: only the read-only mount may stop a write (a root-started jail writes as "other").
  writeFileSync(join(home, '.bashrc'), '# mine\n');
  chmodSync(join(home, '.bashrc'), 0o666);
  execFileSync('mkfifo', [join(home, '.git-credentials')]);
  mkdirSync(join(home, '.kube/work'), { recursive: true });
  writeFileSync(join(home, '.kube/config'), 'token: k8s-secret\n');
  const uid = nobody ? 65534 : 0;
  if (nobody) execFileSync('chown', ['-R', '65534:65534', home]);
  return { name, nobody, uid, home, proj };
}

const WHO = [person('root', false), person('nobody', true)];

function tsjail(who: Who, args: readonly string[], cwd = who.proj): SpawnSyncReturns<string> {
  const argv = [...(who.nobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd, input: '', timeout: 60000, env: { ...process.env, HOME: who.home } });
}
const sh = (who: Who, script: string, args: readonly string[] = [], cwd?: string): SpawnSyncReturns<string> => tsjail(who, [...args, '--', 'sh', '-c', script], cwd);

for (const who of WHO) {
  test(`${who.name}: the working directory is writable and what the jail writes there is owned by whoever ran tsjail`, () => {
    const r = sh(who, 'echo made > made.txt && echo ok');
    assert.equal(r.stdout, 'ok\n', r.stderr);
    assert.equal(readFileSync(join(who.proj, 'made.txt'), 'utf8'), 'made\n');
    assert.equal(statSync(join(who.proj, 'made.txt')).uid, who.uid);
  });

  test(`${who.name}: the rest of the host is read-only (~/.bashrc, /etc, /var/tmp)`, () => {
    const r = sh(who, `echo evil >> ${who.home}/.bashrc; touch /var/tmp/tsjail-fs-planted; echo x > /etc/tsjail-planted; echo done`);
    assert.equal(r.stdout, 'done\n');
    assert.match(r.stderr, /\.bashrc: Read-only file system/);
    assert.match(r.stderr, /tsjail-fs-planted.*Read-only file system/);
    assert.equal(readFileSync(join(who.home, '.bashrc'), 'utf8'), '# mine\n');
    assert.ok(!existsSync('/var/tmp/tsjail-fs-planted') && !existsSync('/etc/tsjail-planted'));
  });

  test(`${who.name}: secrets are hidden: ~/.ssh empty, ~/.netrc and a FIFO ~/.git-credentials read as empty, /etc/shadow empty`, () => {
    const r = sh(who, `ls -A ${who.home}/.ssh; cat ${who.home}/.ssh/id_ed25519; echo "netrc[$(cat ${who.home}/.netrc)]"; echo "fifo[$(cat ${who.home}/.git-credentials)]"; echo "shadow[$(cat /etc/shadow)]"; echo "kube[$(ls -A ${who.home}/.kube)]"`);
    assert.equal(r.stdout, 'netrc[]\nfifo[]\nshadow[]\nkube[]\n', r.stderr);
    assert.match(r.stderr, /id_ed25519: No such file or directory/);
  });

  test(`${who.name}: /tmp is private both ways`, () => {
    const marker = `/tmp/tsjail-fs-host-${who.name}-${process.pid}`;
    writeFileSync(marker, 'host\n');
    try {
      const r = sh(who, `test -e ${marker} && echo sees-host; ls -ld /tmp | cut -c1-10; echo jail > /tmp/from-jail-${process.pid} && echo wrote`);
      assert.equal(r.stdout, 'drwxrwxrwt\nwrote\n', r.stderr);
      assert.ok(!existsSync(`/tmp/from-jail-${process.pid}`));
    } finally {
      rmSync(marker, { force: true });
    }
  });

  test(`${who.name}: --show undoes one default; a later flag for the same path overrides an earlier one`, () => {
    assert.equal(sh(who, `cat ${who.home}/.netrc`, ['--show', '~/.netrc']).stdout, 'machine example.com password hunter2\n');
    const other = join(who.home, 'other');
    mkdirSync(other);
    if (who.nobody) chownSync(other, 65534, 65534);
    assert.equal(sh(who, `touch ${other}/a && echo wrote`, ['--ro', other, '--rw', other]).stdout, 'wrote\n');
    const ro = sh(who, `touch ${other}/b && echo wrote`, ['--rw', other, '--ro', other]);
    assert.equal(ro.stdout, '');
    assert.match(ro.stderr, /Read-only file system/);
    // Given with '=' too, and after other flags that take values.
    assert.equal(sh(who, `touch ${other}/c && echo wrote`, ['--env', 'A=1', `--rw=${other}`]).stdout, 'wrote\n');
    // --hide covers what a writable directory holds at start.
    writeFileSync(join(who.proj, '.env'), 'API_KEY=1\n');
    assert.equal(sh(who, 'echo "[$(cat .env)]"', ['--hide', '.env']).stdout, '[]\n');
  });

  test(`${who.name}: --rw through a symlink is refused with the path it leads to`, () => {
    const link = join(who.home, 'link-to-proj');
    symlinkSync(who.proj, link);
    const r = sh(who, 'echo ran', ['--rw', link]);
    assert.equal(r.status, 125);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`--rw ${link}: ${link} leads through a symlink to ${who.proj}`));
  });

  test(`${who.name}: the working directory $HOME stays read-only, with a note`, () => {
    const r = sh(who, 'touch here && echo wrote', [], who.home);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`tsjail: note: the working directory ${who.home} is your home: it stays read-only`));
    assert.match(r.stderr, /Read-only file system/);
  });

  test(`${who.name}: --host-fs shares the host as it is, loudly`, () => {
    const r = sh(who, `echo '# added' >> ${who.home}/.bashrc && cat ${who.home}/.netrc`, ['--host-fs']);
    assert.match(r.stderr, /WARNING: --host-fs/);
    assert.equal(r.stdout, 'machine example.com password hunter2\n');
    assert.equal(readFileSync(join(who.home, '.bashrc'), 'utf8'), '# mine\n# added\n');
    writeFileSync(join(who.home, '.bashrc'), '# mine\n');
    const both = sh(who, 'echo ran', ['--host-fs', '--rw', who.proj]);
    assert.equal(both.status, 125);
    assert.match(both.stderr, /--host-fs shares the host as it is: it takes no --ro\/--rw\/--hide rules/);
  });

  test(`${who.name}: -r DIR with --rw is an error (125), not a jail without rules`, () => {
    const r = sh(who, 'echo ran', ['-r', '/', '--rw', who.proj]);
    assert.equal(r.status, 125);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /file rules \(--ro\/--rw\/--hide\/--show\/--noexec\) are for jails on the host's root/);
    assert.doesNotMatch(r.stderr, /internal error|at /);
  });

  test(`${who.name}: --noexec makes exec fail where it applies`, () => {
    copyFileSync('/bin/true', join(who.proj, 'prog'));
    chmodSync(join(who.proj, 'prog'), 0o755);
    if (who.nobody) chownSync(join(who.proj, 'prog'), 65534, 65534);
    assert.equal(tsjail(who, ['--', './prog']).status, 0);
    const r = tsjail(who, ['--noexec', '.', '--', './prog']);
    assert.equal(r.status, 126);
    assert.match(r.stderr, /cannot execute: EACCES/);
    // It stays writable.
    assert.equal(sh(who, 'touch still-writable && echo wrote', ['--noexec', '.']).stdout, 'wrote\n');
  });

  test(`${who.name}: a --rw beneath a hidden directory is there and writable; its hidden siblings stay hidden`, () => {
    const work = join(who.home, '.kube/work');
    const r = sh(who, `touch ${work}/made && ls -A ${who.home}/.kube`, ['--rw', work]);
    assert.equal(r.stdout, 'work\n', r.stderr);
    assert.equal(statSync(join(work, 'made')).uid, who.uid);
    assert.match(sh(who, `touch ${who.home}/.kube/new`, ['--rw', work]).stderr, /Read-only file system/);
  });
}

test('root: the writable working directory is an idmapped bind, so the jail refuses set-id files there; CAP_SYS_ADMIN is refused', () => {
  const who = WHO[0]!;
  const r = sh(who, 'cp /bin/true tool && chmod u+s tool; echo done');
  assert.equal(r.stdout, 'done\n');
  assert.match(r.stderr, /-> EPERM\n {8}decided by: rule "set-id files on host mounts"/);
  assert.equal(statSync(join(who.proj, 'tool')).mode & 0o6000, 0);
  for (const w of WHO) {
    const caps = sh(w, 'echo ran', ['--cap-keep', 'CAP_SYS_ADMIN']);
    assert.equal(caps.status, 125);
    assert.match(caps.stderr, /CAP_SYS_ADMIN cannot be kept in a (root-started jail with binds|jail with file rules)/);
  }
});

test('tsjail lint notes what a policy\'s jail.fs leaves open', () => {
  const policy = join(base, 'fs-policy.ts');
  writeFileSync(policy, `import { definePolicy, allow } from 'tsjail';\nexport default definePolicy({ default: allow(), rules: [], jail: { fs: [{ rw: '${base}' }, { hide: '${base}/x' }] } });\n`);
  const r = spawnSync(process.execPath, [BIN, 'lint', '--policy', policy], { encoding: 'utf8' });
  assert.match(r.stdout, new RegExp(`^note: fs: ${base}/x is hidden inside writable ${base}`, 'm'), r.stderr);
});

test('root: /root is hidden as a whole, and a --rw inside it still appears', () => {
  const inside = mkdtempSync('/root/tsjail-fs-');
  try {
    const r = sh(WHO[0]!, `ls -A /root; touch ${inside}/made && echo wrote`, ['--rw', inside]);
    assert.equal(r.stdout, `${inside.slice(6)}\nwrote\n`, r.stderr);
    assert.ok(existsSync(join(inside, 'made')));
  } finally {
    rmSync(inside, { recursive: true, force: true });
  }
});

test('a symlink swapped in after the rules were resolved cannot redirect a writable bind (ELOOP, nothing runs)', async () => {
  const dir = join(base, 'race');
  const target = join(base, 'race-target');
  mkdirSync(dir);
  mkdirSync(target);
  const marker = join(target, 'written');
  const spec = buildSpawnSpec(['/bin/sh', '-c', `touch ${dir}/written`], undefined, { hostIds: true, fsFlags: [{ rw: dir }] });
  const i = spec.mounts.findIndex((m) => m.kind === 'bind' && m.src === dir);
  assert.ok(i >= 0 && spec.mounts[i]!.rule === `make ${dir} writable (--rw)`);
  // Another jail writing the same workspace replaces it with a link to somewhere else.
  renameSync(dir, `${dir}.old`);
  symlinkSync(target, dir);
  const started = await spawnJailed(spec);
  if (started.ok) await waitFor(started.pid);
  assert.deepEqual(started, { ok: false, step: STEP_MOUNT_BASE + i, errno: 40 /* ELOOP */ });
  assert.ok(!existsSync(marker));
});

for (const who of WHO) {
  test(`${who.name}: a rule whose mount fails is named with its path and its flag`, () => {
    // A FIFO is never a bind's mount point: --ro of one fails in the helper, and nothing runs.
    const r = sh(who, 'echo ran', ['--ro', '~/.git-credentials']);
    assert.equal(r.status, 125);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`tsjail: cannot make ${who.home}/.git-credentials read-only \\(--ro\\): EINVAL`));
  });
}

test('tsjail explain --fs lists the rules and which one decides a path', () => {
  const who = WHO[1]!;
  const r = spawnSync(process.execPath, [BIN, 'explain', '--fs', '--rw', '~/other', '--hide', 'secret.txt', '~/.ssh/id_ed25519', '~/.bashrc', 'x'], {
    encoding: 'utf8', cwd: who.proj, env: { ...process.env, HOME: who.home },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\/ +read-only +\(default: the host is visible read-only\)$/m);
  assert.match(r.stdout, new RegExp(`^${who.home}/other +writable +\\(--rw\\)$`, 'm'));
  assert.match(r.stdout, new RegExp(`^${who.proj}/secret.txt +hidden +\\(--hide\\)$`, 'm'));
  assert.match(r.stdout, new RegExp(`^~/.ssh/id_ed25519 \\(${who.home}/.ssh/id_ed25519\\): decided by ${who.home}/.ssh hidden +\\(default: SSH keys`, 'm'));
  assert.match(r.stdout, new RegExp(`^~/.bashrc \\(${who.home}/.bashrc\\): decided by / read-only +`, 'm'));
  assert.match(r.stdout, new RegExp(`^x \\(${who.proj}/x\\): decided by ${who.proj} writable +\\(default: the working directory\\)`, 'm'));
  const bad = spawnSync(process.execPath, [BIN, 'explain', '--fs', '--show', '~/.bashrc'], { encoding: 'utf8', env: { ...process.env, HOME: who.home } });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--show ~\/.bashrc: no rule hides/);
});
