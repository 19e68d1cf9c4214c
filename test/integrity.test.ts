// The helper and the preload library are the ones built from the shipped source: a stale,
// foreign, symlinked or damaged library is refused and rebuilt (or tsjail stops, 125), never
// used; the helper proves before exec that its filter is in force (step 40).
import assert from 'node:assert/strict';
import { whenReadable } from '../src/jail/readiness';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import {
  answerNotification, closeFd, encodeSpec, execOutcome, koffiModule, libraryFile, nativeSource, receiveNotificationNow, spawnJailed, STEPS, waitFor, type SpawnSpec,
} from '../src/jail/helper';
import { HANDSHAKE_ERRNO, HANDSHAKE_NR } from '../src/jail/notifications';
import { buildSpawnSpec } from '../src/jail/spec';

const work = mkdtempSync(join(tmpdir(), 'tsjail-integrity-'));
chmodSync(work, 0o755);
const PLATFORM = `${process.platform}-${process.arch}`;
const HELPER = libraryFile('helper', nativeSource('helper').hash);
const PRELOAD = libraryFile('preload', nativeSource('preload').hash);

/** An installed package without helper/build (what npm gives a platform with no prebuilt). */
function packageCopy(): string {
  const root = mkdtempSync(join(work, 'pkg-'));
  for (const p of ['bin', 'dist/src', 'dist/default-policy', 'package.json']) cpSync(join(REPO_ROOT, p), join(root, p), { recursive: true });
  mkdirSync(join(root, 'helper'));
  for (const f of ['tsjail-helper.c', 'tsjail-preload.c']) cpSync(join(REPO_ROOT, 'helper', f), join(root, 'helper', f));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  chmodSync(root, 0o755);
  return root;
}

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const run = (pkg: string, cache: string, args: string[], env: Record<string, string> = {}, asNobody = false): SpawnSyncReturns<string> =>
  spawnSync(asNobody ? NOBODY[0]! : process.execPath, [...(asNobody ? [...NOBODY.slice(1), process.execPath] : []), join(pkg, 'bin/tsjail.js'), 'run', ...args], {
    encoding: 'utf8', cwd: work, input: '', timeout: 60000, env: { ...process.env, XDG_CACHE_HOME: cache, ...env },
  });
const SECCOMP = ['grep', '^Seccomp:', '/proc/self/status'];
const cacheDir = (cache: string): string => join(cache, 'tsjail', PLATFORM);
const cc = (source: string, out: string, hash: string): void => {
  execFileSync('cc', ['-O2', '-shared', '-fPIC', `-DTSJAIL_SOURCE_HASH="${hash}"`, '-o', out, '-x', 'c', '-', '-ldl'], { input: source });
};

test('no prebuilt: the first run builds the helper into the cache under its source hash, quietly, and is filtered', () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-'));
  // With a umask that would leave it group-writable (and so refused): the build is 0755 all the same.
  const r = spawnSync('sh', ['-c', 'umask 002; exec "$0" "$@"', process.execPath, join(pkg, 'bin/tsjail.js'), 'run', ...SECCOMP], {
    encoding: 'utf8', cwd: work, input: '', env: { ...process.env, XDG_CACHE_HOME: cache },
  });
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(lstatSync(join(cacheDir(cache), HELPER)).isFile());
  assert.equal(lstatSync(join(cacheDir(cache), HELPER)).mode & 0o777, 0o755);
  assert.equal(lstatSync(cacheDir(cache)).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(cacheDir(cache)).filter((f) => f.startsWith('.build-')), []);
});

test('a helper built from older sources, planted in the cache (old name and hashed name), is refused and rebuilt', () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-')), dir = cacheDir(cache);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A build whose seccomp load (and its check) is gone, at the old unhashed name and at the hashed one.
  const unfiltered = readFileSync(join(REPO_ROOT, 'helper/tsjail-helper.c'), 'utf8')
    .replace('if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) fail(STEP_SECCOMP);', ';').replace('\t\tverify_filter();\n', '');
  assert.notEqual(unfiltered, readFileSync(join(REPO_ROOT, 'helper/tsjail-helper.c'), 'utf8'));
  cc(unfiltered, join(dir, 'libtsjail-helper.so'), 'f'.repeat(64));
  cc(unfiltered, join(dir, HELPER), 'f'.repeat(64));
  const r = run(pkg, cache, SECCOMP);
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.match(r.stderr, new RegExp(`^tsjail: refusing .*${HELPER}: it was not built from the shipped source \\(its source hash differs\\); rebuilding it from source\\n$`));
  // The rebuilt file replaced the planted one and is used from then on, silently.
  assert.equal(run(pkg, cache, SECCOMP).stderr, '');
});

