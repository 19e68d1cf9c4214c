// The labels of the user_notif rules tsjail adds to a policy to stop calls of its own (network
// rules, write explanations): the supervisor knows them by these, and decides such a call by
// the policy without them first, so that what the policy refuses stays refused.
export const NET_STOP_LABEL = 'network rules';
export const WRITE_INTENT_LABEL = 'file writes (explained by tsjail, decided by the kernel)';
export const TSJAIL_STOPS: readonly string[] = [NET_STOP_LABEL, WRITE_INTENT_LABEL];
/** The label of the rules that stop drift (policy/drift.ts). Here, not there: a run without drift loads no syscall table for it. */
export const DRIFT_LABEL = 'drift (outside the expected policy)';

/** The label of the guard's rules in a jail without a PID namespace (jail/otherProcesses.ts). */
export const OTHER_PROCESSES_LABEL = 'other processes (no PID namespace)';

/** The rules a jail adds to a policy (withJailStops). */
export interface JailStops {
  /** The set-id rules: the jail writes host files as their owners. */
  readonly setIds: boolean;
  /** The connect/send stops: `unix` for the unix socket rules alone, `allowlist` for network rules too. */
  readonly net?: 'unix' | 'allowlist';
  /** The write stops of file rules. */
  readonly writes: boolean;
}
