// The compiled-filter cache of `tsjail run --policy FILE` (src/formats/filterCache.ts): a second
// run loads no policy module (the policy writes a marker file when it is loaded), an edit of the
// policy or of an import is seen, an entry that is not the user's own regular, intact file is
// ignored and replaced, and the jail can neither read nor write the cache. As root and rootless.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

interface Place { dir: string; policy: string; marker: string; cache: string; asNobody: boolean }

/** A policy that says it was loaded (a marker file), takes a setting from an import, refuses mkdir. */
function place(asNobody: boolean): Place {
  const dir = mkdtempSync(join('/var/tmp', 'tsjail-cache-'));
  const policy = join(dir, 'policy.ts');
  const marker = join(dir, 'loaded');
  writeFileSync(join(dir, 'settings.js'), "exports.greeting = 'from the import';\n");
  writePolicy(policy, marker, 'first');
  if (asNobody) chownSync(dir, 65534, 65534);
  for (const f of readdirSync(dir)) if (asNobody) chownSync(join(dir, f), 65534, 65534);
  return { dir, policy, marker, cache: join(dir, 'xdg', 'tsjail', 'filters'), asNobody };
}

function writePolicy(file: string, marker: string, version: string): void {
  writeFileSync(file, `import { definePolicy, errno } from 'tsjail';
import { appendFileSync } from 'node:fs';
import { greeting } from './settings.js';
appendFileSync(${JSON.stringify(marker)}, 'loaded\\n');
export default definePolicy({
  default: 'allow',
  rules: [errno('EPERM', 'mkdir', 'mkdirat')],
  jail: { env: { GREETING: greeting, VERSION: '${version}' }, rlimits: { nofile: 321n } },
});
`);
}

function run(p: Place, extra: string[] = [], env: Record<string, string> = {}, script = 'echo "$GREETING $VERSION $(ulimit -n)"'): SpawnSyncReturns<string> {
  const argv = [...(p.asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--policy', p.policy, ...extra, '--', 'sh', '-c', script];
  return spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8', cwd: p.dir, input: '', timeout: 30000,
    env: { ...process.env, XDG_CACHE_HOME: join(p.dir, 'xdg'), TSJAIL_DEBUG: 'cache', ...(p.asNobody ? { HOME: p.dir } : {}), ...env },
  });
}

/** How many times the policy module was evaluated so far. */
const loads = (p: Place): number => (existsSync(p.marker) ? readFileSync(p.marker, 'utf8').split('\n').length - 1 : 0);

