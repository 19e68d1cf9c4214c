import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import { describeRet } from '../src/kernel/seccomp';
import { verifyProgram } from '../src/bpf/verify';
import { evaluatePolicy } from '../src/policy/evaluate';
import { callsFor, policyArb } from './helpers/random';

test('emulate(compile(policy)) equals the reference evaluator on random policies and edge arguments', () => {
  let checked = 0;
  fc.assert(
    fc.property(policyArb(), fc.integer(), ({ policy, abis }, seed) => {
      const compiled = compileProgram(policy);
      assert.deepEqual(verifyProgram(compiled.instructions), []);
      let state = seed >>> 0;
      const rand = (): number => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      for (const call of callsFor(policy, abis, rand)) {
        const got = emulate(compiled.instructions, call, compiled.endian).ret;
        const want = evaluatePolicy(policy, abis, call).ret;
        if (got !== want) {
          assert.fail(`${describeRet(got)} != ${describeRet(want)} for nr=${call.nr} arch=0x${call.arch.toString(16)} args=${call.args!.map((a) => a.toString(16))}\npolicy: ${JSON.stringify(policy, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
        }
        checked++;
      }
    }),
    { numRuns: 400, seed: 20261122 },
  );
  assert.ok(checked > 10000, `checked ${checked} calls`);
});

test('the same policy always gives the same bytes', () => {
  fc.assert(fc.property(policyArb(), ({ policy }) => {
    assert.deepEqual(compileProgram(policy).bytes, compileProgram(structuredClone(policy)).bytes);
  }), { numRuns: 100, seed: 7 });
});
