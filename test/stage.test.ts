// --stage with hostile files: the ELF reader on lying ELF files built here byte by byte, what a
// lying program gets staged (nothing beyond its loader and system libraries), odd paths (FIFOs,
// sockets, devices, symlink loops...) as clear errors, and real programs still staged and run.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { bufferSource, ElfError, parseElf, readElfFile, type ElfFile } from '../src/jail/elf';
import { JailError } from '../src/jail/errors';
import { confDirs, stagedMounts } from '../src/jail/stage';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-stage-test-'));
chmodSync(work, 0o755);
const tsjail = (args: string[], asNobody = false): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, 'run', ...args];
  const [cmd, ...rest] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: '', timeout: 30000 });
};
const PYLIB = join('/usr/lib', readdirSync('/usr/lib').find((d) => /^python3\.\d+$/.test(d))!);

// ---- An ELF writer: one PT_LOAD maps the whole file at BASE + offset. ----
const BASE = 0x400000n;
const SIZE = 0x1000;
/** Where the builder puts things (file offsets). */
const AT = { interp: 0x100, strtab: 0x200, fakeStrtab: 0x500, fakeDynamic: 0x600, dynamic: 0x800 } as const;

interface ElfSpec {
  readonly bits?: 32 | 64;
  readonly le?: boolean;
  readonly machine?: number;
  readonly type?: number;
  readonly interp?: string;
  readonly needed?: readonly string[];
  readonly runpath?: string;
  /** A second dynamic section at PT_DYNAMIC's p_offset, with these DT_NEEDED; the address keeps the real one. */
  readonly fakeNeeded?: readonly string[];
  /** Bytes changed after building: [offset, byte values]. */
  readonly patch?: (w: Writer) => void;
}

class Writer {
  readonly buf = Buffer.alloc(SIZE);
  constructor(readonly is64: boolean, readonly le: boolean) {}
  u16(o: number, v: number): void { if (this.le) this.buf.writeUInt16LE(v, o); else this.buf.writeUInt16BE(v, o); }
  u32(o: number, v: number): void { if (this.le) this.buf.writeUInt32LE(v, o); else this.buf.writeUInt32BE(v, o); }
  word(o: number, v: bigint): void {
    if (!this.is64) this.u32(o, Number(v));
    else if (this.le) this.buf.writeBigUInt64LE(v, o); else this.buf.writeBigUInt64BE(v, o);
  }
  /** Offset of program header i and of its fields. */
  ph(i: number): number { return (this.is64 ? 64 : 52) + i * (this.is64 ? 56 : 32); }
  phField(i: number, field: 'type' | 'offset' | 'vaddr' | 'filesz' | 'memsz'): number {
    const o = this.is64 ? { type: 0, offset: 8, vaddr: 16, filesz: 32, memsz: 40 } : { type: 0, offset: 4, vaddr: 8, filesz: 16, memsz: 20 };
    return this.ph(i) + o[field];
  }
  /** Writes dynamic entries at `at`, ending with DT_NULL. */
  dynamic(at: number, entries: readonly (readonly [number, bigint])[]): void {
    const size = this.is64 ? 16 : 8;
    [...entries, [0, 0n] as const].forEach(([tag, val], i) => { this.word(at + i * size, BigInt(tag)); this.word(at + i * size + size / 2, val); });
  }
}

/** A string table of NUL-terminated names at `at`; returns each name's offset in it. */
function strings(w: Writer, at: number, names: readonly string[]): bigint[] {
  let o = 1;
  return names.map((n) => { w.buf.write(`${n}\0`, at + o, 'latin1'); const off = BigInt(o); o += Buffer.byteLength(n, 'latin1') + 1; return off; });
}

