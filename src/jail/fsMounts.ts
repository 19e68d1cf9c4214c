// The mount layer of a jail's file rules (fsRules.ts): the host's root read-only (or not, for
// `--rw /`), then one mount per rule, parents first, in the order resolveFs sorted them. The
// helper applies them before the jail's own --bind/--tmpfs/mounts, which go on top.
import { lstatSync } from 'node:fs';
import { JailError } from './errors';
import type { FsRule, ResolvedFs } from './fsRules';
import type { MountSpec } from './helper';

const MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;

export interface FsMounts {
  readonly readonlyRoot: boolean;
  readonly mounts: readonly MountSpec[];
}

function exists(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined; // (a missing path throws nothing: cheaper)
  } catch {
    return false;
  }
}

/** "hide /root/.ssh (default)": what a mount does and which rule asked for it, for messages. */
function ruleLabel(r: FsRule): string {
  const verb = { ro: `make ${r.path} read-only`, rw: `make ${r.path} writable`, hide: `hide ${r.path}`, tmpfs: `mount a private tmpfs on ${r.path}` }[r.access];
  return `${verb}${r.exec || r.access === 'hide' ? '' : ' (no exec)'} (${r.source})`;
}

/**
 * The mounts of `fs`; `idmap`: binds shown through the jail's id mapping (a private-range jail,
 * so that what it writes is owned by whoever ran tsjail). Sources are opened through no symlink:
 * the paths are canonical, and a link swapped in since must not redirect a bind.
 */
export function fsMounts(fs: ResolvedFs, idmap: boolean): FsMounts {
  let readonlyRoot = true;
  const mounts: MountSpec[] = [];
  for (const r of fs.rules) {
    const rule = ruleLabel(r);
    const noexec = r.exec ? 0 : MS_NOEXEC;
    if (r.path === '/') {
      if (r.access === 'hide' || r.access === 'tmpfs' || !r.exec) throw new JailError(`${r.source} /: the root can only be read-only (the default) or writable (--rw /); name the directories to hide or not to execute`);
      readonlyRoot = r.access === 'ro';
      continue;
    }
    if (r.access === 'tmpfs') {
      mounts.push({ kind: 'fs', fstype: 'tmpfs', dst: r.path, flags: MS_NOSUID | MS_NODEV | noexec, data: 'mode=1777', rule });
    } else if (!exists(r.path)) {
      // Nothing to mount over (what appears later is Landlock's to refuse); a writable path must be there.
      if (r.access === 'rw') throw new JailError(`${r.source} ${r.path}: it does not exist (create it first: the jail cannot make it on the host)`);
    } else if (r.access === 'hide') {
      mounts.push({ kind: 'hide', dst: r.path, flags: 0, rule });
    } else {
      const flags = (r.access === 'ro' ? MS_RDONLY | MS_NOSUID : 0) | noexec;
      mounts.push({ kind: 'bind', src: r.path, dst: r.path, flags, nofollow: true, ...(idmap ? { idmap: true } : {}), rule });
    }
  }
  return { readonlyRoot, mounts };
}
