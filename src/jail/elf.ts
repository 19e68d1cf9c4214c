// What an ELF program needs to run: its interpreter (PT_INTERP) and its shared libraries
// (DT_NEEDED, searched through DT_RUNPATH/DT_RPATH and the system's library directories),
// found by reading the headers in TypeScript, as `ldd` would without running anything.
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

interface ElfInfo { readonly interp?: string; readonly needed: string[]; readonly runpath: string[] }

const PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3;
const DT_NEEDED = 1, DT_STRTAB = 5, DT_RPATH = 15, DT_RUNPATH = 29;

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
function readAt(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  return b.subarray(0, readSync(fd, b, 0, length, offset));
}

/**
 * The dynamic-linking facts of an ELF file, or undefined when it is not ELF. Only the headers
 * and the dynamic section are read: programs can be a hundred megabytes (node).
 */
export function readElf(file: string): ElfInfo | undefined {
  let fd: number;
  try { fd = openSync(file, 'r'); } catch { return undefined; }
  try {
    return parseElf(fd);
  } finally {
    closeSync(fd);
  }
}

function parseElf(fd: number): ElfInfo | undefined {
  const head = readAt(fd, 0, 64);
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = head[4] === 2;
  const le = head[5] === 1;
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
  const phoff = word(head, is64 ? 32 : 28);
  const phentsize = u16(head, is64 ? 54 : 42);
  const phnum = u16(head, is64 ? 56 : 44);
  const ph = readAt(fd, phoff, phentsize * phnum);
  const headers = Array.from({ length: Math.floor(ph.length / phentsize) }, (_, i) => {
    const o = i * phentsize;
    return is64
      ? { type: u32(ph, o), offset: word(ph, o + 8), vaddr: word(ph, o + 16), filesz: word(ph, o + 32) }
      : { type: u32(ph, o), offset: u32(ph, o + 4), vaddr: u32(ph, o + 8), filesz: u32(ph, o + 16) };
  });
  const cstr = (offset: number): string => {
    const b = readAt(fd, offset, 4096);
    const end = b.indexOf(0);
    return b.toString('utf8', 0, end < 0 ? b.length : end);
  };
  const interpHeader = headers.find((h) => h.type === PT_INTERP);
  const info: ElfInfo = { needed: [], runpath: [], ...(interpHeader ? { interp: cstr(interpHeader.offset) } : {}) };
  const dynHeader = headers.find((h) => h.type === PT_DYNAMIC);
  if (!dynHeader) return info;
  const dyn = readAt(fd, dynHeader.offset, dynHeader.filesz);
  const entries: [number, number][] = [];
  const size = is64 ? 16 : 8;
  for (let o = 0; o + size <= dyn.length; o += size) {
    const tag = word(dyn, o);
    if (tag === 0) break;
    entries.push([tag, word(dyn, o + size / 2)]);
  }
  const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
  if (strtabAddr === undefined) return info;
  // DT_STRTAB is an address: map it to a file offset through the PT_LOAD segment holding it.
  const load = headers.find((h) => h.type === PT_LOAD && strtabAddr >= h.vaddr && strtabAddr < h.vaddr + h.filesz);
  if (!load) return info;
  const strtab = strtabAddr - load.vaddr + load.offset;
  for (const [tag, val] of entries) {
    if (tag === DT_NEEDED) info.needed.push(cstr(strtab + val));
    if (tag === DT_RUNPATH || tag === DT_RPATH) info.runpath.push(...cstr(strtab + val).split(':').filter(Boolean));
  }
  return info;
}

/** The library directories the dynamic loader searches, from /etc/ld.so.conf and the defaults. */
function systemLibraryDirs(): string[] {
  const dirs: string[] = [];
  const readConf = (file: string, depth: number): void => {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { return; }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) continue;
      const inc = /^include\s+(.*)$/.exec(line);
      if (inc && depth < 4) {
        const pattern = inc[1]!.trim();
        const dir = dirname(pattern);
        const suffix = pattern.slice(pattern.lastIndexOf('*') + 1);
        try {
          for (const f of require('node:fs').readdirSync(dir).sort() as string[]) if (f.endsWith(suffix)) readConf(join(dir, f), depth + 1);
        } catch { /* no such directory */ }
      } else if (!inc) dirs.push(line);
    }
  };
  readConf('/etc/ld.so.conf', 0);
  return [...dirs, '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

/**
 * Every file a program needs, itself included: the interpreter and the transitive closure of its
 * libraries, as absolute paths (symlinks kept: the loader opens libraries by their names).
 */
export function elfClosure(program: string): string[] {
  const dirs = systemLibraryDirs();
  const out = new Set<string>();
  const queue = [program];
  while (queue.length) {
    const file = queue.shift()!;
    if (out.has(file)) continue;
    out.add(file);
    const info = readElf(file);
    if (!info) continue;
    if (info.interp) queue.push(info.interp);
    const origin = dirname(realpathSync(file));
    const search = [...info.runpath.map((r) => r.replace(/\$ORIGIN|\$\{ORIGIN\}/g, origin)), ...dirs];
    for (const lib of info.needed) {
      const found = isAbsolute(lib) ? lib : search.map((d) => join(d, lib)).find((p) => existsSync(p));
      if (found) queue.push(found);
    }
  }
  return [...out];
}
