// Waiting for an fd (a seccomp listener, an exec pipe, a pidfd) on Node's event loop: the helper's
// poller thread watches it and writes a token to a pipe read here. Waiting on one of Node's four
// worker threads instead would let four long-running jails stall every other one.
import { Socket } from 'node:net';
import { startPoller, watchFd } from './helper';

let tokens: Socket | undefined;
let nextToken = 1n;
const waiting = new Map<bigint, () => void>();
let partial: Buffer = Buffer.alloc(0);

function tokenPipe(): Socket {
  if (tokens) return tokens;
  tokens = new Socket({ fd: startPoller(), readable: true, writable: false });
  tokens.on('data', (chunk: Buffer) => {
    partial = partial.length ? Buffer.concat([partial, chunk]) : chunk;
    let at = 0;
    for (; at + 8 <= partial.length; at += 8) {
      const token = partial.readBigUInt64LE(at);
      const wake = waiting.get(token);
      waiting.delete(token);
      wake?.();
    }
    partial = partial.subarray(at);
    // Nothing waits: the pipe must not keep the process alive.
    if (!waiting.size) tokens!.unref();
  });
  tokens.unref();
  return tokens;
}

/** Resolves once `fd` is readable or hung up, or after `timeoutMs` (then false). */
export function whenReadable(fd: number, timeoutMs?: number): Promise<boolean> {
  const pipe = tokenPipe();
  const token = nextToken++;
  return new Promise((resolve, reject) => {
    const timer = timeoutMs !== undefined ? setTimeout(() => { waiting.delete(token); if (!waiting.size) pipe.unref(); resolve(false); }, timeoutMs) : undefined;
    waiting.set(token, () => { if (timer) clearTimeout(timer); resolve(true); });
    try {
      watchFd(fd, token);
    } catch (e) {
      waiting.delete(token);
      if (timer) clearTimeout(timer);
      reject(e);
      return;
    }
    pipe.ref();
  });
}
