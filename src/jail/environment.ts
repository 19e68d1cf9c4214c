// The jail's environment. By default only a short allowlist of variables passes: each describes
// the terminal, the locale, the time zone or the user, and none grants anything. Tokens, keys,
// agent sockets (SSH_AUTH_SOCK), session buses and displays stay out unless asked for by name.
import { JailError } from './errors';
import type { UserIds } from './users';

/** cloudflare sandbox's variables configure tsjail's filter; the jail never sees them (as libsandbox unsets them). */
export const SANDBOX_VARIABLES: readonly string[] = ['SECCOMP_SYSCALL_ALLOW', 'SECCOMP_SYSCALL_DENY', 'SECCOMP_DEFAULT_ACTION'];

/**
 * Passed by default (README "Environment" says why each one, and why SHELL, TMPDIR, PWD, the
 * proxies, DISPLAY, SSH_AUTH_SOCK and the rest are not). A trailing `*` matches a prefix.
 */
export const DEFAULT_ENV_ALLOWLIST: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'LC_*', 'TERM', 'COLORTERM', 'TZ',
];

export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';

/** The variables that describe who the command runs as: with `-u USER` they describe that user. */
const IDENTITY = ['HOME', 'USER', 'LOGNAME'] as const;

export interface EnvironmentOptions {
  /** Pass tsjail's whole environment (but cloudflare sandbox's variables). */
  readonly inheritEnv?: boolean;
  /** Pass nothing but PATH (and what keepEnv names). */
  readonly clearEnv?: boolean;
  /** More variables to pass from tsjail's environment: names, or prefixes ending in `*`. */
  readonly keepEnv?: readonly string[];
  /** Variables set in the jail, over everything else. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A name or a `PREFIX*` pattern, checked: a bad one is an error, not a silent non-match. */
function matcher(pattern: string): (name: string) => boolean {
  if (pattern === '*') throw new JailError("--keep-env '*' would pass everything: say --inherit-env if that is meant");
  if (!pattern || /[=\0]/.test(pattern) || pattern.slice(0, -1).includes('*')) {
    throw new JailError(`bad --keep-env '${pattern.replace(/\0/g, '\\0')}': expected a variable name or a prefix ending in '*' (e.g. LC_*)`);
  }
  return pattern.endsWith('*') ? (name) => name.startsWith(pattern.slice(0, -1)) : (name) => name === pattern;
}

function checkVariable(key: string, value: string): void {
  const shown = (s: string): string => JSON.stringify(s).replace(/\\u0000/g, '\\0');
  if (!key || key.includes('=') || key.includes('\0')) throw new JailError(`bad environment variable name ${shown(key)}: a name is not empty and has no '=' or NUL`);
  if (value.includes('\0')) throw new JailError(`environment variable ${key} has a NUL byte in its value ${shown(value)}: the kernel would cut it there; remove the NUL`);
}

/** What the identity variables say of the jail's user (undefined: not set). */
function identity(user: UserIds): Readonly<Record<(typeof IDENTITY)[number], string | undefined>> {
  return { HOME: user.home ?? '/', USER: user.name, LOGNAME: user.name };
}

/**
 * The jail's environment as `K=V` strings: the selected host variables (the allowlist, all with
 * inheritEnv, none with clearEnv; plus keepEnv), identity variables for `user` when one is given,
 * then `env`; PATH is always set.
 */
export function jailEnvironment(o: EnvironmentOptions, host: NodeJS.ProcessEnv, user?: UserIds): string[] {
  if (o.inheritEnv && o.clearEnv) throw new JailError('--inherit-env and --clear-env contradict each other: give one');
  const base = o.inheritEnv ? [() => true] : o.clearEnv ? [] : DEFAULT_ENV_ALLOWLIST.map(matcher);
  const selectors = [...base, ...(o.keepEnv ?? []).map(matcher)];
  const selected = (name: string): boolean => !SANDBOX_VARIABLES.includes(name) && selectors.some((m) => m(name));
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(host)) if (v !== undefined && selected(k)) env.set(k, v);
  if (user) {
    const own = identity(user);
    for (const k of IDENTITY) {
      if (!selected(k)) continue;
      if (own[k] === undefined) env.delete(k);
      else env.set(k, own[k]!);
    }
  }
  for (const [k, v] of Object.entries(o.env ?? {})) {
    checkVariable(k, v);
    env.set(k, v);
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  return [...env].map(([k, v]) => `${k}=${v}`);
}
