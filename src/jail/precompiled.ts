// The built-in policy compiled at build time (scripts/precompile-default.ts), so a plain
// `tsjail run` starts without loading the compiler. test/default-policy.test.ts checks the file
// equals a fresh compile.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostAbi } from '../arch/abi';

export function precompiledDefaultPath(abiName: string): string {
  return join(resolve(__dirname, '../..'), 'default-policy', `${abiName}.bpf`);
}

/** The precompiled filter for this host, or undefined when the build did not make one. */
export function precompiledDefault(): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(precompiledDefaultPath(hostAbi().name)));
  } catch {
    return undefined;
  }
}
