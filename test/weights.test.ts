// Syscall weights: the weighted number tree decides exactly as the balanced one, is never
// longer, and on a recorded mix of real programs runs fewer instructions per call.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import util from 'node:util';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ABIS } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { diffPrograms } from '../src/bpf/diff';
import { emulate } from '../src/bpf/emulator';
import { verifyProgram } from '../src/bpf/verify';
import { weightedSplits } from '../src/bpf/weightedTree';
import { meanPerCall, programStats } from '../src/analysis/stats';
import { importOci } from '../src/formats/oci';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { allow, definePolicy, errno } from '../src/policy/dsl';
import { evaluatePolicy } from '../src/policy/evaluate';
import type { Policy, SyscallWeights } from '../src/policy/model';
import { formatWeights, parseWeights } from '../src/policy/weights';
import { describeRet } from '../src/kernel/seccomp';
import { syscallsOf } from '../src/syscalls/table';
import { hasUpstream, REPO_ROOT, upstreamPath } from '../scripts/upstream';
import { callsFor, policyArb } from './helpers/random';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const MIX_FILE = join(REPO_ROOT, 'fixtures/weights/mix-x86_64.weights');
const mix = (): SyscallWeights => parseWeights(readFileSync(MIX_FILE, 'utf8'), MIX_FILE);
const noUpstream = hasUpstream() ? false : 'upstream data (../shared/upstream) not found';

function docker(multiArch: boolean): Policy {
  const profile = JSON.parse(readFileSync(upstreamPath('moby/default.json'), 'utf8')) as Record<string, unknown>;
  const { archMap: _all, ...x86_64Only } = profile;
  return importOci(multiArch ? profile : { ...x86_64Only, architectures: ['SCMP_ARCH_X86_64'] }, { hostArch: 'x86_64', kernel: '6.1' }).policy;
}

test('weights files: names, numbers, comments; a syscall listed twice adds up', () => {
  const w = parseWeights('# recorded\nread 10\n\n  openat\t5  # hot\n0 3\nread 2\n', 'mix.weights');
  assert.deepEqual(w, { read: 12, openat: 5, 0: 3 });
  assert.deepEqual(parseWeights(formatWeights({ write: 1, read: 9, close: 9 }, ['from: x']), 'f'), { read: 9, close: 9, write: 1 });
  assert.equal(formatWeights({ write: 1, read: 9, close: 9 }), 'close 9\nread 9\nwrite 1\n');
});

test('weights files: each error names the file and line, with a did-you-mean for names', () => {
  const cases: [string, RegExp][] = [
    ['read 1\nopnat 5\n', /^w\.txt:2: unknown syscall 'opnat' — did you mean 'openat'/],
    ['read\n', /^w\.txt:1: expected 'syscall count', found 'read'/],
    ['read 1 2\n', /^w\.txt:1: expected 'syscall count'/],
    ['\n\nread -1\n', /^w\.txt:3: the count -1 is not a whole number/],
    ['read 1e3\n', /^w\.txt:1: the count 1e3 is not/],
    ['read 99999999999999999999\n', /^w\.txt:1: the count 99999999999999999999 is not a whole number/],
    ['4294967296 1\n', /^w\.txt:1: syscall number 4294967296 is over 2\^32-1/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseWeights(text, 'w.txt'), { name: 'PolicyError', message });
});

test('a policy carries weights (checked where it is defined) and compiles as with --weights', () => {
  const rules = [allow('read', 'write', 'openat', 'close', 'mmap', 'exit_group', 'futex', 'getpid', 'brk')];
  assert.throws(() => definePolicy({ default: errno('EPERM'), rules, weights: { opnat: 3 } }), /weights: unknown syscall 'opnat' — did you mean 'openat'/);
  assert.throws(() => definePolicy({ default: errno('EPERM'), rules, weights: { read: -1 } }), /weights: the count -1 is not a whole number/);
  const weights = { futex: 900, getpid: 50, read: 10 };
  const carried = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules, weights });
  const plain = definePolicy({ default: errno('EPERM'), arches: ['x86_64'], rules });
  assert.deepEqual(compileProgram(carried).bytes, compileProgram(plain, { weights }).bytes);
  assert.notDeepEqual(compileProgram(carried).bytes, compileProgram(plain).bytes, 'these weights reshape the tree');
  assert.deepEqual(compileProgram(plain, { weights: {} }).bytes, compileProgram(plain).bytes, 'no calls: the balanced tree');
});

test('the same policy and weights always give the same bytes, whatever the weights\' key order', { skip: noUpstream }, () => {
  const w = mix();
  const reversed = Object.fromEntries(Object.entries(w).reverse());
  for (const policy of [docker(false), docker(true), defaultPolicy()]) {
    const a = compileProgram(policy, { weights: w }).bytes;
    assert.deepEqual(compileProgram(structuredClone(policy), { weights: { ...w } }).bytes, a);
    assert.deepEqual(compileProgram(policy, { weights: reversed }).bytes, a);
  }
});

