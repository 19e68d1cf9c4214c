// Rules a root-started jail adds to its policy when it may write host files as their real
// owners (an idmapped --bind, -r DIR, an --overlay's upper directory): creating or marking a
// set-uid or set-gid file there would leave the host a set-uid-root program. The mode bits are
// arguments (umode_t), so the filter sees them; openat2 carries its mode in memory, out of a
// filter's reach, and gets ENOSYS (callers fall back to openat).
import { errno, hasAll, named } from '../policy/dsl';
import type { Policy, Rule } from '../policy/model';

const S_ISUID = 0o4000, S_ISGID = 0o2000, O_CREAT = 0o100, O_TMPFILE = 0o20200000;

export const SET_ID_LABEL = 'set-id files on host mounts';

export function setIdRules(): Rule[] {
  const bits = [S_ISUID, S_ISGID];
  const creating = [O_CREAT, O_TMPFILE];
  return named(SET_ID_LABEL, [
    ...bits.flatMap((b) => [
      ...errno('EPERM', 'chmod', { mode: hasAll(b) }), ...errno('EPERM', 'fchmod', { mode: hasAll(b) }),
      ...errno('EPERM', 'fchmodat', { mode: hasAll(b) }), ...errno('EPERM', 'fchmodat2', { mode: hasAll(b) }),
      ...errno('EPERM', 'creat', { mode: hasAll(b) }), ...errno('EPERM', 'mknod', { mode: hasAll(b) }),
      ...errno('EPERM', 'mknodat', { mode: hasAll(b) }),
      ...creating.flatMap((c) => [
        ...errno('EPERM', 'open', { flags: hasAll(c), mode: hasAll(b) }),
        ...errno('EPERM', 'openat', { flags: hasAll(c), mode: hasAll(b) }),
      ]),
    ]),
    ...errno('ENOSYS', 'openat2'),
  ]);
}

/** The policy with the set-id rules (errno outranks allow, so they hold whatever it allows). */
export function withSetIdRules<P extends Policy>(policy: P): P {
  return { ...policy, rules: [...policy.rules, ...setIdRules()] };
}
