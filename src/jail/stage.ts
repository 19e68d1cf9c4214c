// `--stage`: the bind mounts of a fresh root holding only the given paths and, for an ELF
// program, its interpreter and the shared libraries ld.so would load for it. The program may be
// hostile (it names its own interpreter and libraries): what it names is looked up only where
// ld.so looks, and staged only when it is an ELF object for the program's machine inside the
// system library directories (or, through $ORIGIN, the object's own directory tree).
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { ET_DYN, ET_EXEC, readElfFile, type ElfFile } from './elf';
import { JailError } from './errors';
import type { MountSpec } from './helper';
import { bindMount } from './mounts';

export interface StagedPath { readonly path: string; readonly writable: boolean }

/** Caps: more libraries than this, or a deeper chain, is refused rather than followed. */
const MAX_OBJECTS = 1024, MAX_DEPTH = 64, MAX_NAME = 255, MAX_DIRS = 256, MAX_CONF_FILES = 256, MAX_CONF_BYTES = 1 << 20;

/** A string from a file shown safely: control and non-ASCII bytes as \xNN. */
const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
const plain = (s: string): boolean => /^[\x21-\x7e]+$/.test(s);
const within = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === sep ? dir : dir + sep);
const errno = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);

/** One file to bind: the host's resolved file `src` at `dst`, the path the loader opens in the jail. */
interface Placed { readonly src: string; readonly dst: string }

/** The bind mounts for `--stage`: ELF needs first, then the given paths in their order (see README). */
export function stagedMounts(stage: readonly StagedPath[]): MountSpec[] {
  const given = new Map<string, { readonly writable: boolean; readonly dir: boolean }>();
  for (const { path, writable } of stage) {
    const abs = resolve(path);
    given.set(abs, { writable, dir: stageable(abs, path).isDirectory() });
  }
  const needs = new Map<string, string>();
  for (const [abs, { dir }] of given) {
    if (dir) continue;
    for (const { src, dst } of elfNeeds(abs, given)) if (!given.has(dst) && !needs.has(dst)) needs.set(dst, src);
  }
  // Needs go first so that their mount points are made in the fresh tmpfs, never inside a staged
  // host directory (whose symlinks would lead the mount point out of the root).
  return [
    ...[...needs].map(([dst, src]) => bindMount(src, dst, true)),
    ...[...given].map(([abs, { writable }]) => bindMount(abs, abs, !writable)),
  ];
}

/** The given path's stat when it can be staged (a directory or a regular file), else why not. */
function stageable(abs: string, shown: string): Stats {
  const refuse = (why: string): never => { throw new JailError(`cannot stage ${shown}: ${why}`); };
  let link: Stats;
  try { link = lstatSync(abs); } catch (e) {
    return refuse(errno(e) === 'ENOENT' ? 'it does not exist' : `cannot reach it (${errno(e)})`);
  }
  let st: Stats;
  try { st = statSync(abs); } catch (e) {
    const code = errno(e);
    return refuse(code === 'ENOENT' && link.isSymbolicLink() ? 'it is a dangling symbolic link'
      : code === 'ELOOP' ? 'it is a loop of symbolic links' : `cannot reach it (${code})`);
  }
  if (st.isDirectory() || st.isFile()) return st;
  const kind = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a file';
  return refuse(`it is ${kind}; only regular files and directories can be staged (--dev gives a /dev)`);
}

/** An object in the closure: its ELF facts, its host file, and the path the jail's loader knows it by. */
interface Loaded { readonly elf: ElfFile; readonly real: string; readonly jail: string; readonly depth: number }

