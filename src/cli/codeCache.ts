// V8's code cache for tsjail's own modules, made at build time (scripts/code-cache.ts) so that a
// CLI run does not parse and compile again each module it loads (Node 22 has
// module.enableCompileCache, Node 20 nothing of the kind). The cache lies beside the compiled files
// it is made from, as trusted as they are. An entry is used only for the very source it was made
// from (its SHA-256: V8 itself checks no more than the source's length), and only where this V8
// accepts it; anything else is compiled as Node always compiles it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Script } from 'node:vm';

/** What the file starts with, before its JSON index line. */
const FORMAT = 'tsjail-code-cache 1';

interface Entry { readonly path: string; readonly sha256: string; readonly data: Buffer }

type Compile = (this: Module, content: string, filename: string) => unknown;
const prototype = Module.prototype as unknown as { _compile: Compile };

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The cache for this Node (another version's V8 refuses it), under dist/. */
export function codeCacheFile(dist: string): string {
  return join(dist, 'code-cache', `node-${process.version}-${process.arch}.bin`);
}

/**
 * `content` run as Node runs a CommonJS module, compiled with `cachedData` where given; the
 * script, for its cache. `own` loads a relative import that has an entry (undefined: Node's way).
 */
function runModule(mod: Module, content: string, filename: string, cachedData?: Buffer, own?: (path: string, parent: Module) => unknown): Script {
  const script = new Script(Module.wrap(content), { filename, ...(cachedData ? { cachedData } : {}) });
  const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => void;
  // The module's require as Node makes it (resolve, cache and main beside it).
  const required = (id: string): unknown => (own && id.startsWith('.') ? own(resolve(dirname(filename), `${id}.js`), mod) : undefined) ?? mod.require(id);
  const resolveId = (request: string, options?: { paths?: string[] }): string =>
    (Module as unknown as { _resolveFilename(r: string, parent: Module, isMain: boolean, o?: object): string })._resolveFilename(request, mod, false, options);
  const moduleRequire = Object.assign(required, { resolve: resolveId, cache: require.cache, main: require.main });
  wrapper.call(mod.exports, mod.exports, moduleRequire, mod, filename, dirname(filename));
  return script;
}

function encodeCodeCache(entries: readonly Entry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const index = sorted.map((e) => ({ path: e.path, sha256: e.sha256, bytes: e.data.length }));
  return Buffer.concat([Buffer.from(`${FORMAT}\n${JSON.stringify(index)}\n`), ...sorted.map((e) => e.data)]);
}

/** The entries of a cache file, by path under its root; none unless the file is whole. */
export function decodeCodeCache(file: Buffer): ReadonlyMap<string, Entry> {
  const first = file.indexOf(10), second = file.indexOf(10, first + 1);
  if (first < 0 || second < 0 || file.subarray(0, first).toString() !== FORMAT) return new Map();
  const index = JSON.parse(file.subarray(first + 1, second).toString()) as { path: string; sha256: string; bytes: number }[];
  const out = new Map<string, Entry>();
  let at = second + 1;
  for (const e of index) {
    out.set(e.path, { path: e.path, sha256: e.sha256, data: file.subarray(at, at + e.bytes) });
    at += e.bytes;
  }
  return at === file.length ? out : new Map();
}

/** Modules under `root` are compiled with their entries in `file` from now on (none where it cannot be read). */
export function useCodeCache(root: string, file: string): void {
  let entries: ReadonlyMap<string, Entry>;
  try {
    entries = decodeCodeCache(readFileSync(file));
  } catch {
    return; // none built for this Node (or unreadable): every module compiles as usual
  }
  const entryFor = (filename: string, content: string): Entry | undefined => {
    const entry = filename.startsWith(root + sep) ? entries.get(relative(root, filename)) : undefined;
    return entry?.sha256 === sha256(content) ? entry : undefined;
  };
  // One module's import of another with an entry is loaded here: Node's resolution (stat calls,
  // package.json lookups) costs more than the compiling the cache saves.
  const own = (filename: string, parent: Module): unknown => {
    const known = require.cache[filename];
    if (known) return known.exports;
    if (!entries.has(relative(root, filename))) return undefined;
    const content = readFileSync(filename, 'utf8');
    const entry = entryFor(filename, content);
    if (!entry) return undefined;
    const mod = new Module(filename, parent);
    mod.filename = filename;
    mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(filename));
    require.cache[filename] = mod;
    try {
      runModule(mod, content, filename, entry.data, own);
    } catch (e) {
      delete require.cache[filename];
      throw e;
    }
    mod.loaded = true;
    return mod.exports;
  };
  const compile = prototype._compile;
  prototype._compile = function (this: Module, content: string, filename: string): unknown {
    const entry = entryFor(filename, content);
    if (!entry) return compile.call(this, content, filename);
    runModule(this, content, filename, entry.data, own);
    return undefined;
  };
}

/**
 * Loads `modules` (paths under `root`, none loaded yet) and returns the cache of what compiling
 * them left: run with `node --predictable`, the same bytes for the same sources.
 */
export function makeCodeCache(root: string, modules: readonly string[]): Buffer {
  const made: { path: string; content: string; script: Script }[] = [];
  const compile = prototype._compile;
  prototype._compile = function (this: Module, content: string, filename: string): unknown {
    if (!filename.startsWith(root + sep)) return compile.call(this, content, filename);
    made.push({ path: relative(root, filename), content, script: runModule(this, content, filename) });
    return undefined;
  };
  try {
    for (const m of modules) require(m);
  } finally {
    prototype._compile = compile;
  }
  return encodeCodeCache(made.map((m) => ({ path: m.path, sha256: sha256(m.content), data: m.script.createCachedData() })));
}
