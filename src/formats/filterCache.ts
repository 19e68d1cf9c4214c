// A cache of what `tsjail run --policy FILE` makes of a policy file: the policy as data (its rules
// and `jail:` settings) and the filters compiled from it, so that a second run loads neither the
// TypeScript loader, the policy module nor the compiler. A hit never evaluates the module, not even
// to explain a denial: by then the jail may have rewritten an import (a workspace file), and
// tsjail would run that code outside the jail.
//
// The key of a policy's entry is its file's bytes and path, tsjail's build and the host's ABI; the
// entry records the files the policy imported with their hashes, re-hashed on every hit, and how each import the policy's own files named was resolved,
// resolved again on every hit (a base.js added beside base.ts, a package installed: another
// file, a miss). A filter's key adds those hashes and what the jail adds to the
// policy (the stops, --allow, --deny): all that compile() is given. Files a policy reads itself
// (readFileSync) and the environment it looks at are not part of the key: --no-cache for those.
//
// Only the user may write the cache: its directory is made 0700, and used only when it is a real
// directory (not a symlink) owned by the user that nobody else can write; entries are opened
// through that directory's fd with O_NOFOLLOW, must be the user's regular files, and carry a
// digest of their name and payload. Anything else is ignored (and replaced): never trusted.
// Entries are written to a temporary name and renamed into place. The jail cannot reach the cache:
// the file rules hide it (fsRules.ts), and the host is read-only there anyway.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { hostAbi } from '../arch/abi';
import { cacheDir } from './cacheSettings';
import type { DefinedPolicy } from '../policy/dsl';
import type { Warning } from '../policy/errors';
import { policyFromText, readPolicyText, resolveImport, type ImportResolution } from './load';
import type { OciImportOptions } from './oci';
import type { JailStops } from '../policy/jailStops';

/** Bumped when an entry's meaning changes. */
const FORMAT = 'tsjail-cache 3';
const MAX_ENTRY_BYTES = 1 << 20;

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * tsjail's build as it is now: a build (tsc, npm install) writes every compiled file, so the
 * compiler's entry point and this file stand for all of it. A changed build makes every entry a miss.
 */
