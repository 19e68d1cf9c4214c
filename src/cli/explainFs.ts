// `tsjail explain --fs [--policy FILE] [--ro/--rw/--hide/--show/--noexec PATH]... [--host-fs] [PATH...]`:
// the file rules a jail started here would have, and the rule that decides each PATH.
import arg from 'arg';
import { JailError } from '../jail/errors';
import { canonicalPath, decidingRule, describeFs, fsContext, jailFs } from '../jail/fsRules';
import { loadPolicyFile } from '../formats/load';
import { PolicyError } from '../policy/errors';
import { fsFlagsInOrder } from './run';
import { usageErrorOf } from './usage';
import type { FsRuleInput, JailOptions } from '../policy/jailSettings';

/** explain --fs's flags, as arg reads them. */
export const EXPLAIN_FS_FLAGS = {
  '--fs': Boolean, '--policy': String, '-p': '--policy', '--host-fs': Boolean,
  '--ro': [String], '--rw': [String], '--hide': [String], '--show': [String], '--noexec': [String],
} satisfies arg.Spec;

/** The lines `explain --fs` prints; a bad rule is a PolicyError (exit 1) naming it. */
export function explainFs(argv: string[]): string[] {
  let a;
  try {
    a = arg(EXPLAIN_FS_FLAGS, { argv });
  } catch (e) {
    throw usageErrorOf(e, EXPLAIN_FS_FLAGS);
  }
  const policyFs = a['--policy'] ? (loadPolicyFile(a['--policy']).policy.jail as JailOptions | undefined)?.fs : undefined;
  const fsFlags: FsRuleInput[] = fsFlagsInOrder(argv, EXPLAIN_FS_FLAGS, a);
  try {
    const fs = jailFs({ ...(policyFs ? { fs: policyFs } : {}), fsFlags, ...(a['--host-fs'] ? { hostFs: true } : {}) });
    if (!fs) return ['--host-fs: no file rules (the host\'s files are shared as they are)'];
    const ctx = fsContext();
    return [
      ...describeFs(fs),
      ...fs.notes.map((n) => `note: ${n}`),
      ...a._.map((given) => {
        const path = canonicalPath(given, ctx, 'explain');
        const r = decidingRule(fs.rules, path);
        return `${given}${path !== given ? ` (${path})` : ''}: decided by ${describeFs({ rules: [r], notes: [] })[0]!.replace(/ +/, ' ')}`;
      }),
    ];
  } catch (e) {
    if (e instanceof JailError) throw new PolicyError(e.message);
    throw e;
  }
}

/** `lint`'s notes about a policy's `jail.fs` (as a jail started here would resolve it). */
export function lintFs(jail: JailOptions | undefined): string[] {
  if (!jail?.fs?.length) return [];
  try {
    return jailFs({ fs: jail.fs })?.notes.map((n) => `note: fs: ${n}`) ?? [];
  } catch (e) {
    if (e instanceof JailError) return [`danger: fs: ${e.message}`];
    throw e;
  }
}
