// Presets: named jail settings for code one does not trust (`--preset untrusted`, `--preset
// agent`, a policy's `extends`). A preset is the jail's options under the policy's own `jail`
// section and the flags; what they give must not undo what the preset promises, so every such
// setting is an error naming the conflict (README "Presets" has the table).
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { suggest } from '../syscalls/suggest';
import { JailError } from './errors';
import { jailFs, fsContext, type FsContext } from './fsRules';
import { parseNetRule, usesNames } from './netRules';
import { type FsRuleInput, type NetOption, PRESET_NAMES, type PresetName, type JailOptions } from '../policy/jailSettings';


/** The preset a flag or `extends` names; unknown: an error with the nearest name. */
export function lookupPreset(name: string, where = '--preset'): PresetName {
  if ((PRESET_NAMES as readonly string[]).includes(name)) return name as PresetName;
  throw new JailError(`${where} '${name}': no such preset${suggest(name, PRESET_NAMES)} (presets: ${PRESET_NAMES.join(', ')})`);
}

/**
 * What a preset sets. Both: the default file rules (host read-only, the working directory and a
 * private /tmp writable, secrets hidden), the default environment allowlist and limits, and
 * network rules that start from nothing (every connect and send with an address, unix socket
 * addresses too, stops at tsjail: the same with or without namespaces). agent adds what the
 * policy's `jail.net.allow` and --allow-net give.
 */
export const PRESET_OPTIONS: JailOptions = { net: { allow: [] } };

/** The name servers of /etc/resolv.conf, as rules for DNS (UDP and TCP port 53). */
export function resolverRules(resolvConf = '/etc/resolv.conf'): string[] {
  let text = '';
  try { text = readFileSync(resolvConf, 'utf8'); } catch { return []; }
  return text.split('\n').flatMap((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const host = m?.[1]?.replace(/%.*$/, '');
    return host && isIPv4(host) ? [`${host}:53`] : host && isIPv6(host) ? [`[${host}]:53`] : [];
  });
}

const within = (path: string, dir: string): boolean => path === dir || dir === '/' || path.startsWith(`${dir}/`);

/** The conflicts of merged options with the preset: each names the setting and says what the preset keeps. */
function conflicts(name: PresetName, o: JailOptions, ctx: FsContext): string[] {
  const out: string[] = [];
  const say = (asked: unknown, what: string): void => { if (asked) out.push(what); };
  say(o.hostFs, '--host-fs (jail.hostFs) would share the host\'s files read-write, secrets too');
  say(o.insecure, '--insecure (jail.insecure) loads no seccomp filter, and the network rules need one');
  say(o.inheritEnv, '--inherit-env (jail.inheritEnv) would pass tokens and keys from your environment');
  say(o.noLimits, '--no-limits (jail.noLimits) drops the task, file and memory limits');
  say(o.log, '--log (jail.log) lets every refused call run');
  say(o.late, '--late (jail.late) lets the start-up calls run unfiltered');
  say(o.hostIds, '--host-ids (jail.hostIds) runs as the host\'s root');
  say(o.dev === false, '--host-dev (jail.dev: false) gives the host\'s devices');
  say(o.root !== undefined || (o.stage?.length ?? 0) > 0, '-r/--stage/--bundle bring a root of their own: a preset is for a jail on the host\'s root');
  say((o.capKeep?.length ?? 0) > 0 || Object.values(o.capabilities ?? {}).some((s) => s?.length), 'kept capabilities (--cap-*, jail.capabilities) give privileges back');
  say((o.binds ?? []).some((b) => !b.readonly), 'a writable --bind makes a host directory writable past the file rules: use --rw PATH');
  const inputs: readonly FsRuleInput[] = [...(o.fs ?? []), ...(o.fsFlags ?? [])];
  for (const r of inputs) if ('show' in r) out.push(`--show ${r.show} (jail.fs show) would un-hide a secret`);
  if (!out.length && !o.hostFs) {
    for (const r of jailFs(o, ctx)?.rules ?? []) {
      if (r.access === 'rw' && within(ctx.home, r.path)) out.push(`${r.source} ${r.path} would make ${r.path === '/' ? 'the whole host' : 'your home'} writable (~/.bashrc is persistence): give the project directory`);
    }
  }
  const net = o.net;
  if (o.network !== false && net !== 'none') {
    if (net === 'host' || net === undefined) out.push('--net host (jail.net: \'host\') gives the host\'s network unrestricted');
    else if (net === 'loopback') out.push(`--net loopback (jail.net: 'loopback') reaches every service on the host's loopback: allow the ones meant${name === 'agent' ? ', e.g. --allow-net 127.0.0.1:8080' : ' with --preset agent'}`);
    else if (name === 'untrusted' && net.allow.length) out.push(`--allow-net / jail.net.allow (${net.allow.join(', ')}): untrusted has no network; --preset agent takes an allowlist`);
  }
  return out;
}

/**
 * The options of a jail under a preset, checked: a conflict is a JailError naming it; a
 * legitimate widening by name (--keep-env, --allow) is said loudly. agent: the host's resolvers
 * are added where the allowlist has names (nothing resolves otherwise).
 */
export function applyPreset(name: PresetName, o: JailOptions, log: (msg: string) => void, ctx: FsContext = fsContext()): JailOptions {
  const found = conflicts(name, o, ctx);
  if (found.length) {
    throw new JailError(`--preset ${name} cannot keep its promise with ${found.length > 1 ? 'these settings' : 'this setting'}:\n  ${found.join('\n  ')}\ndrop ${found.length > 1 ? 'them' : 'it'}, or run without the preset (README: Presets)`);
  }
  if (o.keepEnv?.length) log(`WARNING: --preset ${name}: --keep-env ${o.keepEnv.join(',')} passes ${o.keepEnv.length > 1 ? 'these variables' : 'this variable'} from your environment`);
  if (o.allow?.length) log(`WARNING: --preset ${name}: --allow ${o.allow.join(',')} allows ${o.allow.length > 1 ? 'these syscalls' : 'this syscall'} beyond the built-in policy`);
  if (o.network === false || o.net === 'none') {
    // A network namespace of its own: the jail's own loopback works, and nothing the rules would stop goes out; but no rules stop unix socket addresses.
    log(`WARNING: --preset ${name}: ${o.network === false ? '-n' : '--net none'}: a network of its own in place of the preset's rules, so unix socket addresses on the host (a docker.sock, the system bus) are not refused`);
    const { net: _dropped, ...rest } = o;
    return { ...rest, net: 'none' };
  }
  const net: NetOption | undefined = o.net;
  if (name !== 'agent' || typeof net !== 'object') return o;
  if (!net.allow.length) {
    log('note: --preset agent with no allowlist: nothing is reachable (--allow-net HOST:PORT, or jail.net.allow in the policy)');
    return o;
  }
  if (!usesNames(net.allow.map(parseNetRule))) return o;
  const dns = resolverRules().filter((r) => !net.allow.includes(r));
  if (!dns.length) return o;
  log(`note: --preset agent: the allowlist names hosts, so the host's resolvers are allowed too: ${dns.join(', ')}`);
  return { ...o, net: { allow: [...net.allow, ...dns] } };
}
