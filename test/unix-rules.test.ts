// Unix sockets under the rules: the decisions (pure), then real jails, as root and rootless,
// with listeners on the host: one in the workspace (writable: reachable), one outside it under
// /var/tmp (read-only to the jail: refused and explained), abstract ones (refused unless
// allowed). A Python listener records every connection with the peer's SO_PEERCRED.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { JailError } from '../src/jail/errors';
import { resolveFs } from '../src/jail/fsRules';
import { netFromFlags, resolveNet } from '../src/jail/netRules';
import { decideUnix, parseUnixRule, unixRefusalReason, unixRulesOf } from '../src/jail/unixRules';

// ---- rules, pure ----

const ctx = { home: '/home/u', cwd: '/work/proj', root: false };

test('unix rules: a path (made canonical) or an abstract name; bad ones name the rule and the syntax', () => {
  assert.deepEqual(parseUnixRule('unix:/run/foo.sock', ctx).target, { kind: 'path', path: '/run/foo.sock' });
  assert.deepEqual(parseUnixRule('unix:@/tmp/.X11-unix/X0', ctx).target, { kind: 'abstract', name: '/tmp/.X11-unix/X0' });
  assert.deepEqual(parseUnixRule('unix:~/s.sock', ctx).target, { kind: 'path', path: '/home/u/s.sock' });
  for (const bad of ['unix:', 'unix:@', 'unix:rel.sock']) {
    assert.throws(() => parseUnixRule(bad, ctx), (e: Error) => e instanceof JailError && e.message.includes(`'${bad}'`) && /unix:\/PATH/.test(e.message), bad);
  }
  assert.deepEqual(unixRulesOf({ allow: ['127.0.0.1:80', 'unix:@x'] }, ctx).map((r) => r.text), ['unix:@x']);
});

test('unix rules leave IP as it is: --allow-net unix:... alone keeps the host\'s network', () => {
  assert.deepEqual(resolveNet({ allow: ['unix:@x'] }), { kind: 'host' });
  assert.equal(resolveNet({ allow: ['unix:@x', '127.0.0.2'] }).kind, 'allowlist');
  assert.equal(resolveNet({ allow: [] }).kind, 'allowlist', 'an empty allowlist still allows nothing');
  assert.deepEqual(netFromFlags('host', ['unix:@x']), { allow: ['unix:@x'] });
  assert.throws(() => netFromFlags('none', ['unix:@x']), /--net none and --allow-net unix/);
  assert.throws(() => netFromFlags('host', ['unix:@x', '1.2.3.4']), /contradict/);
});

test('decisions: writable and private paths, unix rules and mounts allow; read-only and hidden refuse; abstract only by name', () => {
  const fs = resolveFs([{ hide: '/work/proj/secret' }], ctx);
  const scope = { rules: ['unix:/run/ok.sock', 'unix:/run/dir', 'unix:@bus'].map((r) => parseUnixRule(r, ctx)), fs, mounts: ['/mnt/bound'] };
  assert.equal(decideUnix(scope, '/work/proj/s.sock').allowed, true, 'the workspace');
  assert.equal(decideUnix(scope, '/tmp/x.sock').allowed, true, 'the private /tmp');
  assert.equal(decideUnix(scope, '/run/ok.sock').rule?.text, 'unix:/run/ok.sock');
  assert.equal(decideUnix(scope, '/run/dir/a/b.sock').allowed, true, 'a directory rule covers what is beneath');
  assert.equal(decideUnix(scope, '/run/ok.sock2').allowed, false, 'a path rule is not a prefix');
  assert.equal(decideUnix(scope, '/mnt/bound/s').allowed, true);
  const ro = decideUnix(scope, '/var/run/docker.sock');
  assert.equal(ro.allowed, false);
  assert.match(unixRefusalReason(ro, '/var/run/docker.sock'), /^\/ is read-only \(default: the host is visible read-only\)/);
  const hidden = decideUnix(scope, '/work/proj/secret/s.sock');
  assert.equal(hidden.allowed, false);
  assert.match(unixRefusalReason(hidden, '/work/proj/secret/s.sock'), /\/work\/proj\/secret is hidden \(policy hide\)/);
  assert.equal(decideUnix(scope, '@bus').allowed, true);
  assert.equal(decideUnix(scope, '@other').allowed, false);
  assert.equal(decideUnix({ rules: [] }, '/work/proj/s.sock').allowed, false, 'without file rules only unix: rules allow');
});

