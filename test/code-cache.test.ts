// The CLI's code cache (src/cli/codeCache.ts): made by the build for every module, accepted by
// this V8, the same bytes on every build, and never used for a source other than its own.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import { createHash } from 'node:crypto';
import { REPO_ROOT } from '../scripts/upstream';
import { codeCacheFile, decodeCodeCache } from '../src/cli/codeCache';

const DIST = join(REPO_ROOT, 'dist');
const work = mkdtempSync(join(tmpdir(), 'tsjail-code-cache-'));
const codeCacheModule = join(DIST, 'src/cli/codeCache.js');

test('the build\'s cache has an entry for each module of dist/src (but the loader itself), made from its source, which this V8 accepts', () => {
  const entries = decodeCodeCache(readFileSync(codeCacheFile(DIST)));
  const modules = (readdirSync(join(DIST, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js') && f !== 'cli/codeCache.js').sort();
  assert.deepEqual([...entries.keys()].sort(), modules);
  for (const path of modules) {
    const file = join(DIST, 'src', path);
    const content = readFileSync(file, 'utf8');
    const entry = entries.get(path)!;
    assert.equal(entry.sha256, createHash('sha256').update(content).digest('hex'), `${path}: made from another source`);
    assert.equal(new Script(Module.wrap(content), { filename: file, cachedData: entry.data }).cachedDataRejected, false, `${path}: refused by V8`);
  }
});

test('the build writes the same bytes twice', () => {
  const made = [1, 2].map((i) => {
    const out = join(work, `build-${i}.bin`);
    execFileSync(process.execPath, ['--predictable', join(DIST, 'scripts/code-cache.js'), out], { stdio: 'ignore' });
    return readFileSync(out);
  });
  assert.ok(made[0]!.equals(made[1]!));
  assert.throws(() => execFileSync(process.execPath, [join(DIST, 'scripts/code-cache.js'), join(work, 'unpredictable.bin')], { stdio: 'pipe' }), /--predictable/);
});

test('an entry runs only for the source it names (its module given require as Node gives it): a module edited since (to the same length, which V8 alone would take) runs its new source', () => {
  const made = mkdtempSync(join(work, 'made-'));
  const root = mkdtempSync(join(work, 'root-'));
  for (const dir of [made, root]) writeFileSync(join(dir, 'a.js'), 'module.exports = require(\'./b\') + 10 * require(\'./c\') + (require.resolve(\'./b\') === __dirname + \'/b.js\' ? 0 : 1000);\n');
  writeFileSync(join(made, 'b.js'), 'module.exports = 1;\n');
  writeFileSync(join(made, 'c.js'), 'module.exports = 7;\n');
  writeFileSync(join(root, 'b.js'), 'module.exports = 5;\n');
  writeFileSync(join(root, 'c.js'), 'module.exports = 2;\n');
  const cache = join(work, `${Date.now()}.bin`);
  const node = (script: string): string => execFileSync(process.execPath, ['--predictable', '-e', script], { encoding: 'utf8' }).trim();
  node(`require('fs').writeFileSync(${JSON.stringify(cache)}, require(${JSON.stringify(codeCacheModule)}).makeCodeCache(${JSON.stringify(made)}, [${JSON.stringify(join(made, 'a.js'))}]))`);
  assert.deepEqual([...decodeCodeCache(readFileSync(cache)).keys()].sort(), ['a.js', 'b.js', 'c.js']);
  // c.js's entry made to name root's c.js: that entry (7), not the source (2), is what runs.
  const bytes = readFileSync(cache);
  const first = bytes.indexOf(10), second = bytes.indexOf(10, first + 1);
  const index = JSON.parse(bytes.subarray(first + 1, second).toString()) as { path: string; sha256: string }[];
  index.find((e) => e.path === 'c.js')!.sha256 = createHash('sha256').update(readFileSync(join(root, 'c.js'), 'utf8')).digest('hex');
  writeFileSync(cache, Buffer.concat([bytes.subarray(0, first + 1), Buffer.from(`${JSON.stringify(index)}\n`), bytes.subarray(second + 1)]));
  const run = `require(${JSON.stringify(codeCacheModule)}).useCodeCache(${JSON.stringify(root)}, ${JSON.stringify(cache)}); console.log(require(${JSON.stringify(join(root, 'a.js'))}))`;
  assert.equal(node(run), '75');
  // A damaged file is no cache at all.
  writeFileSync(cache, readFileSync(cache).subarray(0, -1));
  assert.equal(decodeCodeCache(readFileSync(cache)).size, 0);
  assert.equal(node(run), '25');
});
