// tsjail learn's `jail` section: directories written outside the default writable places become
// `fs` rw rules (never /, home or a secret, whatever a symlink says), and with --learn-net the
// destinations reached become `net.allow`; the learned policy then runs the same program (as root
// and rootless) while another destination is refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { countingServers, runAsync, type Run } from './helpers/servers';
import { resolveFs } from '../src/jail/fsRules';
import { emptyLearned, learnedToTs, readLearned } from '../src/jail/learn';
import { directoryToLearn, outermostDirectories } from '../src/jail/learnJail';
import { loadPolicyFile } from '../src/formats/load';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const base = mkdtempSync('/var/tmp/tsjail-learnjail-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

// ---- pure ----

test('the directory learned for a write: the nearest existing one; nothing for the defaults; never /, home, above it or a secret', () => {
  const home = join(base, 'pure-home'), cwd = join(home, 'proj'), out = join(base, 'pure-out');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(cwd);
  mkdirSync(join(out, 'sub'), { recursive: true });
  const ctx = { home, cwd, root: false };
  const files = { fs: resolveFs([{ rw: join(out, 'sub') }], ctx), ctx, otherMounts: [] };
  assert.equal(directoryToLearn(join(cwd, 'a.txt'), files), undefined, 'the working directory is writable by default');
  assert.equal(directoryToLearn('/tmp/x', files), undefined, '/tmp is the jail\'s own');
  assert.deepEqual(directoryToLearn(join(out, 'f'), files), { dir: out, refused: true });
  assert.deepEqual(directoryToLearn(join(out, 'new/deeper/f'), files), { dir: out, refused: true }, 'a directory that does not exist cannot be a rule');
  assert.deepEqual(directoryToLearn(join(out, 'sub/f'), files), { dir: join(out, 'sub'), refused: false }, 'a --rw of the learning run is learned too');
  for (const [path, why] of [
    [join(home, '.bashrc'), /its directory .* is your home or above, not learned/],
    ['/x', /its directory \/ is \/, not learned/],
    [join(home, '.ssh/id'), /hidden \(SSH keys.*\), not learned/],
    [join(base, 'pure-home.txt'), /is your home or above/],
  ] as const) {
    const got = directoryToLearn(path, files);
    assert.ok(got && 'why' in got && why.test(got.why), `${path}: ${JSON.stringify(got)}`);
  }
  assert.deepEqual(outermostDirectories(['/a/b', '/a', '/c/d', '/a/b/c', '/ab', '/c/d']), ['/a', '/ab', '/c/d']);
});

test('a learned record\'s writes and net are checked before they become policy code', () => {
  const record = (extra: object): string => `/* tsjail-learned: ${JSON.stringify({ ...emptyLearned(), ...extra })} */`;
  for (const [extra, why] of [
    [{ writes: ['relative/dir'] }, /writes is not a list of absolute directories/],
    [{ writes: ['/'] }, /writes is not/],
    [{ writes: ['/a/../etc'] }, /writes is not/],
    [{ writes: ['/a\nb'] }, /writes is not/],
    [{ net: ['1.2.3.4:80/tcp\'] }), evil(\''] }, /net is not a list/],
    [{ net: ['*'] }, /net is not a list/],
    [{ net: [':443/tcp'] }, /net is not a list/],
  ] as const) {
    assert.throws(() => readLearned(record(extra), 'x.ts'), why, JSON.stringify(extra));
  }
  const l = readLearned(record({ abis: { x86_64: { read: { count: 1 } } }, late: true, writes: ['/srv/a*/b', '/srv/a*'], net: ['pkg.test:443/tcp', '[::1]:53/udp'] }), 'x.ts');
  const ts = learnedToTs(l);
  const file = join(base, 'learned-record.ts');
  writeFileSync(file, ts);
  assert.deepEqual(loadPolicyFile(file).policy.jail, { late: true, fs: [{ rw: '/srv/a*' }], net: { allow: ['[::1]:53/udp', 'pkg.test:443/tcp'] } }, 'the written policy means what was learned');
  assert.ok(ts.includes('    fs: [{ rw: "/srv/a\\u002a" }],'), ts);
  assert.ok(ts.includes('    net: { allow: ["[::1]:53/udp", "pkg.test:443/tcp"] },'), ts);
  assert.ok(!ts.slice(0, ts.indexOf('/* tsjail-learned')).includes('*/'), 'no comment end outside the record');
});

// ---- real jails ----

const tsjail = (args: readonly string[], cwd: string, nobody: boolean): Promise<Run> =>
  runAsync([...(nobody ? NOBODY : []), process.execPath, BIN, ...args], { cwd, env: { ...process.env, HOME: join(cwd, '..') }, timeoutMs: 120000 });

const PORT = 46000 + (process.pid % 1000);
let servers: Awaited<ReturnType<typeof countingServers>>;
const reached = (): { allowed: number; refused: number } => ({ allowed: servers.counts['127.0.0.2']!, refused: servers.counts['127.0.0.3']! });
before(async () => { servers = await countingServers(['127.0.0.2', '127.0.0.3'], PORT); });
after(() => servers.close());

for (const nobody of [false, true]) {
  const who = nobody ? 'rootless' : 'as root';
  test(`${who}: learn writes fs and net rules; the learned policy runs the program again, and another destination is refused`, async () => {
    const home = join(base, `${nobody ? 'nobody' : 'root'}-home`), proj = join(home, 'proj'), out = join(base, `${nobody ? 'nobody' : 'root'}-out`);
    mkdirSync(join(home, '.ssh'), { recursive: true });
    mkdirSync(proj);
    mkdirSync(out);
    // A symlink the program may use to aim a learned rule at home: resolved, so not learned.
    symlinkSync(home, join(out, 'homelink'));
    if (nobody) execFileSync('chown', ['-R', '65534:65534', home, out]);
    const script = (host: string): string[] => ['--', 'sh', '-c', [
      `echo made > ${out}/made.txt`,
      `echo x > ${out}/homelink/.profile`,
      `echo x > ${home}/.ssh/planted`,
      `/usr/bin/python3 -c "import socket; s = socket.create_connection(('${host}', ${PORT})); print(s.recv(3).decode().strip())"`,
    ].join('; ')];
    const policy = join(proj, 'learned.ts');
    const first = await tsjail(['learn', '--learn-net', '-o', policy, ...script('127.0.0.2')], proj, nobody);
    assert.match(first.stdout, /^hi\n$/, first.stderr);
    assert.ok(!existsSync(join(out, 'made.txt')), 'the write outside is refused while learning');
    assert.match(first.stderr, /learn: 1 write outside the writable places failed while learning .* learn again with --merge/);
    assert.match(first.stderr, /learn: a write to .*\/\.profile: its directory .* is your home or above, not learned/);
    assert.match(first.stderr, /learn: a write to .*\/\.ssh\/planted: hidden .*, not learned/);
    const second = await tsjail(['learn', '--learn-net', '--merge', policy, '-o', policy, ...script('127.0.0.2')], proj, nobody);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /learn: writable as learned before/);
    assert.equal(readFileSync(join(out, 'made.txt'), 'utf8'), 'made\n', 'the second run gets past the write');
    const text = readFileSync(policy, 'utf8');
    assert.ok(text.includes(`    fs: [{ rw: ${JSON.stringify(out)} }],`), text);
    assert.ok(text.includes(`    net: { allow: ["127.0.0.2:${PORT}/tcp"] },`), text);
    rmSync(join(out, 'made.txt'));
    const before = reached();
    const run = await tsjail(['run', '--policy', policy, ...script('127.0.0.2')], proj, nobody);
    assert.equal(run.stdout, 'hi\n', run.stderr);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'made.txt'), 'utf8'), 'made\n');
    assert.ok(!existsSync(join(home, '.profile')) && !existsSync(join(home, '.ssh/planted')));
    const other = await tsjail(['run', '--policy', policy, ...script('127.0.0.3')], proj, nobody);
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, new RegExp(`connect\\(127\\.0\\.0\\.3:${PORT}/tcp\\) -> EPERM`));
    assert.deepEqual(reached(), { allowed: before.allowed + 1, refused: before.refused });
  });
}

