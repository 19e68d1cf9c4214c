// The settings a policy file's `jail:` section carries and `tsjail run`'s flags set: one type for
// both, with the policy model, so that a policy names them without loading the jail.

/** A file rule as written (jail/fsRules.ts resolves them). */
export type FsRuleInput =
  | { readonly ro: string } | { readonly rw: string } | { readonly hide: string }
  | { readonly show: string } | { readonly noexec: string };

/** The network rules (jail/netRules.ts): */
export type NetOption = 'none' | 'loopback' | 'host' | { readonly allow: readonly string[] };

/** The namespaces a jail can have of its own. */
export type NamespaceName = 'user' | 'pid' | 'net' | 'ipc' | 'uts' | 'mount' | 'cgroup';

/** Existing namespaces a jail can join. */
export const JOINABLE = ['net', 'ipc', 'uts', 'cgroup'] as const;
export type JoinableNamespace = (typeof JOINABLE)[number];

export const CAPABILITY_SETS = ['bounding', 'permitted', 'effective', 'inheritable', 'ambient'] as const;
export type CapabilitySet = (typeof CAPABILITY_SETS)[number];
export type CapabilitySets = Partial<Record<CapabilitySet, readonly string[]>>;

export interface IdMap { readonly containerID: number; readonly hostID: number; readonly size: number }

/** A mount as OCI writes it. */
export interface OciMount {
  readonly destination: string;
  readonly type?: string;
  readonly source?: string;
  readonly options?: readonly string[];
}

