// Landlock, the second layer of the file rules: the complement of hidden paths computed from the
// directories on their way (and nothing deeper), then real jails as root and rootless: a secret
// created after the jail started stays unreadable, abstract unix sockets and signals stay inside.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { JailError } from '../src/jail/errors';
import type { FsRule, ResolvedFs } from '../src/jail/fsRules';
import { landlockAbi } from '../src/jail/helper';
import { FS, jailLandlock, landlockPlan, MAX_NET_PORTS, MAX_RULES, netLayerPorts, RESTRICT_SELF, SCOPE, type LandlockRule } from '../src/jail/landlock';
import { buildSpawnSpec } from '../src/jail/spec';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: /tmp is writable in every jail, and a refusal inside a writable directory is the mount layer's alone.
const base = mkdtempSync('/var/tmp/tsjail-landlock-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

const rule = (path: string, access: FsRule['access'], exec = access !== 'hide'): FsRule => ({ path, access, exec, source: 'test' });
const fsOf = (...rules: FsRule[]): ResolvedFs => ({ rules: [rule('/', 'ro'), ...rules].sort((a, b) => (a.path < b.path ? -1 : 1)), notes: [] });
const rightsAt = (rules: readonly LandlockRule[], path: string): number | undefined => rules.find((r) => r.path === path)?.rights;
/** What a path gets: the union of the rules at it and above it (Landlock's own arithmetic). */
const effective = (rules: readonly LandlockRule[], path: string): number =>
  rules.filter((r) => r.path === '/' || path === r.path || path.startsWith(`${r.path}/`)).reduce((m, r) => m | r.rights, 0);
const beneath = (rules: readonly LandlockRule[], dir: string): LandlockRule[] => rules.filter((r) => r.path === dir || r.path.startsWith(`${dir}/`));

/** A home with secrets, a public file, a symlink to a secret and a workspace. */
function tree(): { t: string; home: string; ws: string } {
  const t = mkdtempSync(join(base, 'tree-'));
  const home = join(t, 'home');
  for (const d of ['.ssh', '.config/gcloud', '.config/other/deep', 'docs']) mkdirSync(join(home, d), { recursive: true });
  writeFileSync(join(home, '.ssh/id_ed25519'), 'key');
  writeFileSync(join(home, 'pub'), 'pub');
  symlinkSync('.ssh', join(home, 'link-to-ssh'));
  const ws = join(t, 'ws');
  mkdirSync(ws);
  return { t, home, ws };
}

test('complement: siblings on the way to a hidden path get reads, the hidden path and symlinks none, and only that way is listed', () => {
  const { t, home, ws } = tree();
  const listed: string[] = [];
  const list = (dir: string): string[] => { listed.push(dir); return dir.startsWith(t) ? readdirSync(dir) : []; };
  const fs = fsOf(rule(join(home, '.ssh'), 'hide'), rule(join(home, '.config/gcloud'), 'hide'), rule(ws, 'rw'));
  const { ruleset, uncarved } = landlockPlan(fs, { abi: 7, privateDev: true, list });
  const read = FS.READ_FILE | FS.READ_DIR | FS.EXECUTE;
  assert.equal(rightsAt(ruleset.rules, join(home, 'pub')), read);
  assert.equal(rightsAt(ruleset.rules, join(home, 'docs')), read);
  assert.equal(rightsAt(ruleset.rules, join(home, '.config/other')), read, 'a sibling one level further down the way');
  assert.deepEqual(beneath(ruleset.rules, join(home, '.ssh')), [], 'nothing at or beneath a hidden path');
  assert.deepEqual(beneath(ruleset.rules, join(home, '.config/gcloud')), []);
  assert.equal(rightsAt(ruleset.rules, join(home, 'link-to-ssh')), undefined, 'a symlink gets no rule: its target decides');
  assert.equal(rightsAt(ruleset.rules, '/'), FS.READ_DIR, 'names stay listable on the way (and beneath it)');
  assert.ok((rightsAt(ruleset.rules, ws)! & (FS.WRITE_FILE | FS.MAKE_REG | FS.REMOVE_FILE | FS.TRUNCATE | FS.REFER)) !== 0);
  assert.equal(rightsAt(ruleset.rules, ws)! & (FS.MAKE_CHAR | FS.MAKE_BLOCK), 0, 'never a device node');
  assert.deepEqual(uncarved, []);
  // Only the directories on the way were read: never a tree beneath a grant.
  assert.deepEqual([...new Set(listed)].filter((d) => d.startsWith(t)), [t, home, join(home, '.config')]);
  assert.ok(!listed.includes(ws) && !listed.includes(join(home, 'docs')) && !listed.includes(join(home, '.config/other')));
  // Deterministic: sorted, and the same twice.
  assert.deepEqual(ruleset.rules.map((r) => r.path), [...ruleset.rules.map((r) => r.path)].sort());
  assert.deepEqual(landlockPlan(fs, { abi: 7, privateDev: true, list }).ruleset, ruleset);
});

test('complement from the host\'s listings: planned once while the directories on the way are unchanged, again when one changes (even with its mtime set back)', () => {
  const { home } = tree();
  const fs = fsOf(rule(join(home, '.ssh'), 'hide'));
  const first = landlockPlan(fs, { abi: 7, privateDev: true });
  assert.ok(rightsAt(first.ruleset.rules, join(home, 'pub')) !== undefined);
  assert.equal(landlockPlan(fs, { abi: 7, privateDev: true }), first, 'the same plan, not planned again');
  writeFileSync(join(home, 'new-file'), 'x');
  const second = landlockPlan(fs, { abi: 7, privateDev: true });
  assert.notEqual(second, first);
  assert.ok(rightsAt(second.ruleset.rules, join(home, 'new-file')) !== undefined, 'a file added on the way gets its grant');
  // An entry added, then the directory's mtime set back: its ctime still tells.
  const before = statSync(home);
  writeFileSync(join(home, 'another'), 'x');
  utimesSync(home, before.atime, before.mtime);
  assert.ok(rightsAt(landlockPlan(fs, { abi: 7, privateDev: true }).ruleset.rules, join(home, 'another')) !== undefined);
});

test('complement: noexec loses EXECUTE there only; a refusal inside a writable directory is reported, the directory granted whole', () => {
  const { t, home, ws } = tree();
  const list = (dir: string): string[] => (dir.startsWith(t) ? readdirSync(dir) : []);
  const { ruleset, uncarved } = landlockPlan(fsOf(rule(join(home, 'docs'), 'ro', false), rule(ws, 'rw'), rule(join(ws, '.env'), 'hide')), { abi: 7, privateDev: true, list });
  assert.equal(effective(ruleset.rules, join(home, 'docs/x')), FS.READ_FILE | FS.READ_DIR);
  assert.equal(effective(ruleset.rules, join(home, 'pub')), FS.READ_FILE | FS.READ_DIR | FS.EXECUTE);
  assert.deepEqual(uncarved, [{ path: join(ws, '.env'), inside: ws }]);
  assert.ok(rightsAt(ruleset.rules, ws)! & FS.READ_FILE);
});

test('the ruleset follows the kernel\'s ABI: rights, scopes and audit flags it does not know are never asked for', () => {
  const fs = fsOf(rule('/srv/ws', 'rw'));
  const v1 = landlockPlan(fs, { abi: 1, privateDev: true, list: () => [] }).ruleset;
  assert.equal(v1.handledFs, (1 << 13) - 1);
  assert.ok(v1.rules.every((r) => (r.rights & ~v1.handledFs) === 0));
  assert.equal(v1.scoped, 0);
  assert.equal(v1.restrictFlags, 0);
  const v6 = landlockPlan(fs, { abi: 6, privateDev: true, list: () => [] }).ruleset;
  assert.equal(v6.scoped, SCOPE.SIGNAL | SCOPE.ABSTRACT_UNIX_SOCKET);
  assert.equal(v6.handledFs & FS.IOCTL_DEV, FS.IOCTL_DEV);
  assert.equal(landlockPlan(fs, { abi: 7, privateDev: true, list: () => [] }).ruleset.restrictFlags, RESTRICT_SELF.LOG_NEW_EXEC_ON);
  // No file rules (--host-fs, -r DIR): scopes only.
  assert.deepEqual(landlockPlan(undefined, { abi: 7, privateDev: true }).ruleset, { handledFs: 0, scoped: 3, restrictFlags: 2, rules: [] });
  // The host's devpts and /dev/shm are other sessions': writable only where the jail has its own /dev.
  const shared = landlockPlan(fs, { abi: 7, privateDev: false, list: () => [] }).ruleset;
  assert.equal(rightsAt(shared.rules, '/dev/pts'), undefined);
  assert.equal(rightsAt(shared.rules, '/dev/shm'), undefined);
  assert.equal(rightsAt(shared.rules, '/dev/null'), FS.WRITE_FILE | FS.TRUNCATE);
});

test('a mount destination holds what the mount gives, even one the host does not have; absurdly many rules are an error', () => {
  const fs = fsOf(rule('/srv/home/.ssh', 'hide'));
  const list = (dir: string): string[] => (dir === '/srv/home' ? ['.ssh', 'a'] : []);
  const { ruleset } = landlockPlan(fs, { abi: 7, privateDev: true, list, mounts: [{ path: '/srv/home/mnt', writable: true }] });
  assert.ok(rightsAt(ruleset.rules, '/srv/home/mnt')! & FS.MAKE_REG);
  assert.ok(rightsAt(ruleset.rules, '/srv/home/a')! & FS.READ_FILE);
  // A mount on a path a rule names (the mount layer's mask of a hidden path) grants nothing there.
  const masked = landlockPlan(fs, { abi: 7, privateDev: true, list, mounts: [{ path: '/srv/home/.ssh', writable: false }] }).ruleset;
  assert.deepEqual(beneath(masked.rules, '/srv/home/.ssh'), []);
  const many = (dir: string): string[] => (dir === '/srv/big' ? Array.from({ length: MAX_RULES + 10 }, (_, i) => `f${i}`) : []);
  assert.throws(() => landlockPlan(fsOf(rule('/srv/big/secret', 'hide')), { abi: 7, privateDev: true, list: many }),
    (e: unknown) => e instanceof JailError && /\/srv\/big has \d+ entries beside a hidden path/.test(e.message));
});

// Real jails: HOME is a directory of the test's, so the default secrets are the test's own.
const abi = landlockAbi();
const noLandlock = abi >= 6 ? false : `this kernel's Landlock ABI is ${abi} (scopes need 6)`;

function jailHome(owner: number): { home: string; ws: string } {
  const d = mkdtempSync(join(base, 'jail-'));
  chmodSync(d, 0o755);
  const home = join(d, 'home');
  const ws = join(d, 'ws');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh/id_ed25519'), 'old key\n', { mode: 0o644 });
  mkdirSync(ws);
  for (const p of [d, home, join(home, '.ssh'), join(home, '.ssh/id_ed25519'), ws]) chownSync(p, owner, owner);
  chmodSync(ws, 0o777); // a root-started jail is a private id range: the mode lets it write, Landlock decides
  chmodSync(home, 0o777); // ...and here Landlock alone refuses
  return { home, ws };
}

function start(args: readonly string[], script: string, env: NodeJS.ProcessEnv, cwd: string, asNobody: boolean): { child: ChildProcess; out: () => string; err: () => string; line: (re: RegExp) => Promise<void>; done: Promise<number> } {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args, '--', 'sh', '-c', script];
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) if (w.re.test(out)) w.resolve(); else waiters.push(w);
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const line = (re: RegExp): Promise<void> => (re.test(out) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve })));
  return { child, out: () => out, err: () => err, line, done };
}

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';
  for (const mode of [[], ['--no-namespaces']]) {
    const how = mode.length ? 'without namespaces' : 'in the default jail';
    test(`${who}, ${how}: a secret created after the jail started is unreadable (Landlock); the workspace works`, { skip: abi < 1 ? 'no Landlock' : false }, async () => {
      const owner = asNobody ? 65534 : 0;
      const { home, ws } = jailHome(owner);
      // Waits (by existence, which Landlock does not hide) until the test has made the secrets, then reads them.
      const script = `echo started; while [ ! -e ~/.aws/done ]; do sleep 0.02; done; cat ~/.aws/credentials; cat ~/.ssh/id_new; cat ~/.ssh/id_ed25519; echo built > ${ws}/out && cat ${ws}/out; echo finished`;
      const j = start(mode, script, { HOME: home }, ws, asNobody);
      await j.line(/started\n/);
      // Made from outside, readable by anyone as far as file modes go: only Landlock refuses them.
      mkdirSync(join(home, '.aws'), { mode: 0o755 });
      writeFileSync(join(home, '.aws/credentials'), 'aws_secret_access_key=LATE\n', { mode: 0o644 });
      writeFileSync(join(home, '.ssh/id_new'), 'new key\n', { mode: 0o644 });
      writeFileSync(join(home, '.aws/done'), '');
      assert.equal(await j.done, 0, j.err());
      assert.equal(j.out(), 'started\nbuilt\nfinished\n');
      // Made after start: only Landlock can refuse it.
      assert.ok(j.err().includes(`${join(home, '.aws/credentials')}: Permission denied`), j.err());
      // Under ~/.ssh, which existed at start: the mount layer's empty directory, or Landlock without one.
      for (const f of ['.ssh/id_new', '.ssh/id_ed25519']) {
        const why = mode.length ? 'Permission denied' : 'No such file or directory';
        assert.ok(j.err().includes(`${join(home, f)}: ${why}`), `${f}\n${j.err()}`);
      }
    });
  }
}