// Program headers: 0 PT_INTERP (if any), then PT_LOAD, then PT_DYNAMIC.
function buildElf(s: ElfSpec = {}): Buffer {
  const is64 = (s.bits ?? 64) === 64;
  const w = new Writer(is64, s.le ?? true);
  const b = w.buf;
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = is64 ? 2 : 1; b[5] = (s.le ?? true) ? 1 : 2; b[6] = 1;
  w.u16(16, s.type ?? 3); w.u16(18, s.machine ?? 62); w.u32(20, 1);
  const phs: [number, number, number][] = []; // type, offset, size
  if (s.interp !== undefined) { b.write(`${s.interp}\0`, AT.interp, 'latin1'); phs.push([3, AT.interp, Buffer.byteLength(s.interp, 'latin1') + 1]); }
  phs.push([1, 0, SIZE]);
  phs.push([2, s.fakeNeeded ? AT.fakeDynamic : AT.dynamic, 0x100]);
  w.word(is64 ? 32 : 28, BigInt(is64 ? 64 : 52)); // e_phoff
  w.u16(is64 ? 54 : 42, is64 ? 56 : 32); w.u16(is64 ? 56 : 44, phs.length);
  phs.forEach(([type, offset, size], i) => {
    w.u32(w.phField(i, 'type'), type);
    w.word(w.phField(i, 'offset'), BigInt(offset));
    // PT_DYNAMIC's address is the real dynamic section's, whatever its p_offset says.
    w.word(w.phField(i, 'vaddr'), BASE + BigInt(type === 2 ? AT.dynamic : offset));
    w.word(w.phField(i, 'filesz'), BigInt(size));
    w.word(w.phField(i, 'memsz'), BigInt(size));
  });
  const names = strings(w, AT.strtab, [...(s.needed ?? []), ...(s.runpath !== undefined ? [s.runpath] : [])]);
  const needed = (s.needed ?? []).map((_, i) => [1, names[i]!] as const);
  const runpath = s.runpath !== undefined ? [[29, names[names.length - 1]!] as const] : [];
  w.dynamic(AT.dynamic, [...needed, ...runpath, [5, BASE + BigInt(AT.strtab)], [10, 0x300n]]);
  if (s.fakeNeeded) {
    const fake = strings(w, AT.fakeStrtab, s.fakeNeeded);
    w.dynamic(AT.fakeDynamic, [...fake.map((o) => [1, o] as const), [5, BASE + BigInt(AT.fakeStrtab)], [10, 0x100n]]);
  }
  s.patch?.(w);
  return b;
}

const parse = (b: Buffer): ElfFile => {
  const r = parseElf(bufferSource(b));
  assert.equal(r.kind, 'elf');
  return (r as { elf: ElfFile }).elf;
};
const malformed = (b: Buffer, message: RegExp): void => assert.throws(() => parseElf(bufferSource(b)), (e: unknown) => e instanceof ElfError && message.test(e.message));

test('ELF reader: both classes and byte orders, interpreter, DT_NEEDED and DT_RUNPATH', () => {
  for (const bits of [32, 64] as const) {
    for (const le of [true, false]) {
      const elf = parse(buildElf({ bits, le, machine: 8, interp: '/lib/ld.so.1', needed: ['libc.so.6', 'libm.so.6'], runpath: '$ORIGIN/lib' }));
      assert.deepEqual(elf, { bits, littleEndian: le, machine: 8, type: 3, interp: '/lib/ld.so.1', needed: ['libc.so.6', 'libm.so.6'], libraryPath: '$ORIGIN/lib' });
    }
  }
  assert.deepEqual(parseElf(bufferSource(Buffer.from('#!/bin/sh\necho hi\n'))), { kind: 'not-elf' });
  assert.deepEqual(parseElf(bufferSource(Buffer.alloc(0))), { kind: 'not-elf' });
  // The host's own programs read as readelf reads them.
  const ls = readElfFile('/bin/ls');
  assert.equal(ls.kind, 'elf');
  const readelf = execFileSync('readelf', ['-d', '/bin/ls'], { encoding: 'utf8' });
  assert.deepEqual((ls as { elf: ElfFile }).elf.needed, [...readelf.matchAll(/Shared library: \[(.*)\]/g)].map((m) => m[1]));
});

test('ELF reader: PT_DYNAMIC is found by its address (as ld.so does), not by its p_offset', () => {
  const elf = parse(buildElf({ needed: ['libc.so.6'], fakeNeeded: ['libdecoy.so.1'] }));
  assert.deepEqual(elf.needed, ['libc.so.6']);
  // ...and the other way round: readelf would show the decoy, tsjail sees what ld.so loads.
  const lying = buildElf({ needed: ['/etc/shadow'], fakeNeeded: ['libc.so.6'] });
  assert.deepEqual(parse(lying).needed, ['/etc/shadow']);
  // DT_STRTAB is an address too: a string table moved in the file but not in memory is read at its address.
  const moved = buildElf({ needed: ['libc.so.6'], patch: (w) => { w.buf.write('\0libXXX.so\0', AT.fakeStrtab, 'latin1'); } });
  assert.deepEqual(parse(moved).needed, ['libc.so.6']);
});