// ---- real jails ----

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Under /var/tmp: the jail's /tmp is its own, and /var/tmp is the host's, read-only to the jail.
const base = mkdtempSync('/var/tmp/tsjail-unix-');
chmodSync(base, 0o755);
// Same length, so that a half-flipped path names neither socket.
const ws = join(base, 'work'), outside = join(base, 'else');
for (const d of [ws, outside]) { mkdirSync(d); chmodSync(d, 0o777); }
const RACE = join(base, 'unix-race');
execFileSync('cc', ['-O2', '-pthread', '-o', RACE, join(REPO_ROOT, 'test/helpers/unix-race.c')]);
const ALLOWED = join(ws, 'a.sock'), REFUSED = join(outside, 'r.sock');
const ABSTRACT = `tsjail-unix-test-${process.pid}`;
// On the host's /tmp, as ssh-agent and tmux put theirs: not the jail's private /tmp.
const HOST_TMP = `/tmp/tsjail-unix-host-${process.pid}.sock`;

/** Listens on each path (or @name); prints "up", then "accept PATH uid gid pid" per connection. */
const LISTENER = `
import os, selectors, socket, struct, sys
sel = selectors.DefaultSelector()
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind('\\0' + p[1:] if p.startswith('@') else p)
    if not p.startswith('@'): os.chmod(p, 0o777)
    s.listen(64); sel.register(s, selectors.EVENT_READ, p)
print('up', flush=True)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        pid, uid, gid = struct.unpack('iII', c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        print('accept', key.data, uid, gid, pid, flush=True)
        c.close()
`;
let listener: ChildProcess;
let accepted = '';
const acceptsOf = (path: string): string[][] => accepted.split('\n').filter((l) => l.startsWith(`accept ${path} `)).map((l) => l.split(' ').slice(2));

before(async () => {
  listener = spawn('python3', ['-u', '-c', LISTENER, ALLOWED, REFUSED, `@${ABSTRACT}`, HOST_TMP], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => listener.stdout!.on('data', (d: Buffer) => { accepted += d.toString(); if (accepted.startsWith('up')) resolve(); }));
});
after(() => { listener.kill(); rmSync(base, { recursive: true, force: true }); rmSync(HOST_TMP, { force: true }); });

interface Run { status: number | null; stdout: string; stderr: string }
function tsjail(args: string[], asNobody: boolean): Promise<Run> {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: ws, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60000);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));

/** Connects to each path (or @name) in turn and prints what came of it. */
const CONNECT = `
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect('\\0' + p[1:] if p.startswith('@') else p); print(p, 'connected')
    except OSError as e:
        print(p, e.strerror)
`;

const MODES = [{ name: 'as root', nobody: false }, { name: 'rootless', nobody: true }];

/** In the jail: a listener on PATH and a client connecting to it (the jail's own socket); prints LABEL and what came of it. */
const OWN = `
import os, socket, sys
p, label = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(p); s.listen(1)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    c.connect(p); print(label, 'connected')
except OSError as e:
    print(label, e.strerror)
os.unlink(p)
`;

/** In the jail: datagrams by sendto and sendmsg to its own socket at PATH, and to REFUSED. */
const DGRAM = `
import os, socket, sys
p, refused = sys.argv[1], sys.argv[2]
r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); r.bind(p)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b'by sendto', p); s.sendmsg([b'by sendmsg'], [], 0, p)
print(r.recv(100).decode(), r.recv(100).decode())
try:
    s.sendto(b'x', refused); print('refused reached')
except OSError as e:
    print('refused', e.strerror)
os.unlink(p)
`;