/** A listener on an abstract unix socket on the host; resolves once it listens. */
async function abstractListener(name: string, asNobody: boolean): Promise<ChildProcess> {
  const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind("\\0${name}")\ns.listen(5)\nprint("listening",flush=True)\nwhile True:\n c,_=s.accept(); c.sendall(b"hello\\n"); c.close()`;
  const argv = [...(asNobody ? NOBODY : []), '/usr/bin/python3', '-c', py];
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
  return p;
}

const connectScript = (name: string): string =>
  `/usr/bin/python3 -c 'import socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect("\\0${name}"); print("reached", s.recv(9))\nexcept OSError as e: print("refused", e.errno)'`;

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';
  test(`${who}: an abstract unix socket outside the jail is unreachable, one of its own works (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET)`, { skip: noLandlock }, async () => {
    const name = `tsjail-landlock-${process.pid}-${asNobody ? 'n' : 'r'}`;
    const host = await abstractListener(name, asNobody);
    try {
      // The control: outside any jail it is reachable.
      assert.match(spawnSync('sh', ['-c', connectScript(name)], { encoding: 'utf8' }).stdout, /reached b'hello/);
      // --host-fs: no file rules, so unix sockets are the kernel's and Landlock's alone (with file
      // rules tsjail refuses every abstract name no unix:@NAME rule allows first: EACCES, unix-rules.test.ts).
      for (const mode of [['--host-fs'], ['--host-fs', '--no-namespaces']]) {
        const inner = `${name}-inner`;
        const script = `${connectScript(name)}; /usr/bin/python3 -c 'import socket,os\ns=socket.socket(socket.AF_UNIX)\ns.bind("\\0${inner}")\ns.listen(1)\nc=socket.socket(socket.AF_UNIX)\nc.connect("\\0${inner}")\nprint("own", "reached")'`;
        const r = spawnSync(...argvOf(mode, script, asNobody), { encoding: 'utf8', cwd: '/', input: '' });
        assert.equal(r.stdout, `refused ${1}\nown reached\n`, `${mode.join(' ')}: ${r.stderr}`);
      }
      const ruled = spawnSync(...argvOf([], connectScript(name), asNobody), { encoding: 'utf8', cwd: '/', input: '' });
      assert.equal(ruled.stdout, 'refused 13\n', ruled.stderr);
    } finally {
      host.kill('SIGKILL');
    }
  });

  test(`${who}, without namespaces: a host process cannot be signalled (EPERM), the jail's own can (LANDLOCK_SCOPE_SIGNAL)`, { skip: noLandlock }, async () => {
    const argv = [...(asNobody ? NOBODY : []), 'sleep', '1000'];
    const victim = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    // With setpriv, the sleep is setpriv's exec'd self: same pid.
    try {
      const script = `kill -TERM ${victim.pid}; echo host=$?; sleep 1000 & kill -TERM $! && wait $!; echo own=$?`;
      const r = spawnSync(...argvOf(['--no-namespaces'], script, asNobody), { encoding: 'utf8', cwd: '/', input: '' });
      assert.equal(r.stdout, 'host=1\nown=143\n', r.stderr);
      assert.match(r.stderr, /kill.*(Operation not permitted|EPERM)/i);
      assert.equal(victim.exitCode, null, 'the host process lives');
      assert.equal(victim.signalCode, null);
    } finally {
      victim.kill('SIGKILL');
    }
  });
}

