// Loads a policy file: TypeScript or JavaScript (the DSL), or OCI/Docker JSON.
//
// TypeScript is turned into CommonJS by sucrase: pure JavaScript (no native binary to install),
// it strips types without type-checking and keeps every line where it was, so a rule's stack
// frame points at the right line of policy.ts without source maps.
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import type { DefinedPolicy } from '../policy/dsl';
import { PolicyError, type Warning } from '../policy/errors';
import type { Policy } from '../policy/model';
import { parseJson } from './json';
import type { OciImportOptions } from './oci';

export interface LoadedPolicy {
  readonly policy: DefinedPolicy;
  readonly warnings: readonly Warning[];
  readonly format: 'ts' | 'js' | 'oci' | 'systemd';
  /** The files a .ts/.js policy imported (tsjail's own excluded): what a cached filter also depends on. */
  readonly imports?: readonly string[];
  /** How each import the policy's own files named was resolved: a file added or removed may change that. */
  readonly resolutions?: readonly ImportResolution[];
  /**
   * The text of each import as it was evaluated (read once; builtins and addons aside): a cache keys on what ran,
   * not on the file as it is afterwards (a jail may rewrite a workspace file meanwhile).
   */
  readonly importTexts?: ReadonlyMap<string, string>;
}

/** One `import ... from id` in `from`, and the file (or builtin) it resolved to. */
export type ImportResolution = readonly [from: string, id: string, to: string];

function isPolicy(x: unknown): x is Policy {
  return typeof x === 'object' && x !== null && 'defaultAction' in x && Array.isArray((x as Policy).rules);
}

/** A regular file at `path` (not a directory, FIFO or device). */
function isFile(path: string): boolean {
  try { return statSync(path).isFile(); } catch { return false; }
}

/**
 * The TypeScript file a relative import names as tsc resolves it ('./base.js' or './base' is
 * base.ts when no base.js is there); undefined for anything else (Node resolves it).
 */
function typeScriptImport(id: string, dir: string): string | undefined {
  if (!id.startsWith('./') && !id.startsWith('../')) return undefined;
  const path = resolve(dir, id);
  if (isFile(path)) return /\.[mc]?ts$/.test(path) ? path : undefined;
  return [path.replace(/\.([mc]?)js$/, '.$1ts'), `${path}.ts`, join(path, 'index.ts')].find(isFile);
}

/** The modules of one policy load, by file: each evaluated once, and an import cycle gets the exports so far (as Node's own). */
type LoadedModules = Map<string, Module>;

/** Node's resolution of `id` from a module at `from` (what `require` inside it finds); undefined if nothing is found. */
function nodeResolution(id: string, from: string): string | undefined {
  const resolver = Module as unknown as { _resolveFilename(id: string, parent: { id: string; filename: string; paths: string[] }): string; _nodeModulePaths(dir: string): string[] };
  try {
    return resolver._resolveFilename(id, { id: from, filename: from, paths: resolver._nodeModulePaths(dirname(from)) });
  } catch {
    return undefined;
  }
}

/** What `id` imported from `from` resolves to now, as a policy load resolves it ('tsjail' is this copy: not recorded). */
export function resolveImport(from: string, id: string): string | undefined {
  return typeScriptImport(id, dirname(from)) ?? nodeResolution(id, from);
}

/** tsjail's own compiled files: a policy's imports among them are tsjail, not the policy. */
const OWN_CODE = resolve(__dirname, '..');

/** Every file one policy load read besides `file`: its TypeScript imports and what Node loaded for them. */
function importsOf(file: string, modules: LoadedModules): string[] {
  const seen = new Set<Module>();
  const visit = (m: Module): void => {
    for (const child of m.children) if (!seen.has(child)) { seen.add(child); visit(child); }
  };
  for (const m of modules.values()) { seen.add(m); visit(m); }
  return [...new Set([...seen].map((m) => m.filename))].filter((f) => f !== file && !f.startsWith(OWN_CODE + sep)).sort();
}

/** A .json import as Node makes it: its value as the module's exports. */
function jsonModule(file: string, text: string, modules: LoadedModules): unknown {
  const mod = new Module(file, module);
  mod.filename = file;
  modules.set(file, mod);
  try {
    mod.exports = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new PolicyError(`${file}: ${(e as Error).message}`);
  }
  return mod.exports;
}

function evaluateModule(file: string, source: string, modules: LoadedModules, resolutions: ImportResolution[], texts: Map<string, string>): unknown {
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  modules.set(file, mod);
  const ownRequire = mod.require.bind(mod);
  const requireFrom = (id: string): unknown => {
    // `import ... from 'tsjail'` resolves to this copy of tsjail, installed or not.
    if (id === 'tsjail') return require('../index');
    // tsc's resolution is the policy's own files' (a package's code is resolved as Node does).
    const imported = file.includes(`${sep}node_modules${sep}`) ? undefined : typeScriptImport(id, dirname(file));
    const found = imported ?? nodeResolution(id, file);
    resolutions.push([file, id, found ?? '']);
    // A file is read here once, what runs is what is hashed (filterCache.ts): TypeScript, and the
    // .js and .json Node would read itself (node_modules too); builtins and addons are Node's.
    const own = imported ?? (found !== undefined && isAbsolute(found) && /\.(c?js|json)$/.test(found) && !found.startsWith(OWN_CODE + sep) ? found : undefined);
    if (!own) return ownRequire(id);
    const seen = modules.get(own);
    if (seen) return seen.exports;
    const text = readFileSync(own, 'utf8');
    texts.set(own, text);
    if (imported) return evaluateModule(imported, compileTypeScript(imported, text), modules, resolutions, texts);
    if (own.endsWith('.json')) return jsonModule(own, text, modules);
    return evaluateModule(own, text, modules, resolutions, texts);
  };
  mod.require = Object.assign(requireFrom, ownRequire);
  (mod as unknown as { _compile(code: string, file: string): void })._compile(source, file);
  return mod.exports;
}