test('learn --learn-net refuses a unix socket address as network rules do (reported, not learned); a plain learn leaves it to the kernel', async () => {
  const dir = join(base, 'unix');
  mkdirSync(dir);
  const path = join(dir, 'sock');
  let connections = 0;
  const server = createServer((c) => { connections++; c.end('hi\n'); });
  await new Promise<void>((resolve) => server.listen(path, () => resolve()));
  try {
    const client = ['--', '/usr/bin/python3', '-c', `import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('${path}'); print(s.recv(3).decode().strip())\nexcept OSError as e: print(e.strerror)`];
    const learned = await tsjail(['learn', '--learn-net', '-o', join(dir, 'p.ts'), ...client], dir, false);
    assert.equal(learned.stdout, 'Operation not permitted\n', learned.stderr);
    assert.match(learned.stderr, new RegExp(`learn: refused a connect or send to unix socket ${path} \\(network rules refuse unix socket addresses\\)`));
    assert.equal(connections, 0);
    assert.ok(readFileSync(join(dir, 'p.ts'), 'utf8').includes('    net: { allow: [] },'));
    const plain = await tsjail(['learn', '-o', join(dir, 'q.ts'), ...client], dir, false);
    assert.equal(plain.stdout, 'hi\n', plain.stderr);
    assert.equal(connections, 1);
  } finally {
    server.close();
  }
});

test('learn: --learn-net with --net none contradicts; a record with net rules merges only with --learn-net', async () => {
  const dir = join(base, 'cli');
  mkdirSync(dir);
  const none = await tsjail(['learn', '--learn-net', '--net', 'none', '--', 'true'], dir, false);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--learn-net learns where the command connects: with --net none/);
  writeFileSync(join(dir, 'p.ts'), `/* tsjail-learned: ${JSON.stringify({ ...emptyLearned(), net: ['127.0.0.2:80/tcp'] })} */\n`);
  const merged = await tsjail(['learn', '--merge', 'p.ts', '--', 'true'], dir, false);
  assert.equal(merged.status, 125);
  assert.match(merged.stderr, /p\.ts has network rules \(jail\.net\): learn this run with --learn-net too/);
  // A hostile record (anyone may have written the file --merge reads) cannot make a secret or home writable.
  for (const [writes, why] of [[[join(base, '.ssh')], /\.ssh is in hidden/], [[base], /is your home or above/], [['/usr', join(base, '.aws/x')], /holds|is in hidden .*\.aws/]] as const) {
    writeFileSync(join(dir, 'h.ts'), `/* tsjail-learned: ${JSON.stringify({ ...emptyLearned(), writes })} */\n`);
    const hostile = await tsjail(['learn', '--merge', 'h.ts', '--', 'sh', '-c', `echo ran > ${dir}/ran`], dir, false);
    assert.equal(hostile.status, 125, hostile.stderr);
    assert.match(hostile.stderr, new RegExp(`h\\.ts: its learned writes are not ones learn writes \\(.*${why.source}.*\\): nothing was run`));
    assert.ok(!existsSync(join(dir, 'ran')));
  }
});
