// The library's jail: `spawn()` with child_process.spawn's shape, and `run()`, its promise form.
// The jail is prepared exactly as `tsjail run` prepares it (prepare.ts) and supervised in the
// caller's own process: no Node process per jail, and its denials are events, not stderr lines.
import { EventEmitter } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { printable } from './printable';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { JailError } from './errors';
import { stdioPipe } from './helper';
import { checkJailOptions, prepareJail, startJail } from './prepare';
import type { DenialRecord, OnRepeat } from './supervisor';
import type { DefinedPolicy } from '../policy/dsl';
import type { Policy } from '../policy/model';
import type { PresetName, JailOptions } from '../policy/jailSettings';

/** One of the command's stdio: a pipe to this process, this process's own, /dev/null, or an fd of this process. */
export type StdioOption = 'pipe' | 'inherit' | 'ignore' | number;

/** The jail options (the policy's `jail:` names and types), and how the command is run from code. */
export interface SpawnOptions extends JailOptions {
  /** A policy (definePolicy), a policy file (.ts/.js/.json...), or none: the built-in one. */
  readonly policy?: Policy | string;
  /** Default 'pipe' for all three. */
  readonly stdio?: StdioOption | readonly [StdioOption, StdioOption, StdioOption];
  /** Aborting it kills the whole jail (SIGKILL) and emits an AbortError. */
  readonly signal?: AbortSignal;
  /** Milliseconds; then the whole jail is killed (SIGKILL). */
  readonly timeout?: number;
  /** tsjail's messages (denials explained, warnings): always 'message' events; also to stderr, or to this function. */
  readonly messages?: 'stderr' | ((line: string) => void);
  /** A preset under the policy's `jail:` and these options. */
  readonly preset?: PresetName;
  /** Drift mode (with `policy` a file): this policy ('@builtin' or a file) is enforced; calls outside `policy` are 'drift' events. */
  readonly enforce?: string;
  readonly onRepeat?: OnRepeat;
}

/** The options of run(): spawn's, and the command's input; its output beyond `maxBuffer` bytes ends the jail. */
export interface RunOptions extends Omit<SpawnOptions, 'stdio'> {
  readonly input?: string | Uint8Array;
  /** Bytes of stdout (and of stderr) kept; more ends the jail and rejects. Default 16 MiB. */
  readonly maxBuffer?: number;
}

export interface RunResult {
  /** The exit status (`tsjail run`'s convention: 128+N after signal N the jail did not get from this process), or null. */
  readonly code: number | null;
  /** The signal this process ended the jail with (kill(), signal, timeout), or null. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Each distinct denial's record, as --report writes it. */
  readonly denials: readonly DenialRecord[];
}

/** Keys of SpawnOptions and RunOptions that are not jail options. */
const LIBRARY_KEYS = ['policy', 'stdio', 'signal', 'timeout', 'messages', 'preset', 'enforce', 'onRepeat', 'input', 'maxBuffer'] as const;

const signalNumber = (sig: NodeJS.Signals): number => osConstants.signals[sig];
const signalName = (n: number): NodeJS.Signals | undefined => (Object.keys(osConstants.signals) as NodeJS.Signals[]).find((name) => osConstants.signals[name] === n);

function stdioOf(given: SpawnOptions['stdio']): readonly [StdioOption, StdioOption, StdioOption] {
  const three = given === undefined ? ['pipe', 'pipe', 'pipe'] as const : Array.isArray(given) ? given : [given, given, given];
  if (three.length !== 3) throw new JailError(`spawn options: stdio must be one value or three, not ${three.length}`);
  for (const s of three) {
    if (!(s === 'pipe' || s === 'inherit' || s === 'ignore' || (Number.isInteger(s) && (s as number) >= 0))) {
      throw new JailError(`spawn options: bad stdio value ${JSON.stringify(s)} (expected 'pipe', 'inherit', 'ignore' or an fd)`);
    }
  }
  return three as readonly [StdioOption, StdioOption, StdioOption];
}

/** The jail's process as child_process gives it: streams, pid, status, events ('denial' and 'drift' too). */
export class JailedProcess extends EventEmitter {
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  pid: number | undefined = undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  killed = false;
  private signalJail: ((sig: NodeJS.Signals) => void) | undefined;
  private pendingSignal: NodeJS.Signals | undefined;
  private sentSignal: NodeJS.Signals | undefined;
  private ended = false;

