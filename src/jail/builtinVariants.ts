// The built-in policy as a plain `tsjail run` uses it: alone (--host-fs, -r), or with the stops
// a jail with file rules adds (unix sockets and writes stop at tsjail; as root also the set-id
// rules), in the order src/cli/run.ts adds them to any policy. Each variant ships precompiled
// (scripts/precompile-default.ts), so the default jail starts without loading the compiler.
import type { Policy } from '../policy/model';
import { defaultPolicy } from './defaultPolicy';

export const DEFAULT_VARIANTS = ['plain', 'file-rules', 'file-rules-set-ids'] as const;
export type DefaultVariant = (typeof DEFAULT_VARIANTS)[number];

export function builtinVariant(variant: DefaultVariant): Policy {
  const policy = defaultPolicy();
  if (variant === 'plain') return policy;
  const { setIdRules } = require('./setIdRules') as typeof import('./setIdRules');
  const { netPolicyRules } = require('./netSupervisor') as typeof import('./netSupervisor');
  const { writeIntentRules } = require('./fsWrites') as typeof import('./fsWrites');
  return {
    ...policy,
    rules: [...policy.rules, ...(variant === 'file-rules-set-ids' ? setIdRules() : []), ...netPolicyRules(false), ...writeIntentRules()],
  };
}
