// --tty: the jail gets a pseudo-terminal of its own. In a jail with its own /dev the helper makes
// the pair in the jail's devpts instance (the slave is /dev/pts/0 there, as `tty` says) and hands
// tsjail the master; elsewhere tsjail opens the pair on the host's. The helper makes the slave
// the command's stdio and controlling terminal (its session is new, so job control works), and
// tsjail relays between its own terminal and the master. The jail holds no fd of the caller's
// terminal: TIOCSTI or anything else it does on its terminal reaches only the pty.
import { closeSync, constants, openSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { JailError } from './errors';

interface Libc {
  posix_openpt(flags: number): number;
  grantpt(fd: number): number;
  unlockpt(fd: number): number;
  ptsname_r(fd: number, buf: Buffer, len: number): number;
  /** ioctl(fd, TIOCSWINSZ, struct winsize *). */
  setWinsize(fd: number, request: number, ws: Buffer): number;
  tcgetattr(fd: number, termios: Buffer): number;
  tcsetattr(fd: number, when: number, termios: Buffer): number;
  cfmakeraw(termios: Buffer): void;
}

/** Room for glibc's struct termios (60 bytes on Linux). */
const TERMIOS_SIZE = 64;
const TCSAFLUSH = 2;

const TIOCSWINSZ = 0x5414;

function libc(): Libc {
  const koffi = require('koffi') as { load(path: string): { func(decl: string): (...args: unknown[]) => number } };
  const c = koffi.load('libc.so.6');
  return {
    posix_openpt: c.func('int posix_openpt(int)') as Libc['posix_openpt'],
    grantpt: c.func('int grantpt(int)') as Libc['grantpt'],
    unlockpt: c.func('int unlockpt(int)') as Libc['unlockpt'],
    ptsname_r: c.func('int ptsname_r(int, _Out_ uint8_t *buf, size_t len)') as Libc['ptsname_r'],
    setWinsize: c.func('int ioctl(int, unsigned long, const uint8_t *ws)') as Libc['setWinsize'],
    tcgetattr: c.func('int tcgetattr(int, _Out_ uint8_t *termios)') as Libc['tcgetattr'],
    tcsetattr: c.func('int tcsetattr(int, int, const uint8_t *termios)') as Libc['tcsetattr'],
    cfmakeraw: c.func('void cfmakeraw(_Inout_ uint8_t *termios)') as unknown as Libc['cfmakeraw'],
  };
}

export class JailTerminal {
  /** The slave's fd in tsjail (a pair on the host's devpts): the helper hands it to the command; closed once the jail has it. -1 for a pair made in the jail. */
  readonly slave: number;
  private readonly master: number;
  private readonly c: Libc;
  private stream: ReadStream | undefined;
  private readonly resize = (): void => this.copySize();
  private ended: Promise<void> = Promise.resolve();
  /** tsjail's terminal's settings before it was made raw. */
  private saved: Buffer | undefined;

  private constructor(c: Libc, master: number, slave: number) {
    this.c = c; this.master = master; this.slave = slave;
  }

  /** The master of the pair the helper made in the jail's own devpts. */
  static ofMaster(master: number): JailTerminal {
    const t = new JailTerminal(libc(), master, -1);
    t.copySize();
    return t;
  }

  static open(): JailTerminal {
    const c = libc();
    const master = c.posix_openpt(constants.O_RDWR | constants.O_NOCTTY);
    if (master < 0) throw new JailError('--tty: cannot open a pseudo-terminal (posix_openpt on /dev/ptmx failed): is devpts mounted?');
    const name = Buffer.alloc(128);
    if (c.grantpt(master) || c.unlockpt(master) || c.ptsname_r(master, name, name.length)) {
      closeSync(master);
      throw new JailError('--tty: cannot set up the pseudo-terminal (grantpt/unlockpt/ptsname failed)');
    }
    const path = name.toString('latin1', 0, name.indexOf(0));
    let slave: number;
    try {
      slave = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
    } catch (e) {
      closeSync(master);
      throw new JailError(`--tty: cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const t = new JailTerminal(c, master, slave);
    t.copySize();
    return t;
  }

  /** tsjail's terminal's size on the jail's (the kernel then sends the jail SIGWINCH). */
  private copySize(): void {
    const out = process.stdout;
    if (!out.isTTY) return;
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(out.rows, 0);
    ws.writeUInt16LE(out.columns, 2);
    this.c.setWinsize(this.master, TIOCSWINSZ, ws);
  }

  /** Once the jail has its slave: relay both ways, tsjail's terminal raw so every key reaches the jail's. */
  relay(): void {
    if (this.slave >= 0) closeSync(this.slave);
    const stream = new ReadStream(this.master);
    this.stream = stream;
    // The jail's output ends with EIO once every fd of the slave is closed (the jail has exited).
    this.ended = new Promise((done) => { stream.on('close', () => done()); stream.on('error', () => undefined); });
    stream.on('data', (d: Buffer) => process.stdout.write(d));
    // Raw as cfmakeraw makes it (Node's raw mode keeps ONLCR: every line would end \r\r\n).
    const termios = Buffer.alloc(TERMIOS_SIZE);
    if (process.stdin.isTTY && this.c.tcgetattr(0, termios) === 0) {
      this.saved = Buffer.from(termios);
      this.c.cfmakeraw(termios);
      this.c.tcsetattr(0, TCSAFLUSH, termios);
    }
    process.stdin.on('data', this.forward);
    process.stdout.on('resize', this.resize);
  }

  private readonly forward = (d: Buffer): void => { this.stream?.write(d); };

  /** After the jail: its last output is written, tsjail's terminal is as it was. */
  async finish(): Promise<void> {
    if (!this.stream) { if (this.slave >= 0) closeSync(this.slave); closeSync(this.master); return; }
    // Bounded: a process that escaped the jail's end with the slave open must not hold tsjail.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ended, new Promise((done) => { timer = setTimeout(done, 2000); })]);
    clearTimeout(timer);
    this.stream.destroy();
    process.stdout.off('resize', this.resize);
    process.stdin.off('data', this.forward);
    if (this.saved) this.c.tcsetattr(0, TCSAFLUSH, this.saved);
    process.stdin.destroy();
  }
}
