// diff is exact: every region it reports really differs, and every difference lies in a region.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ABIS } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { satisfiable, type WordConstraint } from '../src/bpf/diff';
import { emulate } from '../src/bpf/emulator';
import { encodeSeccompData, type SeccompData } from '../src/kernel/seccomp';
import { diffPolicies } from '../src/analysis/diff';
import { importOci } from '../src/formats/oci';
import { allow, definePolicy, errno, hasNone, kill } from '../src/policy/dsl';
import { syscallsOf } from '../src/syscalls/table';
import { hasUpstream, upstreamPath } from '../scripts/upstream';
import { EDGE_VALUES } from './helpers/random';

test('satisfiable finds a value or proves there is none', () => {
  const full: WordConstraint = { lo: 0, hi: 0xffffffff, masked: [], notMasked: [] };
  assert.equal(satisfiable({ ...full, lo: 5, hi: 4 }), undefined);
  assert.equal(satisfiable({ ...full, masked: [[0xff, 0x12]], notMasked: [[0xffffffff, 0x12]] }), 0x112);
  assert.equal(satisfiable({ ...full, lo: 7, hi: 7, notMasked: [[0xffffffff, 7]] }), undefined);
  assert.equal(satisfiable({ ...full, masked: [[1, 1]], notMasked: [[1, 1]] }), undefined);
  assert.equal(satisfiable({ ...full, lo: 0x10, hi: 0x1f, masked: [[0x3, 0x3]] }), 0x13);
});

function within(data: SeccompData, constraints: ReadonlyMap<number, WordConstraint>): boolean {
  const bytes = encodeSeccompData(data, 'little');
  const view = new DataView(bytes.buffer);
  return [...constraints].every(([off, c]) => {
    const w = view.getUint32(off, true);
    return w >= c.lo && w <= c.hi && c.masked.every(([m, v]) => ((w & m) >>> 0) === v >>> 0) && c.notMasked.every(([m, v]) => ((w & m) >>> 0) !== v >>> 0);
  });
}

function checkExact(a: Parameters<typeof diffPolicies>[0], b: Parameters<typeof diffPolicies>[1], arch: string): number {
  const diffs = diffPolicies(a, b, [arch]);
  const abi = ABIS[arch as keyof typeof ABIS];
  const pa = compileProgram(a, { arch }).instructions;
  const pb = compileProgram(b, { arch }).instructions;
  // Every reported region really differs: its example call gets the two reported answers.
  for (const d of diffs) {
    assert.notEqual(emulate(pa, d.example, 'little').ret, emulate(pb, d.example, 'little').ret);
  }
  // Every difference found by brute force lies in a reported region.
  const { diffPrograms } = require('../src/bpf/diff') as typeof import('../src/bpf/diff');
  const regions = diffPrograms(pa, pb);
  let found = 0;
  for (const { nr } of syscallsOf(abi)) {
    for (const v of [0n, ...EDGE_VALUES]) {
      for (const args of [[v], [0n, v], [v, v, v]]) {
        const data = { nr, arch: abi.auditArch, args };
        if (emulate(pa, data, 'little').ret === emulate(pb, data, 'little').ret) continue;
        found++;
        assert.ok(regions.some((r) => within(data, r.constraints)), `nr ${nr} args ${args} differs but no region covers it`);
      }
    }
  }
  return found;
}

test('diff of two DSL policies: exact regions, argument ranges included', () => {
  const a = definePolicy({ default: errno('EPERM'), rules: [allow('read', 'write', 'clone'), allow('socket', { family: [1, 2] }), kill('ptrace')] });
  const b = definePolicy({ default: errno('ENOSYS'), rules: [allow('read'), allow('clone', { clone_flags: hasNone(0x10000000) }), allow('socket', { family: [1, 10] }), errno('EPERM', 'ptrace')] });
  const diffs = diffPolicies(a, b, ['x86_64']);
  const text = diffs.map((d) => `${d.syscalls.join(',')}|${d.args.join(',')}|${d.a}|${d.b}`);
  assert.ok(text.some((t) => t.startsWith('write||ALLOW|ERRNO(38)')), text.join('\n'));
  assert.ok(text.some((t) => t.startsWith('ptrace||KILL_PROCESS|ERRNO(1)')));
  assert.ok(text.some((t) => t.startsWith('clone|args[0].lo & 0x10000000 != 0x0|ALLOW|ERRNO(38)')), text.join('\n'));
  assert.ok(text.some((t) => t.startsWith('socket|args[0].lo == 0x2|ALLOW|ERRNO(38)')));
  assert.ok(text.some((t) => t.startsWith('socket|args[0].lo == 0xa|ERRNO(1)|ALLOW')));
  assert.ok(checkExact(a, b, 'x86_64') > 0);
  assert.deepEqual(diffPolicies(a, a, ['x86_64']), []);
});

test("diff of Docker's and podman's profiles is exact", { skip: hasUpstream() ? false : 'upstream data not found' }, () => {
  const load = (rel: string) => importOci(JSON.parse(readFileSync(upstreamPath(rel), 'utf8')), { hostArch: 'x86_64', kernel: '6.1' }).policy;
  const found = checkExact(load('moby/default.json'), load('containers-common/seccomp.json'), 'x86_64');
  assert.ok(found > 50);
});
