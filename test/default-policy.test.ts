// The built-in policy: what it decides, and that the precompiled copy is exactly its compile.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ABIS, hostAbi } from '../src/arch/abi';
import { syscallNumber } from '../src/syscalls/table';
import { compileProgram } from '../src/bpf/compile';
import { DEFAULT_ALLOWED, DEFAULT_DENIED, defaultPolicy } from '../src/jail/defaultPolicy';
import { precompiledDefaultPath } from '../src/jail/precompiled';
import { builtinVariant, DEFAULT_VARIANTS, variantName } from '../src/jail/builtinVariants';
import { explainCall } from '../src/analysis/explain';
import { REPO_ROOT } from '../scripts/upstream';
import { join } from 'node:path';

test('the precompiled default filters (each variant) are byte-identical to a fresh compile', () => {
  for (const variant of DEFAULT_VARIANTS) {
    const shipped = new Uint8Array(readFileSync(precompiledDefaultPath(hostAbi().name, variant)));
    assert.deepEqual(shipped, compileProgram(builtinVariant(variant)).bytes, variantName(variant));
  }
  assert.deepEqual(builtinVariant({ setIds: false, writes: false }), defaultPolicy());
});

test('the built-in policy decides as SYSCALLS.md says', { skip: process.arch === 'x64' ? false : 'x86_64 numbers' }, () => {
  const p = defaultPolicy();
  const action = (name: string, args: bigint[] = []): string => explainCall(p, name, args, { arch: 'x86_64' }).action;
  assert.equal(action('read'), 'ALLOW');
  assert.equal(action('clone', [0x1200011n]), 'ALLOW');                 // fork
  assert.equal(action('clone', [0x1200011n | 0x10000000n]), 'ERRNO(1)');  // CLONE_NEWUSER
  assert.equal(action('clone', [(1n << 32n) | 0x11n]), 'ALLOW');          // high bits: the kernel ignores them
  assert.equal(action('clone3'), 'ERRNO(38)');
  assert.equal(action('ioctl', [0n, 0x5412n | (1n << 32n)]), 'ERRNO(1)'); // TIOCSTI, high bits set
  assert.equal(action('ioctl', [0n, 0x5413n]), 'ALLOW');
  assert.equal(action('personality', [0xffffffffn]), 'ALLOW');
  assert.equal(action('personality', [0x40000n]), 'ERRNO(1)');
  assert.equal(action('mount'), 'ERRNO(1)');
  assert.equal(action('listns'), 'ERRNO(38)');                            // unknown to the policy: ENOSYS
  for (const names of Object.values(DEFAULT_DENIED)) {
    for (const n of names) if (syscallNumber(ABIS.x86_64, n) !== undefined && action(n) !== 'ERRNO(1)') assert.fail(n);
  }
  const both = DEFAULT_ALLOWED.filter((n) => Object.values(DEFAULT_DENIED).some((d) => d.includes(n)));
  assert.deepEqual(both, []);
  // Every name in SYSCALLS.md's EPERM table is in the policy.
  const doc = readFileSync(join(REPO_ROOT, 'SYSCALLS.md'), 'utf8');
  for (const names of Object.values(DEFAULT_DENIED)) for (const n of names) assert.ok(doc.includes(`\`${n}\``), `${n} is not explained in SYSCALLS.md`);
});
