// Loads a policy file: TypeScript or JavaScript (the DSL), or OCI/Docker JSON.
//
// TypeScript is turned into CommonJS by sucrase: pure JavaScript (no native binary to install),
// it strips types without type-checking and keeps every line where it was, so a rule's stack
// frame points at the right line of policy.ts without source maps.
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname, extname, resolve } from 'node:path';
import type { DefinedPolicy } from './dsl';
import { PolicyError, type Warning } from './errors';
import type { Policy } from './model';
import { importOci, type OciImportOptions } from './oci';

export interface LoadedPolicy {
  readonly policy: DefinedPolicy;
  readonly warnings: readonly Warning[];
  readonly format: 'ts' | 'js' | 'oci' | 'systemd';
}

function isPolicy(x: unknown): x is Policy {
  return typeof x === 'object' && x !== null && 'defaultAction' in x && Array.isArray((x as Policy).rules);
}

function evaluateModule(file: string, source: string): unknown {
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  const ownRequire = mod.require.bind(mod);
  // `import ... from 'tsjail'` resolves to this copy of tsjail, installed or not.
  mod.require = Object.assign((id: string) => (id === 'tsjail' ? require('../index') : ownRequire(id)), ownRequire);
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
    return policyFromText(resolve(`<stdin>${ext}`), '<stdin>', ext, text, ociOptions);
  }
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
  return policyFromText(file, path, extname(file).toLowerCase(), text, ociOptions);
}

/** The policy in `text`, read from `file` (named `path` in messages), in the format `ext` says. */
function policyFromText(file: string, path: string, ext: string, text: string, ociOptions: OciImportOptions): LoadedPolicy {
  if (ext === '.json') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PolicyError(`invalid JSON: ${(e as Error).message}`, { file: path, line: 0 });
    }
    if (ociOptions.procd) {
      const { importProcd } = require('./procd') as typeof import('./procd');
      const { policy, warnings } = importProcd(json, path);
      return { policy, warnings, format: 'oci' };
    }
    const { policy, warnings } = importOci(json, { file: path, ...ociOptions });
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
  try {
    exported = evaluateModule(file, code);
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
  return { policy: policy as DefinedPolicy, warnings: [], format: isTs ? 'ts' : 'js' };
}