test('any other .so, or a symlink, at the helper\'s name is refused; the symlink is replaced, its target untouched', () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-')), dir = cacheDir(cache);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  cpSync(join(REPO_ROOT, 'helper/build', PLATFORM, PRELOAD), join(dir, HELPER));
  let r = run(pkg, cache, SECCOMP);
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.match(r.stderr, /refusing .*not built from the shipped source/);
  // A symlink to a genuine build is refused too: nothing is loaded through a link in the cache.
  const target = join(work, `target-${Date.now()}.so`);
  cpSync(join(dir, HELPER), target);
  rmSync(join(dir, HELPER));
  symlinkSync(target, join(dir, HELPER));
  const before = readFileSync(target);
  r = run(pkg, cache, SECCOMP);
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.match(r.stderr, /refusing .*: it is a symbolic link; rebuilding/);
  assert.ok(lstatSync(join(dir, HELPER)).isFile());
  assert.deepEqual(readFileSync(target), before);
});

test('koffi is its native module, of the version koffi\'s package names, taken without koffi\'s loader', () => {
  const koffi = koffiModule();
  assert.equal(koffi.version, (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/koffi/package.json'), 'utf8')) as { version: string }).version);
  assert.equal(typeof koffi.load, 'function');
  // (koffi's index.js adds deprecated aliases such as handle to what it loads.)
  if (process.platform === 'linux' && process.arch === 'x64') assert.equal('handle' in koffi, false);
});

test('a mismatched library and no compiler: exit 125 with a clear message, the command never runs', () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-')), dir = cacheDir(cache);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, HELPER), 'not a library', { mode: 0o755 });
  const marker = join(work, `ran-${Date.now()}`);
  const r = run(pkg, cache, ['touch', marker], { CC: '/nonexistent/cc' });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /refusing .*not built from the shipped source/);
  assert.match(r.stderr, /no usable prebuilt libtsjail-helper-[0-9a-f]{16}\.so for .* and no C compiler to build one from .*tsjail-helper\.c/);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  assert.equal(existsSync(marker), false);
});

test('rootless with no prebuilt: builds into its own cache and runs filtered; a cache it cannot create is a clear 125', () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-'));
  chownSync(cache, 65534, 65534);
  const r = run(pkg, cache, SECCOMP, {}, true);
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.equal(lstatSync(join(cacheDir(cache), HELPER)).uid, 65534);
  // A cache under root's private directory: nobody can neither use nor create it.
  const closed = mkdtempSync(join(work, 'closed-'));
  const denied = run(pkg, join(closed, 'cache'), ['true'], {}, true);
  assert.equal(denied.status, 125);
  assert.match(denied.stderr, /^tsjail: cannot create .*closed-.*\/cache\/tsjail\/linux-x64 to build the helper library in: EACCES \(set XDG_CACHE_HOME to a directory of yours\)\n$/);
  // A cache of root's, readable, holding a good build: refused for nobody all the same.
  const other = mkdtempSync(join(work, 'cache-'));
  assert.equal(run(pkg, other, ['true']).status, 0);
  chmodSync(other, 0o755);
  chmodSync(cacheDir(other), 0o755);
  chmodSync(join(other, 'tsjail'), 0o755);
  const foreign = run(pkg, other, ['true'], {}, true);
  assert.equal(foreign.status, 125, foreign.stderr);
  assert.match(foreign.stderr, /is owned by uid 0, not by you/);
});

