// Reads of hidden paths, reported once per path. The mount layer masks a hidden directory with an
// empty read-only tmpfs and a hidden file with an empty read-only file of its own (the helper's
// hide_path): each mask is an inode only tsjail made, so an open of it is a read of that hidden
// path and nothing else. Once the jail's namespaces exist tsjail makes a fanotify group
// (notification class, file ids, inode marks only: allowed rootless) and hands it to the jail's
// set-up, which marks each mask for opens and sends its file id on the map pipe; tsjail matches
// the events' ids against that map. Other reads cost nothing: no other inode is marked. An event
// decides nothing: the program has read an empty mask already; it only becomes a report.
//
// Not seen: an open of a name inside a hidden directory (`cat ~/.ssh/id_rsa`: the name is not in
// the mask, ENOENT, and a failed lookup makes no event) and a read Landlock refuses (a secret
// created during the run): see the README's "Files".
import { readSync } from 'node:fs';
import { closeFd, closeFdLater, hiddenEvents, hiddenMap, hiddenRecord, HIDDEN_RECORD_BYTES, type SpawnResult, type SpawnSpec } from './helper';
import { errnoName } from '../kernel/errno';

const FAN_Q_OVERFLOW = 0x4000;
/** Reads of the group per drain: a flood is taken in bounded steps, the rest at the next. */
const READS_PER_DRAIN = 64;

export class HiddenReads {
  /** Mask file id -> the hidden path (the mount's destination, as the jail sees it). */
  private readonly paths = new Map<string, string>();
  /** Room for every event one read of the helper's 8 KiB buffer can hold (24 bytes at least each). */
  private readonly out = Buffer.alloc(Math.ceil(8192 / 24) * HIDDEN_RECORD_BYTES);
  private group: number | undefined;
  private overflowSaid = false;

  private constructor(private readonly mapRead: number, private mapWrite: number | undefined) {}

  /** A watch for the spec's hide mounts, or undefined where there are none. */
  static start(spec: SpawnSpec, log: (msg: string) => void): HiddenReads | undefined {
    if (!spec.mounts.some((m) => m.kind === 'hide')) return undefined;
    const pipe = hiddenMap();
    if (typeof pipe === 'number') {
      log(`note: reads of hidden paths are not reported: no pipe (${errnoName(-pipe)}); they still read as empty`);
      return undefined;
    }
    return new HiddenReads(pipe.read, pipe.write);
  }

  /** What the spec carries for the helper. */
  get mapFd(): number {
    return this.mapWrite!;
  }

  /** Once the jail has started: its group, and the file ids of its masks (written before exec). */
  started(spec: SpawnSpec, result: Extract<SpawnResult, { ok: true }>, log: (msg: string) => void): void {
    this.closeMapWrite();
    const got = result.hiddenGroup;
    if (!got || 'errno' in got) {
      log(`note: reads of hidden paths are not reported: the kernel gives no fanotify group (${errnoName(got?.errno ?? 0)}); they still read as empty`);
      return;
    }
    this.group = got.fd;
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
        if (m?.kind !== 'hide') continue;
        if (r.id) this.paths.set(r.id, m.dst);
        else log(`note: reads of ${m.dst} are not reported: the kernel refused to watch its mask (${errnoName(-r.handleType)}); it still reads as empty`);
      }
    }
  }

  /** Hands each waiting open of a mask to `report` (path, the opener's pid or 0 where the kernel does not say). */
  drain(report: (path: string, pid: number) => void, log: (msg: string) => void): void {
    if (this.group === undefined) return;
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
    if (this.group !== undefined) closeFdLater(this.group);
    this.group = undefined;
  }

  private closeMapWrite(): void {
    if (this.mapWrite !== undefined) closeFd(this.mapWrite);
    this.mapWrite = undefined;
  }
}