function argvOf(mode: readonly string[], script: string, asNobody: boolean): [string, string[]] {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...mode, '--', 'sh', '-c', script];
  return [argv[0]!, argv.slice(1)];
}

for (const asNobody of [false, true]) {
  test(`${asNobody ? 'rootless' : 'as root'}, without namespaces: a redirected stdout stays re-openable (/dev/stdout), its neighbours stay read-only`, { skip: abi < 1 ? 'no Landlock' : false }, () => {
    const d = mkdtempSync(join(base, 'stdio-'));
    chmodSync(d, 0o777); // file modes allow it all: Landlock decides
    const out = join(d, 'out.txt');
    writeFileSync(out, '');
    chmodSync(out, 0o666);
    const fd = openSync(out, 'w');
    try {
      const r = spawnSync(...argvOf(['--no-namespaces'], `echo again > /dev/stdout; echo planted > ${d}/neighbour`, asNobody), { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', cwd: '/' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${d}/neighbour: Permission denied`));
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(out, 'utf8'), 'again\n');
    assert.ok(!existsSync(join(d, 'neighbour')));
  });
}

test('an allowlist whose TCP rules all name ports gets Landlock connect rules for them (ABI 4), a wide one none', () => {
  assert.deepEqual(netLayerPorts([{ from: 443, to: 443 }, { from: 8080, to: 8082 }], 7), [443, 8080, 8081, 8082]);
  assert.equal(netLayerPorts([{ from: 443, to: 443 }], 3), undefined, 'no network rules before ABI 4');
  assert.equal(netLayerPorts([{ from: 1, to: MAX_NET_PORTS + 1 }], 7), undefined, 'too many ports: the supervisor alone');
  assert.equal(netLayerPorts(undefined, 7), undefined);
  assert.deepEqual(netLayerPorts([], 7), [], 'no TCP rule (a UDP-only allowlist): the jail connects to no TCP port by itself');
  assert.deepEqual(jailLandlock(undefined, { mounts: [], privateDev: false, tcpConnectPorts: [{ from: 22, to: 22 }] }, 7).landlock?.netConnectPorts, [22]);
  // Through the jail options: a port on every TCP rule, or no layer at all.
  const ports = (allow: string[]): readonly number[] | undefined => buildSpawnSpec(['true'], undefined, { net: { allow }, hostIds: true }, undefined).landlock?.netConnectPorts;
  if (abi >= 4) {
    assert.deepEqual(ports(['127.0.0.2:8080', 'example.com:443/tcp', '10.0.0.1/udp']), [443, 8080]);
    assert.equal(ports(['127.0.0.2']), undefined, 'a rule without a port: every port may be right');
  }
});

for (const asNobody of [false, true]) {
  test(`${asNobody ? 'rootless' : 'as root'}: with Landlock's connect rules in place, the allowed connect (made by tsjail) still works`, { skip: abi < 4 ? 'no Landlock network rules' : false }, async () => {
    const server = spawn('/usr/bin/python3', ['-c', 'import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.2", 47811)); s.listen(8); print("up", flush=True)\nwhile True: c,_=s.accept(); c.sendall(b"hi\\n"); c.close()'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
    try {
      const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--allow-net', '127.0.0.2:47811', '--', '/usr/bin/python3', '-c', 'import socket; s=socket.create_connection(("127.0.0.2", 47811)); print(s.recv(9).decode(), end="")'];
      const r = spawnSync(argv[0]!, argv.slice(1), { cwd: '/var/tmp', encoding: 'utf8', timeout: 30000 });
      assert.equal(r.stdout, 'hi\n', r.stderr);
      assert.equal(r.status, 0, r.stderr);
    } finally {
      server.kill();
    }
  });
}