  /** Sends `signal` to the jail (SIGKILL: to all its processes; others: through its PID 1, to the command). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.ended) return false;
    if (signalNumber(signal) === undefined) throw new JailError(`kill: unknown signal '${String(signal)}'`);
    this.killed = true;
    this.sentSignal = signal;
    if (this.signalJail) this.signalJail(signal);
    else this.pendingSignal = signal; // sent once the command runs
    return true;
  }

  /** @internal The command runs. */
  started(pid: number, signalJail: (sig: NodeJS.Signals) => void): void {
    this.pid = pid;
    this.signalJail = signalJail;
    this.emit('spawn');
    if (this.pendingSignal) signalJail(this.pendingSignal);
  }

  /** @internal The command's own wait status, where it is known (JailHost.ended). */
  commandStatus: number | undefined;

  /**
   * @internal The jail has ended with `tsjail run`'s exit status. A signal is told as such where
   * the command's own status says so, or where this process sent it and the status is 128+N.
   */
  exited(status: number): { code: number | null; signal: NodeJS.Signals | null } {
    this.ended = true;
    const own = this.commandStatus !== undefined && (this.commandStatus & 0x7f) !== 0 ? signalName(this.commandStatus & 0x7f) : undefined;
    const sent = this.sentSignal !== undefined && status === 128 + signalNumber(this.sentSignal) ? this.sentSignal : undefined;
    const signal = own ?? (this.commandStatus === undefined ? sent : undefined);
    this.exitCode = signal ? null : status;
    this.signalCode = signal ?? null;
    return { code: this.exitCode, signal: this.signalCode };
  }

  /** @internal It never ran. */
  failed(): void {
    this.ended = true;
  }
}

/**
 * Runs `command` in a jail. Throws at once (JailError, PolicyError) for options or a policy that
 * cannot be honoured; emits 'error' when the jail cannot start or the command cannot be executed.
 */