for (const mode of MODES) {
  test(`${mode.name}: datagrams by sendto and sendmsg reach the jail's own socket, not one outside`, async () => {
    const r = await tsjail(['--', 'python3', '-c', DGRAM, join(ws, 'd.sock'), REFUSED], mode.nobody);
    assert.equal(r.stdout, 'by sendto by sendmsg\nrefused Permission denied\n', r.stderr);
    assert.match(r.stderr, new RegExp(`sendto\\(unix socket ${REFUSED}\\) -> EACCES`));
  });
}

for (const mode of [...MODES.map((m) => ({ ...m, args: [] as string[] })), { name: 'as root without namespaces', nobody: false, args: ['--no-namespaces'] }, { name: 'rootless without namespaces', nobody: true, args: ['--no-namespaces'] }]) {
  test(`${mode.name}: the jail's own sockets (its /tmp or TMPDIR, the workspace) are reached, the host's outside (its /tmp too) are not`, async () => {
    const own = join(ws, 'own.sock');
    // Without a mount namespace /tmp is the host's (read-only): the jail's own temporary files are in its TMPDIR.
    const r = await tsjail([...mode.args, '--', 'sh', '-c', `python3 -c "$1" \${TMPDIR:-/tmp}/own.sock tmp && python3 -c "$1" ${own} workspace && python3 -c "$2" ${REFUSED} ${HOST_TMP}`, 'sh', OWN, CONNECT], mode.nobody);
    const hostTmp = mode.args.length ? 'Permission denied' : 'No such file or directory';
    assert.equal(r.stdout, `tmp connected\nworkspace connected\n${REFUSED} Permission denied\n${HOST_TMP} ${hostTmp}\n`, r.stderr);
    if (mode.args.length) assert.ok(r.stderr.includes(`connect(unix socket ${HOST_TMP}) -> EACCES\n        decided by: /tmp is read-only (default: the host's /tmp, not a private one, here)`), r.stderr);
  });
}