test('a cache directory that is world-writable or someone else\'s is refused (125), not loaded from', () => {
  for (const spoil of [(d: string) => chmodSync(d, 0o777), (d: string) => chownSync(d, 65534, 65534)]) {
    const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-')), dir = cacheDir(cache);
    assert.equal(run(pkg, cache, ['true']).status, 0); // a good build is there
    spoil(dir);
    const r = run(pkg, cache, ['true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /is writable by everyone|is owned by uid 65534, not by you/);
    assert.match(r.stderr, /refusing to build helper library into/);
  }
});

test('a shipped prebuilt that does not match, or cannot be loaded, gives way to a build from source with a message', () => {
  const pkg = packageCopy(), shipped = join(pkg, 'helper/build', PLATFORM);
  mkdirSync(shipped, { recursive: true });
  writeFileSync(join(shipped, HELPER), Buffer.alloc(4096, 0x7f));
  let r = run(pkg, mkdtempSync(join(work, 'cache-')), SECCOMP);
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.match(r.stderr, /the shipped .*was not built from the shipped source \(its source hash differs\): building it from source instead/);
  // The genuine build with its ELF header wrecked: its mark is intact, koffi.load throws.
  const damaged = readFileSync(join(REPO_ROOT, 'helper/build', PLATFORM, HELPER));
  damaged.fill(0, 0, 64);
  writeFileSync(join(shipped, HELPER), damaged);
  r = run(pkg, mkdtempSync(join(work, 'cache-')), SECCOMP);
  assert.equal(r.stdout, 'Seccomp:\t2\n', r.stderr);
  assert.match(r.stderr, /the shipped .* cannot be loaded \(.*\): building it from source instead/);
});

test('--late: a foreign preload library in the cache is refused and rebuilt; the command gets the checked one', () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-')), dir = cacheDir(cache);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  cc('int tsjail_nothing(void) { return 0; }', join(dir, PRELOAD), nativeSource('preload').hash.replace(/^./, (c) => (c === '0' ? '1' : '0')));
  const r = run(pkg, cache, ['--late', '--', 'sh', '-c', 'echo late']);
  assert.equal(r.stdout, 'late\n', r.stderr);
  assert.match(r.stderr, new RegExp(`refusing .*${PRELOAD}: it was not built from the shipped source`));
  assert.match(readFileSync(join(dir, PRELOAD)).toString('latin1'), new RegExp(`tsjail-source-sha256:${nativeSource('preload').hash}`));
});

test('two tsjail processes building into an empty cache at once both run filtered; no temporary is left', async () => {
  const pkg = packageCopy(), cache = mkdtempSync(join(work, 'cache-'));
  const one = (): Promise<string> => new Promise((resolve) => {
    const p = spawn(process.execPath, [join(pkg, 'bin/tsjail.js'), 'run', ...SECCOMP], { cwd: work, env: { ...process.env, XDG_CACHE_HOME: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', () => resolve(out));
  });
  assert.deepEqual(await Promise.all([one(), one(), one()]), ['Seccomp:\t2\n', 'Seccomp:\t2\n', 'Seccomp:\t2\n']);
  assert.deepEqual(readdirSync(cacheDir(cache)).sort(), [HELPER].sort());
});

// A filter that lets every call run but makes prctl(PR_GET_SECCOMP) say 0 ("no filter"): ERRNO(0).
const PRCTL_NR = 157;
const program = (ins: readonly (readonly [number, number, number, number])[]): Uint8Array => {
  const b = Buffer.alloc(8 * ins.length);
  ins.forEach(([code, jt, jf, k], i) => { b.writeUInt16LE(code, 8 * i); b.writeUInt8(jt, 8 * i + 2); b.writeUInt8(jf, 8 * i + 3); b.writeUInt32LE(k, 8 * i + 4); });
  return b;
};
const lyingFilter = (): Uint8Array => program([[0x20, 0, 0, 0], [0x15, 0, 1, PRCTL_NR], [0x06, 0, 0, 0x00050000], [0x06, 0, 0, 0x7fff0000]]);
const stopHandshake = (): Uint8Array => program([[0x20, 0, 0, 0], [0x15, 0, 1, HANDSHAKE_NR], [0x06, 0, 0, 0x7fc00000], [0x06, 0, 0, 0x7fff0000]]);
const allowAll = (): Uint8Array => program([[0x06, 0, 0, 0x7fff0000]]);

test('the helper proves its filter is in force before exec: a filter that hides itself stops the jail at step 40', { skip: process.arch !== 'x64' && 'x86_64 syscall numbers' }, async () => {
  assert.equal(STEPS[40], 'verify that the seccomp filter is loaded');
  const marker = join(work, `unverified-${Date.now()}`);
  const base: SpawnSpec = buildSpawnSpec(['/usr/bin/touch', marker], undefined, { hostIds: true, hostFs: true });
  // Without a listener: prctl(PR_GET_SECCOMP) says 0, so the helper refuses to exec.
  const plain = await spawnJailed({ ...base, filter: lyingFilter() });
  assert.deepEqual(plain, { ok: false, step: 40, errno: 38 });
  // With a listener, the handshake must come back with tsjail's answer: here the listener's
  // holder answers what the kernel would without a filter (ENOSYS), and the helper stops.
  for (const [answer, runs] of [[38, false], [HANDSHAKE_ERRNO, true]] as const) {
    const started = await spawnJailed({ ...base, filter: stopHandshake(), notify: true });
    assert.ok(started.ok && started.listener !== undefined && started.execPipe !== undefined, JSON.stringify(started));
    assert.ok(await whenReadable(started.listener, 10000));
    const n = receiveNotificationNow(started.listener, 0);
    assert.ok(n && n !== 'gone' && n.nr === HANDSHAKE_NR, String(n));
    answerNotification(started.listener, n.id, { errno: answer });
    assert.deepEqual(await execOutcome(started.execPipe), runs ? undefined : { step: 40, errno: 38 });
    await waitFor(started.pid);
    closeFd(started.listener);
    assert.equal(existsSync(marker), runs);
    rmSync(marker, { force: true });
  }
  // The same spec with an honest filter runs.
  const honest = await spawnJailed({ ...base, filter: allowAll() });
  assert.ok(honest.ok);
  await waitFor(honest.pid);
  assert.equal(existsSync(marker), true);
});

test('a spec that asked for a filter and carries none is refused in TypeScript before the helper sees it', async () => {
  const base = buildSpawnSpec(['/bin/true'], undefined, { hostIds: true });
  assert.throws(() => encodeSpec({ ...base, requireFilter: true }), /a seccomp filter was asked for but the spawn spec carries none/);
  assert.throws(() => encodeSpec({ ...base, requireFilter: true, filter: new Uint8Array(0) }), /carries none/);
  await assert.rejects(spawnJailed({ ...base, requireFilter: true }), /carries none/);
  assert.ok(encodeSpec({ ...base, requireFilter: true, filter: allowAll() }).length > 0);
});
