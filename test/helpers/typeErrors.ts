// TypeScript's diagnostics for policy files, with `tsjail` resolved to this source tree: how the
// tests show that a written or hand-made policy type-checks (or where it does not).
import { join } from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../../scripts/upstream';

export function typeErrors(files: readonly string[]): string[] {
  const program = ts.createProgram([...files], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10, baseUrl: REPO_ROOT, paths: { tsjail: ['src/index.ts'] },
    types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules/@types')], skipLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).filter((d) => files.includes(d.file?.fileName ?? ''))
    .map((d) => `${d.file!.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}