for (const mode of MODES) {
  test(`${mode.name}: a socket in the workspace is reached, one outside it is refused (EACCES) and explained, a unix: rule allows it`, async () => {
    const report = join(base, `report-${mode.nobody ? 'rootless' : 'root'}.json`);
    writeFileSync(report, '');
    chmodSync(report, 0o666);
    const refusedBefore = acceptsOf(REFUSED).length;
    const r = await tsjail(['--report', report, '--', 'python3', '-c', CONNECT, ALLOWED, 'a.sock', REFUSED, join(outside, 'missing.sock'), '/etc/passwd'], mode.nobody);
    assert.equal(r.stdout, [
      `${ALLOWED} connected`, 'a.sock connected', `${REFUSED} Permission denied`, `${join(outside, 'missing.sock')} No such file or directory`, '/etc/passwd Connection refused', '',
    ].join('\n'), r.stderr);
    assert.ok(r.stderr.includes(`connect(unix socket ${REFUSED}) -> EACCES\n        decided by: / is read-only (default: the host is visible read-only): a unix socket is reached under a writable path or by a unix: rule\n        to allow exactly this: --allow-net unix:${REFUSED}`), r.stderr);
    assert.doesNotMatch(r.stderr, /missing\.sock|passwd/, 'what is not there (or not a socket) is the kernel\'s answer, not a refusal');
    const rec = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((x) => x.net);
    assert.equal(rec.action, 'EACCES');
    assert.equal(rec.net.destination, `unix socket ${REFUSED}`);
    assert.equal(rec.suggestion, `--allow-net unix:${REFUSED}`);
    const allowed = await tsjail(['--allow-net', `unix:${REFUSED}`, '--', 'python3', '-c', CONNECT, REFUSED], mode.nobody);
    assert.equal(allowed.stdout, `${REFUSED} connected\n`, allowed.stderr);
    await settle();
    assert.equal(acceptsOf(REFUSED).length, refusedBefore + 1, 'reached once: with the rule');
  });

  test(`${mode.name}: --log reports a refused unix socket but does not reach it (tsjail cannot connect as the jail would there)`, async () => {
    const before = acceptsOf(REFUSED).length;
    const r = await tsjail(['--log', '--allow-net', '127.0.0.2:1', '--', 'python3', '-c', CONNECT, REFUSED], mode.nobody);
    assert.equal(r.stdout, `${REFUSED} Permission denied\n`, r.stderr);
    assert.match(r.stderr, /connect\(unix socket .*\) -> EACCES/);
    await settle();
    assert.equal(acceptsOf(REFUSED).length, before, 'never reached');
  });

  test(`${mode.name}: abstract sockets are refused unless a unix:@NAME rule allows them`, async () => {
    const before = acceptsOf(`@${ABSTRACT}`).length;
    const r = await tsjail(['--', 'python3', '-c', CONNECT, `@${ABSTRACT}`], mode.nobody);
    assert.equal(r.stdout, `@${ABSTRACT} Permission denied\n`, r.stderr);
    assert.match(r.stderr, new RegExp(`connect\\(unix socket @${ABSTRACT}\\) -> EACCES\\n {8}decided by: an abstract unix socket is reached only by a unix:@NAME rule\\n {8}to allow exactly this: --allow-net unix:@${ABSTRACT}`));
    const allowed = await tsjail(['--allow-net', `unix:@${ABSTRACT}`, '--', 'python3', '-c', CONNECT, `@${ABSTRACT}`, '@tsjail-unix-other'], mode.nobody);
    assert.equal(allowed.stdout, `@${ABSTRACT} connected\n@tsjail-unix-other Permission denied\n`, allowed.stderr);
    await settle();
    assert.equal(acceptsOf(`@${ABSTRACT}`).length, before + 1);
  });

  test(`${mode.name}: a thread racing the path, or a symlink flipped between the sockets, never reaches the refused listener`, async () => {
    const refusedBefore = acceptsOf(REFUSED).length, allowedBefore = acceptsOf(ALLOWED).length;
    for (const how of ['path', 'symlink']) {
      const args = how === 'path' ? [RACE, 'path', ALLOWED, REFUSED, '300'] : [RACE, 'symlink', ALLOWED, REFUSED, '300', join(ws, 'link.sock')];
      const r = await tsjail(['--', ...args], mode.nobody);
      const m = /^ok (\d+) refused (\d+) other (\d+)\n$/.exec(r.stdout);
      assert.ok(m, `${how}: ${r.stdout}${r.stderr}`);
      assert.ok(Number(m[1]) > 0, `${how}: the allowed socket was reached: ${r.stdout}`);
    }
    await settle();
    assert.equal(acceptsOf(REFUSED).length, refusedBefore, 'the refused listener was reached');
    assert.ok(acceptsOf(ALLOWED).length > allowedBefore);
  });

  test(`${mode.name}: the peer's SO_PEERCRED shows the jail's ids, not tsjail's`, async () => {
    const before = acceptsOf(ALLOWED).length;
    const r = await tsjail(['--', 'sh', '-c', `python3 -c '${CONNECT.replace(/'/g, '"')}' ${ALLOWED} >/dev/null; cat /proc/self/uid_map`], mode.nobody);
    await settle();
    const got = acceptsOf(ALLOWED).slice(before);
    assert.equal(got.length, 1, r.stderr);
    const [uid, gid] = got[0]!.map(Number);
    if (mode.nobody) {
      assert.deepEqual([uid, gid], [65534, 65534], 'rootless: the jail runs as the user who ran tsjail');
    } else {
      // The jail's root is the first id of its private range (uid_map: "0 BASE 65536").
      const hostBase = Number(r.stdout.trim().split(/\s+/)[1]);
      assert.ok(hostBase >= 2 ** 31, r.stdout);
      assert.deepEqual([uid, gid], [hostBase, hostBase], 'as root: the jail\'s host ids, not 0');
    }
  });
}
