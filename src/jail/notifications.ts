// The loop that serves a jail's seccomp listener: receives each stopped call on a worker
// thread and hands it to a handler, which must answer it. The first call is the helper's
// handshake (tsjail now holds the listener): it is answered here.
import { answerNotification, closeFd, receiveNotification, type Notification } from './helper';

/** The helper's first call under a listener (HANDSHAKE_NR in helper/tsjail-helper.c). */
export const HANDSHAKE_NR = 0x3ff7a11;
/** --late: the preload library's "main() is next" call (MAIN_NR in helper/tsjail-preload.c). */
export const MAIN_NR = 0x3ff7a12;

export type Answer = { readonly errno: number } | 'continue';
export type NotificationHandler = (n: Notification, answer: (a: Answer) => void) => void;

export class NotificationLoop {
  private running = true;
  private handshakeDone = false;

  constructor(private readonly listener: number, private readonly handler: NotificationHandler, private readonly log: (msg: string) => void) {}

  /** Answers notifications until stop() or until no process uses the filter. */
  async run(): Promise<void> {
    while (this.running) {
      const n = await receiveNotification(this.listener, 100);
      if (n === 'gone') break;
      if (!n) continue;
      if (!this.handshakeDone) {
        this.handshakeDone = true;
        if (n.nr === HANDSHAKE_NR) { answerNotification(this.listener, n.id, { errno: 38 }); continue; }
      }
      let answered = false;
      const answer = (a: Answer): void => { if (!answered) { answered = true; answerNotification(this.listener, n.id, a); } };
      try {
        this.handler(n, answer);
      } catch (e) {
        this.log((e as Error).message);
      } finally {
        // Never leave a call hanging: an unanswered one fails closed.
        answer({ errno: 1 });
      }
    }
    closeFd(this.listener);
  }

  stop(): void {
    this.running = false;
  }
}
