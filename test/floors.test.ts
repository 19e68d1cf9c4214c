// The folders of src/ are floors: a module imports only from its own floor or those below, so that
// the model, the compiler and the formats can be read (and used) without the jail above them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { REPO_ROOT } from '../scripts/upstream';

const SRC = join(REPO_ROOT, 'src');

/** Lower numbers are lower floors; folders on one floor do not import each other. */
const FLOORS: Readonly<Record<string, number>> = {
  arch: 0, kernel: 1, syscalls: 1, policy: 2, bpf: 3, formats: 4, analysis: 5, jail: 6, cli: 7, 'index.ts': 8,
};

/** The one import upward, and why: a policy file's `import ... from 'tsjail'` gets the package itself. */
const ALLOWED_UP = new Set(['formats/load.ts -> index']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every relative module a file names: static imports, `import type`, `import()`, `require()` and `typeof import()`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\(\s*|\brequire\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
}

function floorOf(path: string): string {
  return relative(SRC, path).split('/')[0]!.replace(/^index$/, 'index.ts');
}

test('every module imports only from its own floor or the floors below', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 50, `found only ${files.length} modules under src/`);
  const wrong: string[] = [];
  for (const file of files) {
    const from = floorOf(file);
    assert.ok(FLOORS[from] !== undefined, `${relative(SRC, file)}: src/${from} is no floor (add it to FLOORS in test/floors.test.ts)`);
    for (const spec of importsOf(file)) {
      const target = normalize(join(dirname(file), spec));
      const to = floorOf(target);
      const edge = `${relative(SRC, file)} -> ${relative(SRC, target)}`;
      const upward = FLOORS[to]! > FLOORS[from]! || (FLOORS[to] === FLOORS[from] && to !== from);
      if (upward && !ALLOWED_UP.has(edge)) wrong.push(`${edge} (${from} is floor ${FLOORS[from]}, ${to} is floor ${FLOORS[to]})`);
    }
  }
  assert.deepEqual(wrong, [], `imports that go up a floor:\n${wrong.join('\n')}`);
});

test('the check sees an upward import: a policy/ module naming jail/ is one', () => {
  // The same rule applied to a made-up edge, so that a broken matcher cannot pass the test above.
  const fake = join(SRC, 'policy/dsl.ts');
  const target = normalize(join(dirname(fake), '../jail/spec'));
  assert.ok(FLOORS[floorOf(target)]! > FLOORS[floorOf(fake)]!);
  assert.ok(importsOf(join(SRC, 'jail/spawn.ts')).some((s) => s.startsWith('../policy/')), 'the matcher finds jail/spawn.ts importing policy/');
});
