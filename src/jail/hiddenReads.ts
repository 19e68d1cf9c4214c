// Reads of hidden paths, reported once per path. The mount layer masks a hidden directory with an
// empty read-only tmpfs and a hidden file with an empty read-only file of its own (the helper's
// hide_path): each mask is an inode only tsjail made, so an open of it is a read of that hidden
// path and nothing else. tsjail makes a fanotify group before the jail (notification class, file
// ids, inode marks only: allowed rootless), the helper marks each mask for opens and sends its file
// id on the map pipe, and tsjail matches the events' ids against that map. Other reads cost
// nothing: no other inode is marked. An event decides nothing: the program has read an empty mask
// already; it only becomes a report.
//
// Not seen: an open of a name inside a hidden directory (`cat ~/.ssh/id_rsa`: the name is not in
// the mask, ENOENT, and a failed lookup makes no event) and a read Landlock refuses (a secret
// created during the run): see the README's "Files".
import { readSync } from 'node:fs';
import { closeFd, hiddenEvents, hiddenRecord, hiddenWatch, HIDDEN_RECORD_BYTES, type SpawnSpec } from './helper';
import { errnoName } from '../policy/errno';

const FAN_Q_OVERFLOW = 0x4000;
/** Reads of the group per drain: a flood is taken in bounded steps, the rest at the next. */
const READS_PER_DRAIN = 64;

export class HiddenReads {
  /** Mask file id -> the hidden path (the mount's destination, as the jail sees it). */
  private readonly paths = new Map<string, string>();
  private readonly out = Buffer.alloc(8192 / 24 * HIDDEN_RECORD_BYTES + HIDDEN_RECORD_BYTES);
  private overflowSaid = false;

  private constructor(private readonly group: number, private readonly mapRead: number, private mapWrite: number | undefined) {}

  /**
   * A watch for the spec's hide mounts, or undefined where there are none (or no mount namespace)
   * or the kernel gives no fanotify group: then `log` says that reads of hidden paths go unreported.
   */
  static start(spec: SpawnSpec, log: (msg: string) => void): HiddenReads | undefined {
    if (!spec.mounts.some((m) => m.kind === 'hide')) return undefined;
    const made = hiddenWatch();
    if (typeof made === 'number') {
      log(`note: reads of hidden paths are not reported: no fanotify group (${errnoName(-made)}); they still read as empty`);
      return undefined;
    }
    return new HiddenReads(made.group, made.mapRead, made.mapWrite);
  }

  /** What the spec carries for the helper. */
  get specFields(): NonNullable<SpawnSpec['hiddenWatch']> {
    return { group: this.group, map: this.mapWrite! };
  }

  /** Once the jail has started: the file ids of its masks, which the helper wrote before exec. */
  takeMap(spec: SpawnSpec): void {
    this.closeMapWrite();
    const b = Buffer.alloc(HIDDEN_RECORD_BYTES * 64);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.mapRead, b, 0, b.length, null);
      } catch {
        break; // EAGAIN: every record written is read
      }
      if (n <= 0) break;
      for (let at = 0; at + HIDDEN_RECORD_BYTES <= n; at += HIDDEN_RECORD_BYTES) {
        const r = hiddenRecord(b, at);
        const m = spec.mounts[r.what];
        if (m?.kind === 'hide' && r.id) this.paths.set(r.id, m.dst);
      }
    }
  }

  /** Hands each waiting open of a mask to `report` (path, the opener's pid or 0 where the kernel does not say). */
  drain(report: (path: string, pid: number) => void, log: (msg: string) => void): void {
    for (let i = 0; i < READS_PER_DRAIN; i++) {
      const events = hiddenEvents(this.group, this.out, 0);
      if (typeof events === 'number' || !events.length) return;
      for (const e of events) {
        if (e.what & FAN_Q_OVERFLOW) {
          if (!this.overflowSaid) log('reads of hidden paths came faster than tsjail took them: the kernel dropped some (reported paths stay reported; counts are lower bounds)');
          this.overflowSaid = true;
          continue;
        }
        const path = this.paths.get(e.id);
        if (path !== undefined) report(path, e.pid);
      }
    }
  }

  close(): void {
    this.closeMapWrite();
    closeFd(this.mapRead);
    closeFd(this.group);
  }

  private closeMapWrite(): void {
    if (this.mapWrite !== undefined) closeFd(this.mapWrite);
    this.mapWrite = undefined;
  }
}
