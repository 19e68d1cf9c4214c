// Where the compiled-filter cache (filterCache.ts) lives and whether it is used: small, so that a
// run without a policy file and the file rules (which hide the cache from the jail) need no more.
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * $XDG_CACHE_HOME/tsjail/filters, else ~/.cache/tsjail/filters (/var/cache/tsjail/filters as root):
 * a directory of its own, beside the helper libraries built from source (helper.ts), which a jail
 * may need to read.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env, home = homedir(), root = process.geteuid?.() === 0): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'tsjail', 'filters');
  return root ? '/var/cache/tsjail/filters' : join(home, '.cache', 'tsjail', 'filters');
}

/** Off with --no-cache or TSJAIL_CACHE=0. */
export function cacheWanted(noCacheFlag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return !noCacheFlag && env.TSJAIL_CACHE !== '0';
}

/** TSJAIL_DEBUG=cache: each hit, miss and ignored entry told on stderr. */
export function cacheDebug(log: (msg: string) => void, env: NodeJS.ProcessEnv = process.env): (msg: string) => void {
  return (env.TSJAIL_DEBUG ?? '').split(',').includes('cache') ? (msg) => log(`cache: ${msg}`) : () => undefined;
}

