// The loop that serves a jail's seccomp listener: receives each stopped call (on a worker
// thread, or directly when it follows the last one closely) and hands it to a handler, which
// must answer it. The first call is the helper's
// handshake (tsjail now holds the listener): it is answered here.
import { constants as osConstants } from 'node:os';
import { answerNotification, closeFd, killNotifier, receiveNotificationNow, syncWakeUp, type Notification } from './helper';
import { whenReadable } from './readiness';

/** The helper's first call under a listener (HANDSHAKE_NR in helper/tsjail-helper.c). */
export const HANDSHAKE_NR = 0x3ff7a11;
/** tsjail's answer to it, which the helper checks before exec (the kernel's own would be ENOSYS). */
export const HANDSHAKE_ERRNO = osConstants.errno.EBADMSG;
/** --late: the preload library's "main() is next" call (MAIN_NR in helper/tsjail-preload.c). */
export const MAIN_NR = 0x3ff7a12;

/**
 * Fail the call with an errno, let it run, kill the caller's whole thread group (then fail it),
 * or 'taken': the helper answers it (the network supervisor performs the call itself).
 */
export type Answer = { readonly errno: number } | 'continue' | 'kill' | 'taken';
/** Answers a call once; for 'kill', returns the thread group killed (undefined if it was already gone). */
export type Answerer = ((a: Answer) => number | undefined) & { readonly listener: number };
/** Answers `n`, now or (returning a promise) later; unanswered when it returns or settles, the call fails with EPERM. */
export type NotificationHandler = (n: Notification, answer: Answerer) => void | Promise<void>;

export class NotificationLoop {
  private running = true;
  private handshakeDone = false;
  /** Set when the listener is closed: a handler that settles later must not answer on a reused fd. */
  private closed = false;

  constructor(private readonly listener: number, private readonly handler: NotificationHandler, private readonly log: (msg: string) => void) {}

  /** Answers notifications until stop() or until no process uses the filter. */
  async run(): Promise<void> {
    syncWakeUp(this.listener);
    let next: Notification | null | 'gone' = null;
    for (let burst = 0; this.running; burst++) {
      // Waited for on the event loop (readiness.ts), not on a worker thread: many jails may run at once.
      const n = next ?? ((await whenReadable(this.listener, 100)) ? receiveNotificationNow(this.listener, 0) : null);
      next = null;
      if (n === 'gone') break;
      if (!n) { burst = 0; continue; }
      const handshake = this.dispatch(n);
      // Calls come in bursts (a program's start-up, a loop of refused calls): one that follows
      // within a millisecond is taken here rather than through the poller, and the event loop
      // still gets a turn every 64 of them. The handshake is no burst: the command has its exec to make.
      if (burst % 64 === 63) await new Promise((r) => setImmediate(r));
      next = handshake ? null : receiveNotificationNow(this.listener, 1);
    }
    this.closed = true;
    closeFd(this.listener);
  }

  /** Hands `n` to the handler; true when it was the handshake, answered here. */
  private dispatch(n: Notification): boolean {
    if (!this.handshakeDone) {
      this.handshakeDone = true;
      if (n.nr === HANDSHAKE_NR) { answerNotification(this.listener, n.id, { errno: HANDSHAKE_ERRNO }); return true; }
    }
    let answered = false;
    const answer: Answerer = Object.assign((a: Answer) => {
      if (answered || this.closed) return undefined;
      answered = true;
      if (a === 'taken') return undefined;
      if (a !== 'kill') { answerNotification(this.listener, n.id, a); return undefined; }
      // The pidfd is taken while the call is known to wait, so the signal reaches its process.
      const group = killNotifier(this.listener, n.id, n.pid);
      answerNotification(this.listener, n.id, { errno: 38 });
      return group;
    }, { listener: this.listener });
    // Never leave a call hanging: an unanswered one fails closed.
    const fallBack = (e?: unknown): void => {
      if (e !== undefined) this.log((e as Error).message);
      answer({ errno: 1 });
    };
    let pending: void | Promise<void>;
    try {
      pending = this.handler(n, answer);
    } catch (e) {
      fallBack(e);
      return false;
    }
    if (pending) pending.then(() => fallBack(), fallBack);
    else fallBack();
    return false;
  }

  stop(): void {
    this.running = false;
  }
}
