// Drift mode for `tsjail run`: the --policy file is what the program is expected to do, --enforce
// (or the policy's `enforce:`) what is enforced. Resolves the enforced level and composes the two
// into the one policy the filter is compiled from (policy/drift.ts).
import { dirname, resolve } from 'node:path';
import { composeDrift } from '../policy/drift';
import { PolicyError } from '../policy/errors';
import type { DefinedPolicy } from '../policy/dsl';
import type { Policy } from '../policy/model';

/** The expected level, and how both levels are named in reports. */
export interface DriftLevels {
  readonly expected: Policy;
  readonly expectedName: string;
  readonly enforcedName: string;
}

export const BUILTIN_ENFORCE = '@builtin';

/** The enforced policy `value` names: '@builtin', or a policy file (relative to `base`, the expected policy's directory). */
export function loadEnforced(value: string, base: string, what: string): Policy {
  if (value.startsWith('@')) {
    if (value !== BUILTIN_ENFORCE) throw new PolicyError(`${what}: unknown built-in policy '${value}'`, undefined, `the built-in one is ${BUILTIN_ENFORCE}; a file is named by its path`);
    return (require('./defaultPolicy') as typeof import('./defaultPolicy')).defaultPolicy();
  }
  const file = resolve(base, value);
  const { loadPolicyFile } = require('../formats/load') as typeof import('../formats/load');
  const loaded = loadPolicyFile(file).policy;
  if (loaded.enforce !== undefined) throw new PolicyError(`${what}: ${value} names an enforced policy of its own (enforce: '${loaded.enforce}')`, undefined, 'the enforced level is one policy: drop its enforce');
  return loaded;
}

/**
 * The composed policy of `expected` (the --policy file, at `file`) and the enforced level named by
 * `flag` (--enforce) or else by the policy's `enforce:`; undefined when neither names one. The
 * expected policy's settings (jail:, extends) stay; its rules become drift rules over the enforced ones.
 */
export function driftPolicy<J>(expected: DefinedPolicy<J>, file: string, flag: string | undefined): { policy: DefinedPolicy<J>; levels: DriftLevels } | undefined {
  const value = flag ?? expected.enforce;
  if (value === undefined) return undefined;
  const enforced = loadEnforced(value, flag !== undefined ? process.cwd() : dirname(resolve(file)), flag !== undefined ? '--enforce' : `${file}: enforce`);
  const { defaultAction, badArchAction, arches, rules } = composeDrift(expected, enforced);
  return { policy: { ...expected, defaultAction, badArchAction, arches, rules }, levels: { expected, expectedName: file, enforcedName: value } };
}