test('weighted programs decide exactly as unweighted ones (exact walk): Docker\'s profile and the built-in policy', { skip: noUpstream }, () => {
  const w = mix();
  // The recorded mix, and a mix of the calls the mix never makes (the other end of the tree).
  const unseen = Object.fromEntries(syscallsOf(ABIS.x86_64).filter((e) => !(e.name in w)).map((e, i) => [e.name, (i * 7919) % 1000]));
  for (const [name, policy] of [['Docker x86_64', docker(false)], ['Docker x86_64+x86+x32', docker(true)], ['built-in', defaultPolicy()]] as const) {
    const plain = compileProgram(policy).instructions;
    for (const weights of [w, unseen]) {
      const { instructions: weighted, warnings } = compileProgram(policy, { weights });
      // Where the weighted tree would be longer, the balanced one is kept, and said so.
      const kept = warnings.some((x) => /^the weights were not used: their program would be \d+ instructions? longer/.test(x.message));
      assert.equal(kept, util.isDeepStrictEqual(weighted, plain), `${name}: the weights change the tree unless a warning says why not`);
      if (weights === w) assert.ok(!kept, `${name}: the recorded mix is used`);
      assert.deepEqual(diffPrograms(plain, weighted), [], `${name}: weighted and unweighted programs differ`);
      assert.ok(weighted.length <= plain.length, `${name}: ${weighted.length} instructions weighted, ${plain.length} unweighted`);
    }
  }
});

test('random policies with random weights: exact walk against the unweighted program, emulator against the reference evaluator', () => {
  let checked = 0, walked = 0, reshaped = 0;
  fc.assert(
    fc.property(policyArb(), fc.integer(), fc.array(fc.nat(1_000_000), { minLength: 1, maxLength: 40 }), ({ policy, abis }, seed, counts) => {
      let state = seed >>> 0;
      const rand = (): number => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      // Weights on the policy's own syscalls, on other numbers (x32 ones too), skewed by squaring.
      const names = [...new Set(policy.rules.flatMap((r) => r.syscalls))];
      const others = syscallsOf(abis[0]!);
      const weights: Record<string, number> = {};
      for (const c of counts) {
        const r = rand();
        const key = r < 0.5 && names.length ? names[Math.floor(rand() * names.length)]! : r < 0.9 ? others[Math.floor(rand() * others.length)]!.name : String([0x40000000, 0xffffffff, 4000][Math.floor(rand() * 3)]);
        weights[key] = (weights[key] ?? 0) + Math.floor((c * c) / 1_000_000);
      }
      const plain = compileProgram(policy);
      const weighted = compileProgram(policy, { weights });
      assert.deepEqual(verifyProgram(weighted.instructions), []);
      assert.ok(weighted.instructions.length <= plain.instructions.length);
      if (!util.isDeepStrictEqual(weighted.instructions, plain.instructions)) reshaped++;
      // diff does not follow ordered compares of masked (16-bit) words; the emulator below still checks those.
      try {
        assert.deepEqual(diffPrograms(plain.instructions, weighted.instructions), []);
        walked++;
      } catch (e) {
        if (!/ordered compare of a masked word is not supported/.test((e as Error).message)) throw e;
      }
      for (const call of callsFor(policy, abis, rand)) {
        const got = emulate(weighted.instructions, call, weighted.endian).ret;
        const want = evaluatePolicy(policy, abis, call).ret;
        if (got !== want) assert.fail(`${describeRet(got)} != ${describeRet(want)} for nr=${call.nr} weights=${JSON.stringify(weights)}`);
        checked++;
      }
    }),
    { numRuns: 300, seed: 14 },
  );
  assert.ok(checked > 10000, `checked ${checked} calls`);
  assert.ok(walked > 250, `walked ${walked} of 300 program pairs exactly`);
  assert.ok(reshaped > 100, `the weights reshaped ${reshaped} of 300 programs`);
});

/** Σ count × depth of the tree the splits give, and the least such cost over every tree (O(n³)). */
function treeCost(counts: readonly number[], split: (lo: number, hi: number) => number, lo = 0, hi = counts.length - 1): number {
  if (lo === hi) return 0;
  const k = split(lo, hi);
  assert.ok(k > lo && k <= hi);
  return counts.slice(lo, hi + 1).reduce((a, b) => a + b, 0) + treeCost(counts, split, lo, k - 1) + treeCost(counts, split, k, hi);
}

