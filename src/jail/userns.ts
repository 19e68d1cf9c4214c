// Which user namespace tsjail itself runs in: root of a namespace that is not the host's (a
// container's, an outer jail's) sees host-owned files as the overflow uid and has no host id
// range to hand out.
import { readFileSync } from 'node:fs';

let initial: boolean | undefined;

export function inInitialUserNamespace(): boolean {
  if (initial === undefined) {
    try {
      initial = /^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8'));
    } catch {
      initial = false;
    }
  }
  return initial;
}

/** The uid that ids unmapped in this namespace show as (kernel.overflowuid). */
export function overflowUid(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim());
  } catch {
    return 65534;
  }
}
