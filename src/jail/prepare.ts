// How a jail is prepared from what its caller asked for (the flags of `tsjail run`, or the
// library's spawn options): the policy (a file, a given one, cloudflare sandbox's variables or
// the built-in one), a preset, the policy's `jail:` settings under the explicit ones, the file and
// network rules, the filter (precompiled or compiled) and the denial supervisor. One path, so a
// jail started from code is exactly the CLI's jail.
import { builtinVariant, withJailStops } from './builtinVariants';
import { precompiledDefault } from './precompiled';
import { SANDBOX_VARIABLES } from './environment';
import { hostAbi } from '../arch/abi';
import { JailError } from './errors';
import { isRawFilterPath, readRawFilter } from '../formats/rawFilter';
import { runJailed, type JailHost, type Watch } from './run';
import { jailFs, type ResolvedFs } from './fsRules';
import { combineNet, resolveNet, type NetSetting } from './netRules';
import type { UnixScope } from './unixRules';
import type { DenialRecord, OnRepeat } from './supervisor';
import { writesHostFilesAsOwner } from './spec';
import type { DefinedPolicy } from '../policy/dsl';
import { applyPreset, lookupPreset, PRESET_OPTIONS } from './presets';
import { checkGivenFd, reportTarget } from './reportTarget';
import { type JailOptions, JAIL_OPTION_KEYS } from '../policy/jailSettings';
import type { JailStops } from '../policy/jailStops';

/** What a jail is asked to be. */
export interface JailRequest {
  readonly command: readonly string[];
  /** The explicit settings (flags, spawn options): they win over the policy's `jail:` and a preset. */
  readonly options: JailOptions;
  /** The policy file (`--policy`)... */
  readonly policyFile?: string;
  /** ...or a policy given as it is (an OCI bundle's, the library's), named in messages by `policyName`. */
  readonly policy?: DefinedPolicy<JailOptions>;
  readonly policyName?: string;
  /** A JSON policy file is read as OpenWrt procd reads it. */
  readonly procd?: boolean;
  /** The format of a policy read from stdin (`--policy -`): ts, js, json or systemd; else sniffed. */
  readonly policyFormat?: string;
  /** `--quiet`: no denial reports on stderr (still in the report). */
  readonly quiet?: boolean;
  /** `--report-fd N`: the records go to this inherited fd. */
  readonly reportFd?: number;
  /** `--no-cache`: the policy file is loaded and compiled, never taken from the filter cache (filterCache.ts). */
  readonly noCache?: boolean;
  /** Drift mode: the policy enforced (`--enforce`); the policy file is then what is expected. */
  readonly enforce?: string;
  readonly onRepeat?: OnRepeat;
  /** `--preset`. */
  readonly preset?: string;
  /** Only --allow-net rules were given, no --net: they add to the policy's network setting. */
  readonly addNetRules?: boolean;
  /** Where cloudflare sandbox's SECCOMP_SYSCALL_* variables are read (the CLI: its own environment). */
  readonly sandboxEnvironment?: NodeJS.ProcessEnv;
}

/** A jail ready to start: its command, settings, filter and file rules, and how its denials are watched. */
export interface PreparedJail {
  readonly command: readonly string[];
  readonly options: JailOptions;
  readonly filter: Uint8Array | undefined;
  readonly fs: ResolvedFs | undefined;
  /** Starts the denial supervisor (undefined: --insecure, nothing to watch). */
  readonly watch: ((log: (msg: string) => void, onRecord?: (record: DenialRecord) => void) => Watch) | undefined;
}

/** The --bind/--tmpfs/mount destinations: what the user mounted in the jail beside the file rules. */
const otherMounts = (o: JailOptions): string[] => [...(o.binds ?? []).map((b) => b.dst), ...(o.tmpfs ?? []), ...(o.mounts ?? []).map((m) => m.destination)];