function compileTypeScript(file: string, text: string): string {
  // Loaded lazily: only TypeScript policies pay for the transformer.
  const { transform } = require('sucrase') as typeof import('sucrase');
  try {
    return transform(text, { transforms: ['typescript', 'imports'], filePath: file, production: true }).code;
  } catch (e) {
    const m = /\((\d+):(\d+)\)/.exec((e as Error).message);
    throw new PolicyError(`syntax error: ${(e as Error).message.replace(/\s*\(\d+:\d+\)$/, '')}`, { file: basename(file), line: m ? Number(m[1]) : 0 });
  }
}

/** What `--policy-format` names: the format of a policy read from stdin. */
const STDIN_FORMATS = ['ts', 'js', 'json', 'systemd'] as const;

/** A policy on stdin (`-`): `format`, else JSON when it starts with `{`, systemd when it has SystemCallFilter= lines, else TypeScript. */
function readStdinPolicy(format: string | undefined): { text: string; ext: string } {
  if (format !== undefined && !(STDIN_FORMATS as readonly string[]).includes(format)) {
    throw new PolicyError(`unknown --policy-format '${format}'`, undefined, `use one of ${STDIN_FORMATS.join(', ')}`);
  }
  let text: string;
  try {
    text = readFileSync(0, 'utf8');
  } catch (e) {
    throw new PolicyError(`cannot read the policy from stdin (--policy -): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const sniffed = /^\s*\{/.test(text) ? 'json' : /^\s*SystemCallFilter\s*=/m.test(text) ? 'systemd' : 'ts';
  return { text, ext: `.${format ?? sniffed}` };
}

/** `path` `-` reads stdin, in `stdinFormat` or as sniffed (readStdinPolicy). */
export function loadPolicyFile(path: string, ociOptions: OciImportOptions = {}, stdinFormat?: string): LoadedPolicy {
  if (path === '-') {
    const { text, ext } = readStdinPolicy(stdinFormat);
    return policyFromText('<stdin>', text, ociOptions, ext);
  }
  return policyFromText(path, readPolicyText(path), ociOptions);
}

/** The policy file's text, read only from a regular file. */
export function readPolicyText(path: string): string {
  const file = resolve(path);
  let text: string;
  let fd: number | undefined;
  try {
    // Opened without blocking (a FIFO would wait for a writer) and checked as opened: only a regular file is read.
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    if (!fstatSync(fd).isFile()) throw new PolicyError(`cannot read policy file ${path}: not a regular file`, undefined, 'name a policy file (.ts, .js, .json, a systemd unit)');
    text = readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    throw new PolicyError(`cannot read policy file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return text;
}

/**
 * The policy in `text`, read from `path` (which names its format and where its imports are; for
 * stdin, `<stdin>` and the format's extension `stdinExt`).
 */
export function policyFromText(path: string, text: string, ociOptions: OciImportOptions = {}, stdinExt?: string): LoadedPolicy {
  const file = resolve(stdinExt ? `<stdin>${stdinExt}` : path);
  const ext = stdinExt ?? extname(file).toLowerCase();
  if (ext === '.json') {
    const { value: json, locate } = parseJson(text, path);
    if (ociOptions.procd) {
      const { importProcd } = require('./procd') as typeof import('./procd');
      const { policy, warnings } = importProcd(json, path);
      return { policy, warnings, format: 'oci' };
    }
    const { importOci } = require('./oci') as typeof import('./oci');
    const { policy, warnings } = importOci(json, { file: path, locate, ...ociOptions });
    return { policy, warnings, format: 'oci' };
  }
  if (['.service', '.conf', '.socket', '.systemd'].includes(ext) || /^\s*SystemCallFilter\s*=/m.test(text)) {
    const { importSystemd } = require('./systemd') as typeof import('./systemd');
    return { policy: importSystemd(text, path), warnings: [], format: 'systemd' };
  }
  const isTs = ['.ts', '.mts', '.cts'].includes(ext);
  if (!isTs && !['.js', '.cjs', '.mjs'].includes(ext)) {
    throw new PolicyError(`unknown policy format '${ext || basename(file)}'`, undefined, 'use a .ts/.js policy, an OCI/Docker .json profile or systemd SystemCallFilter= lines');
  }
  const code = isTs || ext === '.mjs' ? compileTypeScript(file, text) : text;
  let exported: unknown;
  let imports: string[];
  const resolutions: ImportResolution[] = [];
  const importTexts = new Map<string, string>();
  try {
    const modules: LoadedModules = new Map();
    exported = evaluateModule(file, code, modules, resolutions, importTexts);
    imports = importsOf(file, modules);
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const frame = new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`).exec((e as Error).stack ?? '');
    throw new PolicyError(`error while loading the policy: ${(e as Error).message}`, { file: path, line: frame ? Number(frame[1]) : 0 });
  }
  const candidate = (exported as { default?: unknown; policy?: unknown }) ?? {};
  const policy = [candidate.default, candidate.policy, candidate].find(isPolicy);
  if (!policy) {
    throw new PolicyError('the file does not export a policy', { file: path, line: 0 }, 'write `export default definePolicy({ ... })`');
  }
  return { policy: policy as DefinedPolicy, warnings: [], format: isTs ? 'ts' : 'js', imports, resolutions: uniqueResolutions(resolutions), importTexts };
}

function uniqueResolutions(all: readonly ImportResolution[]): ImportResolution[] {
  const seen = new Map(all.map((r) => [JSON.stringify(r), r]));
  return [...seen.keys()].sort().map((k) => seen.get(k)!);
}