/** What an ELF program needs beside itself; nothing for other files (scripts, data, object files). */
function elfNeeds(program: string, given: ReadonlyMap<string, unknown>): Placed[] {
  const refuse = (why: string): never => { throw new JailError(`cannot stage ${program}: ${why}`); };
  const top = readElfFile(program);
  if (top.kind === 'not-elf') return [];
  if (top.kind === 'malformed') return refuse(`malformed ELF: ${top.message}`);
  if (top.kind === 'unreadable') return refuse(`cannot read it to find the libraries it needs (${top.code})`);
  if (top.kind === 'not-regular') return refuse('it is no longer a regular file');
  const elf = top.elf;
  if (elf.type !== ET_EXEC && elf.type !== ET_DYN) return [];
  const system = systemDirs(elf);
  const roots = system.map((d) => d.real);
  const out: Placed[] = [];
  const seen = new Set<string>();
  const queue: Loaded[] = [{ elf, real: realpathSync(program), jail: program, depth: 0 }];
  seen.add(queue[0]!.real);
  const add = (lib: Loaded): void => {
    if (seen.has(lib.real)) return;
    if (seen.size >= MAX_OBJECTS) refuse(`it needs more than ${MAX_OBJECTS} objects`);
    if (lib.depth > MAX_DEPTH) refuse(`its libraries need each other more than ${MAX_DEPTH} deep`);
    seen.add(lib.real);
    queue.push(lib);
  };
  if (elf.interp !== undefined) {
    const interp = interpreter(elf, roots, given, refuse);
    if (interp) { out.push({ src: interp.real, dst: interp.jail }); add(interp); }
  }
  while (queue.length) {
    const obj = queue.shift()!;
    const search = [...libraryPathDirs(obj, roots), ...system];
    for (const name of obj.elf.needed) {
      checkLibraryName(name, obj.real, refuse);
      const lib = findLibrary(name, obj, search, roots, refuse);
      if (!lib) continue; // the loader will say so in the jail
      out.push({ src: lib.real, dst: lib.jail });
      add(lib);
    }
  }
  return out;
}

/** PT_INTERP: an absolute, plain path to an ELF loader for the program's machine in a library directory. */
function interpreter(elf: ElfFile, roots: readonly string[], given: ReadonlyMap<string, unknown>, refuse: (why: string) => never): Loaded | undefined {
  const path = elf.interp!;
  const shown = printable(path);
  const parts = path.split('/').slice(1);
  if (!path.startsWith('/') || !plain(path) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    refuse(`its interpreter (PT_INTERP) '${shown}' is not a plain absolute path`);
  }
  if (given.has(path)) return undefined; // staged by the user, as given
  let st: Stats, real: string;
  try { st = statSync(path); real = realpathSync(path); } catch (e) { return refuse(`its interpreter ${shown} cannot be found (${errno(e)})`); }
  if (!st.isFile()) refuse(`its interpreter ${shown} is not a regular file`);
  if (!roots.some((r) => within(real, r))) refuse(`its interpreter ${shown} is outside the system library directories; if you trust it, stage it too with --stage ${shown}`);
  const r = readElfFile(real);
  if (r.kind === 'malformed') refuse(`its interpreter ${shown} is a malformed ELF: ${r.message}`);
  if (r.kind !== 'elf' || r.elf.type !== ET_DYN || !sameMachine(r.elf, elf)) refuse(`its interpreter ${shown} is not an ELF loader for its machine`);
  return { elf: (r as { elf: ElfFile }).elf, real, jail: path, depth: 1 };
}

function sameMachine(a: ElfFile, b: ElfFile): boolean {
  return a.bits === b.bits && a.littleEndian === b.littleEndian && a.machine === b.machine;
}

/** DT_NEEDED is looked up only as a file name in the library directories. */
function checkLibraryName(name: string, object: string, refuse: (why: string) => never): void {
  const bad = name === '' ? 'is empty' : name === '.' || name === '..' ? `is '${name}'`
    : name.length > MAX_NAME ? `is longer than ${MAX_NAME} bytes` : name.includes('/') ? 'is a path'
      : !plain(name) ? 'has spaces, control or non-ASCII bytes' : undefined;
  if (bad) refuse(`${object} needs the library (DT_NEEDED) '${printable(name.slice(0, MAX_NAME))}', which ${bad}: only a library file name is looked up, in the library directories`);
}

/** A directory to look in: on the host, and as the jail's loader will name it. */
interface SearchDir { readonly host: string; readonly jail: string; readonly real: string }

/**
 * DT_RUNPATH/DT_RPATH entries that are kept: absolute ones and $ORIGIN ones (the object's real
 * directory on the host; its directory in the jail, where the loader expands it), whose real
 * directory is inside the object's own directory or a system library directory. Relative
 * entries (ld.so takes them from the current directory) and $LIB, $PLATFORM are ignored.
 */
function libraryPathDirs(obj: Loaded, roots: readonly string[]): SearchDir[] {
  const origin = dirname(obj.real);
  const out: SearchDir[] = [];
  for (const entry of (obj.elf.libraryPath ?? '').split(':').slice(0, MAX_DIRS)) {
    const m = /^(\$ORIGIN|\$\{ORIGIN\})(\/.*)?$/.exec(entry);
    if (!plain(entry) || (!m && (!entry.startsWith('/') || entry.includes('$')))) continue;
    const rest = m?.[2] ?? '';
    if (rest.includes('$')) continue;
    const host = m ? origin + rest : entry;
    const real = realDir(host);
    if (real && (within(real, origin) || roots.some((r) => within(real, r)))) out.push({ host, jail: normalize(m ? dirname(obj.jail) + rest : entry), real });
  }
  return out;
}

