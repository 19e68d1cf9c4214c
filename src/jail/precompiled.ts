// The built-in policy compiled at build time (scripts/precompile-default.ts), in each variant a
// plain `tsjail run` uses (builtinVariants.ts), so it starts without loading the compiler.
// test/default-policy.test.ts checks each file equals a fresh compile.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostAbi } from '../arch/abi';
import { variantName } from './builtinVariants';
import type { JailStops } from '../policy/jailStops';

export function precompiledDefaultPath(abiName: string, variant: JailStops): string {
  const name = variantName(variant);
  return join(resolve(__dirname, '../..'), 'default-policy', `${abiName}${name === 'plain' ? '' : `-${name}`}.bpf`);
}

/** The guard of a jail without a PID namespace (otherProcesses.ts), compiled for an `abiName` machine. */
export function precompiledGuardPath(abiName: string): string {
  return join(resolve(__dirname, '../..'), 'default-policy', `${abiName}-guard-other-processes.bpf`);
}

/** The precompiled filter for this host, or undefined when the build did not make one. */
export function precompiledDefault(variant: JailStops): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(precompiledDefaultPath(hostAbi().name, variant)));
  } catch {
    return undefined;
  }
}
