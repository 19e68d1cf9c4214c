// Golden files: fixtures/golden.json lists policies; fixtures/golden/NAME.{hex,disasm} hold the
// expected bytes and disassembly. `npm run golden` rewrites them; review the diff before committing.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AbiName } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { disassemble, formatDisassembly } from '../src/bpf/disasm';
import { loadPolicyFile } from '../src/formats/load';
import { REPO_ROOT, upstreamPath } from './upstream';

export interface GoldenCase {
  readonly name: string;
  readonly policy: string;
  readonly arch?: readonly string[];
  readonly oci?: { readonly hostArch: AbiName; readonly kernel: string };
}

export const GOLDEN_DIR = join(REPO_ROOT, 'fixtures/golden');

export function goldenCases(): GoldenCase[] {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'fixtures/golden.json'), 'utf8')) as GoldenCase[];
}

export function policyPath(c: GoldenCase): string {
  return c.policy.startsWith('upstream:') ? upstreamPath(c.policy.slice('upstream:'.length)) : join(REPO_ROOT, c.policy);
}

/** The hex dump (one instruction per line) and the disassembly of a case. */
export function renderGolden(c: GoldenCase): { hex: string; disasm: string } {
  const { policy } = loadPolicyFile(policyPath(c), c.oci ?? {});
  const compiled = compileProgram(policy, c.arch ? { arch: c.arch } : {});
  const hex = Array.from({ length: compiled.instructions.length }, (_, i) =>
    Buffer.from(compiled.bytes.subarray(i * 8, i * 8 + 8)).toString('hex')).join('\n') + '\n';
  const disasm = `# ${c.name}: ${compiled.abis.map((a) => a.name).join(' + ')}, ${compiled.instructions.length} instructions\n`
    + formatDisassembly(disassemble(compiled.instructions, { endian: compiled.endian, abis: compiled.abis }));
  return { hex, disasm };
}

if (require.main === module) {
  mkdirSync(GOLDEN_DIR, { recursive: true });
  for (const c of goldenCases()) {
    const { hex, disasm } = renderGolden(c);
    writeFileSync(join(GOLDEN_DIR, `${c.name}.hex`), hex);
    writeFileSync(join(GOLDEN_DIR, `${c.name}.disasm`), disasm);
    console.log(`wrote fixtures/golden/${c.name}.{hex,disasm}`);
  }
}
