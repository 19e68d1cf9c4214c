// Compiles the built-in `tsjail run` policy for this host, in each variant, into dist/default-policy/ABI[-VARIANT].bpf,
// and the guard of a jail without a PID namespace (otherProcesses.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostAbi } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { builtinVariant, DEFAULT_VARIANTS } from '../src/jail/builtinVariants';
import { guardPolicy } from '../src/jail/otherProcesses';
import { precompiledDefaultPath, precompiledGuardPath } from '../src/jail/precompiled';

for (const variant of DEFAULT_VARIANTS) {
  const out = precompiledDefaultPath(hostAbi().name, variant);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, compileProgram(builtinVariant(variant)).bytes);
  console.log(`wrote ${out}`);
}
const guard = precompiledGuardPath(hostAbi().name);
writeFileSync(guard, compileProgram(guardPolicy()).bytes);
console.log(`wrote ${guard}`);