function ok(r: SpawnSyncReturns<string>, version = 'first', greeting = 'from the import'): void {
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${greeting} ${version} 321\n`, 'the jail settings are the policy\'s');
}

/** The filter is the policy's: mkdir refused, explained from the cached rules (a hit evaluates no module, not even for that). */
function refuses(p: Place): void {
  const r = run(p, [], {}, 'mkdir /tmp/d 2>/dev/null || echo refused');
  assert.equal(r.stdout, 'refused\n', r.stderr);
  assert.match(r.stderr, /mkdir(at)?\(.*-> EPERM\n\s+decided by: a rule \(policy\.ts:7\)/);
}

/** The cache's entries: the policy's (JSON) and its filters'. */
const entries = (p: Place): string[] => readdirSync(p.cache).filter((f) => !f.startsWith('.')).map((f) => join(p.cache, f));

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless' : 'as root';

  test(`${who}: the second run takes the filter and the jail settings from the cache, without loading the policy`, () => {
    const p = place(asNobody);
    ok(run(p));
    assert.equal(loads(p), 1);
    const second = run(p);
    ok(second);
    assert.equal(loads(p), 1, 'the policy module was not evaluated again');
    assert.match(second.stderr, /cache: hit: .*policy\.ts \(not loaded\)/);
    assert.match(second.stderr, /cache: hit: the filter/);
    const st = lstatSync(p.cache);
    assert.ok(st.isDirectory() && (st.mode & 0o777) === 0o700, `the cache is 0700, not ${(st.mode & 0o777).toString(8)}`);
    assert.equal(st.uid, asNobody ? 65534 : 0);
    // Other stops are another filter: --host-fs (no file rules) misses the filter, not the settings.
    const hostFs = run(p, ['--host-fs']);
    ok(hostFs);
    assert.equal(loads(p), 1, 'a new filter is compiled from the cached rules, the module not evaluated');
    assert.match(hostFs.stderr, /hit: .*\(not loaded\)/);
    // A denial is explained from the cached rules: the jail may have rewritten an import by then.
    refuses(p);
    assert.equal(loads(p), 1, 'explaining a denial evaluated the policy module');
    rmSync(p.dir, { recursive: true, force: true });
  });

  test(`${who}: an edit of the policy or of an import is a miss; --no-cache and TSJAIL_CACHE=0 load it`, () => {
    const p = place(asNobody);
    ok(run(p));
    writePolicy(p.policy, p.marker, 'second');
    ok(run(p), 'second');
    assert.equal(loads(p), 2);
    writeFileSync(join(p.dir, 'settings.js'), "exports.greeting = 'edited';\n");
    const edited = run(p);
    ok(edited, 'second', 'edited');
    assert.match(edited.stderr, /miss: an import of .*policy\.ts changed/);
    assert.equal(loads(p), 3);
    ok(run(p), 'second', 'edited');
    assert.equal(loads(p), 3);
    ok(run(p, ['--no-cache']), 'second', 'edited');
    ok(run(p, [], { TSJAIL_CACHE: '0' }), 'second', 'edited');
    assert.equal(loads(p), 5);
    rmSync(p.dir, { recursive: true, force: true });
  });

  test(`${who}: an import that resolves to another file now (lib.ts added beside lib/index.ts) is a miss`, () => {
    const p = place(asNobody);
    const own = (f: string): void => { if (asNobody) chownSync(f, 65534, 65534); };
    mkdirSync(join(p.dir, 'lib'));
    own(join(p.dir, 'lib'));
    writeFileSync(join(p.dir, 'lib', 'index.ts'), "export const version: string = 'lib/index.ts';\n");
    own(join(p.dir, 'lib', 'index.ts'));
    const policy = join(p.dir, 'resolving.ts');
    writeFileSync(policy, `import { definePolicy } from 'tsjail';\nimport { version } from './lib';\nexport default definePolicy({ default: 'allow', rules: [], jail: { env: { VERSION: version } } });\n`);
    own(policy);
    const first = run({ ...p, policy }, [], {}, 'echo $VERSION');
    assert.equal(first.stdout, 'lib/index.ts\n', first.stderr);
    const second = run({ ...p, policy }, [], {}, 'echo $VERSION');
    assert.match(second.stderr, /hit: .*resolving\.ts \(not loaded\)/);
    // tsc (and tsjail's loader) take ./lib.ts before ./lib/index.ts: the same import, another file.
    writeFileSync(join(p.dir, 'lib.ts'), "export const version: string = 'lib.ts';\n");
    own(join(p.dir, 'lib.ts'));
    const third = run({ ...p, policy }, [], {}, 'echo $VERSION');
    assert.equal(third.stdout, 'lib.ts\n', third.stderr);
    assert.match(third.stderr, /miss: '\.\/lib' in .*resolving\.ts no longer resolves to .*lib\/index\.ts/);
    rmSync(p.dir, { recursive: true, force: true });
  });

  test(`${who}: a symlinked, corrupt or swapped entry is ignored and replaced`, () => {
    const p = place(asNobody);
    ok(run(p));
    const elsewhere = join(p.dir, 'elsewhere');
    mkdirSync(elsewhere);
    // A symlink to an intact copy of the entry is still not the entry.
    for (const e of entries(p)) {
      const copy = join(elsewhere, e.slice(e.lastIndexOf('/') + 1));
      renameSync(e, copy);
      symlinkSync(copy, e);
    }
    const linked = run(p);
    ok(linked);
    assert.match(linked.stderr, /ignored entry \w+: a symlink/);
    assert.equal(loads(p), 2);
    for (const e of entries(p)) assert.ok(lstatSync(e).isFile(), `${e} was written again`);
    // A filter entry with a byte changed (say, an errno made an allow) fails its digest.
    for (const e of entries(p)) {
      const data = readFileSync(e);
      data[data.length - 4] ^= 0xff;
      writeFileSync(e, data);
    }
    const corrupt = run(p);
    ok(corrupt);
    assert.match(corrupt.stderr, /ignored entry \w+: corrupt/);
    assert.equal(loads(p), 3);
    refuses(p);
    assert.equal(loads(p), 3);
    // Entries are bound to their names: a filter renamed to another key is not taken.
    const [a, b] = entries(p);
    const swap = join(elsewhere, 'swap');
    renameSync(a!, swap); renameSync(b!, a!); renameSync(swap, b!);
    ok(run(p));
    assert.equal(loads(p), 4);
    // A FIFO where each entry was: not opened for long, not trusted. (Every entry: which one a run
    // needs first depends on the names, and they change with the build.)
    for (const e of entries(p)) {
      rmSync(e);
      spawnSync('mkfifo', [e]);
      if (asNobody) chownSync(e, 65534, 65534);
    }
    ok(run(p));
    assert.equal(loads(p), 5);
    rmSync(p.dir, { recursive: true, force: true });
  });

  test(`${who}: the jail can neither read nor write the cache`, () => {
    const p = place(asNobody);
    ok(run(p));
    const planted = join(p.cache, 'planted');
    const names = entries(p);
    const before = names.map((n) => readFileSync(n, 'hex'));
    const r = run(p, [], {}, `ls -a ${p.cache}; cat ${names.join(' ')}; echo x > ${planted} && echo wrote; for f in ${names.join(' ')}; do echo x >> "$f" && echo appended; done; true`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /wrote|appended|tsjail-cache/);
    for (const n of names) assert.ok(!r.stdout.includes(n.slice(n.lastIndexOf('/') + 1)), 'the entries are not even listed');
    assert.ok(!existsSync(planted));
    assert.deepEqual(names.map((n) => readFileSync(n, 'hex')), before, 'the entries are as they were');
    assert.deepEqual(entries(p), names);
    const after = run(p);
    ok(after);
    assert.match(after.stderr, /hit: the filter/);
    // --rw over the cache's parent (the working directory is writable by default too) does not uncover it.
    const rw = run(p, ['--rw', join(p.dir, 'xdg')], {}, `echo x > ${planted} && echo wrote; true`);
    assert.equal(rw.status, 0, rw.stderr);
    assert.doesNotMatch(rw.stdout, /wrote/);
    assert.ok(!existsSync(planted));
    rmSync(p.dir, { recursive: true, force: true });
  });
}

test('as root: a foreign-owned entry, or a cache directory that is not root\'s alone, is not used', () => {
  const p = place(false);
  ok(run(p));
  for (const e of entries(p)) chownSync(e, 65534, 65534);
  const foreign = run(p);
  ok(foreign);
  assert.match(foreign.stderr, /ignored entry \w+: not a file of yours alone/);
  assert.equal(loads(p), 2);
  // Group-writable entries are not the user's alone either.
  for (const e of entries(p)) chmodSync(e, 0o660);
  ok(run(p));
  assert.equal(loads(p), 3);
  // A directory others may write: nothing is read from it, nothing written.
  chmodSync(p.cache, 0o777);
  const open = run(p);
  ok(open);
  assert.match(open.stderr, /not used: .* is not yours alone/);
  assert.equal(loads(p), 4);
  chmodSync(p.cache, 0o700);
  chownSync(p.cache, 65534, 65534);
  ok(run(p));
  assert.equal(loads(p), 5);
  // A symlink in place of the directory, even to one of root's own 0700 directories.
  const real = join(p.dir, 'real-cache');
  mkdirSync(real, { mode: 0o700 });
  rmSync(p.cache, { recursive: true });
  symlinkSync(real, p.cache);
  const linked = run(p);
  ok(linked);
  assert.match(linked.stderr, /not used: .*: a symlink or not a directory/);
  assert.deepEqual(readdirSync(real), [], 'nothing written through the link');
  assert.equal(loads(p), 6);
  rmSync(p.dir, { recursive: true, force: true });
});

test('as root: a cache under a directory others cannot search does not stop any jail, and stays out of reach', () => {
  // mkdtemp made p.dir 0700; from / nothing of it is bound into the jail: its private id range cannot get there.
  const p = place(false);
  const jail = (args: string[]): SpawnSyncReturns<string> => spawnSync(process.execPath, [BIN, 'run', ...args], {
    encoding: 'utf8', cwd: '/', env: { ...process.env, XDG_CACHE_HOME: join(p.dir, 'xdg'), TSJAIL_DEBUG: 'cache' },
  });
  const script = ['--', 'sh', '-c', `echo "$GREETING"; ls ${p.cache} || echo unreachable; echo x > ${p.cache}/planted && echo wrote; true`];
  const first = jail(['--policy', p.policy, ...script]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.stdout, 'from the import\nunreachable\n');
  const second = jail(['--policy', p.policy, ...script]);
  assert.equal(second.stdout, 'from the import\nunreachable\n', second.stderr);
  assert.match(second.stderr, /hit: the filter/);
  assert.ok(!existsSync(join(p.cache, 'planted')));
  const plain = jail(['--', 'true']);
  assert.equal(plain.status, 0, plain.stderr);
  rmSync(p.dir, { recursive: true, force: true });
});

test('a policy\'s imports, as the cache keys them: TypeScript modules found as tsc finds them (./base.js is base.ts), their own imports, and plain JavaScript', () => {
  const { loadPolicyFile } = require('../src/formats/load') as typeof import('../src/formats/load');
  const dir = mkdtempSync(join('/tmp', 'tsjail-imports-'));
  writeFileSync(join(dir, 'leaf.ts'), 'export const errnoName = \'EPERM\' as const;\n');
  writeFileSync(join(dir, 'base.ts'), "import { errnoName } from './leaf.js';\nexport const code = errnoName;\n");
  writeFileSync(join(dir, 'plain.js'), 'exports.name = "mkdir";\n');
  writeFileSync(join(dir, 'policy.ts'), `import { definePolicy, errno } from 'tsjail';
import { code } from './base.js';
import { name } from './plain.js';
export default definePolicy({ default: 'allow', rules: [errno(code, name)] });
`);
  const loaded = loadPolicyFile(join(dir, 'policy.ts'));
  assert.deepEqual(loaded.imports, ['base.ts', 'leaf.ts', 'plain.js'].map((f) => join(dir, f)));
  rmSync(dir, { recursive: true, force: true });
});

test('an import rewritten while the policy loads (after tsjail read it) is a miss next time: the cache keys on the text that ran', () => {
  const p = place(false);
  const base = join(p.dir, 'base.ts');
  // base.ts, once evaluated, rewrites itself: what is on disk afterwards is not what ran.
  const rewritten = "export const greeting: string = 'rewritten';\n";
  writeFileSync(base, `import { writeFileSync } from 'node:fs';
export const greeting: string = 'as evaluated';
writeFileSync(__filename, ${JSON.stringify(rewritten)});
`);
  writeFileSync(p.policy, `import { definePolicy } from 'tsjail';
import { appendFileSync } from 'node:fs';
import { greeting } from './base.js';
appendFileSync(${JSON.stringify(p.marker)}, 'loaded\\n');
export default definePolicy({ default: 'allow', rules: [], jail: { env: { GREETING: greeting } } });
`);
  const script = 'echo "$GREETING"';
  assert.equal(run(p, [], {}, script).stdout, 'as evaluated\n');
  assert.equal(readFileSync(base, 'utf8'), rewritten);
  // The file now says 'rewritten': a hit would run the stale settings.
  const second = run(p, [], {}, script);
  assert.equal(second.stdout, 'rewritten\n', second.stderr);
  assert.match(second.stderr, /miss: an import of .*policy\.ts changed/);
  assert.equal(loads(p), 2);
  rmSync(p.dir, { recursive: true, force: true });
});

test('a .json import and a package\'s .js are read once too: what is hashed is what ran', () => {
  const p = place(false);
  mkdirSync(join(p.dir, 'node_modules', 'cfgpkg'), { recursive: true });
  writeFileSync(join(p.dir, 'node_modules', 'cfgpkg', 'package.json'), '{ "name": "cfgpkg", "main": "index.js" }\n');
  // The package's code and the JSON rewrite themselves once read: a hit later would run the stale values.
  writeFileSync(join(p.dir, 'node_modules', 'cfgpkg', 'index.js'), `const { writeFileSync } = require('node:fs');
exports.tag = 'pkg as evaluated';
writeFileSync(__filename, "exports.tag = 'pkg rewritten';\\n");
`);
  writeFileSync(join(p.dir, 'cfg.json'), '{ "greeting": "json as evaluated" }\n');
  writeFileSync(p.policy, `import { definePolicy } from 'tsjail';
import { appendFileSync, writeFileSync } from 'node:fs';
import cfg from './cfg.json';
import { tag } from 'cfgpkg';
writeFileSync(${JSON.stringify(join(p.dir, 'cfg.json'))}, '{ "greeting": "json rewritten" }\\n');
appendFileSync(${JSON.stringify(p.marker)}, 'loaded\\n');
export default definePolicy({ default: 'allow', rules: [], jail: { env: { GREETING: cfg.greeting, TAG: tag } } });
`);
  const script = 'echo "$GREETING / $TAG"';
  assert.equal(run(p, [], {}, script).stdout, 'json as evaluated / pkg as evaluated\n');
  const second = run(p, [], {}, script);
  assert.equal(second.stdout, 'json rewritten / pkg rewritten\n', second.stderr);
  assert.equal(loads(p), 2);
  rmSync(p.dir, { recursive: true, force: true });
});