/** The presets (jail/presets.ts): */
export const PRESET_NAMES = ['untrusted', 'agent'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** Everything `tsjail run` can be told, from flags or from a policy file's `jail` section. */
export interface JailOptions {
  /** File rules for a jail on the host's root, in order (jail/fsRules.ts); defaults apply without them. */
  readonly fs?: readonly FsRuleInput[];
  /** The same from --ro/--rw/--hide/--show/--noexec, in command-line order: applied after `fs`. */
  readonly fsFlags?: readonly FsRuleInput[];
  /** Share the host's files as they are (no default file rules): unsafe for untrusted code. */
  readonly hostFs?: boolean;
  /** No namespaces at all (as where user namespaces are refused): Landlock, seccomp and limits only (jail/noNamespaces.ts). */
  readonly noNamespaces?: boolean;
  /** false: -n, a network namespace of its own with only lo (the same as net: 'none'). */
  readonly network?: boolean;
  /** The network rules (jail/netRules.ts); default 'host'. */
  readonly net?: NetOption;
  readonly root?: string;
  readonly user?: string;
  readonly cwd?: string;
  readonly insecure?: boolean;
  readonly hostname?: string;
  readonly unshare?: readonly NamespaceName[];
  readonly binds?: readonly { readonly src: string; readonly dst: string; readonly readonly: boolean }[];
  readonly tmpfs?: readonly string[];
  readonly dev?: boolean;
  readonly proc?: boolean;
  readonly env?: Readonly<Record<string, string>>;
  /** Pass nothing from tsjail's environment but PATH (and keepEnv)... */
  readonly clearEnv?: boolean;
  /** ...or everything (default: the allowlist in jail/environment.ts). */
  readonly inheritEnv?: boolean;
  /** More variables to pass: names, or prefixes ending in `*`. */
  readonly keepEnv?: readonly string[];
  readonly rlimits?: Readonly<Record<string, number | bigint>>;
  /** No default limits (jail/limits.ts); explicit rlimits, pids and memory still apply. */
  readonly noLimits?: boolean;
  readonly timeoutSeconds?: number;
  /** After SIGTERM/SIGINT to tsjail (forwarded to the jail), kill the whole jail this much later (default 10). */
  readonly killAfterSeconds?: number;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /** Capabilities to keep in every set (all others are dropped)... */
  readonly capKeep?: readonly string[];
  /** ...and per set (ujail -C, OCI process.capabilities): { ambient: ['CAP_NET_BIND_SERVICE'], ... }. */
  readonly capabilities?: CapabilitySets;
  /** Primary group (name or gid), with `user`. */
  readonly group?: string;
  /** log: report the policy's denials but let the calls run. */
  readonly log?: boolean;
  /** Also write each denial as a JSON line to this file. */
  readonly report?: string;
  /** Remount the jail's root read-only. */
  readonly readonlyRoot?: boolean;
  /** With `root`: an overlay root whose writes persist in this directory (ujail -O)... */
  readonly overlay?: string;
  /** ...or vanish with a tmpfs of this size (ujail -T), e.g. "64m". */
  readonly tmpOverlay?: string;
  /** A fresh empty root holding only these paths (ELF programs with their loader and libraries). */
  readonly stage?: readonly { readonly path: string; readonly writable: boolean }[];
  /** Write the jail's first pid here (ujail -P); removed when the jail ends. */
  readonly pidfile?: string;
  /** A name for the jail, shown in reports. */
  readonly name?: string;
  /** bubblewrap's --json-status-fd: child pid and namespace ids at start, exit code at the end. */
  readonly jsonStatusFd?: number;
  /** --tty: the jail's own pseudo-terminal, relayed to tsjail's (jail/terminal.ts). */
  readonly tty?: boolean;
  /** cgroup limits: bytes of memory, most processes, CPUs' worth of time. */
  readonly memory?: bigint;
  readonly pids?: number;
  readonly cpu?: number;
  /** Load the policy's filter just before main() (dynamic programs; see jail/late.ts). */
  readonly late?: boolean;
  /** More mounts, as OCI writes them (bind, tmpfs, devpts, mqueue, sysfs, cgroup), in order, after binds and tmpfs. */
  readonly mounts?: readonly OciMount[];
  /** Namespaced sysctls to set in the jail: { 'net.ipv4.ip_forward': '1' }. */
  readonly sysctl?: Readonly<Record<string, string>>;
  /** Paths hidden (OCI maskedPaths) and made read-only (OCI readonlyPaths) once /proc is mounted. */
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
  /** Supplementary groups (gids) in place of the user's own, with `user`. */
  readonly groups?: readonly number[];
  /** With a user namespace: its id maps, as OCI writes them (default: tsjail's own ids, identically). */
  readonly uidMap?: readonly IdMap[];
  readonly gidMap?: readonly IdMap[];
  /** Existing namespaces to join, by path: { net: '/run/netns/blue' } (ip netns, a container's /proc/PID/ns/net). */
  readonly join?: Readonly<Partial<Record<JoinableNamespace, string>>>;
  /**
   * Run as the host's own ids (as root: host uid 0 minus capabilities). Unsafe for untrusted
   * code; the default as root is a private id range (see jail/idRange.ts).
   */
  readonly hostIds?: boolean;
}

/** Every key a `jail:` section (and the library's options) may hold: a misspelled one is an error, not ignored. */
export const JAIL_OPTION_KEYS = {
  fs: true, fsFlags: true, hostFs: true, noNamespaces: true, network: true, net: true, root: true, user: true, cwd: true, insecure: true,
  hostname: true, unshare: true, binds: true, tmpfs: true, dev: true, proc: true, env: true, clearEnv: true, inheritEnv: true, keepEnv: true,
  rlimits: true, noLimits: true, timeoutSeconds: true, killAfterSeconds: true, allow: true, deny: true, capKeep: true, capabilities: true,
  group: true, log: true, report: true, readonlyRoot: true, pidfile: true, name: true, jsonStatusFd: true, overlay: true, tmpOverlay: true,
  stage: true, memory: true, pids: true, cpu: true, late: true, mounts: true, sysctl: true, maskedPaths: true, readonlyPaths: true,
  groups: true, uidMap: true, gidMap: true, join: true, hostIds: true, tty: true,
} as const satisfies Record<keyof JailOptions, true>; // (satisfies: no key missing, none extra)
