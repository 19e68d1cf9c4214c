// The dynamic-linking facts of an ELF file, read the way the kernel and ld.so read them: PT_INTERP
// at its file offset (the kernel), the dynamic section and its string table at their *addresses*,
// translated to file offsets through the PT_LOAD segment that maps them (ld.so). The file may be
// hostile: every read is bounded by the file and by fixed caps, and anything ld.so would not
// load unambiguously is an ElfError saying what is wrong.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** A file that starts like ELF but is not one ld.so could load unambiguously. */
export class ElfError extends Error {}

export interface ElfFile {
  readonly bits: 32 | 64;
  readonly littleEndian: boolean;
  /** e_machine (EM_X86_64 = 62...), and e_type (ET_EXEC = 2, ET_DYN = 3). */
  readonly machine: number;
  readonly type: number;
  /** PT_INTERP's path, as the kernel reads it. */
  readonly interp?: string;
  /** DT_NEEDED strings, raw (bytes as latin1: the caller decides what a library name may be). */
  readonly needed: readonly string[];
  /** DT_RUNPATH, else DT_RPATH (ld.so ignores DT_RPATH when DT_RUNPATH is there), unsplit. */
  readonly libraryPath?: string;
}

export type ElfRead = { readonly kind: 'not-elf' } | { readonly kind: 'elf'; readonly elf: ElfFile };

/** Bytes of a file: `read` returns exactly `length` bytes or throws ElfError. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

export const ET_EXEC = 2, ET_DYN = 3;
const PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3;
const DT_NULL = 0n, DT_NEEDED = 1n, DT_STRTAB = 5n, DT_STRSZ = 10n, DT_RPATH = 15n, DT_RUNPATH = 29n;
/** The kernel reads at most 64 KiB of program headers and an interpreter path of PATH_MAX. */
const MAX_PHDRS_BYTES = 65536, MAX_INTERP = 4096;
/** Caps of ours: no real object has more than a few dozen dynamic entries or a 4 KiB string. */
const MAX_DYNAMIC_ENTRIES = 4096, MAX_STRING = 4096;
const PAGE = 4096n;

const fail = (message: string): never => { throw new ElfError(message); };
const hex = (n: bigint): string => `0x${n.toString(16)}`;

export function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read: (offset, length) => (offset + length <= buf.length ? buf.subarray(offset, offset + length) : fail(`read past the end at ${offset}`)),
  };
}

function fdSource(fd: number, size: number): ByteSource {
  return {
    size,
    read(offset, length) {
      const b = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, b, got, length - got, offset + got);
        if (n === 0) fail('the file shrank while it was read');
        got += n;
      }
      return b;
    },
  };
}

interface Segment { readonly type: number; readonly offset: bigint; readonly vaddr: bigint; readonly filesz: bigint; readonly memsz: bigint }

