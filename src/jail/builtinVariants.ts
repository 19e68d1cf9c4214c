// The built-in policy as a `tsjail run` without a policy file uses it: alone (--host-fs, -r), or
// with the stops a jail adds (unix sockets, network rules and writes stop at tsjail; as root also
// the set-id rules), in the order withJailStops adds them to any policy. Each variant ships
// precompiled (scripts/precompile-default.ts), so the jail starts without loading the compiler:
// the stops do not depend on which paths or destinations the rules name, only on which kinds apply.
import type { Policy } from '../policy/model';
import type { JailStops } from '../policy/jailStops';

/** Every set of stops a run can add (file rules always decide unix sockets too). */
export const DEFAULT_VARIANTS: readonly JailStops[] = [false, true].flatMap((setIds) => [
  { setIds, writes: false }, { setIds, net: 'unix', writes: false }, { setIds, net: 'allowlist', writes: false },
  { setIds, net: 'unix', writes: true }, { setIds, net: 'allowlist', writes: true },
] as const);

/** The variant's file name part: `plain`, `file-rules`, `file-rules-net-set-ids`... */
export function variantName(add: JailStops): string {
  const parts = [add.writes ? 'file-rules' : '', add.net === 'allowlist' ? 'net' : add.net === 'unix' && !add.writes ? 'unix' : '', add.setIds ? 'set-ids' : ''];
  return parts.filter(Boolean).join('-') || 'plain';
}

export function builtinVariant(add: JailStops): Policy {
  const { defaultPolicy } = require('./defaultPolicy') as typeof import('./defaultPolicy');
  return withJailStops(defaultPolicy(), add);
}

/**
 * A policy with the rules a jail adds to any policy, in this order: the set-id rules, the
 * connect/send stops and the write stops of file rules.
 */
export function withJailStops<P extends Policy>(policy: P, add: JailStops): P {
  if (!add.setIds && !add.net && !add.writes) return policy;
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