test('weightedSplits gives a least-cost tree (against the exhaustive search)', () => {
  fc.assert(fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 14 }), (raw) => {
    // The unseen share is part of the cost the splits minimise: compare on the same weights.
    const total = raw.reduce((a, b) => a + b, 0);
    const split = weightedSplits(raw);
    if (!total) { assert.equal(split, undefined); return; }
    const counts = raw.map((c) => c + (total * 0.01) / raw.length);
    const best = new Map<string, number>();
    const exhaustive = (lo: number, hi: number): number => {
      if (lo === hi) return 0;
      const key = `${lo},${hi}`;
      let b = best.get(key);
      if (b === undefined) {
        b = Infinity;
        for (let k = lo + 1; k <= hi; k++) b = Math.min(b, exhaustive(lo, k - 1) + exhaustive(k, hi));
        b += counts.slice(lo, hi + 1).reduce((x, y) => x + y, 0);
        best.set(key, b);
      }
      return b;
    };
    const got = treeCost(counts, split!);
    assert.ok(Math.abs(got - exhaustive(0, counts.length - 1)) < 1e-6 * Math.max(1, got), `${got} vs ${exhaustive(0, counts.length - 1)}`);
  }), { numRuns: 500, seed: 3 });
});

test('on the recorded mix of real programs, Docker\'s profile runs ≤ 10 instructions per call weighted, at the same size or smaller', { skip: noUpstream }, () => {
  const w = mix();
  for (const [name, policy] of [['Docker x86_64', docker(false)], ['Docker x86_64+x86+x32', docker(true)], ['built-in', defaultPolicy()]] as const) {
    const plain = compileProgram(policy).instructions;
    const weighted = compileProgram(policy, { weights: w }).instructions;
    const before = meanPerCall(plain, ABIS.x86_64, w);
    const after = meanPerCall(weighted, ABIS.x86_64, w);
    assert.ok(after <= 10, `${name}: ${after.toFixed(2)} instructions per call weighted (${before.toFixed(2)} unweighted)`);
    assert.ok(after < before - 1, `${name}: weighted ${after.toFixed(2)} is not clearly below unweighted ${before.toFixed(2)}`);
    assert.ok(weighted.length <= plain.length, `${name}: ${weighted.length} instructions weighted, ${plain.length} unweighted`);
    // Calls the mix never makes stay within a few tests of the balanced tree.
    assert.ok(programStats(weighted, ABIS.x86_64).worstPath <= programStats(plain, ABIS.x86_64).worstPath + 4);
  }
});

test('tsjail learn --weights-out records a run\'s counts, and compile --weights uses them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-weights-'));
  try {
    const out = join(dir, 'sh.weights');
    const learn = spawnSync(process.execPath, [BIN, 'learn', '--exact', '-o', '/dev/null', '--weights-out', out, '--', 'sh', '-c', 'echo a; echo b; echo c'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(learn.status, 0, learn.stderr);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /^# Syscall weights recorded by `tsjail learn`.*\n# "sh -c echo a; echo b; echo c"\n/);
    const w = parseWeights(text, out);
    assert.ok(w.execve! >= 1 && w.write! >= 3, text);
    const compiled = spawnSync(process.execPath, [BIN, 'compile', '--policy', '@builtin', '--weights', out, '--stats', '-o', join(dir, 'f.bpf')], { encoding: 'utf8' });
    assert.equal(compiled.status, 0, compiled.stderr);
    assert.match(compiled.stderr, /x86_64: mean [\d.]+ executed, [\d.]+ per call of the weights' mix/);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'f.bpf'))), compileProgram(defaultPolicy(), { weights: w }).bytes);
    const unwritable = spawnSync(process.execPath, [BIN, 'learn', '--weights-out', join(dir, 'no/such/dir/w'), '--', 'sh', '-c', 'touch ran'], { encoding: 'utf8', cwd: dir, timeout: 60000 });
    assert.equal(unwritable.status, 125);
    assert.match(unwritable.stderr, /cannot write .*no\/such\/dir\/w: ENOENT \(choose another --weights-out\)/);
    assert.ok(!existsSync(join(dir, 'ran')), 'nothing was run');
    const dash = spawnSync(process.execPath, [BIN, 'learn', '--weights-out', '-', '--', 'true'], { encoding: 'utf8' });
    assert.equal(dash.status, 2);
    assert.match(dash.stderr, /--weights-out needs a file/);
    writeFileSync(join(dir, 'bad.weights'), 'read 3\nwirte 2\n');
    const bad = spawnSync(process.execPath, [BIN, 'compile', '--policy', '@builtin', '--weights', join(dir, 'bad.weights'), '-o', '/dev/null'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /bad\.weights:2: unknown syscall 'wirte' — did you mean 'write'/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a policy with weights runs in a real jail and decides as written', async () => {
  const { run } = await import('../src/index');
  // mkdir among the hottest calls: its refusal sits near the root of the weighted tree.
  const weights = { ...mix(), mkdir: 5000, mkdirat: 5000 };
  const policy = definePolicy({ default: allow(), rules: [errno('EPERM', 'mkdir', 'mkdirat')], weights });
  assert.notDeepEqual(compileProgram(policy).bytes, compileProgram({ ...policy, weights: {} }).bytes);
  const r = await run('sh', ['-c', 'echo hi; mkdir /tmp/x 2>/dev/null || echo refused; ls / >/dev/null && echo listed'], { policy });
  assert.equal(r.stdout, 'hi\nrefused\nlisted\n', r.stderr);
  assert.deepEqual(r.denials.map((d) => d.syscall), ['mkdir']);
});
