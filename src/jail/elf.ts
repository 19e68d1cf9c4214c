// What an ELF program needs to run: its interpreter (PT_INTERP) and its shared libraries
// (DT_NEEDED, searched through DT_RUNPATH/DT_RPATH and the system's library directories),
// found by reading the headers in TypeScript, as `ldd` would without running anything.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

interface ElfInfo { readonly interp?: string; readonly needed: string[]; readonly runpath: string[] }

const PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3;
const DT_NEEDED = 1, DT_STRTAB = 5, DT_RPATH = 15, DT_RUNPATH = 29;

/** The dynamic-linking facts of an ELF file, or undefined when it is not ELF. */
export function readElf(file: string): ElfInfo | undefined {
  let b: Buffer;
  try { b = readFileSync(file); } catch { return undefined; }
  if (b.length < 52 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(o));
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const headers = Array.from({ length: phnum }, (_, i) => {
    const o = phoff + i * phentsize;
    return is64
      ? { type: u32(o), offset: word(o + 8), vaddr: word(o + 16), filesz: word(o + 32) }
      : { type: u32(o), offset: u32(o + 4), vaddr: u32(o + 8), filesz: u32(o + 16) };
  });
  const cstr = (o: number): string => b.toString('utf8', o, b.indexOf(0, o));
  const interpHeader = headers.find((h) => h.type === PT_INTERP);
  const info: ElfInfo = { needed: [], runpath: [], ...(interpHeader ? { interp: cstr(interpHeader.offset) } : {}) };
  const dyn = headers.find((h) => h.type === PT_DYNAMIC);
  if (!dyn) return info;
  const entries: [number, number][] = [];
  const size = is64 ? 16 : 8;
  for (let o = dyn.offset; o + size <= dyn.offset + dyn.filesz; o += size) {
    const tag = word(o);
    if (tag === 0) break;
    entries.push([tag, word(o + size / 2)]);
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