test('ELF reader: malformed files are ElfErrors saying what is wrong, never a raw exception', () => {
  const good = buildElf({ interp: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6'] });
  for (const n of [5, 15, 40, 63, 100, 0x180]) malformed(good.subarray(0, n), /truncated|past the end/);
  const w64 = (patch: (w: Writer) => void): Buffer => buildElf({ needed: ['libc.so.6'], patch });
  malformed(w64((w) => { w.buf[4] = 7; }), /unknown ELF class 7/);
  malformed(w64((w) => { w.u16(56, 65535); }), /65535 program headers/);
  malformed(w64((w) => { w.u16(54, 57); }), /program header entry size 57/);
  malformed(w64((w) => { w.word(32, 0xfffffffffffffff0n); }), /program headers at offset 18446744073709551600 .* past the end/);
  malformed(w64((w) => { w.word(w.phField(0, 'filesz'), 0x100000n); w.word(w.phField(0, 'memsz'), 0x100000n); }), /PT_LOAD segment .* past the end/);
  malformed(w64((w) => { w.word(w.phField(0, 'memsz'), 0xffffffffffffff00n); }), /wraps around/);
  malformed(w64((w) => { w.word(w.phField(0, 'memsz'), 0x10n); }), /more file bytes/);
  malformed(w64((w) => { w.word(w.phField(0, 'offset'), 0x10n); w.word(w.phField(0, 'filesz'), 0x100n); w.word(w.phField(0, 'memsz'), 0x100n); }), /not congruent/);
  malformed(w64((w) => { w.word(w.phField(1, 'vaddr'), 0x10n); }), /dynamic section \(address 0x10\) is in no PT_LOAD/);
  // A second PT_LOAD over the same pages, and a second PT_DYNAMIC: ambiguous, refused.
  malformed(w64((w) => { w.u16(56, 3); w.buf.copy(w.buf, w.ph(2), w.ph(0), w.ph(1)); }), /overlap/);
  malformed(w64((w) => { w.u16(56, 3); w.buf.copy(w.buf, w.ph(2), w.ph(1), w.ph(2)); }), /2 PT_DYNAMIC/);
  // The dynamic section runs to the end of the segment without DT_NULL.
  malformed(w64((w) => { for (let o = AT.dynamic; o < SIZE; o += 16) w.word(o, 0x6ffffff0n); }), /no DT_NULL/);
  malformed(w64((w) => { w.word(AT.dynamic + 8, 0x10000n); }), /DT_NEEDED at string offset 65536 is outside the string table/);
  malformed(w64((w) => { w.word(AT.dynamic + 16, 6n); w.word(AT.dynamic + 32, 6n); }), /without DT_STRTAB/);
  // A string table whose last string runs to the end of the file without a NUL.
  malformed(w64((w) => {
    w.buf.fill(0x41, SIZE - 32);
    w.word(AT.dynamic + 8, 1n);
    w.word(AT.dynamic + 24, BASE + BigInt(SIZE - 33));
    w.word(AT.dynamic + 40, 0x1000n);
  }), /no NUL within 32 bytes/);
  malformed(buildElf({ interp: '/lib64/ld.so', patch: (w) => { w.buf[AT.interp + 12] = 0x41; } }), /PT_INTERP does not end with a NUL/);
  malformed(buildElf({ interp: '/x', patch: (w) => { w.word(w.phField(0, 'filesz'), 0x10000n); } }), /PT_INTERP of 65536 bytes/);
  // Fuzz: every one-byte change of the headers is either read or refused as an ElfError.
  for (let o = 0; o < 0x100 + 0x20; o++) {
    for (const v of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
      const b = Buffer.from(good);
      b[o] = v;
      try { parseElf(bufferSource(b)); } catch (e) { assert.ok(e instanceof ElfError, `byte ${o}=${v}: ${String(e)}`); }
    }
  }
});

test('ELF reader: a FIFO is not opened for reading (no hang), a directory is no ELF', () => {
  const fifo = join(work, 'fifo-reader');
  execFileSync('mkfifo', [fifo]);
  // In a child: a blocking open of a FIFO would hang it, and the timeout would fail the test.
  const r = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(join(REPO_ROOT, 'dist/src/jail/elf'))}).readElfFile(${JSON.stringify(fifo)}).kind)`],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.stdout, 'not-regular\n', r.stderr);
  assert.equal(readElfFile(work).kind, 'not-regular');
});

/** Writes an ELF program into the work directory; returns its path. */
function program(name: string, spec: ElfSpec, dir = work): string {
  const file = join(dir, name);
  writeFileSync(file, buildElf({ interp: '/lib64/ld-linux-x86-64.so.2', ...spec }), { mode: 0o755 });
  return file;
}
const stageError = (file: string, message: RegExp): void =>
  assert.throws(() => stagedMounts([{ path: file, writable: false }]), (e: unknown) => e instanceof JailError && e.message.startsWith(`cannot stage ${file}: `) && message.test(e.message));

test('DT_NEEDED is only a library file name: paths, dot-dot, empty, control bytes and long names are refused, naming the entry', () => {
  const cases: [string, RegExp][] = [
    ['/etc/shadow', /needs the library \(DT_NEEDED\) '\/etc\/shadow', which is a path/],
    ['../../etc/passwd', /'..\/..\/etc\/passwd', which is a path/],
    ['libc.so.6/../x', /'libc.so.6\/..\/x', which is a path/],
    ['', /'', which is empty/],
    ['..', /'..', which is '..'/],
    ['.', /'.', which is '.'/],
    ['lib\nevil.so', /'lib\\x0aevil.so', which has spaces, control or non-ASCII bytes/],
    ['lib\x1b[2Jx.so', /'lib\\x1b\[2Jx.so'/],
    ['l'.repeat(300), /which is longer than 255 bytes/],
  ];
  cases.forEach(([name, message], i) => stageError(program(`bad-needed-${i}`, { needed: ['libc.so.6', name] }), message));
  // The lying program whose p_offset shows a harmless dynamic section is refused all the same.
  stageError(program('lying-offset', { needed: ['/etc/shadow'], fakeNeeded: ['libc.so.6'] }), /'\/etc\/shadow', which is a path/);
});

test('PT_INTERP: only a plain absolute path to an ELF loader in a library directory', () => {
  const cases: [string, RegExp][] = [
    ['ld.so', /interpreter \(PT_INTERP\) 'ld.so' is not a plain absolute path/],
    ['/lib64/../etc/shadow', /is not a plain absolute path/],
    ['/lib64//ld-linux-x86-64.so.2', /is not a plain absolute path/],
    ['/lib64/ld\nx', /'\/lib64\/ld\\x0ax' is not a plain absolute path/],
    ['/no/such/ld.so', /interpreter \/no\/such\/ld.so cannot be found \(ENOENT\)/],
    ['/etc', /interpreter \/etc is not a regular file/],
    ['/etc/passwd', /interpreter \/etc\/passwd is outside the system library directories; if you trust it, stage it too with --stage \/etc\/passwd/],
    ['/usr/lib/os-release', /interpreter \/usr\/lib\/os-release is not an ELF loader/],
  ];
  cases.forEach(([interp, message], i) => stageError(program(`bad-interp-${i}`, { interp }), message));
  const i386 = program('interp-other-machine', { machine: 3, bits: 32 });
  stageError(i386, /interpreter \/lib64\/ld-linux-x86-64.so.2 is not an ELF loader for its machine/);
  // A malformed program is an error naming it; a script or an empty file is staged as it is.
  const bad = join(work, 'malformed');
  writeFileSync(bad, buildElf({ needed: ['libc.so.6'] }).subarray(0, 100), { mode: 0o755 });
  stageError(bad, /malformed ELF: .*past the end/);
});

test('a lying program gets nothing beyond its loader and system libraries, in the jail too', () => {
  const dir = join(work, 'liar');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  // Its own directory: a library that is a symlink to a secret, one that is a FIFO, one a directory,
  // one not ELF, one ELF for another machine; its RUNPATH points at /etc, /root and climbs out.
  symlinkSync('/etc/shadow', join(dir, 'libshadow.so'));
  execFileSync('mkfifo', [join(dir, 'libfifo.so')]);
  mkdirSync(join(dir, 'libdir.so'));
  writeFileSync(join(dir, 'libtext.so'), 'not ELF\n');
  writeFileSync(join(dir, 'libarm.so'), buildElf({ machine: 183 }));
  symlinkSync('/etc/hostname', join(dir, 'libc.so.6.hostname'));
  // ELF libraries elsewhere (a directory of the user's): reached by a symlink from its own
  // directory, by an absolute RUNPATH and by $ORIGIN/..; and one of its own, which is staged.
  const elsewhere = join(work, 'private');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'libprivate.so'), buildElf({}));
  symlinkSync(join(elsewhere, 'libprivate.so'), join(dir, 'libsecret.so'));
  writeFileSync(join(dir, 'libown.so'), buildElf({ needed: ['libc.so.6'] }));
  const liar = program('liar', {
    needed: ['libshadow.so', 'libfifo.so', 'libdir.so', 'libtext.so', 'libarm.so', 'shadow', 'passwd', 'hostname', 'x86_64-linux-gnu', 'libc.so.6',
      'libc.so.6.hostname', 'libsecret.so', 'libprivate.so', 'libown.so'],
    runpath: `/etc:/root:relative:$ORIGIN/../../../../etc:$ORIGIN/../..:${elsewhere}:$ORIGIN/../private:$ORIGIN:$LIB:/etc/$ORIGIN`,
  }, dir);
  const mounts = stagedMounts([{ path: liar, writable: false }]);
  const dsts = mounts.map((m) => m.kind === 'bind' ? m.dst : '').sort();
  assert.deepEqual(dsts, ['/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2', join(dir, 'libown.so'), liar].sort());
  for (const m of mounts) if (m.kind === 'bind' && !m.dst.startsWith(dir)) assert.match(m.src, /^\/usr\/lib\/x86_64-linux-gnu\/(libc\.so\.6|ld-linux-x86-64\.so\.2)$/);
  // In the jail: only those (and ls, staged to look), no secret under any name the liar gave.
  const r = tsjail(['--stage', liar, '--stage', '/bin/ls', '--no-proc', '--host-dev', '--', 'ls', '-AR', '/']);
  assert.equal(r.status, 0, r.stderr);
  const names = r.stdout.split('\n').filter((l) => l && !l.endsWith(':'));
  assert.deepEqual([...new Set(names)].sort(), ['bin', 'ld-linux-x86-64.so.2', 'lib', 'lib64', 'libc.so.6', 'libown.so', 'libpcre2-8.so.0', 'libselinux.so.1', 'liar', 'ls', 'tmp', 'x86_64-linux-gnu', work.split('/').pop()!].sort());
});

test('a staged path of any kind either works or is a clear error (exit 125), never a hang or a stack trace', () => {
  const odd = join(work, 'odd');
  mkdirSync(odd);
  chmodSync(odd, 0o755);
  const at = (name: string): string => join(odd, name);
  execFileSync('mkfifo', [at('fifo')]);
  const server = createServer().listen(at('socket'));
  symlinkSync(at('nowhere'), at('dangling'));
  symlinkSync(at('loop-b'), at('loop-a'));
  symlinkSync(at('loop-a'), at('loop-b'));
  writeFileSync(at('empty'), '', { mode: 0o755 });
  writeFileSync(at('secret'), 'secret\n', { mode: 0o000 });
  writeFileSync(at('script'), '#!/bin/sh\necho from the script\n', { mode: 0o755 });
  mkdirSync(at('dir'));
  writeFileSync(at('dir/file'), 'in the dir\n');
  chmodSync(at('dir'), 0o755);
  const refused: [string, RegExp][] = [
    [at('fifo'), /it is a FIFO; only regular files and directories can be staged/],
    [at('socket'), /it is a socket/],
    ['/dev/null', /it is a device/],
    [at('dangling'), /it is a dangling symbolic link/],
    [at('loop-a'), /it is a loop of symbolic links/],
    [at('missing'), /it does not exist/],
  ];
  try {
    for (const asNobody of [false, true]) {
      for (const [path, message] of refused) {
        const r = tsjail(['--stage', path, '--stage', '/bin/sh', '--', 'sh', '-c', 'echo ran'], asNobody);
        assert.equal(r.status, 125, `${path}: ${r.status} ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^tsjail: cannot stage ${path}: ${message.source}`));
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      }
      const works: [string[], string][] = [
        [['--stage', at('dir'), '--stage', '/bin/cat', '--', 'cat', at('dir/file')], 'in the dir\n'],
        [['--stage', at('empty'), '--stage', '/bin/sh', '--', 'sh', '-c', `test -f ${at('empty')} && echo staged`], 'staged\n'],
        [['--stage', at('script'), '--stage', '/bin/sh', '--', at('script')], 'from the script\n'],
      ];
      for (const [args, out] of works) {
        const r = tsjail(args, asNobody);
        assert.equal(r.stdout, out, `${args.join(' ')}: ${r.stderr}`);
      }
      // A file tsjail cannot read: as root it is staged (and stays unreadable to others); as nobody,
      // its libraries cannot be found, which is said.
      const r = tsjail(['--stage', at('secret'), '--stage', '/bin/sh', '--', 'sh', '-c', 'echo ran'], asNobody);
      if (asNobody) {
        assert.equal(r.status, 125);
        assert.match(r.stderr, new RegExp(`^tsjail: cannot stage ${at('secret')}: cannot read it to find the libraries it needs \\(EACCES\\)`));
      } else assert.equal(r.stdout, 'ran\n', r.stderr);
    }
  } finally {
    server.close();
  }
});

test('real programs are still staged and run: ls, python3 with its library directory, as root and as nobody', () => {
  for (const asNobody of [false, true]) {
    const ls = tsjail(['--stage', '/bin/ls', '--no-proc', '--', 'ls', '/lib/x86_64-linux-gnu'], asNobody);
    assert.equal(ls.stdout, 'ld-linux-x86-64.so.2\nlibc.so.6\nlibpcre2-8.so.0\nlibselinux.so.1\n', ls.stderr);
    const py = tsjail(['--stage', '/usr/bin/python3', '--stage', PYLIB, '--host-dev', '--', 'python3', '-c', 'import os, json, hashlib; print(sorted(os.listdir("/")), hashlib.sha1(b"x").hexdigest()[:8])'], asNobody);
    assert.equal(py.stdout, "['lib', 'lib64', 'proc', 'usr'] 11f6ad8e\n", py.stderr);
  }
  // A library found through $ORIGIN/../lib (java's RPATH) is bound where the jail's loader looks.
  const java = stagedMounts([{ path: '/usr/bin/java', writable: false }]).map((m) => (m.kind === 'bind' ? m.dst : ''));
  assert.ok(java.includes('/usr/lib/libjli.so'), java.join(' '));
});

test('ld.so.conf: includes by glob, only absolute plain directories, bounded', () => {
  const d = join(work, 'conf');
  mkdirSync(join(d, 'conf.d'), { recursive: true });
  writeFileSync(join(d, 'ld.so.conf'), `# comment\ninclude conf.d/*.conf\n/opt/a\nrelative/dir\n/opt/../etc\n/opt/b # trailing\nhwcap 1 x\ninclude ${join(d, 'ld.so.conf')}\n`);
  writeFileSync(join(d, 'conf.d/1.conf'), '/opt/c\n');
  writeFileSync(join(d, 'conf.d/2.conf'), '/opt/d\n/opt/with space\n');
  writeFileSync(join(d, 'conf.d/skip.txt'), '/opt/never\n');
  execFileSync('mkfifo', [join(d, 'conf.d/3.conf')]);
  const dirs = confDirs(join(d, 'ld.so.conf'));
  // Itself included again (a loop) repeats its lines up to the depth cap, and ends.
  assert.deepEqual([...new Set(dirs)], ['/opt/c', '/opt/d', '/opt/a', '/opt/b']);
  assert.ok(confDirs('/etc/ld.so.conf').includes('/usr/lib/x86_64-linux-gnu'));
});