/** Prepares a jail; a request that cannot be honoured is a JailError (or the loader's PolicyError). */
export function prepareJail(request: JailRequest, log: (msg: string) => void): PreparedJail {
  const { policyFile, command } = request;
  let options = request.options;
  if (request.enforce !== undefined && (!policyFile || options.insecure)) {
    throw new JailError(`--enforce ${request.enforce} needs --policy FILE (the policy the program is expected to keep) and a filter (no --insecure)`);
  }
  if (!command.length) throw new JailError('no command given');
  // cloudflare sandbox's variables replace the built-in policy; they cannot replace one given explicitly.
  // (overrides.ts loads the syscall table: only when one of them is set.)
  const env = request.sandboxEnvironment ?? {};
  const sandbox = SANDBOX_VARIABLES.some((k) => env[k] !== undefined)
    ? (require('./overrides') as typeof import('./overrides')).sandboxVariables(env)
    : { log: false, messages: [] as string[], policy: undefined };
  for (const m of sandbox.messages) log(m);
  if (sandbox.policy && (policyFile || request.policy || options.insecure)) {
    throw new JailError(`${sandbox.policy.origin} gives the whole policy (cloudflare sandbox semantics), and so does ${policyFile ? '--policy' : request.policy ? request.policyName ?? 'the given policy' : '--insecure (none)'}: unset ${sandbox.policy.origin} or drop the other`);
  }
  if (sandbox.log) options = { ...options, log: true };
  // A preset's conflicts with the flags are known now (--insecure skips the policy below).
  const presetFlag = request.preset !== undefined ? lookupPreset(request.preset) : undefined;
  if (presetFlag) applyPreset(presetFlag, { ...PRESET_OPTIONS, ...options }, () => undefined);
  let fs: ResolvedFs | undefined;
  let merged: JailOptions = options;
  let netSetting: NetSetting = { kind: 'host' };
  let unix: UnixScope | undefined;
  let filter: Uint8Array | undefined;
  let policy: DefinedPolicy<JailOptions> | undefined;
  let stops: JailStops = { setIds: false, writes: false };
  let drift: import('./drift').DriftLevels | undefined;
  let cached: import('../formats/filterCache').CachedPolicyFile | undefined;
  let explained: (() => DefinedPolicy<JailOptions>) | undefined;
  // A raw filter (*.bpf) is loaded as it is, once the kernel's checks pass (formats/rawFilter.ts).
  const raw = policyFile !== undefined && !options.insecure && isRawFilterPath(policyFile) ? readRawFilter(policyFile, hostAbi().endian) : undefined;
  if (raw && request.enforce !== undefined) throw new JailError(`--enforce compares policies: ${policyFile} is a raw filter, which has none`);
  if (!options.insecure) {
    if (raw) { /* no policy: nothing to load, no jail: section */ } else if (policyFile) {
      const { formatWarning } = require('../policy/errors') as typeof import('../policy/errors');
      const { cacheDebug, cacheWanted } = require('../formats/cacheSettings') as typeof import('../formats/cacheSettings');
      const ociOptions = request.procd ? { procd: true } : {};
      // Drift mode composes two policies, and stdin is read once: neither is cached.
      const loaded = cacheWanted(Boolean(request.noCache) || request.enforce !== undefined || policyFile === '-')
        ? cached = (require('../formats/filterCache') as typeof import('../formats/filterCache')).loadPolicyCached(policyFile, ociOptions, cacheDebug(log))
        : (require('../formats/load') as typeof import('../formats/load')).loadPolicyFile(policyFile, ociOptions, request.policyFormat);
      for (const w of loaded.warnings) log(formatWarning(w));
      policy = loaded.policy as DefinedPolicy<JailOptions>;
      // Only in drift mode: jail/drift.ts loads the syscall table, which a cached policy does without.
      const composed = request.enforce !== undefined || policy.enforce !== undefined
        ? (require('./drift') as typeof import('./drift')).driftPolicy(policy, policyFile, request.enforce)
        : undefined;
      if (composed) ({ policy, levels: drift } = composed);
    } else policy = request.policy ?? sandbox.policy;
    if (policy?.jail !== undefined) checkJailOptions(policy.jail, `${policy.origin ?? 'the policy'}: jail`);
    // A preset, then the policy's own settings, then the flags.
    const preset = presetFlag ?? (policy?.extends !== undefined ? lookupPreset(policy.extends, `${policy.origin ?? 'the policy'}: extends`) : undefined);
    const base = preset ? PRESET_OPTIONS : {};
    merged = { ...base, ...(policy?.jail ?? {}), ...options };
    const net = combineNet(combineNet(base.net, policy?.jail?.net, true), options.net, request.addNetRules ?? false);
    merged = { ...merged, ...(net !== undefined ? { net } : {}) };
    if (preset) merged = applyPreset(preset, merged, log);
    // The file rules are resolved once per start, here.
    fs = jailFs(merged);
    netSetting = resolveNet(merged.net);
    // Unix sockets are decided by the file rules and unix: rules (unixRules.ts), IP by an allowlist.
    const unixRules = (require('./unixRules') as typeof import('./unixRules')).unixRulesOf(merged.net);
    if (fs || unixRules.length) unix = { rules: unixRules, ...(fs ? { fs } : {}), mounts: otherMounts(merged) };
    // With file rules writes stop at tsjail so that a refused one is explained (fsWrites.ts); a jail
    // that writes host files as their owners also refuses set-id files there (setIdRules.ts).
    stops = {
      setIds: writesHostFilesAsOwner(merged, fs), writes: fs !== undefined,
      ...(netSetting.kind === 'allowlist' ? { net: 'allowlist' } : unix ? { net: 'unix' } : {}),
    };
    // The built-in policy ships precompiled with each set of stops: such a run loads the compiler
    // only to explain a denial.
    if (raw) {
      // tsjail's stops and --allow/--deny live in its own filter. The write stops only explain
      // (the kernel decides writes); the others decide, so without them the jail does not run.
      const needs = [stops.net === 'unix' && 'the file rules (they decide unix sockets)', stops.net === 'allowlist' && 'network rules',
        stops.setIds && 'the set-id rules (host files written as their owners)', merged.allow?.length && '--allow', merged.deny?.length && '--deny'].filter(Boolean);
      if (needs.length) throw new JailError(`${policyFile} is a raw filter, loaded as it is: ${needs.join(', ')} need tsjail's own filter: drop them (--host-fs has no file rules), or give a policy instead`);
      filter = raw.bytes;
    }
    if (!filter && !policy && !merged.allow?.length && !merged.deny?.length) filter = precompiledDefault(stops);
    if (!filter) {
      const given = policy;
      const compose = (): DefinedPolicy<JailOptions> => {
        const { policyWithOverrides } = require('./overrides') as typeof import('./overrides');
        const { defaultPolicy } = require('./defaultPolicy') as typeof import('./defaultPolicy');
        return withJailStops(policyWithOverrides(given ?? defaultPolicy(), merged), stops);
      };
      const compile = (): Uint8Array => (require('../bpf/compile') as typeof import('../bpf/compile')).compileProgram(policy = compose()).bytes;
      // A cached filter needs neither the policy's module nor the compiler (nor, to explain a denial, the module).
      filter = cached ? cached.filter({ stops, allow: merged.allow ?? [], deny: merged.deny ?? [] }, compile) : compile();
      if (policy === given) explained = compose;
    }
  }
  if (merged.insecure && (resolveNet(merged.net).kind === 'allowlist' || (require('./unixRules') as typeof import('./unixRules')).unixRulesOf(merged.net).length)) {
    throw new JailError('network rules are enforced through the seccomp filter, and --insecure loads none: drop --insecure or the network rules');
  }
  // Checked before anything runs: bwrap's status lines go to an fd the caller gave, open for writing.
  if (merged.jsonStatusFd !== undefined) checkGivenFd(merged.jsonStatusFd, `--json-status-fd ${merged.jsonStatusFd}`);
  if (merged.inheritEnv) log('note: --inherit-env: the jail gets tsjail\'s whole environment, tokens and keys included');
  const final = policy;
  const jailOptions = merged;
  // A raw filter's denials have no rules to explain them: they are the program's own business.
  const watch = filter && !options.insecure && !raw
    ? (say: (msg: string) => void, onRecord?: (record: DenialRecord) => void) => {
      // Every denial is explained: the supervisor (loaded only here) watches the jail.
      const supervision = require('./supervisor') as typeof import('./supervisor');
      return supervision.supervise(
        filter!, explained ?? (() => final ?? builtinVariant(stops)), jailOptions.log ? 'log' : 'enforce', request.quiet ? () => undefined : jailOptions.name ? (m) => say(`[${jailOptions.name}] ${m}`) : say,
        {
          ...reportTarget(jailOptions.report, request.reportFd), ...(jailOptions.name ? { name: jailOptions.name } : {}),
          ...(netSetting.kind === 'allowlist' ? { net: netSetting.rules } : {}),
          ...(unix ? { unix } : {}),
          ...(drift ? { drift } : {}),
          ...(request.onRepeat === 'kill' ? { onRepeat: request.onRepeat } : {}),
          ...(fs ? { writes: supervision.writeWatch(fs, !jailOptions.noNamespaces, otherMounts(jailOptions)), hidden: fs } : {}),
          ...(onRecord ? { onRecord } : {}),
        });
    }
    : undefined;
  return { command, options: merged, filter, fs: filter ? fs : jailFs(merged), watch };
}

/** Runs a prepared jail; resolves to the exit status `tsjail run` exits with. */
export function startJail(jail: PreparedJail, log: (msg: string) => void, host?: JailHost, onRecord?: (record: DenialRecord) => void): Promise<number> {
  return runJailed(jail.command, jail.filter, jail.options, log, jail.watch?.(log, onRecord), jail.fs, host);
}

/** Refuses keys JailOptions does not have (a .js policy, a caller without types), naming them. */
export function checkJailOptions(given: object, where: string, alsoKnown: readonly string[] = []): void {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new JailError(`${where}: expected an object of jail settings`);
  for (const key of Object.keys(given)) {
    if (key in JAIL_OPTION_KEYS || alsoKnown.includes(key)) continue;
    const { suggest } = require('../syscalls/suggest') as typeof import('../syscalls/suggest');
    throw new JailError(`${where}: unknown setting '${key}'${suggest(key, [...Object.keys(JAIL_OPTION_KEYS), ...alsoKnown])} (the settings are JailOptions' keys: README, "For tool authors")`);
  }
}
