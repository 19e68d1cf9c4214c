// tsjail as another project uses it: `require('tsjail')`, `import ... from 'tsjail'`, and the bin.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const project = mkdtempSync(join(tmpdir(), 'tsjail-user-'));
mkdirSync(join(project, 'node_modules'));
symlinkSync(REPO_ROOT, join(project, 'node_modules', 'tsjail'));

test('CommonJS: require("tsjail") compiles a filter and explains a call', () => {
  writeFileSync(join(project, 'use.cjs'), `
const { definePolicy, allow, errno, compileFilter, compileProgram, explainCall, TIOCSTI } = require('tsjail');
const policy = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules: [allow('read', 'write'), errno('EACCES', 'ioctl', { cmd: TIOCSTI })] });
const bytes = compileFilter(policy);
console.log(bytes instanceof Uint8Array, bytes.length === compileProgram(policy).instructions.length * 8);
console.log(explainCall(policy, 'ioctl', [0n, 0x5412n]).action);
`);
  assert.equal(execFileSync(process.execPath, ['use.cjs'], { cwd: project, encoding: 'utf8' }), 'true true\nERRNO(13)\n');
});

test('ES modules: named imports from "tsjail"', () => {
  writeFileSync(join(project, 'use.mjs'), `
import { importOci, exportOci, compileFilter, lookupAbi } from 'tsjail';
const { policy } = importOci({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_AARCH64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
console.log(compileFilter(policy).length > 0, lookupAbi('arm64').name, exportOci(policy).syscalls[0].names[0]);
`);
  assert.equal(execFileSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' }), 'true aarch64 read\n');
});

test('the package bin runs from another project', () => {
  const out = execFileSync(join(project, 'node_modules', 'tsjail', 'bin', 'tsjail.js'), ['syscalls', '--arch', 'x86_64', 'read'], { cwd: project, encoding: 'utf8' });
  assert.match(out, /^x86_64: +0 {2}read\(/);
});