/** Parses ELF headers from `src`; 'not-elf' when the magic is missing, ElfError when malformed. */
export function parseElf(src: ByteSource): ElfRead {
  if (src.size < 4 || src.read(0, 4).readUInt32BE(0) !== 0x7f454c46) return { kind: 'not-elf' };
  if (src.size < 16) fail(`truncated: ${src.size} bytes, the ELF identification alone is 16`);
  const ident = src.read(0, 16);
  if (ident[4] !== 1 && ident[4] !== 2) fail(`unknown ELF class ${ident[4]}`);
  if (ident[5] !== 1 && ident[5] !== 2) fail(`unknown ELF data encoding ${ident[5]}`);
  const is64 = ident[4] === 2, le = ident[5] === 1;
  const ehsize = is64 ? 64 : 52;
  if (src.size < ehsize) fail(`truncated: ${src.size} bytes, the ELF header is ${ehsize}`);
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): bigint => (is64 ? (le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : BigInt(u32(b, o)));
  const wordMax = is64 ? 2n ** 64n : 2n ** 32n;
  const head = src.read(0, ehsize);
  const base = { bits: is64 ? 64 : 32, littleEndian: le, machine: u16(head, 18), type: u16(head, 16) } as const;
  const phoff = word(head, is64 ? 32 : 28), phentsize = u16(head, is64 ? 54 : 42), phnum = u16(head, is64 ? 56 : 44);
  if (phnum === 0) return { kind: 'elf', elf: { ...base, needed: [] } };
  if (phentsize !== (is64 ? 56 : 32)) fail(`program header entry size ${phentsize}, expected ${is64 ? 56 : 32}`);
  if (phnum * phentsize > MAX_PHDRS_BYTES) fail(`${phnum} program headers (the kernel takes at most ${MAX_PHDRS_BYTES / phentsize})`);
  /** A file range, checked against the file's size; offsets as numbers once they are known to fit. */
  const range = (offset: bigint, length: bigint, what: string): number => {
    if (offset + length > BigInt(src.size)) fail(`${what} at offset ${offset} (${length} bytes) is past the end of the file (${src.size} bytes)`);
    return Number(offset);
  };
  const ph = src.read(range(phoff, BigInt(phnum * phentsize), 'the program headers'), phnum * phentsize);
  const segments: Segment[] = Array.from({ length: phnum }, (_, i) => {
    const o = i * phentsize;
    return is64
      ? { type: u32(ph, o), offset: word(ph, o + 8), vaddr: word(ph, o + 16), filesz: word(ph, o + 32), memsz: word(ph, o + 40) }
      : { type: u32(ph, o), offset: word(ph, o + 4), vaddr: word(ph, o + 8), filesz: word(ph, o + 16), memsz: word(ph, o + 20) };
  });
  const only = (type: number, name: string): Segment | undefined => {
    const all = segments.filter((s) => s.type === type);
    if (all.length > 1) fail(`${all.length} ${name} program headers`);
    return all[0];
  };

  // PT_LOAD segments: each inside the file and the address space, offset and address congruent
  // modulo the page (ld.so refuses others), no two sharing a page (so every address has one byte).
  const loads = segments.filter((s) => s.type === PT_LOAD).sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  loads.forEach((s, i) => {
    if (s.filesz > s.memsz) fail(`a PT_LOAD segment at ${hex(s.vaddr)} has more file bytes (${s.filesz}) than memory (${s.memsz})`);
    if (s.vaddr + s.memsz > wordMax) fail(`a PT_LOAD segment at ${hex(s.vaddr)} (${s.memsz} bytes) wraps around the address space`);
    range(s.offset, s.filesz, `the PT_LOAD segment at ${hex(s.vaddr)}`);
    if ((s.vaddr - s.offset) % PAGE !== 0n) fail(`the PT_LOAD segment at ${hex(s.vaddr)} has an address and offset ${hex(s.offset)} not congruent modulo the page`);
    const prev = loads[i - 1];
    if (prev && (prev.vaddr + prev.memsz + PAGE - 1n) / PAGE > s.vaddr / PAGE) fail(`PT_LOAD segments at ${hex(prev.vaddr)} and ${hex(s.vaddr)} overlap`);
  });
  /** An address's file offset and the file bytes from there to its segment's end. */
  const toFile = (vaddr: bigint, what: string): { offset: number; avail: number } => {
    const s = loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz) ?? fail(`${what} (address ${hex(vaddr)}) is in no PT_LOAD segment's file bytes`);
    const offset = s.offset + (vaddr - s.vaddr);
    return { offset: Number(offset), avail: Number(s.filesz - (vaddr - s.vaddr)) };
  };

  const interpHeader = only(PT_INTERP, 'PT_INTERP');
  let interp: string | undefined;
  if (interpHeader) {
    const { filesz } = interpHeader;
    if (filesz < 2n || filesz > BigInt(MAX_INTERP)) fail(`PT_INTERP of ${filesz} bytes (the kernel takes 2 to ${MAX_INTERP})`);
    const b = src.read(range(interpHeader.offset, filesz, 'PT_INTERP'), Number(filesz));
    if (b[b.length - 1] !== 0) fail('PT_INTERP does not end with a NUL');
    interp = b.toString('latin1', 0, b.indexOf(0));
  }
  const dynHeader = only(PT_DYNAMIC, 'PT_DYNAMIC');
  if (!dynHeader) return { kind: 'elf', elf: { ...base, ...(interp !== undefined ? { interp } : {}), needed: [] } };

  // The dynamic section where ld.so finds it: at PT_DYNAMIC's address, up to DT_NULL.
  const entrySize = is64 ? 16 : 8;
  const at = toFile(dynHeader.vaddr, 'the dynamic section');
  const count = Math.min(Math.floor(at.avail / entrySize), MAX_DYNAMIC_ENTRIES);
  const dyn = src.read(at.offset, count * entrySize);
  const entries: [bigint, bigint][] = [];
  for (let i = 0; ; i++) {
    if (i === count) fail(count === MAX_DYNAMIC_ENTRIES ? `more than ${MAX_DYNAMIC_ENTRIES} dynamic entries` : 'the dynamic section has no DT_NULL');
    const tag = word(dyn, i * entrySize);
    if (tag === DT_NULL) break;
    entries.push([tag, word(dyn, i * entrySize + entrySize / 2)]);
  }
  // ld.so keeps the last of each single-valued tag.
  const last = (tag: bigint): bigint | undefined => entries.filter(([t]) => t === tag).pop()?.[1];
  const needed = entries.filter(([t]) => t === DT_NEEDED).map(([, v]) => v);
  const pathOffset = last(DT_RUNPATH) ?? last(DT_RPATH);
  if (!needed.length && pathOffset === undefined) return { kind: 'elf', elf: { ...base, ...(interp !== undefined ? { interp } : {}), needed: [] } };
  const strtab = toFile(last(DT_STRTAB) ?? fail('DT_NEEDED or DT_RUNPATH without DT_STRTAB'), 'the string table (DT_STRTAB)');
  const strsz = last(DT_STRSZ);
  const limit = strsz === undefined || strsz > BigInt(strtab.avail) ? strtab.avail : Number(strsz);
  const str = (offset: bigint, what: string): string => {
    if (offset >= BigInt(limit)) fail(`${what} at string offset ${offset} is outside the string table (${limit} bytes)`);
    const b = src.read(strtab.offset + Number(offset), Math.min(limit - Number(offset), MAX_STRING + 1));
    const end = b.indexOf(0);
    if (end < 0) fail(`${what} at string offset ${offset} has no NUL within ${b.length} bytes`);
    return b.toString('latin1', 0, end);
  };
  return {
    kind: 'elf',
    elf: {
      ...base,
      ...(interp !== undefined ? { interp } : {}),
      needed: needed.map((v) => str(v, 'DT_NEEDED')),
      ...(pathOffset !== undefined ? { libraryPath: str(pathOffset, 'DT_RUNPATH/DT_RPATH') } : {}),
    },
  };
}

/** What is at a path, for reading its ELF headers: only regular files are opened past fstat. */
export type FileRead =
  | ElfRead
  | { readonly kind: 'not-regular' }
  | { readonly kind: 'unreadable'; readonly code: string }
  | { readonly kind: 'malformed'; readonly message: string };

/**
 * Reads a file's ELF headers. Opened non-blocking (a FIFO put in the file's place after a stat
 * must not hang tsjail) and checked with fstat before a byte is read.
 */
export function readElfFile(file: string): FileRead {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return { kind: 'unreadable', code: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'not-regular' };
    return parseElf(fdSource(fd, st.size));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code ? { kind: 'unreadable', code } : { kind: 'malformed', message: (e as Error).message };
  } finally {
    closeSync(fd);
  }
}

/** The headers of an ELF file, or undefined when it is not a well-formed ELF file (see late.ts). */
export function readElf(file: string): ElfFile | undefined {
  const r = readElfFile(file);
  return r.kind === 'elf' ? r.elf : undefined;
}
