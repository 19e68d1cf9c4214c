// The DSL's types catch mistakes in the editor: syscall names and argument keys are checked.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from '../scripts/upstream';

const FILES = ['types/typos.ts', 'strict.ts', 'multiarch.ts', 'bigendian.ts', 'mips.ts'].map((f) => join(REPO_ROOT, 'fixtures', f));
let program: ts.Program | undefined;

function diagnostics(file: string): { line: number; message: string }[] {
  program ??= ts.createProgram(FILES, {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10, baseUrl: REPO_ROOT, paths: { tsjail: ['src/index.ts'] },
    types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules/@types')], skipLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ({
    line: d.file!.getLineAndCharacterOfPosition(d.start!).line + 1,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

test('typos in syscall names and argument keys are compile-time errors', () => {
  const file = join(REPO_ROOT, 'fixtures/types/typos.ts');
  const expected = readFileSync(file, 'utf8').split('\n').flatMap((l, i) => (/\/\/ error:/.test(l) ? [i + 1] : []));
  const lines = [...new Set(diagnostics(file).map((d) => d.line))].sort((a, b) => a - b);
  assert.deepEqual(lines, expected);
});

test('the example policies type-check', () => {
  for (const f of FILES.slice(1)) assert.deepEqual(diagnostics(f), [], f);
});
