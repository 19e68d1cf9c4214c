import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GOLDEN_DIR, goldenCases, policyPath, renderGolden } from '../scripts/golden';

for (const c of goldenCases()) {
  const missing = existsSync(policyPath(c)) ? false : `${policyPath(c)} not found (upstream data)`;
  test(`golden: ${c.name} compiles to the reviewed bytes and disassembly`, { skip: missing }, () => {
    const { hex, disasm } = renderGolden(c);
    assert.equal(hex, readFileSync(join(GOLDEN_DIR, `${c.name}.hex`), 'utf8'), 'bytes changed: run `npm run golden` and review the diff');
    assert.equal(disasm, readFileSync(join(GOLDEN_DIR, `${c.name}.disasm`), 'utf8'), 'disassembly changed: run `npm run golden` and review the diff');
  });
}