function buildSignature(): string {
  return [join(__dirname, '../bpf/compile.js'), __filename].map((f) => {
    const st = statSync(f, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  }).join(' ');
}

/** The cache directory, opened; undefined (no cache) unless it is the user's alone. */
function openCacheDir(debug: (msg: string) => void): number | undefined {
  const dir = cacheDir();
  let fd: number | undefined;
  try {
    // Only the cache itself is 0700: the jail's own root must still reach it to hide it.
    mkdirSync(dirname(dir), { recursive: true });
    try { mkdirSync(dir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
    fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (st.uid !== process.geteuid?.() || (st.mode & 0o077) !== 0) {
      debug(`not used: ${dir} is not yours alone (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}; want yours, 0700)`);
      closeSync(fd);
      return undefined;
    }
    return fd;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    debug(`not used: ${dir}: ${code === 'ELOOP' || code === 'ENOTDIR' ? 'a symlink or not a directory' : code ?? (e as Error).message}`);
    if (fd !== undefined) closeSync(fd);
    return undefined;
  }
}

/** A name in the opened directory, resolved through its fd (not through the path again). */
const inDir = (dirFd: number, name: string): string => `/proc/self/fd/${dirFd}/${name}`;

function readEntry(dirFd: number, name: string, debug: (msg: string) => void): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(inDir(dirFd, name), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0 || st.nlink !== 1 || st.size > MAX_ENTRY_BYTES) {
      debug(`ignored entry ${name}: not a file of yours alone`);
      return undefined;
    }
    const data = readFileSync(fd);
    const newline = data.indexOf(10);
    const header = data.subarray(0, newline).toString();
    const payload = data.subarray(newline + 1);
    if (newline < 0 || header !== `${FORMAT} ${sha256(Buffer.concat([Buffer.from(`${name}\n`), payload]))}`) {
      debug(`ignored entry ${name}: corrupt`);
      return undefined;
    }
    return payload;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') debug(`ignored entry ${name}: ${code === 'ELOOP' ? 'a symlink' : code ?? (e as Error).message}`);
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeEntry(dirFd: number, name: string, payload: Uint8Array, debug: (msg: string) => void): void {
  const tmp = `.${name}.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    const fd = openSync(inDir(dirFd, tmp), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${FORMAT} ${sha256(Buffer.concat([Buffer.from(`${name}\n`), payload]))}\n`);
      writeSync(fd, payload);
    } finally {
      closeSync(fd);
    }
    renameSync(inDir(dirFd, tmp), inDir(dirFd, name));
  } catch (e) {
    debug(`not written: ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    try { unlinkSync(inDir(dirFd, tmp)); } catch { /* never made */ }
  }
}

/** What a run needs of a policy without evaluating it (JSON: bigints as { $bigint: "N" }). */
interface PolicyEntry {
  readonly policy: Omit<DefinedPolicy, 'enforce'>;
  readonly warnings: readonly Warning[];
  readonly imports: readonly (readonly [file: string, sha256: string])[];
  readonly resolutions: readonly ImportResolution[];
}

class NotCacheable extends Error {}

function encodeEntry(entry: PolicyEntry): string {
  return JSON.stringify(entry, (_key, value: unknown) => {
    if (typeof value === 'bigint') return { $bigint: value.toString() };
    // Each of these would come back as something else (or nothing: `{ net: undefined }` overrides when spread).
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || (typeof value === 'number' && !Number.isFinite(value))) throw new NotCacheable();
    if (typeof value === 'object' && value !== null && ![Object.prototype, Array.prototype, null].includes(Object.getPrototypeOf(value))) throw new NotCacheable();
    return value;
  });
}

function decodeEntry(text: string): PolicyEntry {
  return JSON.parse(text, (_key, value: unknown) => {
    const big = (value as { $bigint?: unknown } | null)?.$bigint;
    return typeof value === 'object' && value !== null && typeof big === 'string' && /^-?\d+$/.test(big) ? BigInt(big) : value;
  }) as PolicyEntry;
}

/** The imports' hashes: of the text evaluated where the loader read it (`evaluated`), else now; undefined when one cannot be read. */
function hashImports(files: readonly string[], evaluated?: ReadonlyMap<string, string>): (readonly [string, string])[] | undefined {
  try {
    return files.map((f) => [f, sha256(evaluated?.get(f) ?? readFileSync(f))] as const);
  } catch {
    return undefined;
  }
}

/** What the jail adds to the policy before compiling: with the entry's imports, the rest of a filter's key. */
export interface FilterVariant {
  readonly stops: JailStops;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

export interface CachedPolicyFile {
  /** The policy: on a hit, as the cache holds it (the module is not evaluated). */
  readonly policy: DefinedPolicy;
  readonly warnings: readonly Warning[];
  /** The filter for `variant`: from the cache, or compile()d and stored. */
  filter(variant: FilterVariant, compile: () => Uint8Array): Uint8Array;
}

/** `use` with the cache directory opened, or undefined where there is none to trust. */
function inCacheDir<T>(debug: (msg: string) => void, use: (dirFd: number) => T): T | undefined {
  const dirFd = openCacheDir(debug);
  if (dirFd === undefined) return undefined;
  try {
    return use(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * The policy file at `path`, through the cache. A policy with `enforce:` (drift mode composes two
 * policies) or whose settings are not plain data is loaded as it is, not cached.
 */
export function loadPolicyCached(path: string, ociOptions: OciImportOptions, debug: (msg: string) => void): CachedPolicyFile {
  const text = readPolicyText(path);
  const name = sha256([FORMAT, buildSignature(), hostAbi().name, JSON.stringify(ociOptions), resolve(path), sha256(text)].join('\0'));
  const cachedFilter = (imports: PolicyEntry['imports']) => (variant: FilterVariant, compile: () => Uint8Array): Uint8Array => {
    const filterName = sha256([name, JSON.stringify(imports), JSON.stringify(variant)].join('\0'));
    const cached = inCacheDir(debug, (dirFd) => readEntry(dirFd, filterName, debug));
    if (cached && cached.length > 0 && cached.length % 8 === 0) {
      debug(`hit: the filter for ${path}`);
      return new Uint8Array(cached);
    }
    const bytes = compile();
    inCacheDir(debug, (dirFd) => writeEntry(dirFd, filterName, bytes, debug));
    return bytes;
  };
  const entry = inCacheDir(debug, (dirFd) => readEntry(dirFd, name, debug));
  if (entry) {
    let stored: PolicyEntry | undefined;
    try {
      stored = decodeEntry(entry.toString());
    } catch {
      debug(`ignored entry ${name}: corrupt`);
    }
    const now = stored && hashImports(stored.imports.map(([f]) => f));
    const moved = stored?.resolutions.find(([from, id, to]) => (resolveImport(from, id) ?? '') !== to);
    if (stored && now && JSON.stringify(now) === JSON.stringify(stored.imports) && !moved) {
      debug(`hit: ${path} (not loaded)`);
      return { policy: stored.policy, warnings: stored.warnings, filter: cachedFilter(stored.imports) };
    }
    if (moved) debug(`miss: '${moved[1]}' in ${moved[0]} no longer resolves to ${moved[2] || 'nothing'}`);
    else if (stored) debug(`miss: an import of ${path} changed`);
  }
  debug(`miss: ${path}`);
  const loaded = policyFromText(path, text, ociOptions);
  const uncached: CachedPolicyFile = { policy: loaded.policy, warnings: loaded.warnings, filter: (_variant, compile) => compile() };
  const imports = hashImports(loaded.imports ?? [], loaded.importTexts);
  if (loaded.policy.enforce !== undefined || !imports) return uncached;
  const { jail, extends: preset, origin, defaultAction, arches, badArchAction, rules, newerSyscalls, knownSyscalls } = loaded.policy;
  const policy = {
    defaultAction, arches, badArchAction, rules,
    ...(newerSyscalls !== undefined ? { newerSyscalls } : {}), ...(knownSyscalls !== undefined ? { knownSyscalls } : {}),
    ...(jail !== undefined ? { jail } : {}), ...(preset !== undefined ? { extends: preset } : {}), ...(origin !== undefined ? { origin } : {}),
  };
  let payload: Buffer;
  try {
    payload = Buffer.from(encodeEntry({ policy, warnings: loaded.warnings, imports, resolutions: loaded.resolutions ?? [] }));
  } catch (e) {
    if (!(e instanceof NotCacheable)) throw e;
    debug(`not cached: ${path}: its rules or jail settings are not plain data`);
    return uncached;
  }
  inCacheDir(debug, (dirFd) => writeEntry(dirFd, name, payload, debug));
  return { ...uncached, filter: cachedFilter(imports) };
}
