// The host ids a root-started jail runs as: a range of 65536 uids and gids that nobody on the
// host uses (podman's --userns=auto idea), so that the jail's root, or any user inside, owns
// nothing outside. Ranges are slots above 2^31, clear of /etc/subuid and /etc/subgid; a slot
// is held with an flock in /run/tsjail/ids for as long as the jail runs, so jails running at
// the same time never share one. Ids a finished jail left on files (in a world-writable
// directory) may meet a later jail of the same slot.
import { closeSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { JailError } from './errors';
import { tryLock } from './helper';

export const RANGE_SIZE = 65536;
const FIRST = 2 ** 31;
const SLOTS = 32767;
const LOCK_DIR = '/run/tsjail/ids';

export interface IdRange {
  /** The host id that the jail's id 0 maps to. */
  readonly base: number;
  release(): void;
}

/** [start, end) ranges of /etc/subuid and /etc/subgid: slots overlapping them are skipped. */
function subordinateRanges(): [number, number][] {
  const out: [number, number][] = [];
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n')) {
      const [, start, count] = line.split(':');
      if (start && count && /^\d+$/.test(start) && /^\d+$/.test(count)) out.push([Number(start), Number(start) + Number(count)]);
    }
  }
  return out;
}

/** tsjail's lock directory: made 0700, and refused unless it is root's own directory. */
function lockDir(): string {
  let st;
  try {
    mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
    st = lstatSync(LOCK_DIR);
  } catch (e) {
    throw new JailError(`cannot keep the jail's id range in ${LOCK_DIR}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (--host-ids runs without one, unsafe for untrusted code)`);
  }
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new JailError(`${LOCK_DIR} is not a directory that only root can write: refusing to keep id ranges there`);
  }
  return LOCK_DIR;
}

/** A free range, held until release(). */
export function allocateIdRange(): IdRange {
  const dir = lockDir();
  const taken = subordinateRanges();
  const start = Math.floor(Math.random() * SLOTS);
  for (let i = 0; i < SLOTS; i++) {
    const slot = (start + i) % SLOTS;
    const base = FIRST + slot * RANGE_SIZE;
    if (taken.some(([a, b]) => base < b && a < base + RANGE_SIZE)) continue;
    let fd: number | undefined;
    try {
      fd = tryLock(`${dir}/${slot}`);
    } catch (e) {
      // A read-only /run (a container's), a full disk: said as such, not as a crash.
      throw new JailError(`cannot keep the jail's id range in ${dir}: ${(e as Error).message} (--host-ids runs without one, unsafe for untrusted code)`);
    }
    if (fd === undefined) continue;
    return { base, release: () => closeSync(fd) };
  }
  throw new JailError('no free id range for the jail\'s user namespace (all are in use)');
}