/** The first file named `name` in `search` that is an ELF library for the object's machine. */
function findLibrary(name: string, obj: Loaded, search: readonly SearchDir[], roots: readonly string[], refuse: (why: string) => never): Loaded | undefined {
  const origin = dirname(obj.real);
  for (const dir of search) {
    const host = join(dir.host, name);
    let real: string;
    try {
      if (!statSync(host).isFile()) continue; // never a directory, FIFO or device because a name said so
      real = realpathSync(host);
    } catch { continue; }
    if (!within(real, origin) && !roots.some((r) => within(real, r))) continue;
    const r = readElfFile(real);
    if (r.kind === 'malformed') refuse(`its library ${host} (needed by ${obj.real}) is a malformed ELF: ${r.message}`);
    // ld.so, too, passes over files for another machine and goes on searching.
    if (r.kind !== 'elf' || r.elf.type !== ET_DYN || !sameMachine(r.elf, obj.elf)) continue;
    return { elf: r.elf, real, jail: join(dir.jail, name), depth: obj.depth + 1 };
  }
  return undefined;
}

const realDir = (path: string): string | undefined => {
  try { return statSync(path).isDirectory() ? realpathSync(path) : undefined; } catch { return undefined; }
};

/** Debian/Ubuntu multiarch names, by e_machine and class. */
const TRIPLETS: Readonly<Record<string, string>> = {
  '62/64': 'x86_64-linux-gnu', '62/32': 'x86_64-linux-gnux32', '3/32': 'i386-linux-gnu', '183/64': 'aarch64-linux-gnu',
  '40/32': 'arm-linux-gnueabihf', '243/64': 'riscv64-linux-gnu', '21/64': 'powerpc64le-linux-gnu', '22/64': 's390x-linux-gnu',
};

/**
 * The system library directories for the program's machine, in the order the jail's loader
 * searches them (it has no ld.so.cache): the multiarch and standard ones, then /etc/ld.so.conf's.
 */
function systemDirs(elf: ElfFile): SearchDir[] {
  const triplet = TRIPLETS[`${elf.machine}/${elf.bits}`];
  const word = elf.bits === 64 ? ['/lib64', '/usr/lib64'] : triplet?.endsWith('x32') ? ['/libx32', '/usr/libx32'] : ['/lib32', '/usr/lib32'];
  const dirs = [...(triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : []), ...word, '/lib', '/usr/lib', ...confDirs('/etc/ld.so.conf')];
  const out: SearchDir[] = [];
  for (const d of new Set(dirs)) {
    const real = realDir(d);
    if (real) out.push({ host: d, jail: d, real });
  }
  return out;
}

/** A small regular file's text, or undefined (missing, not a regular file, too big, unreadable). */
function smallText(file: string): string | undefined {
  let fd: number;
  try { fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY); } catch { return undefined; }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_CONF_BYTES) return undefined;
    const b = Buffer.alloc(st.size);
    return b.toString('latin1', 0, readSync(fd, b, 0, st.size, 0));
  } catch { return undefined; } finally { closeSync(fd); }
}

/** The directories /etc/ld.so.conf lists (absolute, plain ones), following `include` globs. */
export function confDirs(conf: string): string[] {
  const dirs: string[] = [];
  let files = 0;
  const read = (file: string, depth: number): void => {
    if (depth > 8 || ++files > MAX_CONF_FILES) return;
    for (const raw of (smallText(file) ?? '').split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const inc = /^include\s+(.+)$/.exec(line);
      if (inc) for (const pattern of inc[1]!.split(/\s+/)) for (const f of glob(isAbsolute(pattern) ? pattern : join(dirname(file), pattern))) read(f, depth + 1);
      else if (line.startsWith('/') && plain(line) && !line.split('/').includes('..') && dirs.length < MAX_DIRS) dirs.push(normalize(line));
    }
  };
  read(conf, 0);
  return dirs;
}

/** Files matching a pattern whose last component may hold * and ? (ldconfig's include). */
function glob(pattern: string): string[] {
  const dir = dirname(pattern), base = pattern.slice(dir.length + 1);
  if (/[*?[]/.test(dir)) return [];
  if (!/[*?]/.test(base)) return [pattern];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  try {
    return readdirSync(dir).filter((f) => re.test(f) && !f.startsWith('.')).sort().slice(0, MAX_CONF_FILES).map((f) => join(dir, f));
  } catch { return []; }
}