export function spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): JailedProcess {
  if (typeof command !== 'string' || !command) throw new JailError('spawn: the command must be a non-empty string');
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw new JailError('spawn: args must be an array of strings');
  checkJailOptions(options, 'spawn options', LIBRARY_KEYS);
  const { policy, stdio: stdioGiven, signal, timeout, messages, preset, enforce, onRepeat, ...jailOptions } = options;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) throw new JailError(`spawn options: timeout must be a positive number of milliseconds, not ${JSON.stringify(timeout)}`);
  if (policy !== undefined && typeof policy !== 'string' && !(typeof policy === 'object' && policy !== null && 'rules' in policy)) {
    throw new JailError('spawn options: policy must be a policy (definePolicy) or a policy file\'s path');
  }
  if (messages !== undefined && messages !== 'stderr' && typeof messages !== 'function') throw new JailError("spawn options: messages must be 'stderr' or a function");
  const stdio = stdioOf(stdioGiven);
  const child = new JailedProcess();
  // Messages said before the caller could listen are told on the next tick.
  const queued: string[] = [];
  let listening = false;
  const say = (given: string): void => {
    // Wherever a line goes it may reach a terminal: what the jail put in it is made printable.
    const line = printable(given);
    if (messages === 'stderr') process.stderr.write(`tsjail: ${line}\n`);
    else if (messages) messages(line);
    if (listening) child.emit('message', line); else queued.push(line);
    lastMessage = line;
  };
  let lastMessage: string | undefined;
  const jail = prepareJail({
    command: [command, ...args], options: jailOptions,
    ...(typeof policy === 'string' ? { policyFile: policy } : policy ? { policy: policy as DefinedPolicy<JailOptions>, policyName: 'the given policy' } : {}),
    ...(preset !== undefined ? { preset } : {}), ...(enforce !== undefined ? { enforce } : {}), ...(onRepeat ? { onRepeat } : {}),
  }, say);

  // The command's ends of its pipes (and /dev/null) are closed once the helper has them.
  const theirs: number[] = [];
  const fds = stdio.map((s, i): number => {
    if (s === 'inherit') return -1;
    if (typeof s === 'number') return s;
    if (s === 'ignore') { const fd = openSync('/dev/null', i === 0 ? 'r' : 'w'); theirs.push(fd); return fd; }
    const [read, write] = stdioPipe();
    theirs.push(i === 0 ? read : write);
    const mine = new Socket({ fd: i === 0 ? write : read, readable: i !== 0, writable: i === 0 });
    if (i === 0) child.stdin = mine; else if (i === 1) child.stdout = mine; else child.stderr = mine;
    return i === 0 ? read : write;
  }) as [number, number, number];
  const closeTheirs = (): void => { for (const fd of theirs.splice(0)) closeSync(fd); };

  const aborted = (): Error => Object.assign(new Error('the jail was aborted', { cause: signal?.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
  const onAbort = (): void => {
    child.kill('SIGKILL');
    child.emit('error', aborted());
  };
  const timer = timeout !== undefined && !signal?.aborted ? setTimeout(() => child.kill('SIGKILL'), timeout) : undefined;
  if (!signal?.aborted) signal?.addEventListener('abort', onAbort, { once: true });
  const done = (): void => {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  // 'close' follows 'exit' once the streams of the command's output have ended.
  const closed = (code: number | null, sig: NodeJS.Signals | null): void => {
    // Output nobody reads is let go (as child_process does), so that it ends.
    for (const s of [child.stdout, child.stderr]) if (s && s.readableFlowing === null) s.resume();
    const streams = [child.stdout, child.stderr].filter((s): s is Readable => s !== null && !s.readableEnded && !s.destroyed);
    let left = streams.length;
    if (!left) { child.emit('close', code, sig); return; }
    for (const s of streams) s.once('close', () => { if (--left === 0) child.emit('close', code, sig); });
  };
  let ran = false;
  process.nextTick(() => {
    listening = true;
    for (const line of queued.splice(0)) child.emit('message', line);
    if (signal?.aborted) {
      // Aborted before it started: nothing runs.
      closeTheirs();
      child.failed();
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      child.emit('error', aborted());
      child.emit('close', null, null);
      return;
    }
    startJail(jail, say, {
      stdio: fds,
      spawned: closeTheirs,
      started: (pid, signalJail) => { ran = true; child.started(pid, signalJail); },
      ended: (commandStatus) => { child.commandStatus = commandStatus; },
    }, (record) => child.emit(record.drift ? 'drift' : 'denial', record)).then((status) => {
      done();
      closeTheirs();
      if (!ran) {
        // It never ran: runJailed has said why (a helper step, command not found...).
        child.failed();
        child.exitCode = status;
        child.stdin?.destroy();
        child.emit('error', Object.assign(new JailError(lastMessage ?? `the jail could not start (status ${status})`), { exitStatus: status }));
        closed(status, null);
        return;
      }
      const { code, signal: sig } = child.exited(status);
      child.emit('exit', code, sig);
      closed(code, sig);
    }, (e: unknown) => {
      done();
      closeTheirs();
      child.failed();
      child.stdin?.destroy();
      child.emit('error', e);
      closed(null, null);
    });
  });
  return child;
}

/** Runs `command` in a jail to its end: its status, its output, and what was denied. */
export function run(command: string, args: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
  const { input, maxBuffer = 16 << 20, ...spawnOptions } = options;
  // run() collects stdout and stderr itself: a stdio a caller without types passed is refused, not ignored.
  if ('stdio' in spawnOptions) return Promise.reject(new JailError('run options: stdio is not an option of run() (it collects stdout and stderr itself): use spawn() for other stdio'));
  if (!(Number.isInteger(maxBuffer) && maxBuffer > 0)) return Promise.reject(new JailError(`run options: maxBuffer must be a positive whole number of bytes, not ${JSON.stringify(maxBuffer)}`));
  return new Promise((resolve, reject) => {
    let child: JailedProcess;
    try {
      child = spawn(command, args, { ...spawnOptions, stdio: 'pipe' });
    } catch (e) {
      reject(e);
      return;
    }
    const denials: DenialRecord[] = [];
    const out: Buffer[] = [], err: Buffer[] = [];
    let overflow: string | undefined;
    const collect = (into: Buffer[], name: string) => {
      let bytes = 0;
      return (chunk: Buffer): void => {
        if (overflow) return;
        into.push(chunk);
        bytes += chunk.length;
        if (bytes <= maxBuffer) return;
        overflow = `the command wrote more than maxBuffer (${maxBuffer} bytes) to ${name}: the jail was killed`;
        child.kill('SIGKILL');
      };
    };
    child.stdout!.on('data', collect(out, 'stdout'));
    child.stderr!.on('data', collect(err, 'stderr'));
    child.on('denial', (r: DenialRecord) => denials.push(r));
    child.on('drift', (r: DenialRecord) => denials.push(r));
    child.on('error', reject);
    // A command that does not read its input must not fail the run.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input ?? '');
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (overflow) { reject(new JailError(overflow)); return; }
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), denials });
    });
  });
}
