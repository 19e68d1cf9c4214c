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
  return variant === 'plain' ? policy : withJailStops(policy, { setIds: variant === 'file-rules-set-ids', net: 'unix', writes: true });
}

/**
 * A policy with the rules a jail adds to any policy, in this order: the set-id rules (a jail that
 * writes host files as their owners), the connect/send stops (`unix`: for the unix socket rules
 * alone; `allowlist`: network rules too) and the write stops of file rules.
 */
export function withJailStops<P extends Policy>(policy: P, add: { readonly setIds: boolean; readonly net?: 'unix' | 'allowlist'; readonly writes: boolean }): P {
  const { setIdRules } = require('./setIdRules') as typeof import('./setIdRules');
  const { netPolicyRules } = require('./netSupervisor') as typeof import('./netSupervisor');
  const { writeIntentRules } = require('./fsWrites') as typeof import('./fsWrites');
  return {
    ...policy,
    rules: [
      ...policy.rules, ...(add.setIds ? setIdRules() : []), ...(add.net ? netPolicyRules(add.net === 'allowlist') : []), ...(add.writes ? writeIntentRules() : []),
    ],
  };
}
