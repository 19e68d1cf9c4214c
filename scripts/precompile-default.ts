// Compiles the built-in `tsjail run` policy for this host into dist/default-policy/ABI.bpf.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostAbi } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { precompiledDefaultPath } from '../src/jail/precompiled';

const out = precompiledDefaultPath(hostAbi().name);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, compileProgram(defaultPolicy()).bytes);
console.log(`wrote ${out}`);
